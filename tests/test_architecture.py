"""The layout of dse/ and kernels/ as the README's architecture section states it: no import cycle among
their modules (module-level or inside functions), kernels/ imports nothing from dse/, each stage imports
only the stages below it, and no module of dse/ longer than 600 lines (a kernel module only with a
comment at its top saying why)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dse", "kernels")
MAX_LINES = 600
# The stages of dse/ from the bottom (README, Architecture): a module imports only its own stage or lower ones.
STAGES = ("kernels", "dse", "dse.atomic", "dse.allowed", "dse.config", "dse.layout", "dse.hypervolume", "dse.workloads",
          "dse.pruning", "dse.protection", "dse.mapping", "dse.simulate", "dse.cost", "dse.study", "dse.query",
          "dse.experiments", "dse.cli_options", "dse.commands", "dse.cli", "dse.api")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (``from a.b import c`` means ``a.b.c``
    when that is a module, else ``a.b``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {t for t in targets if t in modules and t != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def test_the_checker_finds_a_cycle_and_resolves_imports():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    graph = _graph()
    assert "dse.study.spec" in graph["dse.study.parse"]       # from dse.study.spec import ...
    assert "dse.study.results" in graph["dse.study.run"]      # from dse.study import results as tables
    assert "dse.mapping.protected" in graph["dse.mapping"]    # a package's __init__ is a module too


def test_no_import_cycle_among_dse_and_kernels_modules():
    assert _cycles(_graph()) == []


def test_kernels_import_nothing_from_dse():
    upward = {name: sorted(t for t in targets if t.split(".")[0] == "dse")
              for name, targets in _graph().items() if name.split(".")[0] == "kernels"}
    assert {name: t for name, t in upward.items() if t} == {}


def test_no_dse_module_over_600_lines_and_long_kernels_say_why():
    too_long = {}
    for name, path in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) <= MAX_LINES:
            continue
        explained = name.startswith("kernels.") and any(
            line.startswith("# Longer than 600 lines") for line in lines[:5])
        if not explained:
            too_long[name] = len(lines)
    assert too_long == {}


def _stage(module: str) -> int:
    return max((i for i, s in enumerate(STAGES) if module == s or module.startswith(s + ".")),
               key=lambda i: len(STAGES[i]))


def test_each_stage_imports_only_the_stages_below_it():
    upward = {(name, target) for name, targets in _graph().items() for target in targets
              if _stage(target) > _stage(name)}
    assert upward == set()
