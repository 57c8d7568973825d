"""Reading configuration from environment variables.

``NAQ_NATS_URL`` holds one server URL or several separated by commas; ``NAQ_NATS_<FIELD>`` sets each
scalar field (``NAQ_NATS_CONNECTION_TIMEOUT``, ``NAQ_NATS_TLS_CA_FILE``, ...). An empty variable counts
as unset. Booleans accept true/false, 1/0, yes/no, on/off in any case. Unknown ``NAQ_NATS_*`` names
are logged as a warning (with the closest known name), not rejected: other tools may share the prefix.
Profiles are not read from the environment; define them in the config file.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping

from naq.connection._fields import ENV_PREFIX, FIELDS, Layer, coerce

__all__ = ["ENV_VARS", "read_env", "suggest_env_var"]

logger = logging.getLogger("naq.connection")

ENV_VARS = {spec.env: spec for spec in FIELDS}
"""Environment variable name -> the field it sets."""

_HINTS = {
    **{spec.name.replace(".", "_"): spec.env for spec in FIELDS},  # servers -> NAQ_NATS_URL
    **{spec.env[len(ENV_PREFIX) :].lower(): spec.env for spec in FIELDS},  # url -> NAQ_NATS_URL
}
"""What an unknown variable's suffix may have meant: field names and variable suffixes, lower case."""


def suggest_env_var(name: str) -> str | None:
    """The known variable an unknown ``NAQ_NATS_*`` name most likely meant (``NAQ_NATS_SERVERS`` ->
    ``NAQ_NATS_URL``: the field is ``servers``), or None."""
    suffix = name[len(ENV_PREFIX) :].lower()
    close = difflib.get_close_matches(suffix, list(_HINTS), n=1)
    return _HINTS[close[0]] if close else None


def read_env(environ: Mapping[str, str]) -> Layer:
    """The layer the environment sets: every non-empty known variable, coerced to its field's type."""
    layer: Layer = {}
    for name, spec in ENV_VARS.items():
        raw = environ.get(name)
        if raw is None or raw.strip() == "":
            continue
        source = f"environment variable {name}"
        layer[spec.name] = (coerce(spec, raw, source), source)
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in ENV_VARS:
            close = suggest_env_var(name)
            hint = f" (did you mean {close}?)" if close else ""
            logger.warning("ignoring unknown environment variable %s%s", name, hint)
    return layer
