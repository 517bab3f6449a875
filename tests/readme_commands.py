"""The shell commands a README shows, and which of them the suite runs as written."""

import re
from pathlib import Path

_SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def readme_commands(readme: Path) -> list[str]:
    """Return every command line of the README's ```sh blocks (comments stripped)."""
    lines = []
    for block in _SH_BLOCK.findall(readme.read_text()):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines
