"""DESIGN §4: lower layers never import higher ones (checked on every import statement)."""

from __future__ import annotations

import ast
from pathlib import Path

import heron

ROOT = Path(heron.__file__).parent

#: top-level package -> layer (higher numbers may import lower ones, never the reverse)
LAYERS = {
    "core": 0,
    "_version": 0,
    "store": 1,
    "artifacts": 1,
    "execution": 2,
    "orchestrators": 2,
    "tracking": 3,
    "pipelines": 3,
    "models": 3,
    "registry": 3,
    "serving": 3,
    "autologging": 3,
    "quickstart": 3,
    "scheduling": 3,
    "monitoring": 3,
    "stacks": 3,
    "importers": 3,
    "governance": 3,
    "cli": 4,
    "server": 4,
}


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0].removesuffix(".py")


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n.split(".")[1] for n in names if n.startswith("heron.") and n.count(".") >= 1}


def test_every_package_has_a_layer():
    packages = {_package(p) for p in ROOT.rglob("*.py")} - {"__init__", "__main__"}
    assert packages <= set(LAYERS), packages - set(LAYERS)


def test_no_module_imports_a_higher_layer():
    violations = []
    for path in sorted(ROOT.rglob("*.py")):
        package = _package(path)
        if package not in LAYERS:
            continue
        for imported in _imported(ast.parse(path.read_text())):
            if LAYERS.get(imported, 0) > LAYERS[package]:
                violations.append(f"{path.relative_to(ROOT)} imports heron.{imported}")
    assert not violations, "\n".join(violations)
