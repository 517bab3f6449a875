"""`make install` on a machine with Python and make only: uv comes from the bake's dev lock.

The README's first commands (`make install && make db`, `make run`) promise no more than
Python 3.11+ and make. These tests run the generated Makefile with a PATH that holds no
uv (pip installs it into `.venv` from its hash-pinned lines) and, where a pyenv is there
to try, through pyenv's shims. pip and uv reuse the suite's caches (`.cache/pip`,
`.cache/uv`), so only a first run downloads anything.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.locks import DESCRIBE_ENVIRONMENT, lock_mismatches, locked_requirements, versions
from tests.support import TEMPLATE_ROOT, UV_CACHE_DIR, bake, run

PIP_CACHE_DIR = TEMPLATE_ROOT / ".cache" / "pip"
SUPPORTED = ("3.11", "3.12", "3.13")


def fresh_machine_path() -> str:
    """Return a PATH with this interpreter's directory (its python3) and make's; no uv on it."""
    make = shutil.which("make")
    assert make is not None
    base_python = Path(getattr(sys, "_base_executable", sys.executable))
    folders = dict.fromkeys([str(base_python.parent), str(Path(make).parent), "/usr/bin", "/bin"])
    path = os.pathsep.join(folder for folder in folders if not Path(folder, "uv").exists())
    assert shutil.which("uv", path=path) is None
    assert shutil.which("python3", path=path) is not None
    return path


def fresh_machine_env(path: str) -> dict[str, str]:
    """Return the environment of a user without uv: no UV_* steering, the suite's caches."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("UV_", "PYENV_")) and name != "VIRTUAL_ENV"
    }
    return {
        **env,
        "PATH": path,
        "UV_CACHE_DIR": str(UV_CACHE_DIR),
        "PIP_CACHE_DIR": str(PIP_CACHE_DIR),
    }


def test_make_install_without_uv_bootstraps_it_from_the_dev_lock(tmp_path: Path) -> None:
    """No uv on PATH, no `.python-version` interpreter: python3 is used (one line), uv is
    pip-installed from the lock's hashed lines, the venv holds the lock; again: no-op."""
    path = fresh_machine_path()
    missing = [v for v in SUPPORTED if shutil.which(f"python{v}", path=path) is None]
    assert missing, f"every supported Python is on {path}: nothing is missing"
    project = bake(tmp_path, python_version=missing[-1])
    env = fresh_machine_env(path)
    python3 = run(
        ["python3", "-c", "import platform, sys; print(sys.executable, platform.python_version())"],
        cwd=project,
        env=env,
    ).stdout.split()

    done = run(["make", "install"], cwd=project, env=env)

    assert done.stdout.splitlines()[0] == (
        f"python{missing[-1]} (.python-version) not found: .venv uses {python3[0]} "
        f"(Python {python3[1]})."
    )
    assert "Traceback" not in done.stdout + done.stderr
    venv = project / ".venv" / "bin"
    locked_uv = versions((project / "requirements-dev.txt").read_text())["uv"]
    assert run([str(venv / "uv"), "--version"], cwd=project).stdout.split()[1] == locked_uv
    described = json.loads(
        run([str(venv / "python"), "-c", DESCRIBE_ENVIRONMENT], cwd=project).stdout
    )
    for seed in ("pip", "setuptools"):  # python -m venv's own, which uv sync leaves alone
        described["installed"].pop(seed, None)
    assert lock_mismatches(locked_requirements(project, dev=True), described, "item-service") == []
    again = run(["make", "install"], cwd=project, env=env)
    assert again.stdout == "make: Nothing to be done for 'install'.\n"


def pyenv_python(version: str) -> str | None:
    """Return the newest pyenv-installed Python `version`.x, or None (no pyenv or none)."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    installed = subprocess.run(
        [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    found = [name for name in installed if name.startswith(f"{version}.")]
    return max(found, key=lambda name: [int(part) for part in name.split(".")], default=None)


def test_make_install_finds_the_python_version_through_a_pyenv_shim_that_pinned_another(
    tmp_path: Path,
) -> None:
    """A caller run by a pyenv shim exports PYENV_VERSION (its own Python); that hides every
    other version from the shims (`pyenv: python3.12: command not found`). The Makefile
    looks `.python-version`'s interpreter up without it, so .venv still gets that Python."""
    shims = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "shims"
    path = fresh_machine_path()
    installed = {v: full for v in SUPPORTED if (full := pyenv_python(v))}
    # A version only pyenv has (a shim cannot fall back to a system one), and another.
    only_pyenv = [v for v in installed if shutil.which(f"python{v}", path=path) is None]
    if not shims.is_dir() or not only_pyenv or len(installed) < 2:
        pytest.skip("needs pyenv with two of Python 3.11-3.13, one of them only in pyenv")
    wanted = (only_pyenv[0], installed[only_pyenv[0]])
    others = [full for v, full in installed.items() if v != wanted[0]]
    project = bake(tmp_path, python_version=wanted[0])
    env = {
        **fresh_machine_env(f"{shims}{os.pathsep}{path}"),
        "PYENV_VERSION": others[0],  # what the shim that started make's caller exported
    }
    pinned = subprocess.run(
        [f"python{wanted[0]}", "--version"], cwd=project, env=env, capture_output=True, text=True
    )
    assert pinned.returncode != 0, "the trap did not happen: the shim found the Python"

    done = run(["make", ".venv/bin/python"], cwd=project, env=env)

    assert "not found" not in done.stdout
    made_with = run([str(project / ".venv" / "bin" / "python"), "--version"], cwd=project)
    assert made_with.stdout.strip() == f"Python {wanted[1]}"
