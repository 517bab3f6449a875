"""The `auth` prompt: every access mode bakes, passes its own checks, and publishes one contract.

Pairwise over (variant, mode) (`support.AUTHED`): each bake runs its own `make check`
(lint, types, and its generated tests: hostile tokens against a test issuer over
loopback HTTP, or wrong keys). FastAPI and Flask bakes of the same mode publish the
same OpenAPI document, security included. The contract suite (tests/test_contract.py)
runs with credentials against one jwt and one api_key bake.
"""

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from tests.auth_support import access
from tests.readme_commands import readme_commands
from tests.support import AUTHED, bake, gunicorn_service, http, log_events, mongo_server, run
from tests.test_openapi_parity import normalise, served_document_with


@pytest.mark.parametrize("name", list(AUTHED))
def test_authed_bake_passes_its_own_checks(
    baked: Callable[[str], Path], name: str, mongo_uri_env: dict[str, str]
) -> None:
    run(["make", "check"], cwd=baked(name), env=mongo_uri_env, timeout=900)


@pytest.mark.parametrize(
    ("fastapi", "flask"),
    [("fastapi-pymongo+jwt", "flask+jwt"), ("fastapi-motor+api_key", "flask+api_key")],
)
def test_frameworks_publish_the_same_secured_contract(
    baked: Callable[[str], Path], fastapi: str, flask: str
) -> None:
    documents = []
    for name in (fastapi, flask):
        mode = AUTHED[name][1]
        with access(baked(name), mode, []) as (env, _):
            documents.append(served_document_with(baked(name), {**os.environ, **env}))
    first, second = (normalise(document) for document in documents)
    assert first == second
    operation = first["paths"]["/api/v1/books"]["post"]
    assert list(operation["security"][0].values()) == [["books:write"]]
    assert {"401", "403"} <= set(operation["responses"])


def test_unknown_auth_answer_is_refused(tmp_path: Path) -> None:
    # The answers' own check (local_extensions.py); the pre-gen hook checks replayed answers.
    with pytest.raises(FailedHookException) as refused:
        bake(tmp_path, auth="basic")
    assert str(refused.value) == "ERROR: auth must be one of none, api_key, jwt"


def test_none_bake_has_nothing_of_the_other_modes(tmp_path: Path) -> None:
    project = bake(tmp_path, framework="flask")
    text = "\n".join(path.read_text() for path in project.rglob("*") if path.is_file())
    for word in ("jwt", "JWKS", "X-API-Key", "AUTH_"):
        assert word not in text, word


def test_misconfigured_service_refuses_to_start_naming_the_setting(
    baked: Callable[[str], Path],
) -> None:
    project = baked("fastapi-pymongo+jwt")
    python = str(project / ".venv" / "bin" / "python")
    env = {key: value for key, value in os.environ.items() if "AUTH_" not in key}
    done = subprocess.run(
        [python, "-c", "from item_service.app import create_app; create_app()"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "ITEM_SERVICE_AUTH_JWT_ISSUER" in done.stderr


def test_served_jwt_bake_refuses_callers_without_a_token(baked: Callable[[str], Path]) -> None:
    project = baked("flask+jwt")
    with (
        mongo_server() as mongo,
        access(project, "jwt", ["books:read"]) as (env, headers),
        gunicorn_service(project, mongo.uri, env=env, workers=1) as service,
    ):
        url = f"{service.url}/api/v1/books"
        status, response_headers, _ = http("GET", url)
        assert status == 401
        assert response_headers["www-authenticate"].startswith("Bearer realm=")
        assert http("GET", url, headers=headers)[0] == 200
        assert http("POST", url, {"name": "x"}, headers=headers)[0] == 403
        assert http("GET", f"{service.url}/health/ready")[0] == 200
        assert any(event.get("subject") == "user-42" for event in log_events(service.log()))
        # The README's "Calling the API" example, as written, with the token in $TOKEN.
        token = headers["Authorization"].removeprefix("Bearer ")
        run_readme_curls(project, service.port, "TOKEN", token)


def run_readme_curls(project: Path, port: int, variable: str, value: str) -> None:
    """Run the README's curl examples that use `$variable`, as written, against `port`."""
    curls = [c for c in readme_commands(project / "README.md") if f"${variable}" in c]
    assert curls
    for command in curls:
        done = subprocess.run(
            ["bash", "-c", command.replace("localhost:8000", f"127.0.0.1:{port}")],
            env={**os.environ, variable: value},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def test_served_api_key_bake_scopes_a_new_resource_and_runs_its_readme_example(
    baked: Callable[[str], Path], tmp_path: Path
) -> None:
    """`make resource NAME=order` in an api_key bake: `orders` has scopes of its own.

    A copy of the shared bake grows (the shared one stays as other tests expect it),
    served from its own sources (`PYTHONPATH`) with the shared bake's venv.
    """
    shared = baked("flask+api_key")
    project = tmp_path / shared.name
    shutil.copytree(
        shared, project, ignore=shutil.ignore_patterns(".venv", ".metrics-*", "gunicorn-*.log")
    )
    (project / ".venv").symlink_to(shared / ".venv")
    run(["make", "resource", "NAME=order", "PLURAL=orders"], cwd=project)
    with (
        mongo_server() as mongo,
        access(project, "api_key", ["books:read"]) as (env, headers),
        gunicorn_service(
            project, mongo.uri, env={**env, "PYTHONPATH": str(project / "src")}, workers=1
        ) as service,
    ):
        books, orders = f"{service.url}/api/v1/books", f"{service.url}/api/v1/orders"
        assert http("GET", books, headers=headers)[0] == 200
        status, response_headers, _ = http("GET", orders, headers=headers)
        assert status == 403
        assert 'scope="orders:read"' in response_headers["www-authenticate"]
        assert http("GET", orders)[0] == 401
        assert http("POST", books, {"name": "x"}, headers=headers)[0] == 403
        # The README's "Calling the API" example, as written, with the key in $API_KEY.
        run_readme_curls(project, service.port, "API_KEY", headers["X-API-Key"])
    with (
        mongo_server() as mongo,
        access(project, "api_key", ["orders:read", "orders:write"]) as (env, headers),
        gunicorn_service(
            project, mongo.uri, env={**env, "PYTHONPATH": str(project / "src")}, workers=1
        ) as service,
    ):
        orders = f"{service.url}/api/v1/orders"
        assert http("POST", orders, {"name": "o"}, headers=headers)[0] == 201
        assert http("GET", orders, headers=headers)[0] == 200
        assert http("GET", f"{service.url}/api/v1/books", headers=headers)[0] == 403
