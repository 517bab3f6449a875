"""Validate the prompt answers before anything is generated.

The same rules run twice. While cookiecutter prompts, `local_extensions.py` applies
them (to a derived default as soon as it is derived, to each answer before the next
prompt, to every answer once all are given), so a wrong answer stops cookiecutter with
one line before any output exists.
This hook runs them again on the final context, for answers that skipped the
prompts (a replay file, `cruft update`): it prints one line on stderr and exits 1,
and cookiecutter removes the half-made output. The answers arrive as JSON inside a
raw string, so no value can break this file.

The resource name rules are the generated project's own (`name_problem` in
`scripts/scaffold.py` of the generated project, which `make resource` applies too):
this hook loads that file from the path `local_extensions.py` gives it (`scaffold_path`),
which is right under cookiecutter and under cruft alike (cruft's context has no `_repo_dir`).
"""

import importlib.util
import json
import keyword
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# A pragmatic address check (local@domain.tld), not RFC 5322: it catches typos.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FRAMEWORKS = ("fastapi", "flask")
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
ASYNC_DRIVERS = ("pymongo", "motor")
AUTH_MODES = ("none", "api_key", "jwt")
TRACING = ("none", "opentelemetry")


def project_name_problem(name: str) -> str | None:
    """Return why `name` is not a usable project_name, or None."""
    return None if name.strip() else "project_name must not be empty"


def project_slug_problem(slug: str) -> str | None:
    """Return why `slug` is not a usable project_slug, or None."""
    if SLUG_RE.match(slug):
        return None
    return (
        f"project_slug {slug!r} is invalid: use lower-case letters, digits and "
        "single hyphens, starting with a letter"
    )


def package_name_problem(package: str) -> str | None:
    """Return why `package` is not a usable package_name, or None."""
    if not PACKAGE_RE.match(package):
        return (
            f"package_name {package!r} is invalid: use lower-case letters, digits and "
            "underscores, starting with a letter"
        )
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        return f"package_name {package!r} is a Python keyword"
    if package in sys.stdlib_module_names:
        return f"package_name {package!r} shadows the standard-library module of that name"
    return None


def author_email_problem(email: str) -> str | None:
    """Return why `email` is not a usable author_email, or None."""
    return None if EMAIL_RE.match(email) else f"author_email {email!r} is not an e-mail address"


def choice_problem(name: str, choices: tuple[str, ...]) -> Callable[[str], str | None]:
    """Return a check that `name`'s answer is one of `choices`."""

    def check(value: str) -> str | None:
        return None if value in choices else f"{name} must be one of {', '.join(choices)}"

    return check


# One check per answer, in prompt order.
CHECKS: dict[str, Callable[[str], str | None]] = {
    "project_name": project_name_problem,
    "project_slug": project_slug_problem,
    "package_name": package_name_problem,
    "author_email": author_email_problem,
    "framework": choice_problem("framework", FRAMEWORKS),
    "python_version": choice_problem("python_version", PYTHON_VERSIONS),
    "async_driver": choice_problem("async_driver", ASYNC_DRIVERS),
    "kubernetes": choice_problem("kubernetes", ("no", "yes")),
    "auth": choice_problem("auth", AUTH_MODES),
    "tracing": choice_problem("tracing", TRACING),
}


def load_scaffold(path: str | Path) -> ModuleType:
    """Import the generated project's `scripts/scaffold.py` from `path` (nothing runs)."""
    spec = importlib.util.spec_from_file_location("flaskfast_scaffold", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def resource_problem(context: dict, scaffold: ModuleType) -> str | None:
    """Return why the resource answers cannot name a resource, or None.

    Before `resource_plural` is answered (while prompting) only the singular is checked.
    """
    if "resource_name" not in context:
        return None
    singular = str(context["resource_name"])
    package = str(context.get("package_name", ""))
    if "resource_plural" not in context:
        return scaffold.word_problem("resource name", singular, package)
    return scaffold.name_problem(singular, str(context["resource_plural"]), package)


def problems(context: dict, scaffold: ModuleType) -> list[str]:
    """Return one message per invalid answer: each answer's own, then the resource's, then pairs."""
    found = [
        problem
        for name, check in CHECKS.items()
        if name in context and (problem := check(str(context[name])))
    ]
    if problem := resource_problem(context, scaffold):
        found.append(problem)
    driver = context.get("async_driver")
    if context.get("framework") == "flask" and driver in ASYNC_DRIVERS and driver != "pymongo":
        found.append(
            "async_driver applies to FastAPI only: Flask uses the sync pymongo client, "
            "so leave async_driver at its default (pymongo)"
        )
    return found


def main() -> int:
    """Print the first problem found and return 1, or return 0 when all is well."""
    scaffold = load_scaffold(r"""{{ scaffold_path }}""")
    found = problems(json.loads(r"""{{ cookiecutter | jsonify }}"""), scaffold)
    if found:
        print(f"ERROR: {found[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
