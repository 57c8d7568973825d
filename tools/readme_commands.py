"""Print a command from the README's ``## Quick start`` block: ``demo`` (the first) or ``test`` (the second).

``.ci/run`` executes the ``test`` command, so CI runs exactly what the README tells users to run.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_commands(text: str) -> list[str]:
    """The non-comment lines of the first fenced block after the ``## Quick start`` heading."""
    section = re.search(r"^## Quick start\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if section is None:
        raise SystemExit("README.md has no '## Quick start' section")
    block = re.search(r"^```[a-z]*\n(.*?)^```", section.group(1), flags=re.M | re.S)
    if block is None:
        raise SystemExit("the Quick start section has no fenced code block")
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "test"
    commands = quick_start_commands(README.read_text(encoding="utf-8"))
    if len(commands) != 2:
        raise SystemExit(f"the Quick start block must hold exactly two commands, found {len(commands)}")
    print(commands[0] if which == "demo" else commands[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
