"""Constants shared by the server, the docker backend and the plugin options (no imports: this
module is loaded at pytest start-up)."""

from __future__ import annotations

__all__ = ["BACKENDS", "DEFAULT_IMAGE"]

BACKENDS: tuple[str, ...] = ("binary", "docker", "external")
DEFAULT_IMAGE = "nats:2"
