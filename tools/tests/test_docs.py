"""Every public name (a module's ``__all__``) appears in its package README, and vice versa for modules.

Runs in the release environment, which does not install the packages: the names are read from the
source with ``ast`` so the check needs no imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())


def public_names(module: Path) -> list[str]:
    """The string entries of a module-level ``__all__`` (empty when there is none)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            assert isinstance(value, (ast.List, ast.Tuple)), f"{module}: __all__ must be a literal list"
            return [
                elt.value
                for elt in value.elts
                if isinstance(elt, ast.Constant) and isinstance(elt.value, str)
            ]
    return []


def modules_with_all(package: Path) -> list[Path]:
    """Public modules (no ``_``-prefixed part in their path) that declare ``__all__``."""
    return [
        m
        for m in sorted((package / "src").rglob("*.py"))
        if not any(part.startswith("_") and part != "__init__.py" for part in m.relative_to(package).parts)
        and public_names(m)
    ]


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_every_public_name_is_in_the_package_readme(package: Path) -> None:
    readme = (package / "README.md").read_text(encoding="utf-8")
    modules = modules_with_all(package)
    assert modules, f"{package.name} declares no __all__ anywhere"
    missing = {
        f"{m.relative_to(package / 'src')}: {name}"
        for m in modules
        for name in public_names(m)
        if f"`{name}" not in readme and f"{name}(" not in readme
    }
    assert not missing, f"{package.name}/README.md does not document: {sorted(missing)}"


def test_public_names_reads_all(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('__all__ = ["a", "b"]\n', encoding="utf-8")
    assert public_names(module) == ["a", "b"]
    module.write_text("x = 1\n", encoding="utf-8")
    assert public_names(module) == []
