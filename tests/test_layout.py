"""The package's shape (issue 28): no import circles, even through imports inside
functions; torch imported at module level by the torch networks alone; no module over 400
lines. (That `import vaezip`, --help, encode and decode never start torch is checked where
they run: test_api.py, test_cli.py, test_inference.py.)"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "vaezip"
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> dict[str, bool]:
    """The vaezip modules that importing module `name` runs: {module: at module level}.
    Importing a.b.c runs the packages a and a.b first, so those count too, except the
    importing module's own packages (Python initialises them before it in any case)."""
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    found: dict[str, bool] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [n for n in subs if n in known] or [node.module]
        else:
            continue
        for target in names:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                module = ".".join(parts[:i])
                if module.startswith("vaezip") and module in known and module not in own:
                    found[module] = found.get(module, False) or node.col_offset == 0
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles_even_through_function_level_imports():
    known = modules()
    graph = {m: set(imports(m, p, known)) - {m} for m, p in known.items()}
    assert cycles(graph) == []
    assert "vaezip.codecs" in graph["vaezip.models.registry"]  # via codecs.entropy
    # the checker itself finds a circle when there is one
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_torch_is_imported_at_module_level_by_the_torch_networks_alone():
    heavy = []
    for name, path in modules().items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if (module or "").split(".")[0] in ("torch", "torchvision", "matplotlib"):
                    heavy.append(name)
    assert sorted(set(heavy)) == ["vaezip.models.torch_nets"]


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
