"""The shell commands and patches a README shows, which the suite runs as written."""

import re
from pathlib import Path

_SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
_DIFF_BLOCK = re.compile(r"```diff\n(.*?)```", re.DOTALL)


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
    text = readme.read_text()
    start = text.index("\n## Field recipes\n")
    end = text.find("\n## ", start + 1)
    return _DIFF_BLOCK.findall(text[start : end if end != -1 else None])
