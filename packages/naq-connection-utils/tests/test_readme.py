"""Every public name of every module is documented in the package README."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

MODULES = [
    "naq.connection.utils",
    "naq.connection.utils.metrics",
    "naq.connection.utils.monitoring",
    "naq.connection.utils.health",
    "naq.connection.utils.performance",
    "naq.connection.utils.export",
    "naq.connection.utils.prometheus",
    "naq.connection.utils.cli",
]


@pytest.mark.parametrize("module", MODULES)
def test_public_names_are_in_the_readme(module: str) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    names = importlib.import_module(module).__all__
    missing = [name for name in names if f"`{name}" not in readme]
    assert missing == []
