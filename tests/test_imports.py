"""Imports run one way: no module of the harness imports, directly or through others, a module that imports it
(function-level imports included, since they close the same circle at run time)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "harness"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """``module -> harness modules it imports`` (``from harness.x import y`` counts as ``harness.x.y`` when y is a
    module, else ``harness.x``)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    edges.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name.startswith("harness"))
        graph[name] = {e for e in edges if e in modules and e != name and e != "harness"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_harness_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


CUDA_PROBE = """import sys, torch
asked = []
count, lazy_init = torch._C._cuda_getDeviceCount, torch.cuda._lazy_init
torch._C._cuda_getDeviceCount = lambda: asked.append("device count") or count()
torch.cuda._lazy_init = lambda: asked.append("lazy init") or lazy_init()
from harness.tasks import TASKS
import importlib
for module in sorted({m for task in TASKS.values() for m in task.runtime_modules}):
    importlib.import_module(module)
print("asked:", asked, "initialized:", torch.cuda.is_initialized())
"""


def test_the_fork_servers_preloads_never_touch_cuda():
    """Workers are forked from a server that imports every task's runtime modules: if an import queried or
    initialised CUDA there, every GPU job forked from it would fail (CUDA does not survive a fork)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", CUDA_PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "asked: [] initialized: False" in result.stdout, result.stdout
