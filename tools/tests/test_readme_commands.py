"""The README's Quick start block holds exactly the two commands CI and users run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
spec = importlib.util.spec_from_file_location("readme_commands", ROOT / "tools" / "readme_commands.py")
assert spec is not None
assert spec.loader is not None
readme_commands = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_commands)


def test_quick_start_has_demo_then_test_command() -> None:
    commands = readme_commands.quick_start_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 2
    assert "demo" in commands[0]
    assert "tools/ci.py" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    assert "tools/readme_commands.py test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_missing_section_is_an_error() -> None:
    with pytest.raises(SystemExit, match="no '## Quick start'"):
        readme_commands.quick_start_commands("# title\n\nnothing here\n")


def test_comments_and_blank_lines_are_not_commands() -> None:
    text = "## Quick start\n\n```bash\n# run the demo\none\n\ntwo\n```\n\n## Next\n```\nthree\n```\n"
    assert readme_commands.quick_start_commands(text) == ["one", "two"]
