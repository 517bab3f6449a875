"""Locked dependencies: every bake ships locks in sync with its pyproject.toml, and installs them.

The template keeps two hash-pinned requirements locks per variant
(`_overlays/<variant>/requirements.txt` and `requirements-dev.txt`, the project's name a
placeholder in the "# via" annotations), two more per variant for each answer that adds
dependencies (`auth=jwt`: `_overlays/<variant>-auth-jwt/`; `tracing=opentelemetry`:
`_overlays/<variant>-tracing-opentelemetry/`; and both), and one for its own tooling
(`requirements.txt`).
uv runs offline first, on the shared wheel cache; only what the cache lacks (on a fresh
machine: the index metadata a resolution reads) sends it to the index.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.locks import (
    AUTH_MODES_WITH_LOCKS,
    DESCRIBE_ENVIRONMENT,
    DEV_LOCK,
    LOCK_NAMES,
    LOCK_SETS,
    PLACEHOLDER,
    RUNTIME_LOCK,
    TOOLING_COMPILE,
    TOOLING_LOCK,
    VARIANT_LOCKS,
    changes,
    lock_mismatches,
    lock_set,
    locked_requirements,
    parse_lock,
    to_template,
    versions,
)
from tests.support import AUTHED, BIN, TEMPLATE_ROOT, VARIANTS, bake, run, uv_env

# Every lock set without tracing baked once (each variant plain and with auth=jwt), each
# variant with two python_versions and every python_version with each kind of lock (the
# locks are universal: the same for every version). api_key shares the plain locks: one
# plain bake answers it, so its pyproject is proven to match them. The tracing lock sets
# pairwise: each variant once, each with and without jwt's packages.
BAKES = [
    ("fastapi-pymongo", "none", "none", "3.12", "Item Service", "item-service"),
    ("fastapi-motor", "api_key", "none", "3.11", "Billing API", "billing-api"),
    ("flask", "none", "none", "3.13", "Stock Keeper", "stock-keeper"),
    ("fastapi-pymongo", "jwt", "none", "3.13", "Token Desk", "token-desk"),
    ("fastapi-motor", "jwt", "none", "3.12", "Item Service", "item-service"),
    ("flask", "jwt", "none", "3.11", "Key Ring", "key-ring"),
    ("fastapi-pymongo", "none", "opentelemetry", "3.11", "Trace Desk", "trace-desk"),
    ("fastapi-motor", "jwt", "opentelemetry", "3.13", "Item Service", "item-service"),
    ("flask", "api_key", "opentelemetry", "3.12", "Item Service", "item-service"),
]
# The packages `auth=jwt` adds (PyJWT with its crypto extra) that every jwt lock names.
JWT_PACKAGES = {"pyjwt", "cryptography"}
# The packages `tracing=opentelemetry` adds (and only its locks name): the SDK, the
# exporter, the MongoDB instrumentation. FastAPI itself requires `opentelemetry-api`
# (0.165: its own telemetry hooks), so that one is in every FastAPI lock.
TRACING_PACKAGES = {
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-instrumentation-pymongo",
}
# Where a lock would record where it came from: an index option or any URL.
URL = re.compile(r"https?://|file:|--(extra-)?index-url|--find-links|^-[ifr] ", re.MULTILINE)


def offline_env() -> dict[str, str]:
    """Return uv's environment for the suite, without network access."""
    return {**uv_env(), "UV_OFFLINE": "1"}


def offline_first(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `command` offline; if that fails, run it again with the index reachable.

    An offline resolution fails on a cache that lacks some index metadata (a fresh
    machine), and uv's message for it varies; a run that fails for a real reason fails
    online too.
    """
    done = None
    for env in (offline_env(), uv_env()):
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode == 0:
            break
    assert done is not None
    return done


def uv_ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the tooling's uv in `cwd` (offline first); return the result, failed or not."""
    return offline_first([str(BIN / "uv"), *args], cwd)


def make(target: str, project: Path) -> subprocess.CompletedProcess[str]:
    """Run a baked project's `make target` with the tooling's uv (offline first)."""
    return offline_first(["make", target, f"UV={BIN / 'uv'}"], project)


def shipped_locks() -> list[Path]:
    """Return every lock the template ships: the tooling's and each lock set's two."""
    return [TOOLING_LOCK, *(path for paths in VARIANT_LOCKS.values() for path in paths)]


@pytest.mark.parametrize("path", shipped_locks(), ids=lambda p: str(p.relative_to(TEMPLATE_ROOT)))
def test_shipped_lock_pins_every_package_by_version_and_hash_and_names_no_url(path: Path) -> None:
    """Only `name==version [; marker]` lines with hashes and comments: no index, no URL."""
    text = path.read_text()
    assert not URL.search(text), URL.search(text)
    assert text.startswith("# This file was autogenerated by uv via the following command:\n")
    assert "#    make lock\n" in text  # the header names the command that remakes it
    entries = re.split(r"\n(?=[^ #\n])", text.split("\n", 2)[2].strip())
    assert len(entries) == len(parse_lock(text)) > 20
    for entry in entries:
        head, *rest = entry.splitlines()
        assert re.fullmatch(r"[a-z0-9-]+==[^ ]+( ; .+)? \\", head), head
        hashes = [line for line in rest if not line.lstrip().startswith("#")]
        assert hashes and all(
            re.fullmatch(r"    --hash=sha256:[0-9a-f]{64}( \\)?", h) for h in hashes
        )


def test_no_template_file_names_a_package_registry_host() -> None:
    """No file the template ships or keeps names the public package index's hosts."""
    hosts = re.compile(r"\b(" + "|".join(["py" + "pi", "python" + "hosted"]) + r")\.org\b", re.I)
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=TEMPLATE_ROOT, capture_output=True, check=True
    ).stdout.decode()
    offenders = []
    for name in filter(None, tracked.split("\0")):
        path = TEMPLATE_ROOT / name
        if path.is_file() and hosts.search(path.read_text(errors="replace")):
            offenders.append(name)
    assert len(tracked.split("\0")) > 100 and offenders == []


@pytest.mark.parametrize("name", list(LOCK_SETS))
def test_template_keeps_locks_per_variant_with_only_the_name_templated(name: str) -> None:
    """Two locks per lock set: the runtime set is the dev set without the dev tools."""
    runtime, dev = (path.read_text() for path in VARIANT_LOCKS[name])
    for text in (runtime, dev):
        assert set(re.findall(r"\{\{.*?\}\}|\{%|\{#", text)) == {"{{ cookiecutter.project_slug }}"}
        assert PLACEHOLDER in text
    runtime_pins, dev_pins = set(parse_lock(runtime)), set(parse_lock(dev))
    assert runtime_pins < dev_pins  # same versions (and markers) for every runtime package
    runtime_names = {name for name, _, _ in runtime_pins}
    assert "gunicorn" in runtime_names and "pydantic" in runtime_names
    assert not runtime_names & {"pytest", "mypy", "ruff", "secantusdb"}
    assert {"pytest", "mypy", "ruff", "secantusdb"} <= {name for name, _, _ in dev_pins}
    assert (runtime_names >= JWT_PACKAGES) == (LOCK_SETS[name][1] == "jwt")
    otel = {name for name in runtime_names if name.startswith("opentelemetry")}
    if LOCK_SETS[name][2] == "opentelemetry":
        assert otel >= TRACING_PACKAGES
    else:  # no OpenTelemetry package but FastAPI's own dependency on the API
        assert otel == ({"opentelemetry-api"} if name.startswith("fastapi") else set())


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("mode", AUTH_MODES_WITH_LOCKS)
def test_a_modes_locks_are_the_variants_plus_what_the_mode_adds(variant: str, mode: str) -> None:
    """Every pin the plain locks hold, the mode's hold at the same version; it adds packages."""
    plain_locks, mode_locks = VARIANT_LOCKS[variant], VARIANT_LOCKS[lock_set(variant, mode)]
    assert plain_locks != mode_locks
    for plain, authed in zip(plain_locks, mode_locks, strict=True):
        before, after = versions(plain.read_text()), versions(authed.read_text())
        assert {name: after.get(name) for name in before} == before, plain.name
        assert after.keys() - before.keys() >= JWT_PACKAGES, plain.name


def test_only_the_modes_that_add_dependencies_keep_locks_of_their_own() -> None:
    """api_key and none have no lock overlay: their bakes get the variant's plain locks."""
    kept = {
        path.parent.name
        for path in (TEMPLATE_ROOT / "{{cookiecutter.project_slug}}").glob(
            "_overlays/*/requirements*.txt"
        )
    }
    assert kept == set(LOCK_SETS)
    assert {lock_set(variant, mode) for variant in VARIANTS for mode in ("none", "api_key")} == (
        set(VARIANTS)
    )


@pytest.mark.parametrize(
    ("variant", "auth", "tracing", "python_version", "project_name", "slug"), BAKES
)
def test_baked_locks_are_in_sync_with_the_baked_pyproject(
    tmp_path: Path,
    variant: str,
    auth: str,
    tracing: str,
    python_version: str,
    project_name: str,
    slug: str,
) -> None:
    """The bake gets its lock set's locks; `make lock-check` passes on it and fails once
    pyproject.toml changes; both locks install on the bake's Python (wheels for Linux, as
    in the image)."""
    project = bake(
        tmp_path,
        project_name=project_name,
        python_version=python_version,
        auth=auth,
        tracing=tracing,
        **VARIANTS[variant],
    )
    locks = VARIANT_LOCKS[lock_set(variant, auth, tracing)]
    for name, template in zip(LOCK_NAMES, locks, strict=True):
        assert to_template((project / name).read_text(), slug) == template.read_text()
    assert not (project / "uv.lock").exists()
    assert (project / ".python-version").read_text().strip() == python_version
    done = make("lock-check", project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "match pyproject.toml" in done.stdout

    # Every pin has a wheel for the bake's Python on Linux (the image builds nothing).
    for name in LOCK_NAMES:
        done = uv_ok(
            *("pip", "compile", name, "--no-deps", "--only-binary", ":all:", "--no-header"),
            *("--python-version", python_version, "--python-platform", "x86_64-manylinux_2_28"),
            cwd=project,
        )
        assert done.returncode == 0, done.stderr
        assert {n for n, _, _ in parse_lock(done.stdout)} >= {"pydantic", "gunicorn"}

    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "structlog>=26",\n', ""))
    done = make("lock-check", project)
    assert done.returncode != 0
    assert "-structlog==" in done.stdout and "run make lock" in done.stderr


def test_make_install_refuses_a_file_whose_hash_the_lock_does_not_list(tmp_path: Path) -> None:
    """Hashes are checked: a lock whose hashes for one package were altered fails the install."""
    project = bake(tmp_path)
    lock = project / DEV_LOCK
    text = lock.read_text()
    [entry] = re.findall(r"^structlog==.*?(?=^\S)", text, re.MULTILINE | re.DOTALL)
    altered = re.sub(r"sha256:([0-9a-f]{64})", lambda m: f"sha256:{m[1][::-1]}", entry)
    lock.write_text(text.replace(entry, altered))
    done = make("install", project)
    assert done.returncode != 0
    assert "structlog" in done.stderr and "Hash mismatch" in done.stderr, done.stderr
    assert not (project / ".venv" / ".installed").exists()


def test_template_tooling_lock_is_in_sync_and_bootstraps_its_own_uv(tmp_path: Path) -> None:
    """The tooling lock matches pyproject.toml; `make install` starts from its hashed uv."""
    copy = tmp_path / TOOLING_LOCK.name
    copy.write_text(TOOLING_LOCK.read_text())
    (tmp_path / "pyproject.toml").write_text((TEMPLATE_ROOT / "pyproject.toml").read_text())
    done = uv_ok(*TOOLING_COMPILE, "-o", copy.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert copy.read_text() == TOOLING_LOCK.read_text()
    planned = subprocess.run(
        ["make", "-n", "-B", "install", "VENV=/nonexistent/venv"],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "pip install --quiet --no-deps --require-hashes -r /nonexistent/venv/uv-lock.txt" in (
        planned
    )
    assert "uv pip sync --quiet --require-hashes" in planned and "requirements.txt" in planned


def test_template_tooling_venv_holds_exactly_the_tooling_lock() -> None:
    """The suite's own venv (`make install`) holds the tooling lock's versions."""
    described = json.loads(
        run([str(BIN / "python"), "-c", DESCRIBE_ENVIRONMENT], cwd=TEMPLATE_ROOT).stdout
    )
    described["installed"] = {
        name: version
        for name, version in described["installed"].items()
        if name.lower() not in {"pip", "setuptools", "flaskfast"}  # the venv's seed, old installs
    }
    locked = parse_lock(TOOLING_LOCK.read_text())
    assert lock_mismatches(locked, described, "flaskfast") == []


# The shared bakes of each variant, and of each with a mode that has locks of its own.
INSTALLED_BAKES = [
    *VARIANTS,
    *(name for name, (_, mode) in AUTHED.items() if mode in AUTH_MODES_WITH_LOCKS),
]


@pytest.mark.parametrize("bake_name", INSTALLED_BAKES)
def test_make_install_installs_exactly_the_locked_versions(
    baked: Callable[[str], Path], bake_name: str
) -> None:
    """The bake's venv (made by `make install`) holds the dev lock's versions and nothing else."""
    project = baked(bake_name)
    python = project / ".venv" / "bin" / "python"
    described = json.loads(run([str(python), "-c", DESCRIBE_ENVIRONMENT], cwd=project).stdout)
    locked = locked_requirements(project, dev=True)
    names = {name for name, _, _ in locked}
    assert "pytest" in names and "gunicorn" in names  # dev and runtime packages
    assert (names >= JWT_PACKAGES) == (AUTHED.get(bake_name, ("", "none"))[1] == "jwt")
    assert lock_mismatches(locked, described, "item-service") == []
    assert described["installed"].get("item-service") == "0.1.0"  # the service itself


def test_lock_mismatches_has_teeth() -> None:
    """A wrong version, a missing package and an extra one are each reported."""
    locked = [
        ("a", "1.0", ""),
        ("b", "2.0", ""),
        ("w", "1.0", "sys_platform == 'win32'"),
        ("n", "2.4", "python_full_version < '3.12'"),
        ("n", "2.5", "python_full_version >= '3.12'"),
    ]
    described = {
        "installed": {"A": "1.1", "C": "3.0", "item-service": "0.1.0", "n": "2.4"},
        "markers": {"sys_platform": "linux", "python_full_version": "3.13.0"},
    }
    assert lock_mismatches(locked, described, "item-service") == [
        "a: locked 1.0, installed 1.1",
        "b: locked 2.0, installed nothing",
        "n: locked 2.5, installed 2.4",
        "c 3.0 is installed but not locked",
    ]


def test_make_lock_and_make_upgrade_keep_the_locks_in_sync(tmp_path: Path) -> None:
    """`make lock`: no change when nothing changed; drops a removed dependency from both
    locks, every other pin kept. `make upgrade` leaves locks that match pyproject.toml
    (offline: the newest versions in the cache)."""
    project = bake(tmp_path, framework="flask")
    before = {name: (project / name).read_text() for name in LOCK_NAMES}
    assert make("lock", project).returncode == 0
    assert {name: (project / name).read_text() for name in LOCK_NAMES} == before

    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "flask-cors>=6",\n', ""))
    done = make("lock", project)
    assert done.returncode == 0, done.stderr
    for name in LOCK_NAMES:
        old, new = versions(before[name]), versions((project / name).read_text())
        assert "flask-cors" in old
        # flask-cors is gone (its own dependencies are the service's too); the rest stays.
        assert new == {k: v for k, v in old.items() if k != "flask-cors"}, name

    done = make("upgrade", project)
    assert done.returncode == 0, done.stderr
    done = make("lock-check", project)
    assert done.returncode == 0, done.stdout + done.stderr
    runtime = set(parse_lock((project / RUNTIME_LOCK).read_text()))
    assert runtime < set(parse_lock((project / DEV_LOCK).read_text()))


def test_changes_lists_added_removed_and_moved_packages() -> None:
    """The refresh report: one line per package that moved, appeared or went away."""
    hashed = "    --hash=sha256:" + "0" * 64
    old = f"a==1 \\\n{hashed}\nb==1 \\\n{hashed}\n    # via a\n"
    new = f"a==2 \\\n{hashed}\nc==1 ; sys_platform == 'win32' \\\n{hashed}\n"
    assert changes(old, new) == ["    a 1 -> 2", "  - b 1", "  + c 1"]
    assert changes(old, old) == []


def test_refresh_workflow_runs_the_one_command_and_proposes_the_locks() -> None:
    """The template's scheduled workflow is schema-valid and runs `make refresh-locks`."""
    path = TEMPLATE_ROOT / ".github" / "workflows" / "refresh-locks.yml"
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workflow = yaml.safe_load(path.read_text())
    assert "schedule" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["refresh"]["steps"]
    assert [s["run"] for s in steps if "refresh-locks" in s.get("run", "")] == [
        "make refresh-locks"
    ]
    assert steps[-1]["uses"].startswith("peter-evans/create-pull-request@")
    assert steps[-1]["with"]["body-path"] == "build/lock-changes.md"
    added = steps[-1]["with"]["add-paths"].split()
    assert sorted(added) == sorted(
        [
            TOOLING_LOCK.name,
            *(f"{{{{cookiecutter.project_slug}}}}/_overlays/*/{n}" for n in LOCK_NAMES),
        ]
    )
