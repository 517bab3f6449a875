"""Validate the prompt answers before anything is generated.

Each check aborts generation with one line on stderr and exit status 1, which
cookiecutter turns into "Hook script failed" and removes the half-made output.
The answers arrive as JSON inside a raw string, so no value can break this file.
"""

import json
import keyword
import re
import sys

CONTEXT = json.loads(r"""{{ cookiecutter | jsonify }}""")

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# A pragmatic address check (local@domain.tld), not RFC 5322: it catches typos.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FRAMEWORKS = ("fastapi", "flask")
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
ASYNC_DRIVERS = ("pymongo", "motor")


def problems(context: dict) -> list[str]:
    """Return one message per invalid answer, in prompt order."""
    found = []
    if not context["project_name"].strip():
        found.append("project_name must not be empty")
    slug = context["project_slug"]
    if not SLUG_RE.match(slug):
        found.append(
            f"project_slug {slug!r} is invalid: use lower-case letters, digits and "
            "single hyphens, starting with a letter"
        )
    package = context["package_name"]
    if not PACKAGE_RE.match(package):
        found.append(
            f"package_name {package!r} is invalid: use lower-case letters, digits and "
            "underscores, starting with a letter"
        )
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        found.append(f"package_name {package!r} is a Python keyword")
    elif package in sys.stdlib_module_names:
        found.append(f"package_name {package!r} shadows the standard-library module of that name")
    if not EMAIL_RE.match(context["author_email"]):
        found.append(f"author_email {context['author_email']!r} is not an e-mail address")
    if context["framework"] not in FRAMEWORKS:
        found.append(f"framework must be one of {', '.join(FRAMEWORKS)}")
    if context["python_version"] not in PYTHON_VERSIONS:
        found.append(f"python_version must be one of {', '.join(PYTHON_VERSIONS)}")
    if context["async_driver"] not in ASYNC_DRIVERS:
        found.append(f"async_driver must be one of {', '.join(ASYNC_DRIVERS)}")
    elif context["framework"] == "flask" and context["async_driver"] != "pymongo":
        found.append(
            "async_driver applies to FastAPI only: Flask uses the sync pymongo client, "
            "so leave async_driver at its default (pymongo)"
        )
    if context.get("kubernetes", "no") not in ("no", "yes"):
        found.append("kubernetes must be yes or no")
    return found


def main() -> int:
    """Print the first problem found and return 1, or return 0 when all is well."""
    found = problems(CONTEXT)
    if found:
        print(f"ERROR: {found[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
