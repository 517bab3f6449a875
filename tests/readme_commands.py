"""The shell commands and patches a README shows, which the suite runs as written."""

import re
from pathlib import Path

_SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
_DIFF_BLOCK = re.compile(r"```diff\n(.*?)```", re.DOTALL)
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
_MIGRATION_FILE = re.compile(r"`src/[a-z0-9_/]+/migrations/([0-9]{4}_[a-z0-9_]+\.py)`")


def readme_commands(readme: Path) -> list[str]:
    """Return every command line of the README's ```sh blocks (comments stripped)."""
    lines = []
    for block in _SH_BLOCK.findall(readme.read_text()):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


def readme_recipes(readme: Path) -> list[str]:
    """Return the ```diff blocks of the README's "Field recipes" section, in order."""
    return _DIFF_BLOCK.findall(_field_recipes(readme))


def readme_migration(readme: Path) -> tuple[str, str]:
    """Return the file name and source of the migration the "Field recipes" section shows.

    The file name is the last `src/<package>/migrations/NNNN_<name>.py` named before its
    ```python block (the section's only one).
    """
    text = _field_recipes(readme)
    blocks = _PYTHON_BLOCK.findall(text)
    assert len(blocks) == 1, f"{len(blocks)} python blocks in the field recipes"
    names = _MIGRATION_FILE.findall(text[: text.index("```python")])
    assert names, "no migration file named before the example"
    return names[-1], blocks[0]


def _field_recipes(readme: Path) -> str:
    """Return the README's "Field recipes" section."""
    text = readme.read_text()
    start = text.index("\n## Field recipes\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]
