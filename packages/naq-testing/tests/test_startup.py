"""The modules pytest imports at start-up through the ``pytest11`` entry point: ``naq.testing``,
``naq.testing.plugin``, ``_options`` and ``_constants``.

pytest imports entry-point plugins before pytest-cov starts measuring, so their module-level code
would never show as covered. These tests reload them (running that code again, now measured) and
check what those modules promise: they export what they say, register the fixtures once, and stay
light (no nats-py, no server machinery) for every project that merely has naq-testing installed.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import naq.testing
from naq.testing import _constants, _options, plugin


def test_reloaded_startup_modules_keep_their_contract(pytestconfig: pytest.Config) -> None:
    for module in (_constants, _options, plugin, naq.testing):
        importlib.reload(module)
    assert pytestconfig.pluginmanager.has_plugin(plugin.FIXTURES_PLUGIN)
    plugin.pytest_configure(pytestconfig)  # registering twice would raise: it is skipped
    assert pytestconfig.pluginmanager.get_plugin(plugin.FIXTURES_PLUGIN) is importlib.import_module(
        "naq.testing.fixtures"
    )
    assert {name for name, _, _ in _options.OPTIONS} >= _options.BOOL_OPTIONS
    assert _options.flag("nats_leak_timeout") == "--nats-leak-timeout"
    assert _constants.BACKENDS == ("binary", "docker", "external")
    assert set(naq.testing.__all__) <= set(dir(naq.testing))
    for name in naq.testing.__all__:
        assert getattr(naq.testing, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = naq.testing.nope


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, naq.testing.plugin, naq.testing\n"
        "heavy = ('nats', 'psutil', 'naq.testing.server', 'naq.testing.fixtures', 'naq.testing.fake')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith('nats.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
