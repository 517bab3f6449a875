"""Keep the lock files up to date: the template's own and two per generated lock set.

Every lock is a hash-pinned requirements file made by `uv pip compile --universal`: no
index URL, no file URL, only names, versions, markers and hashes. A generated project
has `requirements.txt` (runtime) and `requirements-dev.txt` (runtime and dev tools); the
template keeps them in each variant's overlay, and for answers that add dependencies
(`auth=jwt`, `tracing=opentelemetry`, and both) in `<variant>-auth-<mode>/`,
`<variant>-tracing-<answer>/` and `<variant>-auth-<mode>-tracing-<answer>/` (LOCK_SETS).
The template's tooling has its own `requirements.txt` at the root.

`python -m tests.locks` re-resolves every lock after a `pyproject.toml` edit, keeping
the other pins (`make lock` in the template). With `--upgrade` it moves every lock to
the newest versions the ranges allow, prints what changed, and with `--test ARGS` runs
the template suite on the refreshed locks, putting the old locks back when it fails
(`make refresh-locks`, also the scheduled template workflow).

A lock set's locks are made in a bake: bake its answers (which renders the current
locks), run its own `make lock` (or `make upgrade`) there, and store the result with the
project's name turned back into its Jinja placeholder: the one part of a lock that
depends on the answers is the "# via <project> (pyproject.toml)" annotation.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

from tests.support import BIN, TEMPLATE_ROOT, VARIANTS, bake, uv_env

PROJECT = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"
# A generated project's locks: runtime (the image) and runtime plus dev tools (.venv).
RUNTIME_LOCK, DEV_LOCK = "requirements.txt", "requirements-dev.txt"
LOCK_NAMES = (RUNTIME_LOCK, DEV_LOCK)
# Access modes whose answer adds dependencies (jwt: PyJWT with cryptography): their bakes
# get locks of their own, in `_overlays/<variant>-auth-<mode>/`, which the post-generation
# hook copies after the variant's. Every other mode shares the variant's plain locks.
AUTH_MODES_WITH_LOCKS = ("jwt",)
# Likewise the tracing answers that add dependencies (the OpenTelemetry SDK, exporter and
# instrumentations): `_overlays/<variant>[-auth-<mode>]-tracing-<answer>/`.
TRACING_WITH_LOCKS = ("opentelemetry",)


def lock_set(variant: str, auth: str = "none", tracing: str = "none") -> str:
    """Return the name of the locks a bake of `variant` with these answers gets (LOCK_SETS).

    It is the name of the overlay holding them, which the post-generation hook applies.
    """
    name = f"{variant}-auth-{auth}" if auth in AUTH_MODES_WITH_LOCKS else variant
    return f"{name}-tracing-{tracing}" if tracing in TRACING_WITH_LOCKS else name


# Every pair of locks the template keeps, by the overlay holding it: (variant, auth answer,
# tracing answer). In this order: a lock set's bake starts from the locks kept before it.
LOCK_SETS: dict[str, tuple[str, str, str]] = {
    lock_set(variant, auth, tracing): (variant, auth, tracing)
    for auth in ("none", *AUTH_MODES_WITH_LOCKS)
    for tracing in ("none", *TRACING_WITH_LOCKS)
    for variant in VARIANTS
}
# Each lock set's two files (runtime, dev), in its overlay.
VARIANT_LOCKS = {
    name: [PROJECT / "_overlays" / name / lock for lock in LOCK_NAMES] for name in LOCK_SETS
}
TOOLING_LOCK = TEMPLATE_ROOT / "requirements.txt"
# The tooling lock's command: the generated Makefile's `LOCK`, for the template's pyproject.
TOOLING_COMPILE = [
    *("pip", "compile", "pyproject.toml", "--universal", "--python-version", "3.11"),
    *("--generate-hashes", "--quiet", "--custom-compile-command", "make lock"),
]
DEFAULT_SLUG = "item-service"
# The annotation naming the project as the reason a package is locked.
VIA_PROJECT = "{slug} (pyproject.toml"
PLACEHOLDER = VIA_PROJECT.format(slug="{{ cookiecutter.project_slug }}")


def uv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the tooling's uv in `cwd` with the shared cache; raise with its output on failure."""
    done = subprocess.run(
        [str(BIN / "uv"), *args], cwd=cwd, env=uv_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"uv {' '.join(args)} in {cwd} failed:\n{done.stderr}")
    return done


def make(target: str, project: Path, **env: str) -> None:
    """Run a baked project's `make target` with the tooling's uv; raise with its output."""
    done = subprocess.run(
        ["make", target, f"UV={BIN / 'uv'}"],
        cwd=project,
        env={**uv_env(), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"make {target} in {project} failed:\n{done.stdout}{done.stderr}")


def to_template(lock: str, slug: str = DEFAULT_SLUG) -> str:
    """Return a baked project's lock as the template keeps it (its name a placeholder)."""
    if VIA_PROJECT.format(slug=slug) not in lock:
        raise ValueError(f"the lock names no package as required by {slug}")
    for marker in ("{{", "{%", "{#"):
        if marker in lock:
            raise ValueError(f"the lock contains {marker!r}, which Jinja would interpret")
    return lock.replace(VIA_PROJECT.format(slug=slug), PLACEHOLDER)


def relock_variant(name: str, workdir: Path, *, upgrade: bool) -> list[str]:
    """Bake lock set `name`'s answers in `workdir` and re-lock there; return the new locks.

    The locks come back as the template keeps them. A lock set not kept yet starts from
    the locks the bake gets (its variant's plain ones), so its other pins stay.
    """
    variant, auth, tracing = LOCK_SETS[name]
    project = bake(workdir / name, **VARIANTS[variant], auth=auth, tracing=tracing)
    make("upgrade" if upgrade else "lock", project)
    return [to_template((project / name).read_text()) for name in LOCK_NAMES]


def parse_lock(lock: str) -> list[tuple[str, str, str]]:
    """Return (name, version, marker) of every pin in a requirements lock's text.

    A package can appear more than once, a version per range of Python versions.
    """
    found = []
    for line in lock.splitlines():
        if line and not line.startswith((" ", "#", "-")):
            requirement = Requirement(line.removesuffix("\\").strip())
            [pin] = requirement.specifier
            if pin.operator != "==":
                raise ValueError(f"not a pin: {line}")
            marker = str(requirement.marker) if requirement.marker else ""
            found.append((canonical(requirement.name), pin.version, marker))
    return found


def versions(lock: str) -> dict[str, str]:
    """Return {package: version} for every package of a lock (forked versions joined)."""
    found: dict[str, list[str]] = {}
    for name, version, _ in parse_lock(lock):
        found.setdefault(name, []).append(version)
    return {name: ", ".join(sorted(set(pins))) for name, pins in found.items()}


def changes(old: str, new: str) -> list[str]:
    """Return one line per package added, removed or moved between two locks."""
    before, after = versions(old), versions(new)
    lines = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            lines.append(f"  - {name} {before[name]}")
        elif name not in before:
            lines.append(f"  + {name} {after[name]}")
        elif before[name] != after[name]:
            lines.append(f"    {name} {before[name]} -> {after[name]}")
    return lines


# Run by the interpreter of a venv or an image: its installed distributions, and the
# values PEP 508 markers are evaluated against (as `packaging.markers` computes them).
DESCRIBE_ENVIRONMENT = """
import json, os, platform, sys
from importlib import metadata
def version(info):
    text = "%d.%d.%d" % info[:3]
    return text if info.releaselevel == "final" else text + info.releaselevel[0] + str(info.serial)
print(json.dumps({
    "installed": {d.metadata["Name"]: d.version for d in metadata.distributions()},
    "markers": {
        "implementation_name": sys.implementation.name,
        "implementation_version": version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    },
}))
"""


def canonical(name: str) -> str:
    """Return a distribution name in its normalized form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_requirements(project: Path, *, dev: bool) -> list[tuple[str, str, str]]:
    """Return (name, version, marker) of what `project`'s runtime (or dev) lock installs."""
    return parse_lock((project / (DEV_LOCK if dev else RUNTIME_LOCK)).read_text())


def lock_mismatches(
    locked: list[tuple[str, str, str]], described: dict[str, dict[str, str]], project_name: str
) -> list[str]:
    """Return how an environment (DESCRIBE_ENVIRONMENT's output) differs from a lock.

    Every locked package whose marker holds there must be installed at the locked
    version, and nothing else may be installed but the project itself.
    """
    expected = {
        name: version
        for name, version, marker in locked
        if not marker or Marker(marker).evaluate(described["markers"])
    }
    installed = {canonical(name): version for name, version in described["installed"].items()}
    installed.pop(canonical(project_name), None)
    problems = [
        f"{name}: locked {version}, installed {installed.get(name, 'nothing')}"
        for name, version in sorted(expected.items())
        if installed.get(name) != version
    ]
    problems += [
        f"{name} {version} is installed but not locked"
        for name, version in sorted(installed.items())
        if name not in expected
    ]
    return problems


def relock_all(*, upgrade: bool) -> dict[Path, str]:
    """Re-resolve the tooling lock and every lock set's; return the old text of each."""
    old = {TOOLING_LOCK: TOOLING_LOCK.read_text() if TOOLING_LOCK.exists() else ""}
    uv(
        *TOOLING_COMPILE,
        *(["--upgrade"] if upgrade else []),
        "-o",
        TOOLING_LOCK.name,
        cwd=TEMPLATE_ROOT,
    )
    with tempfile.TemporaryDirectory(prefix="flaskfast-locks-") as tmp:
        # Plain locks first: a new mode's locks start from the refreshed plain pins.
        for name, paths in VARIANT_LOCKS.items():
            for path in paths:
                old[path] = path.read_text() if path.exists() else ""
            for path, new in zip(
                paths, relock_variant(name, Path(tmp), upgrade=upgrade), strict=True
            ):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(new)
    return old


def report(old: dict[Path, str], out: Path | None = None) -> bool:
    """Print what changed in each lock (also into `out`); return True when anything did."""
    text_lines = []
    for path, text in old.items():
        new = path.read_text()
        lines = changes(text, new)
        name = path.relative_to(TEMPLATE_ROOT)
        if lines:
            text_lines.append(f"{name}: {len(lines)} version change(s)")
        elif new != text:
            text_lines.append(f"{name}: same versions, hashes or annotations rewritten")
        else:
            text_lines.append(f"{name}: unchanged")
        text_lines.extend(lines)
    print("\n".join(text_lines))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            "Version changes (`make refresh-locks`):\n\n```\n" + "\n".join(text_lines) + "\n```\n"
        )
    return any(line.startswith("  ") for line in text_lines)


def sync_tooling(venv: Path) -> None:
    """Install the template's tooling into `venv` exactly as its lock says."""
    subprocess.run(
        [
            *(str(venv / "bin" / "uv"), "pip", "sync", "--quiet", "--require-hashes"),
            *("--python", str(venv / "bin" / "python"), str(TOOLING_LOCK)),
        ],
        cwd=TEMPLATE_ROOT,
        env=uv_env(),
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Re-resolve (or upgrade) every lock; with --test, keep them only when the suite passes."""
    parser = argparse.ArgumentParser(prog="python -m tests.locks", description=__doc__)
    parser.add_argument("--upgrade", action="store_true", help="move to the newest versions")
    parser.add_argument("--venv", type=Path, default=TEMPLATE_ROOT / ".venv")
    parser.add_argument("--report", type=Path, help="also write the version diff here")
    parser.add_argument(
        "--test",
        nargs=argparse.REMAINDER,
        help="then install the tooling from the new lock and run pytest with these arguments",
    )
    args = parser.parse_args(argv)
    old = relock_all(upgrade=args.upgrade)
    print("Lock changes:")
    moved = report(old, args.report)
    if args.test is None:
        return 0
    if not moved:
        print("No version moved: the locks are the ones already tested.")
        return 0
    sync_tooling(args.venv)
    print(f"Running the template suite on the new locks: pytest {' '.join(args.test)}", flush=True)
    passed = subprocess.run([str(args.venv / "bin" / "pytest"), *args.test], check=False)
    if passed.returncode == 0:
        print("Suite passed: the refreshed locks stay in place (commit them).")
        return 0
    for path, text in old.items():
        path.write_text(text)
    sync_tooling(args.venv)
    print("Suite failed on the refreshed locks: the previous locks are back in place.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
