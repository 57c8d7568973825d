"""Run the whole test suite the way CI does: lint, types, the package matrix, e2e, wheels, benchmark smoke.

    python tools/ci.py                 # everything, every Python 3.10-3.13 found
    python tools/ci.py --python 3.11   # the matrix on one interpreter only
    python tools/ci.py --only test     # one stage (lint, types, test, e2e, wheels, bench, demo)

Interpreters: hatch looks them up on PATH (``python-sources = ["external"]``). With pyenv, only the
versions named in ``PYENV_VERSION`` are visible through its shims, so this script detects the
installed 3.10-3.13 versions (``pyenv versions --bare``) and exports ``PYENV_VERSION`` listing them.
A version that cannot be found is skipped with a warning, or is an error with ``--require-all-pythons``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PACKAGES = ("core", "utils", "decorators", "testing")
STAGES = ("lint", "types", "tools", "test", "e2e", "wheels", "bench", "demo")


def detect_pyenv_versions(wanted: Sequence[str]) -> list[str]:
    """The newest installed pyenv version for each wanted minor version (empty without pyenv)."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    result = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False)
    installed = [
        line.strip() for line in result.stdout.splitlines() if re.fullmatch(r"\d+\.\d+\.\d+", line.strip())
    ]
    chosen = []
    for minor in wanted:
        matches = sorted(
            (v for v in installed if v.startswith(minor + ".")),
            key=lambda v: tuple(int(p) for p in v.split(".")),
        )
        if matches:
            chosen.append(matches[-1])
    return chosen


def interpreter_available(minor: str, env: dict[str, str]) -> bool:
    exe = shutil.which(f"python{minor}", path=env.get("PATH"))
    if exe is None:
        return False
    probe = subprocess.run([exe, "-c", "import sys"], env=env, capture_output=True, check=False)
    return probe.returncode == 0


PYTEST_SUMMARY = re.compile(r"^=+ (?P<body>.*\b(?:passed|failed|error|errors|skipped)\b.*) in [\d.]+s.* =+$")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")


def run(
    cmd: list[str],
    env: dict[str, str],
    label: str,
    timings: list[tuple[str, float, int]],
    counts: dict[str, int],
) -> int:
    """Run ``cmd``, streaming its output, and add pytest's closing counts to ``counts``."""
    print(f"\n=== {label}: {' '.join(cmd)}", flush=True)
    start = time.monotonic()
    with subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            match = PYTEST_SUMMARY.match(line.strip())
            if match:
                for number, kind in COUNT.findall(match.group("body")):
                    key = "error" if kind.startswith("error") else kind
                    counts[key] = counts.get(key, 0) + int(number)
        code = proc.wait()
    sys.stdout.flush()
    timings.append((label, time.monotonic() - start, code))
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", action="append", choices=PYTHONS, help="matrix Python(s); default: all")
    parser.add_argument(
        "--package", action="append", choices=PACKAGES, help="matrix package(s); default: all"
    )
    parser.add_argument("--only", action="append", choices=STAGES, help="run only these stages")
    parser.add_argument("--skip", action="append", choices=STAGES, default=[], help="skip these stages")
    parser.add_argument(
        "--require-all-pythons",
        action="store_true",
        default=os.environ.get("CI") == "true",
        help="fail when a matrix interpreter is missing (default under CI=true)",
    )
    args = parser.parse_args(argv)
    stages = [s for s in (args.only or STAGES) if s not in args.skip]

    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.pop("VIRTUAL_ENV", None)
    pyenv_versions = detect_pyenv_versions(PYTHONS)
    if pyenv_versions:
        env["PYENV_VERSION"] = ":".join(pyenv_versions)
        print(f"PYENV_VERSION={env['PYENV_VERSION']}")

    pythons = list(args.python or PYTHONS)
    missing = [p for p in pythons if not interpreter_available(p, env)]
    if missing:
        message = f"Python {', '.join(missing)} not found on PATH (or through pyenv)"
        if args.require_all_pythons:
            print(f"error: {message}; install them or pass --python to choose", file=sys.stderr)
            return 2
        print(f"warning: {message}; skipping them in the test matrix", file=sys.stderr)
        pythons = [p for p in pythons if p not in missing]

    hatch = [sys.executable, "-m", "hatch"]
    timings: list[tuple[str, float, int]] = []
    counts: dict[str, int] = {}
    failures: list[str] = []

    def stage(label: str, cmd: list[str]) -> None:
        if run(cmd, env, label, timings, counts) != 0:
            failures.append(label)

    if "lint" in stages:
        stage("lint", [*hatch, "run", "lint:check"])
    if "types" in stages:
        stage("types", [*hatch, "run", "types:check"])
    if "tools" in stages:
        stage("tools", [*hatch, "run", "release:test"])
    if "test" in stages:
        for py in pythons:
            for pkg in args.package or PACKAGES:
                stage(f"test py{py} {pkg}", [*hatch, "run", f"+py={py}", f"+pkg={pkg}", "test:run"])
    if "e2e" in stages:
        stage("e2e", [*hatch, "run", "e2e:run"])
    if "wheels" in stages:
        stage("wheels", [*hatch, "run", "release:check-wheels"])
    if "bench" in stages:
        stage("bench smoke", [*hatch, "run", "bench:smoke"])
    if "demo" in stages:
        stage("demo", [*hatch, "run", "demo:run"])

    print("\n=== summary")
    total = 0.0
    for label, seconds, code in timings:
        total += seconds
        print(f"{'ok  ' if code == 0 else 'FAIL'} {seconds:7.1f}s  {label}")
    print(f"     {total:7.1f}s  total")
    extras = "".join(f", {counts[k]} {k}" for k in ("error", "xfailed", "xpassed") if counts.get(k))
    passed, failed, skipped = (counts.get(k, 0) for k in ("passed", "failed", "skipped"))
    print(f"{passed} passed, {failed} failed, {skipped} skipped{extras}")
    if failures:
        print(f"{len(failures)} stage(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
