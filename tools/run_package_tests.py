"""Run one package's own tests with its own source measured (lines and branches, >= 90%).

Used by the hatch ``test`` matrix: ``hatch run +py=3.11 +pkg=core test:run``. The package comes from
``NAQ_PKG_DIR`` (set by the matrix) or ``--package``; extra arguments go to pytest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAIL_UNDER = 90


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--package", default=os.environ.get("NAQ_PKG_DIR"), help="e.g. packages/naq-testing")
    parser.add_argument("--no-cov", action="store_true", help="skip coverage measurement")
    args, pytest_args = parser.parse_known_args(argv)
    if not args.package:
        parser.error("no package: set NAQ_PKG_DIR or pass --package packages/<name>")
    package = (ROOT / args.package).resolve()
    if not (package / "tests").is_dir():
        parser.error(f"{package} has no tests/ folder")

    cmd = [sys.executable, "-m", "pytest", str(package / "tests"), "-p", "no:cacheprovider"]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="naq-cov-") as cov_dir:
        if not args.no_cov:
            env["COVERAGE_FILE"] = str(Path(cov_dir) / ".coverage")
            cmd += [
                f"--cov={package / 'src'}",
                "--cov-branch",
                "--cov-report=term-missing:skip-covered",
                f"--cov-fail-under={FAIL_UNDER}",
            ]
        cmd += pytest_args
        print("+", " ".join(cmd), flush=True)
        return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
