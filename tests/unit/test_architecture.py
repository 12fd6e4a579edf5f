"""The layering of docs/architecture.md, read from the source (no module is imported): no import cycle in the two
packages, the simulation core free of the RL side, no statement after a return (the linter has no stable rule
for the last; WorkloadConfig's checks once sat dead after one), and no function longer than ``MAX_FUNCTION_LINES``."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orbitcloud_env", "agents")
#: Libraries of the RL side that the simulation core must not import (docs/architecture.md); Gymnasium and
#: PettingZoo, the env interfaces, are allowed.
RL_LIBRARIES = ("stable_baselines3", "sb3_contrib", "torch", "ray", "supersuit", "torchrl")
#: Packages whose functions may not be longer than ``MAX_FUNCTION_LINES`` (add a package once it complies).
LENGTH_CHECKED_PACKAGES = ("orbitcloud_env", "agents")
#: [lines] Longest function or method, counted from its ``def`` line to its last line (``end_lineno - lineno + 1``:
#: docstring and comments included, decorators not).
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported dotted name, line) of every import in the file, lazy ones in functions included; imports under
    ``if TYPE_CHECKING:`` are left out (they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for block in ast.walk(tree) if _is_type_checking(block)
               for stmt in block.body for n in ast.walk(stmt)}
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names]  # a submodule, or a name in base
    return out


def _import_graph() -> nx.DiGraph:
    mods = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(mods)
    for module, path in mods.items():
        for name, line in _imports(module, path):
            while name not in mods and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in mods and name != module:
                graph.add_edge(module, name, line=line)
    return graph


def test_the_import_graph_walker_sees_known_edges():
    graph = _import_graph()
    assert graph.has_edge("orbitcloud_env.simulator", "orbitcloud_env.network")
    assert graph.has_edge("orbitcloud_env.ground", "orbitcloud_env.config")
    assert graph.has_edge("agents.training.hyperparameters", "agents.acting.rl")  # a lazy import in a function counts
    assert graph.number_of_nodes() > 40


def test_no_import_cycle_in_the_packages():
    graph = _import_graph()
    cycles = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            cycle = nx.find_cycle(graph.subgraph(component))
            cycles.append(" -> ".join(f"{a} (line {graph.edges[a, b]['line']})" for a, b in cycle)
                          + f" -> {cycle[0][0]}")
    assert not cycles, ("import cycles (move the shared piece one layer down, see docs/architecture.md):\n"
                        + "\n".join(cycles))


def test_config_is_the_bottom_layer_and_the_core_imports_no_rl_library():
    mods = _modules()
    config_deps = {n for n, _ in _imports("orbitcloud_env.config", mods["orbitcloud_env.config"])
                   if n.startswith(PACKAGES)}
    allowed = ("orbitcloud_env.constants", "orbitcloud_env.suggest", "orbitcloud_env.data", "orbitcloud_env.plain")
    assert all(n.startswith(allowed) for n in config_deps), sorted(config_deps)
    bad = [f"{m}:{line} imports {name}" for m, p in mods.items() if m.startswith("orbitcloud_env")
           for name, line in _imports(m, p) if name.split(".")[0] in RL_LIBRARIES + ("agents",)]
    assert not bad, bad


class _DeadCode(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[int] = []

    def generic_visit(self, node: ast.AST) -> None:
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                for stmt, nxt in zip(block, block[1:]):
                    if isinstance(stmt, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
                        self.found.append(nxt.lineno)
        super().generic_visit(node)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_statement_after_return_raise_continue_or_break(package):
    dead = []
    for path in sorted((ROOT / package).rglob("*.py")):
        visitor = _DeadCode()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        dead += [f"{path.relative_to(ROOT)}:{line}" for line in visitor.found]
    assert not dead, f"unreachable statements: {dead}"


def test_the_dead_code_check_catches_code_after_a_return():
    visitor = _DeadCode()
    visitor.visit(ast.parse("class A:\n    @property\n    def p(self):\n        return 1\n        check()\n"))
    assert visitor.found == [5]


def _long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[int, str, int]]:
    """(line, name, length) of every function or method of ``source`` longer than ``limit`` lines."""
    return [(node.lineno, node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


@pytest.mark.parametrize("package", LENGTH_CHECKED_PACKAGES)
def test_no_function_longer_than_the_limit(package):
    long = []
    for path in sorted((ROOT / package).rglob("*.py")):
        long += [f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
                 for line, name, length in _long_functions(path.read_text(encoding="utf-8"))]
    assert not long, (f"functions over {MAX_FUNCTION_LINES} lines (split them into named helpers, see "
                      "docs/architecture.md):\n" + "\n".join(long))


def test_the_length_check_counts_from_def_to_the_last_line_docstring_included():
    ok = "def ok():\n    '''Doc.'''\n" + "".join(f"    x{i} = {i}\n" for i in range(58))  # 60 lines
    long = "class A:\n    def long(self):\n        '''Doc.'''\n" + "".join(f"        y{i} = {i}\n" for i in range(59))
    assert _long_functions(ok + long) == [(62, "long", 61)]
