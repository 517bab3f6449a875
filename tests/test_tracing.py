"""The `tracing` answer: what each answer bakes, the compose file, the README's tracing blocks.

The traced shared bakes (`support.TRACED`) run their own tracing tests in their
`make check` (tests/test_auth.py): spans in memory, and served by gunicorn to an
OTLP/HTTP receiver. Here: the template's side of it.
"""

import contextlib
import json
import os
import shlex
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.support import (
    BIN,
    ENV_PREFIX,
    PACKAGE,
    TRACED,
    MongoServer,
    bake,
    free_port,
    log_events,
    made_run,
    run,
)
from tests.test_auth import readme_section, run_block, sh_blocks
from tests.test_kubernetes import assert_valid, validate

TRACED_FILES = ("core/http_tracing.py",)
TRACED_TESTS = ("tests/core/test_tracing.py", "tests/test_gunicorn_tracing.py")


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_a_none_bake_holds_no_tracing(tmp_path: Path, framework: str) -> None:
    """`tracing=none`: no OpenTelemetry code, test, setting or file; tracing.py does nothing."""
    project = bake(tmp_path, framework=framework)
    package = project / "src" / PACKAGE
    assert not (package / "core" / "http_tracing.py").exists()
    assert not [path for path in project.rglob("*tracing*") if path.name != "tracing.py"]
    assert "from opentelemetry" not in (package / "core" / "tracing.py").read_text()
    assert "opentelemetry" not in (project / "pyproject.toml").read_text()
    assert "OTEL_" not in (project / "README.md").read_text()


def test_traced_bakes_have_the_same_tracing_files_in_both_frameworks(tmp_path: Path) -> None:
    """Both frameworks: the same modules and tests; only http_tracing.py differs in kind."""
    trees = {}
    for framework in ("fastapi", "flask"):
        project = bake(tmp_path / framework, framework=framework, tracing="opentelemetry")
        package = project / "src" / PACKAGE
        assert "from opentelemetry" in (package / "core" / "tracing.py").read_text()
        for name in (*TRACED_FILES, "core/tracing.py"):
            assert (package / name).is_file(), name
        for name in (*TRACED_TESTS, "tests/tracing_receiver.py", "docker-compose.tracing.yml"):
            assert (project / name).is_file(), name
        trees[framework] = sorted(
            path.relative_to(project).as_posix()
            for path in project.rglob("*tracing*")
            if "__pycache__" not in path.parts
        )
    assert trees["fastapi"] == trees["flask"]
    for framework in ("fastapi", "flask"):  # everything rendered
        for path in (tmp_path / framework).rglob("*tracing*"):
            if path.is_file():
                assert "{{" not in path.read_text() and "{%" not in path.read_text(), path
    fastapi_http = (tmp_path / "fastapi").rglob("http_tracing.py")
    assert "FastAPIInstrumentor" in next(fastapi_http).read_text()


def test_the_tracing_compose_file_merges_with_the_stack(tmp_path: Path) -> None:
    """`docker compose -f docker-compose.yml -f docker-compose.tracing.yml config` (no engine
    needed): the service points at the collector, which forwards to Jaeger's OTLP port."""
    project = bake(tmp_path, framework="flask", tracing="opentelemetry")
    done = run(
        [
            *(str(BIN / "docker-compose"), "-f", "docker-compose.yml"),
            *("-f", "docker-compose.tracing.yml", "config", "--format", "json"),
        ],
        cwd=project,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    config = json.loads(done.stdout)
    app = config["services"]["app"]
    assert app["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert "otel-collector" in app["depends_on"] and "migrate" in app["depends_on"]
    collector = config["services"]["otel-collector"]
    assert collector["volumes"][0]["source"] == str(project / "otel-collector.yaml")
    assert "jaeger:4317" in (project / "otel-collector.yaml").read_text()
    assert config["services"]["jaeger"]["ports"][0]["target"] == 16686


def test_a_traced_bakes_configmap_samples_and_leaves_the_endpoint_to_the_operator(
    tmp_path: Path,
) -> None:
    """The Kubernetes ConfigMap holds the sampler settings, the endpoint commented out
    (tracing stays off until an operator names a collector); it validates strictly."""
    project = bake(tmp_path, framework="flask", kubernetes="yes", tracing="opentelemetry")
    configmap = project / "k8s" / "configmap.yaml"
    assert_valid(validate(configmap))
    data = yaml.safe_load(configmap.read_text())["data"]
    assert data["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert float(data["OTEL_TRACES_SAMPLER_ARG"]) == 0.1
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in data
    assert "# OTEL_EXPORTER_OTLP_ENDPOINT:" in configmap.read_text()


class _Receiver:
    """Keep the bodies of OTLP/HTTP trace exports (POST /v1/traces) sent to 127.0.0.1."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def got(self, trace_id: str) -> bool:
        """Return whether an export held a span of trace `trace_id` (its 16 raw bytes)."""
        return any(bytes.fromhex(trace_id) in body for body in list(self.bodies))


@contextlib.contextmanager
def receiver() -> Iterator[_Receiver]:
    """Run a receiver for the block."""
    server = _Receiver()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def exported(block: str) -> dict[str, str]:
    """Return the variables a README block's `export` lines set (comments dropped)."""
    variables = {}
    for line in block.splitlines():
        if line.startswith("export "):
            words = shlex.split(line.split("  #", 1)[0])[1:]
            variables.update(word.split("=", 1) for word in words)  # type: ignore[misc]
    return variables


def test_readme_tracing_blocks_run_as_written(
    baked: Callable[[str], Path], mongo: MongoServer, tmp_path: Path
) -> None:
    """The README's "Tracing" blocks on a traced bake: its exports (the collector's address
    becomes a test receiver's), `make dev-env && make run`, then its curl line: the log
    line of that request names the caller's trace, and the receiver gets that trace.

    A copy of the shared bake (with its venv), as tests/test_auth.py runs "Run it".
    """
    name = "flask+api_key"
    assert name in TRACED
    shared = baked(name)
    project = tmp_path / shared.name
    shutil.copytree(
        shared, project, ignore=shutil.ignore_patterns(".venv", ".metrics-*", "*.log", ".dev")
    )
    (project / ".venv").symlink_to(shared / ".venv")
    setup, find = sh_blocks(readme_section((project / "README.md").read_text(), "Tracing"))
    assert setup.splitlines()[-1] == "make dev-env && make run"
    run(["bash", "-c", "make dev-env"], cwd=project)
    port = free_port()
    with receiver() as collector:
        variables = {
            key: value.replace("localhost:4318", f"127.0.0.1:{collector.port}")
            for key, value in exported(setup).items()
        }
        assert set(variables) == {
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_TRACES_SAMPLER",
            "OTEL_TRACES_SAMPLER_ARG",
        }
        env = {
            **os.environ,
            **variables,
            f"{ENV_PREFIX}MONGO_URI": mongo.uri,
            f"{ENV_PREFIX}MONGO_DATABASE": f"readme_tracing_{port}",
            f"{ENV_PREFIX}ENVIRONMENT": "production",  # JSON lines (dev-env writes console)
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
            "WEB_CONCURRENCY": "1",
        }
        with made_run(project, env, port) as log:
            run_block(find, project, port)
            [line] = [
                event
                for event in log_events(log.read_text())
                if event.get("event") == "request" and event.get("request_id") == "find-me"
            ]
            assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736", line
            assert line["trace_sampled"] is True
            # The batch processor sends within OTEL_BSP_SCHEDULE_DELAY (5 s).
            deadline = time.monotonic() + 30
            while not collector.got(str(line["trace_id"])):
                assert time.monotonic() < deadline, "no export of the request's trace"
                time.sleep(0.2)
