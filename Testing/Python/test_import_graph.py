"""The package's floors, read from its own imports (``ast``; nothing is imported or run).

Every ``import`` of a RadSurvLib module is an arrow, wherever it stands (module level or inside a
function: a deferred import is still a dependency). The rules:

- no circle: the arrows between modules form no cycle;
- floors: a module imports only modules of its own floor or below (``FLOORS``, bottom first), so
  ``pipeline.py`` and the stages never import ``slicer``, ``app``, ``control``, ``cli``, ``worker``
  or ``batch``;
- no private name (``_name``) of one module imported, or read as ``module._name``, in another.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "RadSurvLib"

#: The floors, bottom first: module name prefixes (relative to RadSurvLib; "" is its __init__).
FLOORS = (
    ("", "errors", "progress", "resources"),          # shared contracts
    ("io",),
    ("preprocessing", "gtv_components"),               # gtv_components: the GTV's parts and their policy
    ("rings",),
    ("radiomics",),
    ("models", "explain", "survival"),
    ("training", "validation"),
    ("options",),                                     # ScoreOptions: builds on the stages' defaults
    ("outputs",),                                     # the output folder: names, transaction, overview
    ("pipeline",),
    ("slicer",),                                      # MRML adapters: a finished run as a scene
    ("scheduler", "worker", "batch"),
    ("control", "app", "cli", "__main__"),            # front ends (control: the module's and app's controllers)
)

#: Packages the pipeline and the stages never import.
FRONT_ENDS = ("slicer", "app", "control", "cli", "worker", "batch")
#: The pipeline and the stages below it.
CORE = ("errors", "progress", "resources", "io", "preprocessing", "gtv_components", "rings", "radiomics", "models", "explain",
        "survival", "options", "outputs", "pipeline")

def _modules() -> dict:
    """Module name (relative to RadSurvLib, dotted; "" for the package) -> (path, is_package)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _absolute(name: str):
    """"RadSurvLib.x.y" -> "x.y" ("" for RadSurvLib); None for another package."""
    if name == "RadSurvLib":
        return ""
    return name[len("RadSurvLib."):] if name.startswith("RadSurvLib.") else None


def _imports(module: str, path: Path, is_package: bool):
    """(target module, imported name or None, line) for every RadSurvLib import in a file, plus
    (target, attribute, line) for each ``alias._private`` read of an imported module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module.split(".") if module else []
    package = here if is_package else here[:-1]
    aliases, found = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _absolute(alias.name)
                if target is not None and target in MODULES:
                    found.append((target, None, node.lineno))
                    if alias.asname:
                        aliases[alias.asname] = target
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
                target = ".".join(base)
            else:
                target = _absolute(node.module or "")
                if target is None:
                    continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                if sub in MODULES:
                    found.append((sub, None, node.lineno))
                    aliases[alias.asname or alias.name] = sub
                else:
                    found.append((target, alias.name, node.lineno))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and _private(node.attr)):
            found.append((aliases[node.value.id], node.attr, node.lineno))
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _graph():
    edges, private = defaultdict(set), set()
    for module, (path, is_package) in MODULES.items():
        for target, name, _ in _imports(module, path, is_package):
            assert target in MODULES, f"{module} imports {target}, which is not a module of RadSurvLib"
            if target != module:
                edges[module].add(target)
                if name and _private(name):
                    private.add((module, target, name))
    return edges, private


def _floor(module: str) -> int:
    head = module.split(".")[0]
    for index, names in enumerate(FLOORS):
        if head in names:
            return index
    raise AssertionError(f"RadSurvLib.{module} is on no floor: add it to FLOORS (and to README's Layout)")


def _circles(edges) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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
                result.append(tuple(sorted(component)))

    for module in sorted(set(edges) | {t for targets in edges.values() for t in targets}):
        if module not in index:
            visit(module)
    return result


EDGES, PRIVATE = _graph()


def test_the_graph_is_read():
    """The reader sees the arrows it must see (a reader that found nothing would pass everything)."""
    assert "pipeline" in EDGES and "options" in EDGES["pipeline"] and "rings" in EDGES["pipeline"]
    assert "errors" in EDGES["io.images"]
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]


def test_no_import_circle():
    circles = _circles(EDGES)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_floors_hold():
    upward = sorted(f"{m} -> {t}" for m, targets in EDGES.items() for t in targets if _floor(t) > _floor(m))
    assert not upward, "imports that run up a floor: " + ", ".join(upward)


@pytest.mark.parametrize("core", CORE)
def test_core_imports_no_front_end(core):
    """``pipeline.py`` and the stages import no front end (the rule of issue 21, on its own)."""
    wrong = sorted(f"{m} -> {t}" for m, targets in EDGES.items() if m.split(".")[0] == core
                   for t in targets if t.split(".")[0] in FRONT_ENDS)
    assert not wrong, ", ".join(wrong)


def test_no_private_name_across_modules():
    assert not PRIVATE, "private names imported across modules: " + ", ".join(
        f"{m} uses {t}.{n}" for m, t, n in sorted(PRIVATE))
