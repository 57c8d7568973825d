"""An honest in-memory fake of the nats-py client for fast unit tests.

``with patch_nats_connect() as fake:`` makes ``nats.connect`` return :class:`FakeClient` objects that
share one in-memory :class:`FakeNats`: core pub/sub/request with wildcards and queue groups,
JetStream streams with de-duplication and pull consumers, key-value and object store buckets, with
the exception classes nats-py raises. Anything else raises ``NotImplementedError`` naming the feature.
The contract suite in ``packages/naq-testing/tests/contract`` runs the same tests against this fake
and a real nats-server.
"""

from __future__ import annotations

from ._unsupported import unsupported
from .client import FakeClient
from .jetstream import FakeJetStreamContext
from .kv import FakeKeyValue
from .object_store import FakeObjectStore
from .patch import patch_nats_connect
from .pull import FakePullSubscription
from .server import FakeNats, PublishedMessage
from .streams import FakeStream
from .subscription import FakeSubscription

__all__ = [
    "FakeNats",
    "patch_nats_connect",
    "FakeClient",
    "FakeSubscription",
    "FakeJetStreamContext",
    "FakePullSubscription",
    "FakeKeyValue",
    "FakeObjectStore",
    "FakeStream",
    "PublishedMessage",
    "unsupported",
]
