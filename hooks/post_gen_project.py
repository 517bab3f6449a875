"""Select the framework's files: move the chosen overlays into place, drop the rest.

The template keeps per-framework (and per-driver) files under `_overlays/NAME/`,
with the same layout as the project. This hook copies `_overlays/<framework>/`
and then `_overlays/<framework>-<async_driver>/` (when present) over the project,
and deletes `_overlays/`, then prints the next steps. It is deterministic and
touches no network, so cruft can re-run it on update.
"""

import json
import shlex
import shutil
from pathlib import Path

CONTEXT = json.loads(r"""{{ cookiecutter | jsonify }}""")


def overlay_names(context: dict) -> list[str]:
    """Return the overlay folders to apply, most general first."""
    framework = context["framework"]
    return [framework, f"{framework}-{context['async_driver']}"]


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
    print(next_steps(Path.cwd()))
