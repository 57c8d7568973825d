"""The fake works whenever it is activated, whatever was imported first.

Code that reads ``nats.connect`` at call time (as naq-connection-core does) gets the fake even when
its module is imported for the first time inside the fake-using test; once the fake is gone, the
real ``nats.connect`` is back. The core side of this (``naq.connection`` imported lazily inside a
fake-using test) is tested in naq-connection-core's ``tests/test_patch_points.py``.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from typing import Any

import nats

from naq.testing.fake import patch_nats_connect

APP = textwrap.dedent(
    """
    import nats


    async def publish(subject: str, data: bytes) -> str:
        nc = await nats.connect("nats://fake.invalid:4222")
        try:
            await nc.publish(subject, data)
            return type(nc).__name__
        finally:
            await nc.close()
    """
)


def _import_fresh(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def test_a_module_imported_inside_the_fake_uses_the_fake(tmp_path: Path) -> None:
    path = tmp_path / "lazy_app.py"
    path.write_text(APP, encoding="utf-8")
    real_connect = nats.connect
    try:
        with patch_nats_connect() as fake:
            app = _import_fresh(path, "lazy_app")  # first import happens here, inside the fake
            assert await app.publish("orders.new", b"x") == "FakeClient"
            assert fake.connect_count == 1
        assert nats.connect is real_connect  # the patch is undone: later code gets nats-py again
    finally:
        sys.modules.pop("lazy_app", None)


async def test_a_module_imported_before_the_fake_uses_it_too(tmp_path: Path) -> None:
    path = tmp_path / "early_app.py"
    path.write_text(APP, encoding="utf-8")
    try:
        app = _import_fresh(path, "early_app")  # imported before the fake is activated
        with patch_nats_connect() as fake:
            assert await app.publish("orders.new", b"x") == "FakeClient"
            assert fake.connect_count == 1
    finally:
        sys.modules.pop("early_app", None)
