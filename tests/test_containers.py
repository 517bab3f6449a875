"""The generated Dockerfile and compose stack: linted, built and run for real.

Lint checks (hadolint, `docker compose config`) run everywhere. The engine tests
run under `make test-containers`: they start a private Docker engine, build the
base images locally (no registry is reachable), build each variant's Dockerfile
unchanged, bring the compose stack up with `--wait` and drive it over HTTP, then
run the generated test suite with testcontainers. In `make test` they skip, saying
so; under `make test-containers` (FLASKFAST_CONTAINERS=1) an engine that cannot run
ends the run with one line saying why (tests/conftest.py checks the prerequisites
before anything runs), so the target cannot pass without running a container.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.containers_engine import (
    COMPOSE,
    ENGINE_UNUSABLE,
    NOT_REQUESTED,
    Engine,
    EngineUnavailableError,
    engine,
    requested,
    unusable,
)
from tests.locks import DESCRIBE_ENVIRONMENT, lock_mismatches, locked_requirements
from tests.support import BIN, ENV_PREFIX, TEMPLATE_ROOT, VARIANTS, bake, free_port, http, install

PROJECT = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"
# Python for each variant's image: no Debian release ships 3.12 (the default), so the
# stand-in base images are bookworm (3.11) and trixie (3.13); both are exercised.
IMAGE_PYTHON = {"fastapi-pymongo": "3.13", "fastapi-motor": "3.11", "flask": "3.11"}


def _bake(tmp_path: Path, variant: str, python_version: str) -> Path:
    """Bake `variant` with `python_version`."""
    return bake(tmp_path, python_version=python_version, **VARIANTS[variant])


def _tool(name: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a tool from the tooling venv; return the result whatever its status."""
    return subprocess.run(
        [str(BIN / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("python_version", ["3.12", "3.11", "3.13"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_dockerfile_passes_hadolint(tmp_path: Path, variant: str, python_version: str) -> None:
    """The Dockerfile has no hadolint findings and follows the image rules."""
    project = _bake(tmp_path, variant, python_version)
    done = _tool("hadolint", ["Dockerfile"], project)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (project / "Dockerfile").read_text()
    assert f"ARG PYTHON_VERSION={python_version}\n" in text
    assert text.count("FROM python:${PYTHON_VERSION}-slim") == 2  # multi-stage
    assert "# syntax=" not in text
    assert re.search(r"^USER (?!0\b|root\b)\S+", text, re.MULTILINE)
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py"]' in text
    assert "ENV PATH=/opt/venv/bin:$PATH" in text and "PROMETHEUS_MULTIPROC_DIR=/tmp/" in text
    assert "curl" not in text.split("HEALTHCHECK", 1)[1]
    # Dependencies from the runtime lock alone, in their own layer, before the sources,
    # hashes checked; then the service without resolving anything. No dev tools.
    build = text.split("AS runtime", 1)[0]
    lock_copy = build.index("COPY requirements.txt ./\n")
    deps = build.index("pip sync --require-hashes --python /opt/venv/bin/python requirements.txt")
    service = build.index("uv pip install --no-deps --python /opt/venv/bin/python .\n")
    assert lock_copy < deps < build.index("COPY pyproject.toml") < build.index("COPY src") < service
    assert "requirements-dev" not in text and "uv.lock" not in text


def test_hadolint_fails_a_broken_dockerfile(tmp_path: Path) -> None:
    """A shell-form CMD and an unpinned apt install are reported: the lint has teeth."""
    project = _bake(tmp_path, "fastapi-pymongo", "3.12")
    dockerfile = project / "Dockerfile"
    text = dockerfile.read_text().replace(
        'CMD ["gunicorn", "-c", "gunicorn.conf.py"]', "CMD gunicorn -c gunicorn.conf.py"
    )
    dockerfile.write_text(text + "RUN apt-get install curl\n")
    done = _tool("hadolint", ["Dockerfile"], project)
    assert done.returncode != 0
    assert "DL3025" in done.stdout and "DL3008" in done.stdout


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_compose_file_is_valid(tmp_path: Path, variant: str) -> None:
    """`docker compose config` accepts the file; migrations run before the app starts."""
    project = _bake(tmp_path, variant, "3.12")
    done = _tool("docker-compose", ["config", "-q"], project)
    assert done.returncode == 0, done.stdout + done.stderr
    services = yaml.safe_load((project / "docker-compose.yml").read_text())["services"]
    assert services["mongo"]["image"] == "mongo:8.0"
    assert "mongosh" in services["mongo"]["healthcheck"]["test"]
    # The one-shot `migrate` runs once MongoDB is healthy; the app once it succeeded.
    assert services["migrate"]["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert services["migrate"]["command"][-2:] == ["item_service.core.migrations", "upgrade"]
    assert services["migrate"]["image"] == services["app"]["image"]
    for service in ("app", "migrate"):
        assert services[service]["environment"][f"{ENV_PREFIX}MONGO_URI"].startswith(
            "mongodb://mongo:27017"
        )


def test_compose_config_fails_a_broken_file(tmp_path: Path) -> None:
    """A dependency on a service that does not exist is rejected."""
    project = _bake(tmp_path, "fastapi-pymongo", "3.12")
    compose = project / "docker-compose.yml"
    text = compose.read_text()
    broken = text.replace("      mongo:\n        condition", "      db:\n        condition")
    compose.write_text(broken)
    done = _tool("docker-compose", ["config", "-q"], project)
    assert done.returncode != 0
    assert "db" in done.stderr


# --- with a real engine (make test-containers) --------------------------------------


@pytest.fixture(scope="module")
def docker_engine() -> Iterator[Engine]:
    """Start the private engine and the local base and mongo images.

    Skips outside `make test-containers`; under it, an engine that does not start ends
    the run (exit status 3) with one line saying why.
    """
    if not requested():
        pytest.skip(NOT_REQUESTED)
    try:
        with engine() as running:
            running.mongo_image()
            yield running
            running.try_run(["docker", "image", "prune", "-f"], timeout=300)
    except EngineUnavailableError as exc:
        pytest.exit(unusable(str(exc)), returncode=ENGINE_UNUSABLE)


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_image_builds_and_compose_stack_serves(
    docker_engine: Engine, tmp_path: Path, variant: str
) -> None:
    """Build the Dockerfile unchanged, `compose up --wait`, then create, read and probe."""
    python_version = IMAGE_PYTHON[variant]
    project = _bake(tmp_path, variant, python_version)
    docker_engine.base_image(python_version)
    docker_engine.build(project, "item-service:local")  # the compose file's image name

    port = free_port()
    compose = [COMPOSE, "-p", f"flaskfast-{variant}"]
    env = {"APP_PORT": str(port)}
    try:
        docker_engine.run(
            [*compose, "up", "--no-build", "--wait", "--wait-timeout", "180"],
            cwd=project,
            timeout=240,
            **env,
        )
        base = f"http://127.0.0.1:{port}"
        status, _, body = http("POST", f"{base}/api/v1/items", {"name": "boxed"})
        assert status == 201, body
        item = json.loads(body)
        status, _, body = http("GET", f"{base}/api/v1/items/{item['id']}")
        assert status == 200 and json.loads(body)["name"] == "boxed"
        assert http("GET", f"{base}/health/ready")[0] == 200
        status, _, body = http("GET", f"{base}/metrics")
        assert status == 200 and b"# TYPE" in body

        uid = docker_engine.run([*compose, "exec", "-T", "app", "id", "-u"], cwd=project, **env)
        assert uid.stdout.strip() not in ("", "0")
        version = docker_engine.run(
            [
                *compose,
                "exec",
                "-T",
                "app",
                "python",
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2])",
            ],
            cwd=project,
            **env,
        )
        assert version.stdout.strip() == python_version
        # The image holds exactly the lock's runtime versions (no dev tools, nothing else).
        described = docker_engine.run(
            [*compose, "exec", "-T", "app", "python", "-c", DESCRIBE_ENVIRONMENT],
            cwd=project,
            **env,
        )
        locked = locked_requirements(project, dev=False)
        assert "pytest" not in {name for name, _, _ in locked}
        assert lock_mismatches(locked, json.loads(described.stdout), "item-service") == []
    except BaseException:
        logs = docker_engine.try_run([*compose, "logs", "--no-color"], cwd=project, **env)
        print(logs.stdout[-6000:], logs.stderr[-2000:])
        raise
    finally:
        docker_engine.try_run([*compose, "down", "-v", "--timeout", "20"], cwd=project, **env)


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generated_suite_runs_on_testcontainers(
    docker_engine: Engine, tmp_path: Path, variant: str
) -> None:
    """With an engine up and TEST_MONGO_URI unset, the generated tests use testcontainers."""
    project = _bake(tmp_path, variant, "3.11")
    python = install(project)
    env = {key: value for key, value in docker_engine.env().items() if key != "TEST_MONGO_URI"}
    done = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "mongo: testcontainers mongo:8.0" in output, output[-4000:]
    assert done.returncode == 0, output[-6000:]
    assert re.search(r"\b\d+ passed\b", output), output[-2000:]
    # The stand-in mongo:8.0 is SecantusDB: only the checks of mongod's planner may skip.
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert all("mongod's planner only" in line for line in skipped), skipped
    # testcontainers removed its container; nothing is left running.
    left = docker_engine.run(["docker", "ps", "-q", "--filter", "ancestor=mongo:8.0"])
    assert left.stdout.strip() == ""
