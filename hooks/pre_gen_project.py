"""Validate the prompt answers before anything is generated.

The same rules run twice. While cookiecutter prompts, `local_extensions.py` applies
them (to a derived default as soon as it is derived, to every answer once all are
given), so a wrong answer stops cookiecutter with one line before any output exists.
This hook runs them again on the final context, for answers that skipped the
prompts (a replay file, `cruft update`): it prints one line on stderr and exits 1,
and cookiecutter removes the half-made output. The answers arrive as JSON inside a
raw string, so no value can break this file.
"""

import json
import keyword
import re
import sys
from collections.abc import Callable

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# A pragmatic address check (local@domain.tld), not RFC 5322: it catches typos.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FRAMEWORKS = ("fastapi", "flask")
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
ASYNC_DRIVERS = ("pymongo", "motor")


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
}


def problems(context: dict) -> list[str]:
    """Return one message per invalid answer, in prompt order."""
    found = [
        problem
        for name, check in CHECKS.items()
        if name in context and (problem := check(str(context[name])))
    ]
    driver = context.get("async_driver")
    if context.get("framework") == "flask" and driver in ASYNC_DRIVERS and driver != "pymongo":
        found.append(
            "async_driver applies to FastAPI only: Flask uses the sync pymongo client, "
            "so leave async_driver at its default (pymongo)"
        )
    return found


def main() -> int:
    """Print the first problem found and return 1, or return 0 when all is well."""
    found = problems(json.loads(r"""{{ cookiecutter | jsonify }}"""))
    if found:
        print(f"ERROR: {found[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
