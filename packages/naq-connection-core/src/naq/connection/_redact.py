"""Masking of secrets in URLs and free text, for error messages, logs, reprs and metrics.

Public names are re-exported by :mod:`naq.connection.config`; import them from there.

- :func:`redact_url` masks the credentials of one URL: ``nats://u:p@h:4222`` -> ``nats://u:***@h:4222``
  and ``nats://token@h`` -> ``nats://***@h`` (nats-py sends a lone user part as an auth token).
- :func:`redact` masks known secret values plus anything that looks like a credential in free text:
  URL credentials, ``password=...`` / ``token: ...`` pairs, NATS nkey seeds and JWTs.

Known secrets: besides the ``secrets`` argument, :func:`redact` masks every secret registered with
:func:`register_secrets` -- every ``NatsConfig`` registers its password, token and URL credentials
when it is built, so code that only has an error's text (metrics, log lines) still cannot leak them.
The registry is process-global, holds at most ``MAX_KNOWN_SECRETS`` values (oldest dropped first),
ignores values shorter than ``MIN_REGISTERED_LENGTH`` (masking every "ab" in every log line would make
logs unreadable; pass short secrets explicitly), and :func:`clear_known_secrets` empties it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "clear_known_secrets", "redact", "redact_url", "register_secrets"]

MASK = "***"
"""What every masked secret is replaced with."""
MAX_KNOWN_SECRETS = 256
MIN_REGISTERED_LENGTH = 4

_known_secrets: dict[str, None] = {}  # an insertion-ordered set

# scheme://userinfo@ -- userinfo stops at whitespace, '/', '@' (the last '@' before the host wins
# because the class excludes '@' and the regex is applied left to right on the authority only).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#@'\"]+)@")
# key=value or key: value for secret-ish keys (query strings, log lines, reprs of foreign objects).
# A ':' separator only counts when a quote follows ("password": "x"), so prose such as
# "password: must be set" is left alone; '=' always counts (password=x, ?token=x).
_SECRET_PAIRS = re.compile(
    r"(?P<key>\b(?:pass(?:word|wd)?|token|auth_token|secret|seed|nkeys?_seed|jwt)\b['\"]?"
    r"(?:\s*=\s*(?P<quote>['\"]?)|\s*:\s*(?P<cquote>['\"])))"
    r"(?P<value>[^\s'\",;&)}\]]+)",
    re.IGNORECASE,
)
# NATS nkey seeds: 'S' + key-type prefix, base32, 58 characters in all.
_NKEY_SEED = re.compile(r"\bS[A-Z][A-Z2-7]{56}\b")
# JWTs (NATS user JWTs in .creds files): three base64url parts, the first starting with '{"' = 'eyJ'.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")


def _mask_userinfo(userinfo: str) -> str:
    user, sep, _password = userinfo.partition(":")
    if sep:
        return f"{user}:{MASK}"
    return MASK  # a lone user part is a token for nats-py


def redact_url(url: str) -> str:
    """Return ``url`` with its credentials masked; anything without ``scheme://...@`` is returned as is.

    Works on malformed URLs too (no parsing that could raise): ``nats://u:p@h:bad`` ->
    ``nats://u:***@h:bad``. Secret-looking query parameters (``?token=...``) are masked as well.
    """
    if "@" not in url and "=" not in url:
        return url
    scheme_end = url.find("://")
    authority_start = scheme_end + 3 if scheme_end >= 0 else 0  # 'u:p@host:4222' has no scheme
    rest = url[authority_start:]
    # the authority ends at the first '/', '?' or '#'; credentials are what precedes its last '@'
    end = len(rest)
    for stop in "/?#":
        pos = rest.find(stop)
        if pos >= 0:
            end = min(end, pos)
    authority = rest[:end]
    at = authority.rfind("@")
    if at >= 0:
        url = f"{url[:authority_start]}{_mask_userinfo(authority[:at])}{authority[at:]}{rest[end:]}"
    return _SECRET_PAIRS.sub(_mask_pair, url)


def _mask_pair(match: re.Match[str]) -> str:
    return f"{match.group('key')}{MASK}"


def _mask_url_match(match: re.Match[str]) -> str:
    return f"{match.group('scheme')}{_mask_userinfo(match.group('userinfo'))}@"


def register_secrets(secrets: Iterable[str | None]) -> None:
    """Remember ``secrets`` so that every later :func:`redact` call masks them (see module docs)."""
    for secret in secrets:
        if secret and len(secret) >= MIN_REGISTERED_LENGTH:
            _known_secrets.pop(secret, None)
            _known_secrets[secret] = None
    while len(_known_secrets) > MAX_KNOWN_SECRETS:
        del _known_secrets[next(iter(_known_secrets))]


def clear_known_secrets() -> None:
    """Forget every registered secret (for tests)."""
    _known_secrets.clear()


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with secrets masked: every value in ``secrets`` (longest first, ``None`` and
    empty values skipped), URL credentials, ``password=``/``token:``-style pairs, nkey seeds and JWTs.

    Use it on any message that may contain foreign text (exception strings, server URLs) before it is
    logged, raised or exported. Secrets of every ``NatsConfig`` built so far are masked too; pass
    ``secrets`` for anything else (or a config's secrets shorter than four characters).
    """
    text = str(text)
    candidates = {s for s in secrets if s}
    candidates.update(_known_secrets)
    for secret in sorted(candidates, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(_mask_url_match, text)
    text = _SECRET_PAIRS.sub(_mask_pair, text)
    text = _NKEY_SEED.sub(MASK, text)
    return _JWT.sub(MASK, text)
