"""The README's Python blocks run, in order, as one session against a real nats-server.

Blocks are fragments of one walkthrough (later blocks use earlier imports) with top-level ``await``,
so they run in one namespace and one event loop, in a fresh interpreter whose global config points at
the test server (``NAQ_NATS_URL``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[1] / "README.md"

RUNNER = """
import ast, asyncio, json, sys

async def main() -> None:
    namespace = {"__name__": "readme"}
    for index, code in enumerate(json.load(sys.stdin)):
        compiled = compile(code, f"README.md block {index + 1}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(compiled, namespace)
        if result is not None:
            await result

asyncio.run(main())
"""


def python_blocks() -> list[str]:
    """Every ```python block of the README, in order."""
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def test_the_readme_has_python_blocks() -> None:
    assert len(python_blocks()) >= 8


def test_readme_blocks_run(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    env["NAQ_NATS_URL"] = server.url
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(python_blocks()),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
