"""The package's layers only import downwards: the core never imports Airflow, the sandbox never imports us."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_m365mail"


def imported_modules(path: Path) -> set[str]:
    """Return every absolute module name a file imports (relative imports resolved to the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package_parts[: len(package_parts) - node.level + 1])
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


def files_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("path", files_under("core"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_never_imports_airflow(path: Path) -> None:
    offending = {m for m in imported_modules(path) if m == "airflow" or m.startswith("airflow.")}
    assert not offending, f"{path.name} imports {offending}: core/ must stay free of Airflow"


@pytest.mark.parametrize("path", files_under("sandbox"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_sandbox_imports_neither_airflow_nor_the_core(path: Path) -> None:
    offending = {
        m
        for m in imported_modules(path)
        if m == "airflow"
        or m.startswith("airflow.")
        or m.startswith("airflow_provider_m365mail.core")
    }
    assert not offending, f"{path.name} imports {offending}: the sandbox emulates Microsoft, not us"


def test_the_layering_check_sees_relative_imports() -> None:
    sample = PACKAGE / "sandbox" / "state.py"
    assert "airflow_provider_m365mail.sandbox.config" in imported_modules(sample)


@pytest.mark.parametrize("path", files_under("core/transports"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_transports_import_neither_the_doctor_nor_the_delivery_policy(path: Path) -> None:
    above = ("airflow_provider_m365mail.core.doctor", "airflow_provider_m365mail.core.delivery")
    offending = {m for m in imported_modules(path) if m.startswith(above)}
    assert not offending, f"{path.name} imports {offending}: transports sit below the doctor and the Mailer"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by concern"


def test_core_keeps_few_modules_at_its_top_and_documents_each_subpackage() -> None:
    core = PACKAGE / "core"
    top = sorted(p.name for p in core.glob("*.py"))
    assert len(top) <= 6, f"core/ holds {top} directly: move a module into the subpackage it belongs to"
    subpackages = sorted(p.parent for p in core.glob("*/__init__.py"))
    assert len(subpackages) >= 4
    for package in subpackages:
        tree = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"core/{package.name}/__init__.py needs a docstring saying what it holds"
