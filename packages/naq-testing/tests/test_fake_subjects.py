"""Fake-only: subject wildcard matching and stream-subject overlap rules."""

from __future__ import annotations

import nats.errors
import pytest

from naq.testing.fake import _subjects

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.*", "a", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        (">", "a", True),
        ("*.b", "a.b", True),
        ("a.*.c", "a.x.c", True),
        ("a.b.c", "a.b", False),
    ],
)
def test_matches(pattern: str, subject: str, expected: bool) -> None:
    assert _subjects.matches(pattern, subject) is expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("a.>", "a.b", True),
        ("a.*", "a.b", True),
        ("a.*", "b.*", False),
        ("a.b", "a.b.c", False),
        ("a.b.c", "a.b", False),
        ("a.*.c", "a.b.>", True),
    ],
)
def test_overlaps(first: str, second: str, expected: bool) -> None:
    assert _subjects.overlaps(first, second) is expected


@pytest.mark.parametrize("queue", ["bad queue", "q\n"])
def test_bad_queue(queue: str) -> None:
    with pytest.raises(nats.errors.BadSubjectError):
        _subjects.validate_queue(queue)
