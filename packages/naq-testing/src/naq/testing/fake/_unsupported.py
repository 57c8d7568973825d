"""The one way the fake says "not supported": a ``NotImplementedError`` naming the feature."""

from __future__ import annotations

from typing import NoReturn


def unsupported(feature: str) -> NoReturn:
    """Raise ``NotImplementedError`` for ``feature`` so a test never silently passes on a stub."""
    raise NotImplementedError(
        f"naq.testing fake: {feature} is not supported; use a real nats-server (nats_server fixture) "
        "for this test"
    )


class UnsupportedAttributes:
    """Mixin: a public attribute the fake lacks raises ``NotImplementedError`` naming it.

    Private names (``_x``) raise ``AttributeError`` instead, so probing code such as
    ``getattr(conn, "_reading_task", None)`` behaves as with any object.
    """

    _fake_kind = "object"

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("_"):
            # Private nats-py internals are not emulated; ``getattr(obj, "_x", default)`` keeps working.
            raise AttributeError(f"naq.testing fake {self._fake_kind} has no private attribute {name!r}")
        unsupported(f"{self._fake_kind}.{name}")
