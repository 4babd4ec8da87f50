"""The absolute imports of a source file, for the checks on how the project imports itself
(tests/test_lint.py, tests/test_packaging.py; imported by name)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

__all__ = ["Imported", "absolute_imports", "import_lines"]

Imported = ast.Import | ast.ImportFrom


def absolute_imports(tree: ast.AST) -> Iterator[tuple[Imported, list[str]]]:
    """Every absolute import statement under ``tree`` with the module names it imports
    (``from a.b import c`` imports ``a.b``; ``import a, b.c`` imports ``a`` and ``b.c``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node, [node.module]
        elif isinstance(node, ast.Import):
            yield node, [alias.name for alias in node.names]


def import_lines(tree: ast.AST) -> set[int]:
    """The line numbers (from 1) that import statements span, parenthesised names included."""
    return {line for node, _ in absolute_imports(tree) for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
