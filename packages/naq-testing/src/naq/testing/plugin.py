"""pytest plugin entry point (``pytest11`` name ``naq_testing``; disable with ``-p no:naq_testing``).

This module stays tiny on purpose: pytest imports entry-point plugins at start-up, before
pytest-cov starts measuring and in every project that has naq-testing installed. It registers the
options at once and the fixtures (``naq.testing.fixtures``) at ``pytest_configure``.
"""

from __future__ import annotations

import importlib

import pytest

from naq.testing._options import register_options

__all__ = ["FIXTURES_PLUGIN", "pytest_addoption", "pytest_configure"]

FIXTURES_PLUGIN = "naq_testing.fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    register_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the fixtures and hooks (once per pytest run)."""
    if not config.pluginmanager.has_plugin(FIXTURES_PLUGIN):
        config.pluginmanager.register(importlib.import_module("naq.testing.fixtures"), FIXTURES_PLUGIN)
