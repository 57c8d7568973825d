"""Every code block of the README runs: test blocks as a user's test files (all in one pytest
session, so they share the session server the way a user's tests do; the race-prone ones repeated),
script blocks as scripts, ini blocks with a test that shows their effect, shell commands checked
against the package (pip lines) or collected (pytest lines)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import trustme  # noqa: F401 - imported here, not first inside the in-process pytester run

# (pytester unloads modules first imported by the inner run; cryptography's classes must stay one)

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = PACKAGE.parents[1]
README = (PACKAGE / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
TEST_FUNCTION = re.compile(r"^(?:async )?def (test_\w+)\(", re.MULTILINE)

# Examples whose races showed up before (issue 14): run them often enough to catch a 1% race. The
# restart example runs 10 times here: tests/test_reconnect.py runs the same restart-then-use pattern
# 200 times on its own, which is cheaper than 50 pytester round trips of the whole README.
REPEAT = {
    "test_request_reply": 50,
    "test_survives_restart": 10,
    "test_your_own_client": 10,
    "test_two_clients": 10,
    "test_frozen_server": 2,
}

CONFTEST = f"""
import types

import pytest
import trustme

REPEAT = {REPEAT!r}


def pytest_generate_tests(metafunc):
    rounds = REPEAT.get(metafunc.function.__name__)
    if rounds:
        metafunc.fixturenames.append("readme_round")
        metafunc.parametrize("readme_round", range(rounds))


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    # The README's test_tls takes the paths from a fixture of the user's: this is one.
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("certs")
    paths = types.SimpleNamespace(
        cert=str(folder / "cert.pem"), key=str(folder / "key.pem"), ca=str(folder / "ca.pem")
    )
    cert.cert_chain_pems[0].write_to_path(paths.cert)
    cert.private_key_pem.write_to_path(paths.key)
    ca.cert_pem.write_to_path(paths.ca)
    return paths
"""

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
markers = slow: slow tests
{extra}
"""


def blocks(language: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every fenced block in ``language``."""
    return [
        (README.count("\n", 0, match.start()) + 1, match.group(2))
        for match in BLOCK.finditer(README)
        if match.group(1) == language
    ]


TEST_BLOCKS = [(line, code) for line, code in blocks("python") if TEST_FUNCTION.search(code)]
SCRIPT_BLOCKS = [(line, code) for line, code in blocks("python") if not TEST_FUNCTION.search(code)]


def test_every_block_is_run_here() -> None:
    languages = {match.group(1) for match in BLOCK.finditer(README)}
    assert languages == {"python", "ini", "bash"}
    assert len(TEST_BLOCKS) >= 8
    assert len(SCRIPT_BLOCKS) >= 3
    named = {name for _, code in TEST_BLOCKS for name in TEST_FUNCTION.findall(code)}
    assert set(REPEAT) <= named


def test_the_test_blocks_pass_together_and_repeatedly(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makeconftest(CONFTEST)
    expected = 0
    for line, code in TEST_BLOCKS:
        pytester.makepyfile(**{f"test_readme_line_{line}": code})
        expected += sum(REPEAT.get(name, 1) for name in TEST_FUNCTION.findall(code))
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=expected)


@pytest.mark.parametrize(("line", "code"), SCRIPT_BLOCKS, ids=[f"line{line}" for line, _ in SCRIPT_BLOCKS])
def test_script_blocks_run(line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / f"readme_line_{line}.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_loop_scope_ini_block_makes_module_loop_tests_work(pytester: pytest.Pytester) -> None:
    ((_, ini),) = [(line, code) for line, code in blocks("ini") if "loop_scope" in code]
    pytester.makeini(ini + "markers = slow: slow tests\n")
    pytester.makepyfile(
        test_module_loop="""
        import pytest

        @pytest.mark.asyncio(loop_scope="module")
        async def test_x(nats_client):
            await nats_client.flush(timeout=2)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_leak_check_ini_block_checks_every_test(pytester: pytest.Pytester) -> None:
    ((_, ini),) = [(line, code) for line, code in blocks("ini") if "nats_leak_check" in code]
    pytester.makeini(ini + "asyncio_default_fixture_loop_scope = function\nnats_leak_timeout = 0.2\n")
    pytester.makepyfile(
        test_leaky="""
        import nats

        async def test_leaks(nats_url):
            await nats.connect(nats_url)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*NatsLeakError*left 1 NATS connection*"])


def shell_commands() -> list[list[str]]:
    return [
        shlex.split(line.split("#", 1)[0])
        for _, code in blocks("bash")
        for line in code.splitlines()
        if line.split("#", 1)[0].strip()
    ]


def test_pip_commands_name_this_distribution_and_its_extras() -> None:
    pyproject = (PACKAGE / "pyproject.toml").read_text(encoding="utf-8")  # no tomllib on 3.10
    pip = [argv for argv in shell_commands() if argv[:2] == ["pip", "install"]]
    assert pip
    for argv in pip:
        name, _, extras = argv[-1].partition("[")
        assert f'\nname = "{name}"\n' in pyproject
        for extra in filter(None, extras.rstrip("]").split(",")):
            assert f"\n{extra} = [" in pyproject.split("[project.optional-dependencies]", 1)[1]


def test_pytest_commands_collect_what_they_name() -> None:
    commands = [argv for argv in shell_commands() if argv[:3] == ["python", "-m", "pytest"]]
    assert commands
    for argv in commands:
        done = subprocess.run(
            [sys.executable, *argv[1:], "--collect-only", "-p", "no:cacheprovider"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-2000:]
        assert re.search(r"\d+ tests? collected|\d+/\d+ tests collected", done.stdout), done.stdout[-500:]
