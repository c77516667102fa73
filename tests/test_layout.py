"""The package layout (issue 32): objectives declare one contract, and imports run downward.

Cheap checks of the source, no compiling: the single- and two-level objectives provide every
member of ``engine.objective.Objective``; the compile toolchain imports nothing statistical;
and the result type imports none of the modules that report or store results.
"""

import ast
import typing
from pathlib import Path

import pytest

from mlmix_pymc.engine.compiled import CompiledLikelihood
from mlmix_pymc.engine.integrated import IntegratedObjective
from mlmix_pymc.engine.objective import Objective

PACKAGE = Path(__file__).resolve().parents[1] / "mlmix_pymc"


def _imported_modules(path: Path) -> set[str]:
    """Every mlmix_pymc module ``path`` imports, at any depth of its code (absolute names)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            out |= {name} | {f"{name}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.startswith("mlmix_pymc")}


@pytest.mark.parametrize("objective", [CompiledLikelihood, IntegratedObjective])
def test_objectives_provide_every_member_of_the_protocol(objective):
    members = [name for name in dir(Objective) if not name.startswith("_")]
    members += list(typing.get_type_hints(Objective))
    assert {"loglik", "loglik_grad", "hessian", "scores", "class_probabilities"} <= set(members)
    missing = [m for m in members if m not in ("structure", "adapts") and not hasattr(objective, m)]
    assert missing == []


def test_toolchain_imports_nothing_statistical():
    allowed = ("mlmix_pymc.toolchain", "mlmix_pymc.progress", "mlmix_pymc.errors")
    for path in (PACKAGE / "toolchain").glob("*.py"):
        outside = {m for m in _imported_modules(path) if not m.startswith(allowed)}
        assert outside == set(), path.name


def test_results_import_none_of_the_modules_that_use_them():
    above = ("mlmix_pymc.persistence", "mlmix_pymc.plots", "mlmix_pymc.mplus")
    imported = _imported_modules(PACKAGE / "results.py")
    assert [m for m in imported if m.startswith(above)] == []
