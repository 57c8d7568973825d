"""Every public name of every module is documented in the package README."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
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
    "naq.connection.utils.otel",
]


@pytest.mark.parametrize("module", MODULES)
def test_public_names_are_in_the_readme(module: str) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    names = importlib.import_module(module).__all__
    missing = [name for name in names if f"`{name}" not in readme]
    assert missing == []


README = Path(__file__).parents[1] / "README.md"


def test_every_metric_is_in_the_reference_tables() -> None:
    from naq.connection.utils import ConnectionMetrics, prometheus

    text = README.read_text(encoding="utf-8")
    reference = text[text.index("## Metrics reference") : text.index("## CLI")]
    fields = [name for name in ConnectionMetrics.__dataclass_fields__ if f"`{name}`" not in reference]
    names = [f"{name}_total" for name, _, _ in prometheus.COUNTERS]
    names += [name for name, _, _ in prometheus.GAUGES]
    names += [f"{old}_total" for old, _, _ in prometheus.DEPRECATED_COUNTERS]
    missing = [name for name in names if f"`{name}`" not in reference]
    assert (fields, missing) == ([], [])


def readme_block(heading: str) -> str:
    """The first ```python block after ``heading``."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```\n", start)]


@pytest.mark.integration
def test_the_opentelemetry_example_runs_as_pasted(nats_url: str, tmp_path: Path) -> None:
    script = tmp_path / "otel_example.py"
    script.write_text(readme_block("### OpenTelemetry"), encoding="utf-8")
    env = {**os.environ, "NAQ_NATS_URL": nats_url}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "publish job"' in result.stdout
    assert '"name": "nats connect"' in result.stdout
    assert "naq.nats.operations.started" in result.stdout
