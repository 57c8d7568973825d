"""The README's Python blocks run, in order, as one walkthrough against a real nats-server.

Conventions (stated in the README's quick tour):

- every ```python block runs; ```text, ```bash, ```yaml and ```json blocks do not;
- blocks share one namespace that starts with ``from naq.connection import *`` (the snippets "leave
  out their ``from naq.connection import ...`` line") and run on one event loop with top-level
  ``await`` (the snippets "run inside an ``async def``");
- a block that calls ``asyncio.run(...)`` is a complete program: it runs in a thread of its own,
  with its own event loop, as it would from the command line;
- the interpreter is fresh, its working directory a temporary directory, and its global config
  points at the test server through ``NAQ_NATS_URL`` (every other ``NAQ_*`` variable unset);
- a ```yaml block whose first line is ``# file: NAME`` is written to ``NAME`` in that directory
  first (the config-file examples), next to placeholder ``ca.pem``, ``client.pem`` and
  ``client.key`` files (the TLS examples name them; only their existence is checked there).

A failing block does not stop the walkthrough: every failure is reported, with the block's number
and first line. Using a deprecated name of core (its ``DeprecationWarning``) counts as a failure.
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

RUNNER = r"""
import ast, asyncio, json, sys, traceback, warnings

CORE_DEPRECATION = "deprecated and will be removed"


async def main() -> list[str]:
    namespace = {"__name__": "readme"}
    exec("from naq.connection import *", namespace)
    failures = []
    for index, code in enumerate(json.load(sys.stdin), start=1):
        first = code.strip().splitlines()[0]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DeprecationWarning)
            try:
                compiled = compile(
                    code, f"README.md python block {index}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                )
                if "asyncio.run(" in code:
                    await asyncio.to_thread(exec, compiled, namespace)
                else:
                    result = eval(compiled, namespace)
                    if result is not None:
                        await result
            except BaseException:
                failures.append(f"block {index} ({first!r}):\n{traceback.format_exc()}")
                continue
        for warning in caught:
            if issubclass(warning.category, DeprecationWarning) and CORE_DEPRECATION in str(warning.message):
                failures.append(f"block {index} ({first!r}) uses a deprecated name: {warning.message}")
    return failures


failures = asyncio.run(main())
print(json.dumps(failures))
"""


def python_blocks() -> list[str]:
    """Every ```python block of the README, in order (indented ones inside list items too)."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^( *)```python\n(.*?)^\1```", text, flags=re.M | re.S):
        indent = len(match.group(1))
        blocks.append("".join(line[indent:] for line in match.group(2).splitlines(keepends=True)))
    return blocks


def file_blocks() -> dict[str, str]:
    """The ```yaml blocks that start with ``# file: NAME``, by file name."""
    text = README.read_text(encoding="utf-8")
    return {
        match.group(1): match.group(2)
        for match in re.finditer(r"^```yaml\n# file: (\S+)\n(.*?)^```", text, flags=re.M | re.S)
    }


def test_the_readme_has_python_blocks() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 15
    assert any("asyncio.run(" in block for block in blocks)


def test_readme_blocks_run(nats_server_factory: Any, tmp_path: Path) -> None:
    server = nats_server_factory(jetstream=True)
    for name, content in file_blocks().items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    for placeholder in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / placeholder).write_text("placeholder\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    env["NAQ_NATS_URL"] = server.url
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(python_blocks()),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(failures)
