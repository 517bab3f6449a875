"""Check the prompt answers while cookiecutter asks them: a local Jinja extension.

`cookiecutter.json` names `local_extensions.AnswersExtension` in `_extensions`;
cookiecutter and cruft import this file from the template's root. It adds filters:

- `checked_default(value, name, answers)` on a default derived from earlier answers
  (`project_slug` from `project_name`, `package_name` from `project_slug`): a derived
  default that breaks `name`'s rule stops at once, before it is offered as the answer.
  The defaults from `framework` to `tracing` go through it too, so every answer before
  them is checked before the next question. Those six prompts have a fixed set of
  answers, yet are plain strings, not lists: cookiecutter refuses a value outside a
  list given on the command line itself, with a traceback, before any template code runs;
- `checked_answers(answers)` in the last private variable: every answer, once all are in;
- `plural(name)`: the derived default of `resource_plural` (`category` -> `categories`);

and the global `scaffold_path`, where the pre-generation hook finds the resource name rules.

Both raise `AnswerError`. Cookiecutter's command line prints it as one line and exits 1,
as for a failing hook, and no output directory exists yet. (A failing pre-generation
hook, by contrast, makes cookiecutter log a traceback.) The rules are the
pre-generation hook's (`hooks/pre_gen_project.py`), loaded from that file, and for the
resource names the generated project's `scripts/scaffold.py` (also what `make resource`
checks), loaded from this template.
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from cookiecutter.exceptions import FailedHookException
from jinja2 import Environment
from jinja2.ext import Extension

TEMPLATE_ROOT = Path(__file__).resolve().parent
SCAFFOLD_PATH = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}" / "scripts" / "scaffold.py"


def _load_rules() -> ModuleType:
    """Import the pre-generation hook as a module (its `main()` does not run)."""
    path = TEMPLATE_ROOT / "hooks" / "pre_gen_project.py"
    spec = importlib.util.spec_from_file_location("flaskfast_answer_rules", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RULES = _load_rules()
SCAFFOLD = RULES.load_scaffold(SCAFFOLD_PATH)


class AnswerError(FailedHookException):
    """An answer breaks a rule.

    A FailedHookException, because that is what cookiecutter's command line catches and
    prints as one line before exiting 1 (cruft and the Python API raise it as is).
    """


def checked_default(value: str, name: str, answers: dict) -> str:
    """Return `name`'s default `value`, derived from `answers`; raise AnswerError if invalid.

    An invalid earlier answer is named first: it is the cause of a bad derived default.
    """
    checked_answers(answers)
    found = RULES.problems({**answers, name: value}, SCAFFOLD)
    if found:
        raise AnswerError(
            f"ERROR: {found[0]} (derived from the answers before it: "
            f"pass {name}=... to choose it yourself)"
        )
    return value


def checked_answers(answers: dict) -> str:
    """Return "" when every answer is valid, else raise AnswerError naming the first problem."""
    found = RULES.problems(dict(answers), SCAFFOLD)
    if found:
        raise AnswerError(f"ERROR: {found[0]}")
    return ""


class AnswersExtension(Extension):
    """Add the `checked_default`, `checked_answers` and `plural` filters, and `scaffold_path`."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["checked_default"] = checked_default
        environment.filters["checked_answers"] = checked_answers
        environment.filters["plural"] = SCAFFOLD.plural
        environment.globals["scaffold_path"] = str(SCAFFOLD_PATH)
