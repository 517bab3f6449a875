"""The `auth` prompt: every access mode bakes, passes its own checks, and publishes one contract.

Pairwise over (variant, mode) (`support.AUTHED`): each bake runs its own `make check`
(lint, types, and its generated tests: hostile tokens against a test issuer over
loopback HTTP, or wrong keys). FastAPI and Flask bakes of the same mode publish the
same OpenAPI document, security included. The contract suite (tests/test_contract.py)
runs with credentials against one jwt and one api_key bake. Under gunicorn, each
framework's jwt bake refuses forged tokens and outlives a dripping key server, and the
README's examples run as written in every access mode.
"""

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from tests.auth_support import access, issuer_process
from tests.support import (
    AUTHED,
    ENV_PREFIX,
    MongoServer,
    bake,
    free_port,
    gunicorn_service,
    http,
    log_events,
    made_run,
    mongo_server,
    run,
    wait_for,
)
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


def test_served_api_key_bake_scopes_a_new_resource(
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


# AUTH_JWKS_TIMEOUT_S, the generated default, given explicitly so the bounds below read.
JWKS_TIMEOUT_S = 3
# AUTH_JWKS_RETRY_S, the generated default: the pause after a failed key fetch.
JWKS_RETRY_S = 1
# What a request may take beyond the fetch's deadline: the deadline's timer and the
# waiting request must both be scheduled and the answer sent, through gunicorn on a
# loaded two-core machine (an idle one answers in a few ms). The issue's own bound.
DEADLINE_MARGIN_S = 1.0
# Valid tokens work again within this long after the key server recovers (the issue's
# figure): a fetch that was dripping when it recovered runs to its deadline (3 s), the
# pause after it (1 s), then the next request fetches from the recovered server.
RECOVERY_BOUND_S = 5.0


def timed_get(url: str, headers: dict[str, str]) -> tuple[int, float, dict[str, str]]:
    """GET `url`; return (status, seconds taken, lower-cased headers)."""
    started = time.monotonic()
    status, response_headers, _ = http("GET", url, headers=headers, timeout=60)
    return status, time.monotonic() - started, response_headers


@pytest.mark.parametrize("name", ["fastapi-pymongo+jwt", "flask+jwt"])
def test_served_jwt_bake_refuses_forged_tokens_and_outlives_a_dripping_key_server(
    baked: Callable[[str], Path], mongo: MongoServer, name: str
) -> None:
    """Under gunicorn (one worker): forged tokens get 401, a dripping key server 503 in time.

    The key server drips its answer a byte a second from the status line on, so no
    socket read ever times out. Four requests arrive before any key was fetched: one
    fetch serves them all (single flight), and each answers 503 by the fetch's deadline
    plus `DEADLINE_MARGIN_S`. Then a request starts a second dripping fetch, the server
    recovers half a second into it, and valid tokens work again within
    `RECOVERY_BOUND_S`. Last, with the keys held, every forged token is a 401.
    """
    project = baked(name)
    with (
        issuer_process(project, ["books:read"]) as issuer,
        gunicorn_service(
            project,
            mongo.uri,
            env={
                **issuer.env,
                f"{ENV_PREFIX}AUTH_JWKS_TIMEOUT_S": str(JWKS_TIMEOUT_S),
                f"{ENV_PREFIX}AUTH_JWKS_RETRY_S": str(JWKS_RETRY_S),
            },
            workers=1,
        ) as service,
    ):
        url = f"{service.url}/api/v1/books"
        valid = {"Authorization": f"Bearer {issuer.token}"}
        issuer.set("drip")
        first: list[tuple[int, float, dict[str, str]]] = []
        callers = [
            threading.Thread(target=lambda: first.append(timed_get(url, valid))) for _ in range(4)
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(60)
        assert [status for status, _, _ in first] == [503] * 4
        assert max(seconds for _, seconds, _ in first) < JWKS_TIMEOUT_S + DEADLINE_MARGIN_S
        assert {headers["retry-after"] for _, _, headers in first} == {str(JWKS_RETRY_S)}
        fetch_failures = [
            event
            for event in log_events(service.log())
            if event.get("event") == "jwks fetch failed"
        ]
        assert len(fetch_failures) == 1  # one fetch for the four requests

        time.sleep(JWKS_RETRY_S + 0.1)  # past the pause: the next request fetches again
        dripping = threading.Thread(target=timed_get, args=(url, valid))
        dripping.start()
        time.sleep(0.5)
        issuer.set("up")
        recovered = time.monotonic()
        wait_for(
            lambda: http("GET", url, headers=valid)[0] == 200,
            timeout=RECOVERY_BOUND_S,
            what="valid tokens after the key server recovered",
        )
        back_after = time.monotonic() - recovered
        dripping.join(60)

        refused = {}
        for case, token in issuer.forged.items():
            status, headers, _ = http("GET", url, headers={"Authorization": f"Bearer {token}"})
            refused[case] = (
                status,
                headers.get("content-type"),
                'error="invalid_token"' in headers.get("www-authenticate", ""),
                headers.get("cache-control"),
            )
        expected = (401, "application/problem+json", True, "no-store")
        assert refused == dict.fromkeys(refused, expected)
        status, headers, _ = http("GET", f"{url}?apikey=x", headers=valid)
        assert (status, 'error="invalid_request"' in headers["www-authenticate"]) == (401, True)
        status, headers, _ = http("GET", url, headers=valid)
        assert (status, headers["cache-control"]) == (200, "no-store")
        assert "Traceback" not in service.log()
    print(  # the figures the issue asks for (pytest -s shows them)
        f"{name}: 503 after {sorted(round(seconds, 2) for _, seconds, _ in first)} s "
        f"(deadline {JWKS_TIMEOUT_S} s); valid again {back_after:.2f} s after recovery; "
        f"{len(refused)} forged tokens: 401"
    )


# One shared bake per access mode, each framework at least once.
README_BAKES = {"none": "fastapi-pymongo", "api_key": "flask+api_key", "jwt": "fastapi-pymongo+jwt"}


def readme_section(readme: str, title: str) -> str:
    """Return the text of the README section `## title`, up to the next `## ` heading."""
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def sh_blocks(text: str) -> list[str]:
    """Return the ```sh blocks of `text`, as written."""
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def run_block(block: str, project: Path, port: int) -> None:
    """Run a README block as one shell script in `project` (as pasted into a terminal),
    against 127.0.0.1:`port` instead of localhost:8000; fail on its first failing line."""
    script = "set -e\n" + block.replace("localhost:8000", f"127.0.0.1:{port}")
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (block, done.stdout, done.stderr)


@pytest.mark.parametrize("mode", list(README_BAKES))
def test_readme_examples_run_as_written_in_every_access_mode(
    baked: Callable[[str], Path], mongo: MongoServer, tmp_path: Path, mode: str
) -> None:
    """The README's way to serve (`make dev-env` in the access modes, `make run`), then its
    "Then try it" and "Calling the API" blocks, as written, with the credentials they name.

    A copy of the shared bake (the shared one must not get a development `.env`), with the
    shared bake's venv.
    """
    shared = baked(README_BAKES[mode])
    project = tmp_path / shared.name
    shutil.copytree(
        shared, project, ignore=shutil.ignore_patterns(".venv", ".metrics-*", "*.log", ".dev")
    )
    (project / ".venv").symlink_to(shared / ".venv")
    readme = (project / "README.md").read_text()
    run_it = readme_section(readme, "Run it")
    serve = "make dev-env && make run" if mode != "none" else "make run"
    assert any(serve in block.splitlines() for block in sh_blocks(run_it)), serve
    if mode != "none":
        run(["bash", "-c", "make dev-env"], cwd=project)
    port = free_port()
    env = {
        **os.environ,
        f"{ENV_PREFIX}MONGO_URI": mongo.uri,
        f"{ENV_PREFIX}MONGO_DATABASE": f"readme_{port}",
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }
    with made_run(project, env, port):
        then_try_it = sh_blocks(run_it.split("Then try it:", 1)[1])[0]
        calling = sh_blocks(readme_section(readme, "Calling the API"))
        assert calling
        for block in [then_try_it, *calling]:
            run_block(block, project, port)
