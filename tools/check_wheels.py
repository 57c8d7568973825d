"""Build every distribution, check it, and smoke-install each wheel alone in a fresh virtualenv.

    python tools/check_wheels.py            # build into dist/, check, smoke-install all four
    python tools/check_wheels.py --no-smoke # build and static checks only

Checks, each failing the run with a message naming the file:
1. ``python -m build`` makes an sdist and a wheel per package; ``twine check`` accepts them.
2. Namespace rule: no wheel ships ``naq/__init__.py``; only naq-connection-core ships
   ``naq/connection/__init__.py``; every wheel ships its ``py.typed``.
3. Each wheel installed alone in a fresh venv (our other wheels found only through ``--find-links``
   dist/) pulls in exactly the naq distributions it depends on, and its modules import:
   core alone pulls nothing of ours; utils pulls core; decorators pulls core and utils; naq-testing none.
4. naq-testing alone: a user's ``async def test_x(nats_client)`` runs against a real server.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"


@dataclass(frozen=True)
class Distribution:
    name: str
    expected_naq_deps: frozenset[str]
    imports: tuple[str, ...]
    typed_marker: str
    smoke_commands: tuple[tuple[str, ...], ...] = ()
    smoke_test: str | None = None
    """A pytest file run in the fresh venv (no config: pytest-asyncio's default strict mode)."""

    @property
    def folder(self) -> Path:
        return ROOT / "packages" / self.name

    @property
    def wheel_stem(self) -> str:
        return self.name.replace("-", "_")


DISTRIBUTIONS = (
    Distribution(
        "naq-connection-core",
        frozenset(),
        (
            "naq.connection",
            "naq.connection.config",
            "naq.connection.context_managers",
            "naq.connection.errors",
            "naq.connection.events",
            "naq.connection.pool",
            "from naq.connection import nats_connection, get_config, ConnectionPool",
        ),
        "naq/connection/py.typed",
    ),
    Distribution(
        "naq-connection-utils",
        frozenset({"naq-connection-core"}),
        ("naq.connection.utils", "naq.connection.utils.cli"),
        "naq/connection/utils/py.typed",
        (("naq-connection", "--help"),),
    ),
    Distribution(
        "naq-connection-decorators",
        frozenset({"naq-connection-core", "naq-connection-utils"}),
        ("naq.connection.decorators",),
        "naq/connection/decorators/py.typed",
    ),
    Distribution(
        "naq-testing",
        frozenset(),
        ("naq.testing", "naq.testing.plugin", "naq.testing.fake"),
        "naq/testing/py.typed",
        (("nats-server", "--version"),),
        smoke_test="""
async def test_a_user_gets_a_real_server(nats_client):
    sub = await nats_client.subscribe("smoke.subject")
    await nats_client.flush()
    await nats_client.flush()  # nats-py can send the PING before the SUB: flush twice
    await nats_client.publish("smoke.subject", b"hello")
    msg = await sub.next_msg(timeout=5)
    assert msg.data == b"hello"
""",
    ),
)


class CheckFailed(Exception):
    """A check failed; the message says which file and why."""


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, text=True, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise CheckFailed(
            f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
        )
    return result  # type: ignore[no-any-return]


def build_all() -> dict[str, Path]:
    shutil.rmtree(DIST, ignore_errors=True)
    DIST.mkdir()
    wheels: dict[str, Path] = {}
    for dist in DISTRIBUTIONS:
        run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(DIST), str(dist.folder)])
        matches = sorted(DIST.glob(f"{dist.wheel_stem}-*.whl"))
        if len(matches) != 1:
            raise CheckFailed(f"expected one wheel for {dist.name} in {DIST}, found {matches}")
        wheels[dist.name] = matches[0]
    return wheels


def check_namespace(wheels: dict[str, Path]) -> None:
    for dist in DISTRIBUTIONS:
        names = set(zipfile.ZipFile(wheels[dist.name]).namelist())
        if "naq/__init__.py" in names:
            raise CheckFailed(
                f"{wheels[dist.name].name} ships naq/__init__.py: naq must stay a PEP 420 namespace"
            )
        ships_connection_init = "naq/connection/__init__.py" in names
        if dist.name == "naq-connection-core" and not ships_connection_init:
            raise CheckFailed(f"{wheels[dist.name].name} must ship naq/connection/__init__.py")
        if dist.name != "naq-connection-core" and ships_connection_init:
            raise CheckFailed(f"{wheels[dist.name].name} ships naq/connection/__init__.py: only core may")
        if dist.typed_marker not in names:
            raise CheckFailed(f"{wheels[dist.name].name} does not ship {dist.typed_marker}")
        print(f"ok   namespace rule: {wheels[dist.name].name}")


def twine_check() -> None:
    run([sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(DIST.iterdir()))])
    print("ok   twine check")


def smoke_install(dist: Distribution, wheel: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=f"smoke-{dist.name}-") as tmp:
        venv = Path(tmp) / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        python = venv / "bin" / "python"
        # Our other distributions come only from dist/ (--find-links), never from an index.
        run([str(python), "-m", "pip", "install", "-q", "--find-links", str(DIST), str(wheel)])
        listing = run([str(python), "-m", "pip", "list", "--format=json"]).stdout
        installed = {item["name"].lower() for item in json.loads(listing)}
        ours = {name for name in installed if name.startswith("naq-")} - {dist.name}
        if ours != dist.expected_naq_deps:
            raise CheckFailed(
                f"{wheel.name} alone pulled in {sorted(ours) or 'nothing of ours'}, "
                f"expected {sorted(dist.expected_naq_deps) or 'nothing of ours'}"
            )
        for statement in dist.imports:
            code = statement if statement.startswith("from ") else f"import {statement}"
            run([str(python), "-c", code], cwd=tmp)
        for command in dist.smoke_commands:
            run([str(venv / "bin" / command[0]), *command[1:]], cwd=tmp)
        if dist.smoke_test is not None:
            test_dir = Path(tmp) / "user_project"
            test_dir.mkdir()
            (test_dir / "test_smoke.py").write_text(dist.smoke_test, encoding="utf-8")
            result = run(
                [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_smoke.py"], cwd=test_dir
            )
            print(result.stdout.strip().splitlines()[-1])
        print(f"ok   {wheel.name} installs alone, pulls {sorted(ours) or 'nothing of ours'}, imports")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-smoke", action="store_true", help="skip the fresh-venv installs")
    args = parser.parse_args(argv)
    try:
        wheels = build_all()
        check_namespace(wheels)
        twine_check()
        if not args.no_smoke:
            for dist in DISTRIBUTIONS:
                smoke_install(dist, wheels[dist.name])
    except CheckFailed as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    print("all wheel checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
