"""``patch_nats_connect``: route ``nats.connect`` (and any extra targets) to a :class:`FakeNats`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from unittest import mock

from .server import FakeNats


@contextlib.contextmanager
def patch_nats_connect(fake: FakeNats | None = None, *, targets: Iterable[str] = ()) -> Iterator[FakeNats]:
    """Patch ``nats.connect`` so every call returns a fake client connected to one FakeNats.

    ``targets`` are extra dotted paths to replace with the fake ``connect`` for code that imported it
    under another name, e.g. ``"myapp.clients.connect"`` after ``from nats import connect``.
    Code that does ``import nats`` and calls ``nats.connect`` at call time needs nothing extra.
    Yields the FakeNats, for inspection and for ``await fake.connect(...)`` directly.
    """
    server = fake if fake is not None else FakeNats()
    with contextlib.ExitStack() as stack:
        for target in ("nats.connect", *targets):
            stack.enter_context(mock.patch(target, server.connect))
        yield server
