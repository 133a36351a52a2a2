"""Checks of the Slicer extension's build files that need no Slicer.

A Slicer build copies only the files listed in RadSurv/CMakeLists.txt; a .py file that is not
listed works in a source checkout but is missing from the installed extension. These tests
catch that, and that the module file compiles on this Python.
"""

from __future__ import annotations

import ast
import py_compile
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "RadSurv"
MODULE_CMAKE = MODULE_DIR / "CMakeLists.txt"


def cmake_lists(path: Path) -> dict[str, list[str]]:
    """Variables set with ``set(NAME item item ...)`` in a CMake file, ``${MODULE_NAME}`` expanded.

    Comments are dropped; quoted items lose their quotes. Good enough for the plain lists of
    file names in RadSurv/CMakeLists.txt, not a CMake interpreter.
    """
    text = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    lists = {}
    for name, body in re.findall(r"\bset\(\s*([A-Za-z_][A-Za-z0-9_]*)\s+([^)]*)\)", text, flags=re.IGNORECASE):
        lists[name] = [item.strip('"') for item in body.split()]
    module_name = lists.get("MODULE_NAME", [""])[0]
    return {name: [item.replace("${MODULE_NAME}", module_name) for item in items] for name, items in lists.items()}


def python_files(folder: Path, relative_to: Path) -> set[str]:
    return {p.relative_to(relative_to).as_posix() for p in folder.rglob("*.py") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def lists():
    return cmake_lists(MODULE_CMAKE)


def test_module_name_and_lists_present(lists):
    assert lists["MODULE_NAME"] == ["RadSurv"]
    for name in ("MODULE_PYTHON_SCRIPTS", "MODULE_PYTHON_RESOURCES", "RADSURVLIB_PYTHON_SCRIPTS", "RADSURVLIB_RESOURCES"):
        assert lists.get(name), f"{name} is missing or empty in {MODULE_CMAKE}"


def test_every_module_py_file_is_listed(lists):
    on_disk = python_files(MODULE_DIR, MODULE_DIR)
    missing = sorted(on_disk - set(lists["MODULE_PYTHON_SCRIPTS"]))
    assert not missing, f"add these to MODULE_PYTHON_SCRIPTS in RadSurv/CMakeLists.txt: {missing}"


def test_every_radsurvlib_py_file_is_listed(lists):
    on_disk = python_files(REPO / "RadSurvLib", REPO)
    missing = sorted(on_disk - set(lists["RADSURVLIB_PYTHON_SCRIPTS"]))
    assert not missing, f"add these to RADSURVLIB_PYTHON_SCRIPTS in RadSurv/CMakeLists.txt: {missing}"


def test_listed_scripts_exist(lists):
    absent = [s for s in lists["MODULE_PYTHON_SCRIPTS"] + lists["MODULE_PYTHON_RESOURCES"] if not (MODULE_DIR / s).is_file()]
    absent += [s for s in lists["RADSURVLIB_PYTHON_SCRIPTS"] if not (REPO / s).is_file()]
    assert not absent, f"listed in RadSurv/CMakeLists.txt but not on disk (the build would fail): {absent}"


def test_runtime_resources_listed_and_present(lists):
    listed = set(lists["RADSURVLIB_RESOURCES"])
    parameters = {p.relative_to(REPO).as_posix() for p in (REPO / "RadSurvLib" / "resources" / "parameters").glob("*") if p.is_file()}
    assert parameters, "RadSurvLib/resources/parameters holds no PyRadiomics parameter file"
    assert not parameters - listed, f"add to RADSURVLIB_RESOURCES: {sorted(parameters - listed)}"
    bundle = REPO / "RadSurvLib" / "resources" / "bundles" / "demo-seresnet3d"
    shipped = {p.relative_to(REPO).as_posix() for p in bundle.glob("*") if p.is_file()}
    assert not shipped - listed, f"add to RADSURVLIB_RESOURCES: {sorted(shipped - listed)}"
    absent = sorted(r for r in listed if not (REPO / r).is_file())
    if absent and all(r.startswith("RadSurvLib/resources/bundles/demo-seresnet3d/") for r in absent):
        pytest.skip(f"demonstration bundle not built yet ({absent}); "
                    "radsurv train-demo --out RadSurvLib/resources/bundles/demo-seresnet3d")
    assert not absent, f"listed in RADSURVLIB_RESOURCES but not on disk: {absent}"


def test_module_file_compiles_and_follows_the_template(tmp_path):
    source = MODULE_DIR / "RadSurv.py"
    py_compile.compile(str(source), cfile=str(tmp_path / "RadSurv.pyc"), doraise=True)
    tree = ast.parse(source.read_text(encoding="utf-8"))
    classes = {node.name: [ast.unparse(b) for b in node.bases] for node in tree.body if isinstance(node, ast.ClassDef)}
    assert classes.get("RadSurv") == ["ScriptedLoadableModule"]
    assert classes.get("RadSurvWidget") in (["ScriptedLoadableModuleWidget"],
                                            ["ScriptedLoadableModuleWidget", "VTKObservationMixin"])
    # the logic is ScoringLogic itself (RadSurvLib.control.logic), not a class of pass-through methods
    assert classes.get("RadSurvLogic") == ["ScriptedLoadableModuleLogic", "ScoringLogic"]
    logic = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "RadSurvLogic")
    methods = {node.name for node in logic.body if isinstance(node, ast.FunctionDef)}
    assert methods <= {"__init__", "getParameterNode", "options"}, methods
    assert classes.get("RadSurvTest") == ["ScriptedLoadableModuleTest"]
    # Qt stays out of module-level imports so the logic can be imported from the Python console
    # and scripts; the widget imports qt/ctk itself.
    top_imports = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    assert not top_imports & {"qt", "ctk"}
