"""Release one distribution: bump its version, update dependents' ranges, build its changelog, tag it.

    python tools/release.py naq-connection-core minor          # 0.1.0 -> 0.2.0
    python tools/release.py utils 0.1.1 --dry-run              # short names work too
    python tools/release.py naq-testing patch --no-commit      # edit files only

Steps (in a clean work tree; ``--allow-dirty`` to skip that check):
0. Refuse when the package's source hard-codes ``__version__ = "X.Y.Z"``: every ``__version__`` is read
   from the installed distribution's metadata, so the version lives in pyproject.toml only.
1. Write the new ``version`` into ``packages/<dist>/pyproject.toml``.
2. Rewrite every other package's dependency on ``<dist>`` to ``>=<new>,<next-breaking>``
   (next minor while the major version is 0, next major after that).
3. ``towncrier build`` with the package's own ``changelog.d/`` fragments into its ``CHANGELOG.md``.
4. Commit ``Release <dist> <version>`` and tag ``<dist>-v<version>`` (not pushed).
Then build and check with ``python tools/check_wheels.py`` before publishing the files in dist/.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
SHORT_NAMES = {
    "core": "naq-connection-core",
    "utils": "naq-connection-utils",
    "decorators": "naq-connection-decorators",
    "testing": "naq-testing",
}
VERSION_LINE = re.compile(r'^version = "(?P<version>[^"]+)"$', re.M)
HARD_CODED_VERSION = re.compile(r"^__version__(?:\s*:\s*str)?\s*=\s*[\"'][^\"']*[\"']", re.M)
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class ReleaseError(Exception):
    """The release cannot proceed; the message says why and what to do."""


def parse_version(text: str) -> tuple[int, int, int]:
    match = SEMVER.match(text)
    if match is None:
        raise ReleaseError(f"version {text!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def next_version(current: str, bump: str) -> str:
    """``bump`` is major / minor / patch or an explicit version greater than ``current``."""
    major, minor, patch = parse_version(current)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    if bump == "patch":
        return f"{major}.{minor}.{patch + 1}"
    if parse_version(bump) <= (major, minor, patch):
        raise ReleaseError(f"new version {bump} must be greater than the current {current}")
    return bump


def compatible_range(version: str) -> str:
    """The dependency range dependents should use: up to the next breaking release."""
    major, minor, _ = parse_version(version)
    upper = f"0.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={version},<{upper}"


def read_version(pyproject: Path) -> str:
    match = VERSION_LINE.search(pyproject.read_text(encoding="utf-8"))
    if match is None:
        raise ReleaseError(f"{pyproject} has no static version line")
    return match.group("version")


def set_version(pyproject: Path, version: str) -> None:
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(VERSION_LINE.sub(f'version = "{version}"', text, count=1), encoding="utf-8")


def update_dependents(dist: str, version: str) -> list[Path]:
    """Rewrite ``"<dist>..."`` requirement strings in the other packages; returns the changed files."""
    pattern = re.compile(rf'"{re.escape(dist)}(?P<spec>[^"\[;]*)(?P<rest>[^"]*)"')
    changed = []
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        if pyproject.parent.name == dist:
            continue
        text = pyproject.read_text(encoding="utf-8")
        new_text = pattern.sub(lambda m: f'"{dist}{compatible_range(version)}{m.group("rest")}"', text)
        if new_text != text:
            pyproject.write_text(new_text, encoding="utf-8")
            changed.append(pyproject)
    return changed


def hard_coded_versions(folder: Path) -> list[Path]:
    """Source files of the package at ``folder`` that assign ``__version__`` a string literal."""
    return [
        path
        for path in sorted((folder / "src").rglob("*.py"))
        if HARD_CODED_VERSION.search(path.read_text(encoding="utf-8"))
    ]


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, text=True, capture_output=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def build_changelog(folder: Path, version: str, dry_run: bool) -> None:
    cmd = [sys.executable, "-m", "towncrier", "build", "--version", version, "--dir", str(folder)]
    cmd += ["--config", str(folder / "pyproject.toml"), "--draft" if dry_run else "--yes"]
    result = subprocess.run(cmd, cwd=folder, text=True, capture_output=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(
            f"towncrier failed for {folder.name}: {result.stderr.strip() or result.stdout.strip()}"
        )
    if dry_run:
        print(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("package", help="distribution name or short name (core, utils, decorators, testing)")
    parser.add_argument("version", help="major, minor, patch, or an explicit X.Y.Z")
    parser.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    parser.add_argument("--no-commit", action="store_true", help="edit files but do not commit or tag")
    parser.add_argument("--allow-dirty", action="store_true", help="do not require a clean work tree")
    args = parser.parse_args(argv)

    try:
        dist = SHORT_NAMES.get(args.package, args.package)
        folder = PACKAGES / dist
        if not (folder / "pyproject.toml").is_file():
            known = ", ".join(sorted(SHORT_NAMES.values()))
            raise ReleaseError(f"unknown package {args.package!r}; known: {known}")
        if not args.allow_dirty and not args.dry_run and git("status", "--porcelain").strip():
            raise ReleaseError("the work tree has uncommitted changes; commit them or pass --allow-dirty")
        stale = hard_coded_versions(folder)
        if stale:
            names = ", ".join(str(path.relative_to(ROOT)) for path in stale)
            raise ReleaseError(
                f"{names} hard-code __version__; read it from the installed metadata instead: "
                f'__import__("importlib.metadata").metadata.version("{dist}")'
            )
        current = read_version(folder / "pyproject.toml")
        version = next_version(current, args.version)
        tag = f"{dist}-v{version}"
        if git("tag", "--list", tag).strip():
            raise ReleaseError(f"tag {tag} already exists")
        print(f"{dist}: {current} -> {version}; dependents get {dist}{compatible_range(version)}")
        if args.dry_run:
            build_changelog(folder, version, dry_run=True)
            return 0
        set_version(folder / "pyproject.toml", version)
        changed = update_dependents(dist, version)
        build_changelog(folder, version, dry_run=False)
        for path in changed:
            print(f"updated dependency range in {path.relative_to(ROOT)}")
        if not args.no_commit:
            git("add", "-A", str(PACKAGES))
            git("commit", "-m", f"Release {dist} {version}")
            git("tag", "-a", tag, "-m", f"{dist} {version}")
            print(f"committed and tagged {tag} (push with: git push --follow-tags)")
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
