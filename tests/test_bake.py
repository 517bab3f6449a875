"""Baking: prompts, hooks, file selection, and a clean render of every variant."""

import ast
import re
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from tests.support import TEMPLATE_ROOT, VARIANTS, bake

TEMPLATE_PROJECT = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"
UNRENDERED = re.compile(r"\{\{|\{%|\{#")
# Files whose text is copied raw on purpose (GitHub Actions `${{ }}` expressions).
RAW_FILES = re.compile(r"^\.github/workflows/.*\.yml$")
# The one Jinja use allowed outside string literals: the package name in import paths.
PACKAGE_IN_IMPORT = re.compile(r"\{\{ cookiecutter\.package_name \}\}")


def template_python_files() -> list[Path]:
    """Return every .py file of the template: hooks and the generated project's sources."""
    return sorted([*TEMPLATE_ROOT.glob("hooks/*.py"), *TEMPLATE_PROJECT.rglob("*.py")])


@pytest.mark.parametrize(
    "path", template_python_files(), ids=lambda p: str(p.relative_to(TEMPLATE_ROOT))
)
def test_template_python_parses_with_jinja_only_in_strings_and_import_paths(path: Path) -> None:
    """Jinja may sit in string literals, or name the package in an import; nothing else."""
    source = PACKAGE_IN_IMPORT.sub("package_name", path.read_text())
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        for text in _non_string_text(node):
            assert not UNRENDERED.search(text), f"Jinja outside a string literal: {text!r}"
    code_without_strings = _strip_strings(source)
    assert "{%" not in code_without_strings, "Jinja control flow in a .py file"


def _non_string_text(node: ast.AST) -> list[str]:
    """Return identifiers of a node (Jinja that parsed would show up here)."""
    return [
        value
        for key, value in ast.iter_fields(node)
        if key in ("id", "name", "module") and isinstance(value, str)
    ]


def _strip_strings(source: str) -> str:
    """Return the source with every string literal's text removed."""
    import io
    import tokenize

    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(tok.string for tok in tokens if tok.type != tokenize.STRING)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_bake_leaves_nothing_unrendered(tmp_path: Path, variant: str) -> None:
    project = bake(tmp_path, **VARIANTS[variant])
    for path in project.rglob("*"):
        relative = path.relative_to(project).as_posix()
        assert "{{" not in relative and "_overlays" not in relative, relative
        if path.is_file() and not RAW_FILES.match(relative):
            text = path.read_text(errors="replace")
            assert not UNRENDERED.search(text), f"unrendered Jinja in {relative}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_bake_python_files_parse(tmp_path: Path, variant: str) -> None:
    project = bake(tmp_path, **VARIANTS[variant])
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))


def test_fastapi_bake_has_only_fastapi_files(tmp_path: Path) -> None:
    project = bake(tmp_path, framework="fastapi", async_driver="motor")
    package = project / "src" / "item_service"
    assert "AsyncIOMotorClient" in (package / "db.py").read_text()
    assert "fastapi" in (package / "app.py").read_text()
    assert "flask" not in (project / "pyproject.toml").read_text().lower()
    assert '"motor>=' in (project / "pyproject.toml").read_text()


def test_flask_bake_has_only_flask_files(tmp_path: Path) -> None:
    project = bake(tmp_path, framework="flask")
    package = project / "src" / "item_service"
    assert "MongoClient" in (package / "db.py").read_text()
    assert "flask" in (package / "app.py").read_text()
    assert not (project / "src" / "item_service" / "lifespan.py").exists()
    pyproject = (project / "pyproject.toml").read_text()
    assert "fastapi" not in pyproject and "motor" not in pyproject
    assert (
        'worker_class = "item_service.workers.GeventWorker"'
        in (project / "gunicorn.conf.py").read_text()
    )
    assert '"gevent>=' in pyproject


def test_derived_names_follow_the_project_name(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Billing API")
    assert project.name == "billing-api"
    assert (
        'ENV_PREFIX = "BILLING_API_"'
        in (project / "src" / "billing_api" / "settings.py").read_text()
    )


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_slug": "Bad Slug"}, "project_slug 'Bad Slug' is invalid"),
        ({"package_name": "9lives"}, "package_name '9lives' is invalid"),
        ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"package_name": "logging"}, "shadows the standard-library module"),
        ({"package_name": "json"}, "shadows the standard-library module"),
        ({"author_email": "not-an-email"}, "author_email 'not-an-email' is not an e-mail"),
        ({"framework": "flask", "async_driver": "motor"}, "async_driver applies to FastAPI only"),
    ],
)
def test_bad_answers_abort_with_one_clear_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], answers: dict[str, str], message: str
) -> None:
    with pytest.raises(FailedHookException):
        bake(tmp_path, **answers)
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert message in errors[0]
    assert not any(tmp_path.iterdir()), "a failed bake must leave no output behind"


@pytest.mark.parametrize(
    "answers", [{"kubernetes": "maybe"}, {"python_version": "3.9"}, {"framework": "django"}]
)
def test_answers_outside_a_choice_are_refused_before_generation(
    tmp_path: Path, answers: dict[str, str]
) -> None:
    """Cookiecutter itself refuses them (the pre-gen hook re-checks, for replayed answers)."""
    with pytest.raises(ValueError, match="but the choices are"):
        bake(tmp_path, **answers)
    assert not any(tmp_path.iterdir())
