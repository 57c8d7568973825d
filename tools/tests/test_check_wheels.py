"""tools/check_wheels.py, check 5 (naq on this layer): the stand-in's layouts, the import rules the
check relies on (shown with plain folders, no wheels), and what its verdicts accept and reject."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def load_check_wheels() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_wheels_under_test", ROOT / "tools" / "check_wheels.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


cw = load_check_wheels()

# What core's naq/connection/__init__.py provides, as far as the stand-in's imports go.
FAKE_CORE_INIT = """\
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
async def get_nats_connection(url=None): ...
async def get_jetstream_context(nc=None): ...
async def close_nats_connection(url=None): ...
async def close_all_connections(): ...
async def ensure_stream(js, stream_name="naq_jobs", subjects=None): ...
"""
PROBE = "import naq.connection, naq.queue; print(naq.connection.__file__)"


def fake_site(folder: Path) -> Path:
    """A site-packages-like folder holding only core's naq/connection package (no naq/__init__.py)."""
    (folder / "naq" / "connection").mkdir(parents=True)
    (folder / "naq" / "connection" / "__init__.py").write_text(FAKE_CORE_INIT, encoding="utf-8")
    return folder


def probe(*path: Path) -> subprocess.CompletedProcess[str]:
    """Import naq.connection and naq.queue with ``path`` first on sys.path (-I: nothing else added)."""
    code = f"import sys; sys.path[:0] = {[str(p) for p in path]}; {PROBE}"
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("extend_path", "own_connection"), [(True, False), (False, False), (False, True)])
def test_write_standin_layouts(tmp_path: Path, extend_path: bool, own_connection: bool) -> None:
    src = cw.write_standin(tmp_path / "p", extend_path=extend_path, own_connection=own_connection)
    init = (src / "naq" / "__init__.py").read_text(encoding="utf-8")
    assert init.startswith(cw.EXTEND_PATH_LINE) is extend_path
    assert (src / "naq" / "connection.py").is_file() is own_connection
    assert "from .connection import" in (src / "naq" / "queue.py").read_text(encoding="utf-8")
    assert (tmp_path / "p" / "pyproject.toml").is_file()


def test_adopted_naq_finds_core_only_with_the_extend_path_line(tmp_path: Path) -> None:
    site = fake_site(tmp_path / "site")
    adopted = cw.write_standin(tmp_path / "adopted", extend_path=True, own_connection=False)
    result = probe(adopted, site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(site / "naq" / "connection" / "__init__.py")

    bare = cw.write_standin(tmp_path / "bare", extend_path=False, own_connection=False)
    result = probe(bare, site)
    assert result.returncode != 0
    assert "No module named 'naq.connection'" in result.stderr


def test_in_one_folder_the_connection_package_wins_over_connection_py(tmp_path: Path) -> None:
    site = fake_site(tmp_path / "site")
    unmodified = cw.write_standin(tmp_path / "unmodified", extend_path=False, own_connection=True)
    for item in (unmodified / "naq").iterdir():  # what pip does: both land in one naq/ folder
        item.rename(site / "naq" / item.name)
    result = probe(site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(site / "naq" / "connection" / "__init__.py")


def completed(returncode: int, report: dict[str, object] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], returncode, json.dumps(report) if report else "", "boom")


def test_expect_standin_runs_accepts_only_core_and_three_stored_jobs(tmp_path: Path) -> None:
    good = {
        "naq_init": "x",
        "connection": str(tmp_path / "naq" / "connection" / "__init__.py"),
        "get_nats_connection": "naq.connection.legacy",
        "seqs": [1, 2, 3],
    }
    assert cw.expect_standin_runs(completed(0, good), "ok", tmp_path) == good
    with pytest.raises(cw.CheckFailed, match="queue failed"):
        cw.expect_standin_runs(completed(1), "crash", tmp_path)
    for wrong in (
        {"connection": str(tmp_path / "naq" / "connection.py")},
        {"get_nats_connection": "naq.connection"},
        {"seqs": [1, 1, 1]},
    ):
        with pytest.raises(cw.CheckFailed):
            cw.expect_standin_runs(completed(0, {**good, **wrong}), "wrong", tmp_path)
