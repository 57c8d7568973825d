"""The plugin's options: every one is an ini key (``nats_backend = docker``) and a command-line flag
(``--nats-backend=docker``); the flag wins over the ini value, which wins over the default.

Loaded at pytest start-up (through the entry point), so it imports nothing heavy.
"""

from __future__ import annotations

import pytest

from naq.testing._constants import DEFAULT_IMAGE

__all__ = ["BOOL_OPTIONS", "OPTIONS", "flag", "register_options"]

# (ini name, help, default as the ini string)
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("nats_backend", "how nats_server runs: binary | docker | external", "binary"),
    ("nats_url", "client URL of an already running server (with nats_backend=external)", ""),
    ("nats_monitor_url", "monitoring URL of the external server (enables connz/jsz/leak checks)", ""),
    ("nats_server_bin", "path of the nats-server binary (default: NATS_SERVER_BIN, PATH, scripts dir)", ""),
    ("nats_server_args", "extra nats-server flags for the session server, shell-quoted", ""),
    ("nats_jetstream", "enable JetStream on the session server (true/false)", "true"),
    ("nats_startup_timeout", "seconds to wait for a server to report healthy", "10"),
    ("nats_connect_timeout", "seconds nats_client / nats_client_factory wait for a connection", "5"),
    ("nats_docker_image", "image for nats_backend=docker", DEFAULT_IMAGE),
    ("nats_cluster_size", "number of nodes of the nats_cluster fixture", "3"),
    ("nats_leak_check", "apply nats_leak_check to every test (true/false)", "false"),
    ("nats_leak_timeout", "seconds nats_leak_check waits for closing connections to go away", "2"),
)
BOOL_OPTIONS = frozenset({"nats_jetstream", "nats_leak_check"})


def flag(name: str) -> str:
    """``nats_backend`` -> ``--nats-backend``."""
    return "--" + name.replace("_", "-")


def register_options(parser: pytest.Parser) -> None:
    """Add the ini keys and the matching ``--nats-*`` flags (a bare boolean flag means true)."""
    group = parser.getgroup("naq-testing", "naq-testing: NATS servers and clients for tests")
    for name, help_text, default in OPTIONS:
        parser.addini(name, help=help_text, default=default)
        if name in BOOL_OPTIONS:
            group.addoption(flag(name), dest=name, default=None, nargs="?", const="true", help=help_text)
        else:
            group.addoption(flag(name), dest=name, default=None, help=help_text)
