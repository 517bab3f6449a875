"""Baking: prompts, hooks, file selection, and a clean render of every variant."""

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from tests.support import BIN, TEMPLATE_ROOT, VARIANTS, bake

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
    assert "AsyncIOMotorClient" in (package / "core" / "db.py").read_text()
    assert "fastapi" in (package / "app.py").read_text()
    assert "flask" not in (project / "pyproject.toml").read_text().lower()
    assert '"motor>=' in (project / "pyproject.toml").read_text()


def test_flask_bake_has_only_flask_files(tmp_path: Path) -> None:
    project = bake(tmp_path, framework="flask")
    package = project / "src" / "item_service"
    assert "MongoClient" in (package / "core" / "db.py").read_text()
    assert "flask" in (package / "app.py").read_text()
    assert not (project / "src" / "item_service" / "lifespan.py").exists()
    pyproject = (project / "pyproject.toml").read_text()
    assert "fastapi" not in pyproject and "motor" not in pyproject
    assert (
        'worker_class = "item_service.core.workers.GeventWorker"'
        in (project / "gunicorn.conf.py").read_text()
    )
    assert '"gevent>=' in pyproject


def test_derived_names_follow_the_project_name(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Billing API")
    assert project.name == "billing-api"
    assert (
        'ENV_PREFIX = "BILLING_API_"'
        in (project / "src" / "billing_api" / "core" / "settings.py").read_text()
    )


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_slug": "Bad Slug"}, "project_slug 'Bad Slug' is invalid"),
        ({"package_name": "9lives"}, "package_name '9lives' is invalid"),
        ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"package_name": "logging"}, "shadows the standard-library module"),
        ({"project_name": "json"}, "package_name 'json' shadows the standard-library module"),
        ({"project_name": "3D Printer"}, "project_slug '3d-printer' is invalid"),
        ({"author_email": "not-an-email"}, "author_email 'not-an-email' is not an e-mail"),
        ({"framework": "flask", "async_driver": "motor"}, "async_driver applies to FastAPI only"),
        ({"framework": "django"}, "framework must be one of fastapi, flask"),
        ({"python_version": "3.9"}, "python_version must be one of 3.11, 3.12, 3.13"),
        ({"kubernetes": "maybe"}, "kubernetes must be one of no, yes"),
    ],
)
def test_bad_answers_abort_with_one_clear_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], answers: dict[str, str], message: str
) -> None:
    with pytest.raises(FailedHookException) as raised:
        bake(tmp_path, **answers)
    assert str(raised.value).startswith("ERROR: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not any(tmp_path.iterdir()), "a failed bake must leave no output behind"


def cookiecutter_cli(tmp_path: Path, *answers: str) -> subprocess.CompletedProcess[str]:
    """Run the real `cookiecutter --no-input` command on the template, output in tmp_path/out."""
    return subprocess.run(
        [
            str(BIN / "cookiecutter"),
            "--no-input",
            "--default-config",
            "--output-dir",
            str(tmp_path / "out"),
            str(TEMPLATE_ROOT),
            *answers,
        ],
        env={**os.environ, "HOME": str(tmp_path)},  # its replay file goes under HOME
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (["author_email=not-an-email"], "ERROR: author_email 'not-an-email' is not an e-mail"),
        (["project_name=3D Printer"], "ERROR: project_slug '3d-printer' is invalid"),
        (["project_name=json"], "(derived from the answers before it: pass package_name="),
        (["framework=flask", "async_driver=motor"], "ERROR: async_driver applies to FastAPI"),
        (["framework=django"], "ERROR: framework must be one of fastapi, flask"),
        (["auth=basic"], "ERROR: auth must be one of none, api_key, jwt"),
        (["tracing=zipkin"], "ERROR: tracing must be one of none, opentelemetry"),
    ],
)
def test_cookiecutter_command_prints_one_line_for_a_bad_answer(
    tmp_path: Path, answers: list[str], message: str
) -> None:
    """The whole terminal output is the one line: no traceback (a failing hook logs one)."""
    done = cookiecutter_cli(tmp_path, *answers)
    output = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 1
    assert len(output) == 1, output
    assert message in output[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_wrong_answer_typed_at_a_prompt_stops_before_the_next_prompt(tmp_path: Path) -> None:
    """Interactive cookiecutter: `django` typed at the framework prompt is refused at once."""
    done = subprocess.run(
        [
            *(str(BIN / "cookiecutter"), "--default-config"),
            *("--output-dir", str(tmp_path / "out"), str(TEMPLATE_ROOT)),
        ],
        input="\n" * 8 + "django\n" + "\n" * 5,  # the defaults up to the framework prompt
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Web framework: fastapi (" in done.stdout
    assert "Python version" not in done.stdout  # the next prompt never came
    assert done.stdout.rstrip().endswith("ERROR: framework must be one of fastapi, flask")
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()


def test_replayed_bad_answer_is_refused_by_the_pre_generation_hook(tmp_path: Path) -> None:
    """Answers that skip the prompts (a replay file here; cruft update) meet the same rules.

    Here the refusal comes from the hook, so cookiecutter logs a traceback after its line.
    """
    assert cookiecutter_cli(tmp_path).returncode == 0
    replay = tmp_path / ".cookiecutter_replay" / f"{TEMPLATE_ROOT.name}.json"
    context = json.loads(replay.read_text())
    context["cookiecutter"]["author_email"] = "not-an-email"
    replay.write_text(json.dumps(context))
    second = tmp_path / "second"
    second.mkdir()
    done = subprocess.run(
        [str(BIN / "cookiecutter"), "--replay-file", str(replay), str(TEMPLATE_ROOT)],
        cwd=second,
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == "ERROR: author_email 'not-an-email' is not an e-mail address\n"
    assert not any(second.iterdir())


def test_bake_prints_the_next_steps(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    project = bake(tmp_path)
    steps = capfd.readouterr().out.splitlines()
    assert steps == [
        f"Created {project}. Next steps:",
        f"  cd {project}",
        "  make install",
        "  make test    (or serve it: `make db`, and `make run` in a second terminal)",
    ]


@pytest.mark.parametrize("target", ["test", "run", "db", "lint", "typecheck", "format"])
def test_make_targets_before_install_say_run_make_install_first(
    tmp_path: Path, target: str
) -> None:
    project = bake(tmp_path)
    done = subprocess.run(
        ["make", target], cwd=project, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.endswith("*** .venv is not installed: run make install first.  Stop."), line


def test_make_install_redoes_the_install_only_when_pyproject_or_the_lock_changed(
    tmp_path: Path,
) -> None:
    """`make -n` shows what would run: the locked install, then nothing, then it again."""
    project = bake(tmp_path)

    def planned() -> str:
        return subprocess.run(
            ["make", "-n", "install"], cwd=project, capture_output=True, text=True, check=True
        ).stdout

    assert "pip sync --quiet --require-hashes" in planned()
    stamp = project / ".venv" / ".installed"
    (project / ".venv" / "bin").mkdir(parents=True)
    for made_first in ("python", "uv"):  # what the install makes before it syncs
        (project / ".venv" / "bin" / made_first).touch()
    for changed in ("pyproject.toml", "requirements-dev.txt"):
        stamp.touch()
        assert planned() == "make: Nothing to be done for 'install'.\n"
        later = stamp.stat().st_mtime + 10
        os.utime(project / changed, (later, later))
        assert "pip sync --quiet --require-hashes" in planned(), changed
        os.utime(project / changed, (later - 20, later - 20))


def test_make_help_shows_the_real_database_port(tmp_path: Path) -> None:
    project = bake(tmp_path)

    def db_help(*args: str) -> str:
        done = subprocess.run(
            ["make", "help", *args], cwd=project, capture_output=True, text=True, check=True
        )
        assert "$(" not in done.stdout
        return next(line for line in done.stdout.splitlines() if line.startswith("db\t"))

    assert "on 127.0.0.1:27017," in db_help()
    assert "on 127.0.0.1:27018," in db_help("DB_PORT=27018")


# The longest resource names the checks accept (scripts/scaffold.py MAX_NAME_LENGTH).
LONGEST = {
    "resource_name": "purchase_order_attachment",
    "resource_plural": "purchase_order_attachments",
}


@pytest.mark.parametrize("variant", ["fastapi-pymongo", "flask"])
def test_a_bake_is_in_its_final_format_whatever_the_resource_is_called(
    tmp_path: Path, variant: str
) -> None:
    """The bake is final: formatted and lint-clean as written, for the longest names too.

    So `make install` has nothing to tidy and `cruft diff` right after it shows nothing
    (tests/test_cruft.py updates a grown project). ruff runs with the project's own
    settings; nothing is fixed first.
    """
    project = bake(tmp_path, **VARIANTS[variant], **LONGEST)
    for command in (["check", "--no-fix"], ["format", "--check"]):
        done = subprocess.run(
            [str(BIN / "ruff"), *command, "."],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert not (project / ".format-pending").exists()
