"""Remove credentials from URLs before they reach messages or logs."""

from __future__ import annotations

import re

__all__ = ["redact_url"]

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact_url(text: str) -> str:
    """``nats://user:pass@host:4222`` -> ``nats://***@host:4222`` (works on any text)."""
    return _USERINFO.sub(r"\g<scheme>***@", str(text))
