"""Tiny HTTP client for nats-server's monitoring endpoints (/healthz, /connz, /jsz, /varz).

Uses urllib with proxies disabled: test traffic goes to loopback only, never through an
``HTTP_PROXY`` from the environment. Every request is bounded by a timeout.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["get_json", "healthz"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _url(base: str, path: str, params: dict[str, Any] | None) -> str:
    url = base.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    return url


def get_json(base: str, path: str, params: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """GET ``base + path`` and decode the JSON body; raises ``OSError`` subclasses on failure."""
    with _OPENER.open(_url(base, path, params), timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def healthz(base: str, params: dict[str, Any] | None = None, timeout: float = 1.0) -> bool:
    """True when /healthz answers 200; False on any HTTP error, refusal or timeout."""
    try:
        with _OPENER.open(_url(base, "/healthz", params), timeout=timeout) as response:
            return int(response.status) == 200
    except (OSError, ValueError):
        return False
