"""Select the framework's files: move the chosen overlays into place, drop the rest.

The template keeps per-framework, per-driver and per-access-mode files under
`_overlays/NAME/`, with the same layout as the project. This hook copies
`_overlays/<framework>/`, `_overlays/<framework>-<async_driver>/`,
`_overlays/auth-<auth>/`, `_overlays/<framework>-auth-<auth>/`,
`_overlays/<framework>-<async_driver>-auth-<auth>/`, then the same for the `tracing`
answer (`tracing-<tracing>/`, `<framework>-tracing-<tracing>/`, ..., with the auth
answer last: `<framework>-<async_driver>-auth-<auth>-tracing-<tracing>/`), each when
present, over the project, in that order, and deletes `_overlays/`. An answer that adds
dependencies has locks of its own in the overlays named by the framework (Flask) or
the framework and driver (FastAPI) with that answer, and a pair of such answers
(auth=jwt with tracing=opentelemetry) in the overlay naming both. When the resource
answers are not the template's own (`item`/`items`), it renames the example resource in
its own files (every `.py` file and file name under `src/<package>/resources/` and
`tests/resources/`) with the project's own engine (`scripts/scaffold.py`); the
template-owned code names no resource. Then it prints the next steps. It is
deterministic and touches no network, so cruft can re-run it on update.
"""

import importlib.util
import json
import shlex
import shutil
import sys
from pathlib import Path
from types import ModuleType

CONTEXT = json.loads(r"""{{ cookiecutter | jsonify }}""")


def overlay_names(context: dict) -> list[str]:
    """Return the overlay folders to apply, most general first."""
    framework, driver = context["framework"], context["async_driver"]
    auth, tracing = context.get("auth", "none"), context.get("tracing", "none")
    return [
        framework,
        f"{framework}-{driver}",
        f"auth-{auth}",
        f"{framework}-auth-{auth}",
        f"{framework}-{driver}-auth-{auth}",
        f"tracing-{tracing}",
        f"{framework}-tracing-{tracing}",
        f"{framework}-{driver}-tracing-{tracing}",
        f"{framework}-auth-{auth}-tracing-{tracing}",
        f"{framework}-{driver}-auth-{auth}-tracing-{tracing}",
    ]


def apply_overlays(project: Path, names: list[str]) -> None:
    """Copy each named overlay over `project`, then remove every overlay."""
    overlays = project / "_overlays"
    for name in names:
        source = overlays / name
        if source.is_dir():
            shutil.copytree(source, project, dirs_exist_ok=True)
    shutil.rmtree(overlays)


def prune_kubernetes(project: Path, context: dict) -> None:
    """Remove the `k8s/` manifests unless the `kubernetes` prompt was answered "yes"."""
    if context["kubernetes"] != "yes":
        shutil.rmtree(project / "k8s", ignore_errors=True)


def load_scaffold(project: Path) -> ModuleType:
    """Import the project's `scripts/scaffold.py` (the rename engine) as a module."""
    path = project / "scripts" / "scaffold.py"
    spec = importlib.util.spec_from_file_location("flaskfast_scaffold", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def rename_resource(project: Path, context: dict) -> None:
    """Rename the example resource (`item`/`items`) to the answers, in its own files only.

    The example's code is written so that any accepted name keeps it formatted as ruff
    formats it (tests/test_bake.py checks the longest names), so the bake is final:
    `make install` changes nothing, and `cruft diff` shows nothing.
    """
    singular, plural = context["resource_name"], context["resource_plural"]
    if (singular, plural) == ("item", "items"):
        return
    scaffold = load_scaffold(project)
    package = context["package_name"]
    keep = (package, package.upper(), context["project_slug"], context["project_name"])
    for folder in (project / "src" / package / "resources", project / "tests" / "resources"):
        scaffold.rename_tree(
            folder,
            scaffold.Names("item", "items"),
            scaffold.Names(singular, plural),
            keep,
        )


def next_steps(project: Path) -> str:
    """Return what to run after a bake: enter the project, install it, test or serve it."""
    return (
        f"Created {project}. Next steps:\n"
        f"  cd {shlex.quote(str(project))}\n"
        "  make install\n"
        "  make test    (or serve it: `make db`, and `make run` in a second terminal)"
    )


if __name__ == "__main__":
    apply_overlays(Path.cwd(), overlay_names(CONTEXT))
    prune_kubernetes(Path.cwd(), CONTEXT)
    rename_resource(Path.cwd(), CONTEXT)
    print(next_steps(Path.cwd()))
