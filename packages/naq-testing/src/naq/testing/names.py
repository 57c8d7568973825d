"""``NatsNames``: unique stream / bucket / subject names per test, and cleanup of what the test
created, so tests can share one server without seeing each other's data.

Every name contains a random token; ``cleanup()`` deletes every stream whose name contains it,
which covers the streams, key-value buckets (``KV_<bucket>``) and object stores (``OBJ_<bucket>``)
made from these names.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

__all__ = ["NatsNames"]

_PREFIX = re.compile(r"^[A-Za-z0-9_-]+$")


class NatsNames:
    """``names.stream("orders") -> "orders_3f2a9c01d4"``; the same prefix gives the same name."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or uuid.uuid4().hex[:10]
        if not _PREFIX.match(self.token):
            raise ValueError(f"token must match [A-Za-z0-9_-]+; got {self.token!r}")
        self.issued: dict[str, str] = {}

    def _name(self, kind: str, prefix: str, sep: str) -> str:
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise ValueError(f"{kind} prefix must be non-empty letters, digits, '_' or '-'; got {prefix!r}")
        key = f"{kind}:{prefix}"
        if key not in self.issued:
            self.issued[key] = f"{prefix}{sep}{self.token}"
        return self.issued[key]

    def stream(self, prefix: str = "stream") -> str:
        """A JetStream stream name unique to this test."""
        return self._name("stream", prefix, "_")

    def bucket(self, prefix: str = "bucket") -> str:
        """A key-value bucket name unique to this test."""
        return self._name("bucket", prefix, "_")

    def object_store(self, prefix: str = "objects") -> str:
        """An object-store bucket name unique to this test."""
        return self._name("object_store", prefix, "_")

    def consumer(self, prefix: str = "consumer") -> str:
        """A durable consumer name unique to this test."""
        return self._name("consumer", prefix, "_")

    def subject(self, prefix: str = "subject") -> str:
        """A subject unique to this test, e.g. ``orders.3f2a9c01d4`` (add ``.>`` for a stream filter)."""
        return self._name("subject", prefix, ".")

    def owns(self, name: str) -> bool:
        """True when ``name`` (a stream, ``KV_...`` or ``OBJ_...``) came from these names."""
        return self.token in name

    async def cleanup(self, js: Any) -> list[str]:
        """Delete every stream on the server whose name contains this token; return their names."""
        mine: list[str] = []
        offset = 0
        while True:  # the stream list is paged (256 per page); collect first, delete after
            page = await js.streams_info(offset=offset)
            if not page:
                break
            offset += len(page)
            mine += [info.config.name for info in page if info.config.name and self.owns(info.config.name)]
        for name in mine:
            await js.delete_stream(name)
        return mine
