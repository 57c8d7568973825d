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
    """Mixin: any attribute not defined on the fake raises ``NotImplementedError`` naming it."""

    _fake_kind = "object"

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        unsupported(f"{self._fake_kind}.{name}")
