"""tools/release.py: version arithmetic, dependents' ranges, and a full release in a scratch repo."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOLS = Path(__file__).resolve().parent.parent
ROOT = TOOLS.parent


def load_release(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"release_{id(root)}", root / "tools" / "release.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release = load_release(ROOT)


@pytest.mark.parametrize(
    ("current", "bump", "expected"),
    [
        ("0.1.0", "patch", "0.1.1"),
        ("0.1.3", "minor", "0.2.0"),
        ("0.9.3", "major", "1.0.0"),
        ("1.2.3", "1.4.0", "1.4.0"),
    ],
)
def test_next_version(current: str, bump: str, expected: str) -> None:
    assert release.next_version(current, bump) == expected


@pytest.mark.parametrize("bad", ["0.1.0", "0.0.9", "1.0", "banana"])
def test_next_version_rejects_non_increasing_or_malformed(bad: str) -> None:
    with pytest.raises(release.ReleaseError):
        release.next_version("0.1.0", bad)


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.2.0", ">=0.2.0,<0.3"), ("1.4.2", ">=1.4.2,<2"), ("0.10.1", ">=0.10.1,<0.11")],
)
def test_compatible_range(version: str, expected: str) -> None:
    assert release.compatible_range(version) == expected


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A copy of the packages and tools in a fresh git repository."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("packages", "tools"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    run = lambda *a: subprocess.run(a, cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", "commit", "-qm", "init")
    return repo


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.skipif(importlib.util.find_spec("towncrier") is None, reason="towncrier is not installed")
def test_release_bumps_updates_dependents_changelog_and_tags(scratch_repo: Path) -> None:
    env_cmd = [sys.executable, "tools/release.py", "core", "minor"]
    result = subprocess.run(
        env_cmd,
        cwd=scratch_repo,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "ci",
            "GIT_AUTHOR_EMAIL": "ci@example.invalid",
            "GIT_COMMITTER_NAME": "ci",
            "GIT_COMMITTER_EMAIL": "ci@example.invalid",
            "PATH": "/usr/bin:/bin",
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr
    core = (scratch_repo / "packages/naq-connection-core/pyproject.toml").read_text()
    old = release.read_version(ROOT / "packages/naq-connection-core/pyproject.toml")
    new = release.next_version(old, "minor")
    assert f'version = "{new}"' in core
    for dependent in ("naq-connection-utils", "naq-connection-decorators"):
        text = (scratch_repo / f"packages/{dependent}/pyproject.toml").read_text()
        assert f'"naq-connection-core{release.compatible_range(new)}"' in text
    testing = (scratch_repo / "packages/naq-testing/pyproject.toml").read_text()
    assert "naq-connection-core" not in testing
    changelog = (scratch_repo / "packages/naq-connection-core/CHANGELOG.md").read_text()
    assert f"## naq-connection-core {new}" in changelog
    tags = subprocess.run(["git", "tag"], cwd=scratch_repo, capture_output=True, text=True, check=True).stdout
    assert f"naq-connection-core-v{new}" in tags.split()
    assert not list((scratch_repo / "packages/naq-connection-core/changelog.d").glob("*.md"))


def test_release_refuses_unknown_package(capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["nope", "patch", "--dry-run"]) == 1
    assert "unknown package 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("package", sorted(release.SHORT_NAMES.values()))
def test_no_package_hard_codes_its_version(package: str) -> None:
    assert release.hard_coded_versions(release.PACKAGES / package) == []


def test_hard_coded_versions_finds_literal_versions_only(tmp_path: Path) -> None:
    src = tmp_path / "src" / "naq" / "x"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text('__version__ = "1.2.3"\n', encoding="utf-8")
    (src / "typed.py").write_text("__version__: str = '1.2.3'\n", encoding="utf-8")
    (src / "meta.py").write_text(
        '__version__: str = __import__("importlib.metadata").metadata.version("x")\n', encoding="utf-8"
    )
    assert release.hard_coded_versions(tmp_path) == [src / "__init__.py", src / "typed.py"]


def test_release_refuses_a_hard_coded_version(scratch_repo: Path) -> None:
    init = scratch_repo / "packages/naq-connection-utils/src/naq/connection/utils/__init__.py"
    init.write_text(init.read_text(encoding="utf-8") + '__version__ = "0.1.0"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "tools/release.py", "utils", "patch", "--dry-run"],
        cwd=scratch_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "hard-code __version__" in result.stderr
