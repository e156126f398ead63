"""Syntax checks of generated scripts with InterSystems' tree-sitter grammar, for tests
(``pip install iris-ops[test]`` brings ``tree-sitter`` and ``tree-sitter-objectscript``).

    from iris_ops_sim.syntax import syntax_errors
    assert syntax_errors(my_script) == []
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["parser", "syntax_errors"]


@lru_cache(maxsize=1)
def parser() -> Any:
    """A tree-sitter parser for ObjectScript; ImportError when the grammar is not installed."""
    import tree_sitter
    import tree_sitter_objectscript

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_objectscript.language_objectscript()))


def _has_error(node: Any) -> bool:
    return node.type == "ERROR" or node.is_missing or any(_has_error(child) for child in node.children)


def syntax_errors(script: Any) -> list[str]:
    """The lines of ``script`` (an :class:`iris_ops.objectscript.Script`) that do not parse.  Each
    line is indented by one space first: at column 0 ObjectScript reads a label (IRIS.md §5)."""
    return [line for line in script.lines() if _has_error(parser().parse((" " + line + "\n").encode()).root_node)]
