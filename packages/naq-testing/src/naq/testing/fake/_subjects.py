"""Subject validation and wildcard matching, the way nats-py and nats-server do it."""

from __future__ import annotations

import re

import nats.errors

_INVALID = re.compile(r"[ \t\r\n]")


def validate_publish_subject(subject: str) -> None:
    """Raise ``BadSubjectError`` for an empty subject or one with whitespace (nats-py's publish check)."""
    if not subject or _INVALID.search(subject):
        raise nats.errors.BadSubjectError


def validate_subscribe_subject(subject: str) -> None:
    """Raise ``BadSubjectError`` unless ``subject`` is a valid subscription (wildcards allowed)."""
    validate_publish_subject(subject)
    tokens = subject.split(".")
    last = len(tokens) - 1
    for index, token in enumerate(tokens):
        if not token:
            raise nats.errors.BadSubjectError
        if token == ">":
            if index != last:
                raise nats.errors.BadSubjectError
        elif ">" in token or ("*" in token and token != "*"):
            raise nats.errors.BadSubjectError


def validate_queue(queue: str) -> None:
    """Raise ``BadSubjectError`` for a queue group name with whitespace."""
    if queue and _INVALID.search(queue):
        raise nats.errors.BadSubjectError


def matches(pattern: str, subject: str) -> bool:
    """True when the literal ``subject`` matches ``pattern`` (``*`` one token, ``>`` one or more)."""
    pattern_tokens = pattern.split(".")
    subject_tokens = subject.split(".")
    for index, token in enumerate(pattern_tokens):
        if token == ">":
            return len(subject_tokens) > index
        if index >= len(subject_tokens):
            return False
        if token != "*" and token != subject_tokens[index]:
            return False
    return len(pattern_tokens) == len(subject_tokens)


def overlaps(first: str, second: str) -> bool:
    """True when some literal subject could match both patterns (used for stream subject conflicts)."""
    a, b = first.split("."), second.split(".")
    for index in range(max(len(a), len(b))):
        if index >= len(a) or index >= len(b):
            return False
        x, y = a[index], b[index]
        if x == ">" or y == ">":
            return True
        if x != "*" and y != "*" and x != y:
            return False
    return True
