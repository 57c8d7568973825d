"""JetStream streams held in memory: storage limits, de-duplication, expectations and rollups."""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats.js.errors
from nats.js import api

from . import _subjects
from ._unsupported import unsupported

if TYPE_CHECKING:
    from .consumers import FakeConsumer

_NS = 1_000_000_000
_DEFAULT_DUPLICATE_WINDOW = 120.0
_INVALID_NAME_CHARS = ">*. /\\\t\r\n"

# What nats-server fills in for a stream config the client left unset (as nats-py reads it back).
_SERVER_DEFAULTS: dict[str, Any] = {
    "retention": "limits",
    "max_consumers": -1,
    "max_msgs": -1,
    "max_bytes": -1,
    "discard": "old",
    "max_age": 0,
    "max_msgs_per_subject": -1,
    "max_msg_size": -1,
    "storage": "file",
    "num_replicas": 1,
    "duplicate_window": 0,
    "sealed": False,
    "deny_delete": False,
    "deny_purge": False,
    "allow_rollup_hdrs": False,
    "allow_direct": False,
    "mirror_direct": False,
}


class JetStreamError(Exception):
    """A JetStream API error as the server reports it; ``to_exception`` gives nats-py's class."""

    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.err_code = err_code
        self.description = description

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "err_code": self.err_code, "description": self.description}

    def to_exception(self) -> nats.js.errors.APIError:
        """The exception nats-py raises for this error (``NotFoundError``, ``BadRequestError``...)."""
        try:
            nats.js.errors.APIError.from_error(self.as_dict())
        except nats.js.errors.APIError as exc:
            return exc
        raise AssertionError("unreachable")  # pragma: no cover


def stream_not_found() -> JetStreamError:
    return JetStreamError(404, 10059, "stream not found")


def validate_name(name: str | None, kind: str = "stream") -> str:
    """nats-py's client-side name check: ``ValueError`` for a missing name or one with ``.*> /``."""
    if not name:
        raise ValueError(f"nats: {kind} name is required")
    if any(c in _INVALID_NAME_CHARS for c in name):
        raise ValueError(f"nats: invalid {kind} name: {name!r}")
    return name


def normalize_config(config: api.StreamConfig) -> api.StreamConfig:
    """The config as a server would echo it back: defaults filled, durations in seconds."""
    raw: dict[str, Any] = dict(_SERVER_DEFAULTS)
    raw.update(config.as_dict())
    if not raw.get("subjects"):
        raw["subjects"] = [raw["name"]]
    for key in ("mirror", "sources"):
        if raw.get(key):
            unsupported(f"stream {key}")
    if not raw.get("duplicate_window"):
        window = _DEFAULT_DUPLICATE_WINDOW * _NS
        if raw.get("max_age"):
            window = min(window, raw["max_age"])
        raw["duplicate_window"] = int(window)
    raw.pop("subject_delete_marker_ttl", None)
    parsed: api.StreamConfig = api.StreamConfig.from_response(json.loads(json.dumps(raw)))
    return parsed


@dataclass
class StoredMsg:
    """One message in a stream."""

    seq: int
    subject: str
    data: bytes
    headers: dict[str, str] | None
    time_ns: int

    @property
    def time(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.time_ns / _NS, datetime.timezone.utc)

    @property
    def size(self) -> int:
        headers = sum(len(k) + len(v) for k, v in (self.headers or {}).items())
        return len(self.subject) + len(self.data) + headers


class FakeStream:
    """A stream: ordered messages by sequence, consumers, and the limits nats-server enforces."""

    def __init__(self, config: api.StreamConfig) -> None:
        self.config = normalize_config(config)
        self.created = datetime.datetime.now(datetime.timezone.utc)
        self.messages: dict[int, StoredMsg] = {}
        self.last_seq = 0
        self.first_seq = 0
        self.consumers: dict[str, FakeConsumer] = {}
        self._msg_ids: dict[str, tuple[int, float]] = {}

    @property
    def name(self) -> str:
        assert self.config.name is not None
        return self.config.name

    def captures(self, subject: str) -> bool:
        """True when a publish to ``subject`` is stored in this stream."""
        return any(_subjects.matches(p, subject) for p in self.config.subjects or ())

    # -- writing ----------------------------------------------------------------------------------
    def store(self, subject: str, data: bytes, headers: dict[str, str] | None) -> api.PubAck:
        """Append a message, applying de-duplication, expectations, rollups and limits."""
        self._expire()
        hdrs = headers or {}
        msg_id = hdrs.get("Nats-Msg-Id")
        now = time.monotonic()
        if msg_id is not None and msg_id in self._msg_ids:
            seq, stamp = self._msg_ids[msg_id]
            if now - stamp < self.config.duplicate_window:
                return api.PubAck(stream=self.name, seq=seq, duplicate=True)
        self._check_expectations(subject, data, hdrs)
        rollup = hdrs.get("Nats-Rollup")
        if rollup is not None and not self.config.allow_rollup_hdrs:
            raise JetStreamError(500, 10111, "rollup not permitted")
        self.last_seq += 1
        if not self.messages:
            self.first_seq = self.last_seq
        stored = StoredMsg(self.last_seq, subject, data, headers, time.time_ns())
        self.messages[stored.seq] = stored
        if msg_id is not None:
            self._msg_ids[msg_id] = (stored.seq, now)
        if rollup == "sub":
            self._remove([m.seq for m in self.messages.values() if m.subject == subject and m is not stored])
        elif rollup == "all":
            self._remove([seq for seq in self.messages if seq != stored.seq])
        self._apply_limits(subject)
        return api.PubAck(stream=self.name, seq=stored.seq)

    def _check_expectations(self, subject: str, data: bytes, hdrs: dict[str, str]) -> None:
        if "Nats-TTL" in hdrs:
            if not self.config.allow_msg_ttl:
                raise JetStreamError(400, 10166, "per-message TTL is disabled")
            unsupported("per-message TTL (Nats-TTL header)")
        expected_last = hdrs.get("Nats-Expected-Last-Sequence")
        if expected_last is not None and int(expected_last) != self.last_seq:
            raise JetStreamError(400, 10071, f"wrong last sequence: {self.last_seq}")
        expected_subject = hdrs.get("Nats-Expected-Last-Subject-Sequence")
        if expected_subject is not None:
            last = self.last_for(subject)
            actual = last.seq if last is not None else 0
            if int(expected_subject) != actual:
                raise JetStreamError(400, 10071, f"wrong last sequence: {actual}")
        max_size = self.config.max_msg_size
        if max_size is not None and max_size >= 0 and len(data) > max_size:
            raise JetStreamError(400, 10054, "message size exceeds maximum allowed")
        if self.config.discard == "new":
            max_msgs = self.config.max_msgs
            if max_msgs is not None and max_msgs > 0 and len(self.messages) >= max_msgs:
                raise JetStreamError(503, 10077, "maximum messages exceeded")

    def _apply_limits(self, subject: str) -> None:
        per_subject = self.config.max_msgs_per_subject
        if per_subject > 0:
            same = [m.seq for m in self.messages.values() if m.subject == subject]
            self._remove(same[: max(0, len(same) - per_subject)])
        max_msgs = self.config.max_msgs
        if max_msgs is not None and max_msgs > 0 and len(self.messages) > max_msgs:
            self._remove(list(self.messages)[: len(self.messages) - max_msgs])
        max_bytes = self.config.max_bytes
        over = max_bytes is not None and max_bytes > 0
        while over and self._bytes() > (max_bytes or 0) and len(self.messages) > 1:
            self._remove([next(iter(self.messages))])

    def _expire(self) -> None:
        max_age = self.config.max_age
        if max_age:
            cutoff = time.time_ns() - int(max_age * _NS)
            self._remove([m.seq for m in self.messages.values() if m.time_ns < cutoff])

    def _remove(self, seqs: list[int]) -> None:
        for seq in seqs:
            self.messages.pop(seq, None)
        self.first_seq = next(iter(self.messages)) if self.messages else self.last_seq + 1

    def _bytes(self) -> int:
        return sum(m.size for m in self.messages.values())

    def purge(self, seq: int | None = None, subject: str | None = None, keep: int | None = None) -> int:
        """Remove messages (all, those before ``seq``, on ``subject``, keeping the last ``keep``)."""
        if self.config.deny_purge:
            raise JetStreamError(500, 10110, "stream purge not permitted")
        candidates = [
            m.seq
            for m in self.messages.values()
            if (subject is None or _subjects.matches(subject, m.subject)) and (seq is None or m.seq < seq)
        ]
        if keep:
            candidates = candidates[: max(0, len(candidates) - keep)]
        self._remove(candidates)
        return len(candidates)

    def delete_msg(self, seq: int) -> None:
        if self.config.deny_delete:
            raise JetStreamError(500, 10057, "message delete not permitted")
        if seq not in self.messages:
            raise JetStreamError(500, 10057, "no message found")
        self._remove([seq])

    # -- reading ----------------------------------------------------------------------------------
    def live(self) -> list[StoredMsg]:
        """Messages currently stored (after max-age expiry), in sequence order."""
        self._expire()
        return list(self.messages.values())

    def last_for(self, subject: str) -> StoredMsg | None:
        """The newest message whose subject matches ``subject``."""
        for msg in reversed(self.live()):
            if _subjects.matches(subject, msg.subject):
                return msg
        return None

    def get(self, seq: int | None = None, subject: str | None = None, next_: bool = False) -> StoredMsg:
        """Message by sequence, last by subject, or next at/after ``seq`` on ``subject``."""
        found: StoredMsg | None = None
        if next_:
            found = next(
                (
                    m
                    for m in self.live()
                    if m.seq >= (seq or 0) and (subject is None or _subjects.matches(subject, m.subject))
                ),
                None,
            )
        elif subject is not None:
            found = self.last_for(subject)
        elif seq is not None:
            self._expire()
            found = self.messages.get(seq)
        if found is None:
            raise JetStreamError(404, 10037, "no message found")
        return found

    def info(self, subjects_filter: str | None = None) -> api.StreamInfo:
        """A ``StreamInfo`` like nats-py builds from the server's answer."""
        live = self.live()
        subjects: dict[str, int] | None = None
        if subjects_filter:
            subjects = {}
            for msg in live:
                if _subjects.matches(subjects_filter, msg.subject):
                    subjects[msg.subject] = subjects.get(msg.subject, 0) + 1
        state = api.StreamState(
            messages=len(live),
            bytes=self._bytes(),
            first_seq=self.first_seq if live else (self.last_seq + 1 if self.last_seq else 0),
            last_seq=self.last_seq,
            consumer_count=len(self.consumers),
            num_deleted=0,
            subjects=subjects,
        )
        return api.StreamInfo(config=dataclasses.replace(self.config), state=state, created=self.created)
