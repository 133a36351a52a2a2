"""The Slicer extension's packaging, checked without Slicer.

- ``RadSurv.json`` (the Extensions Index catalog entry) validates against Slicer's schema v1.0.2
  (a copy in ``Testing/Schemas``, see its README) and agrees with the top ``CMakeLists.txt``;
- the top and module ``CMakeLists.txt`` follow Slicer's extension template, and every file of the
  module folder (scripts and resources) and every file the module reads at run time is listed;
- ``RadSurvLib`` and every ``RadSurvLib`` module that ``RadSurv.py`` imports load in a Python
  where torch, PyRadiomics, MONAI (and the other heavy packages) cannot be imported, as in
  Slicer's own Python.

The ``.py`` listing of ``RadSurvLib`` is test_slicer_module_files.py.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from test_slicer_module_files import cmake_lists

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "Testing" / "Schemas" / "slicer-extension-catalog-entry-schema-v1.0.2.json"
CATALOG = REPO / "RadSurv.json"
TOP_CMAKE = REPO / "CMakeLists.txt"
MODULE_DIR = REPO / "RadSurv"

#: Packages that Slicer's Python does not have (they live in RadSurv's own environment).
HEAVY = ("torch", "torchvision", "radiomics", "monai", "safetensors", "mambapy", "lifelines", "sklearn",
         "scipy", "pandas", "matplotlib", "highdicom", "pywt", "torchsurv")


def strip_comment(line: str) -> str:
    """A CMake line without its comment ('#' outside double quotes)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
    return line


def cmake_text(path: Path) -> str:
    return "\n".join(strip_comment(line) for line in path.read_text(encoding="utf-8").splitlines())


def cmake_sets(path: Path) -> dict[str, str]:
    """``set(NAME "value")`` / ``set(NAME value)`` of a CMake file, ``${VAR}`` expanded."""
    values = {}
    for name, body in re.findall(r"\bset\(\s*([A-Za-z_][A-Za-z0-9_]*)\s+(.*?)\)\s*$", cmake_text(path), re.M):
        value = body.strip().strip('"')
        for var, known in values.items():
            value = value.replace("${" + var + "}", known)
        values[name] = value
    return values


# ---------------------------------------------------------------------------------------------
# catalog entry
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema", reason="test extra: pip install jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_catalog_entry_validates_against_schema_v1_0_2(validator):
    entry = json.loads(CATALOG.read_text(encoding="utf-8"))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(entry)]
    assert not errors, errors
    assert entry["$schema"] == json.loads(SCHEMA.read_text())["$id"]
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.2.json#")


def test_catalog_entry_agrees_with_cmake():
    entry = json.loads(CATALOG.read_text(encoding="utf-8"))
    sets = cmake_sets(TOP_CMAKE)
    assert entry["category"] == sets["EXTENSION_CATEGORY"]
    assert entry["scm_url"] == sets["RADSURV_REPOSITORY_URL"]
    assert entry["build_subdirectory"] == "."  # not a superbuild extension


@pytest.mark.parametrize("change", [
    {"scm_url": None},                  # required key missing
    {"tier": 7},                        # out of range
    {"scm_type": "svn"},                # not in the enum
    {"homepage": "https://x"},          # not a schema key (additionalProperties: false)
])
def test_schema_rejects_bad_entries(validator, change):
    entry = json.loads(CATALOG.read_text(encoding="utf-8"))
    for key, value in change.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    assert list(validator.iter_errors(entry)), f"{change} should not validate"


# ---------------------------------------------------------------------------------------------
# CMake files
# ---------------------------------------------------------------------------------------------

def test_top_cmake_follows_the_extension_template():
    text = cmake_text(TOP_CMAKE)
    sets = cmake_sets(TOP_CMAKE)
    for name in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                 "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert sets.get(name), f"{name} missing or empty in CMakeLists.txt"
    assert sets["EXTENSION_HOMEPAGE"] == sets["RADSURV_REPOSITORY_URL"] + "#for-3d-slicer-users"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "\n## For 3D Slicer users\n" in readme  # the homepage's anchor exists
    assert sets["EXTENSION_ICONURL"].endswith("RadSurv/Resources/Icons/RadSurv.png")
    assert (REPO / "RadSurv" / "Resources" / "Icons" / "RadSurv.png").is_file()
    order = ["project(RadSurv)", "find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})",
             "add_subdirectory(RadSurv)", "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
             "include(${Slicer_EXTENSION_CPACK})"]
    positions = [text.find(item) for item in order]
    assert all(p >= 0 for p in positions), dict(zip(order, positions))
    assert positions == sorted(positions)


def test_module_cmake_builds_tests_and_lists_every_file():
    text = cmake_text(MODULE_DIR / "CMakeLists.txt")
    lists = cmake_lists(MODULE_DIR / "CMakeLists.txt")
    assert re.search(r"slicerMacroBuildScriptedModule\(\s*NAME \$\{MODULE_NAME\}\s*SCRIPTS \$\{MODULE_PYTHON_SCRIPTS\}"
                     r"\s*RESOURCES \$\{MODULE_PYTHON_RESOURCES\}", text)
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    assert re.search(r"if\(BUILD_TESTING\)", text)
    on_disk = {p.relative_to(MODULE_DIR).as_posix() for p in MODULE_DIR.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.name != "CMakeLists.txt"}
    listed = set(lists["MODULE_PYTHON_SCRIPTS"]) | set(lists["MODULE_PYTHON_RESOURCES"])
    assert not on_disk - listed, f"add to RadSurv/CMakeLists.txt (scripts or resources): {sorted(on_disk - listed)}"


def module_tree():
    return ast.parse((MODULE_DIR / "RadSurv.py").read_text(encoding="utf-8"))


def module_constant(name):
    for node in module_tree().body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in RadSurv.py")


def test_files_the_module_reads_are_installed():
    """Sample data and parameter files the module names are listed in RADSURVLIB_RESOURCES."""
    resources = set(cmake_lists(MODULE_DIR / "CMakeLists.txt")["RADSURVLIB_RESOURCES"])
    sample = module_constant("PAT1_SAMPLE")
    for key, checksum in zip(("ct", "gtv"), sample["checksums"]):
        relative = "/".join(sample[key])
        assert relative in resources, f"{relative} (sample data) is not installed"
        digest = hashlib.sha256((REPO / relative).read_bytes()).hexdigest()
        assert checksum == f"SHA256:{digest}", f"checksum of {relative} in RadSurv.py is stale"
    from RadSurvLib.options import RADIOMICS_SETTINGS
    from RadSurvLib.control.logic import RADIOMICS_SETTING_LABELS

    assert set(RADIOMICS_SETTING_LABELS.values()) == set(RADIOMICS_SETTINGS)  # every GUI label is a setting
    for name in RADIOMICS_SETTINGS.values():
        assert f"RadSurvLib/resources/parameters/{name}" in resources
        assert (REPO / "RadSurvLib" / "resources" / "parameters" / name).is_file()
    assert {"RadSurvLib/resources/PAT1/LICENSE.md", "RadSurvLib/resources/PAT1/README.md"} <= resources  # licence travels
    # the panel (loaded with slicer.util.loadUI) and the signatures it offers by name
    assert "Resources/UI/RadSurv.ui" in cmake_lists(MODULE_DIR / "CMakeLists.txt")["MODULE_PYTHON_RESOURCES"]
    from RadSurvLib.options import shipped_signature_names as shipped_signatures

    assert "lung1-os-99" in shipped_signatures()
    for name in shipped_signatures():
        assert f"RadSurvLib/resources/signatures/{name}/signature.json" in resources


# ---------------------------------------------------------------------------------------------
# RadSurvLib in Slicer's Python (no torch, no PyRadiomics)
# ---------------------------------------------------------------------------------------------

def radsurvlib_imports_of_the_module() -> list[str]:
    """Every ``RadSurvLib`` module that RadSurv.py imports (at any level)."""
    names = set()
    for node in ast.walk(module_tree()):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("RadSurvLib"):
            names.add(node.module)
            for alias in node.names:  # from RadSurvLib.control import parameters: a module too
                module = f"{node.module}.{alias.name}"
                if (REPO / (module.replace(".", "/") + ".py")).is_file():
                    names.add(module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("RadSurvLib"))
    return sorted(names)


def test_module_imports_are_found():
    names = radsurvlib_imports_of_the_module()
    assert {"RadSurvLib.control.parameters", "RadSurvLib.control.logic"} <= set(names)


def test_radsurvlib_imports_without_torch_or_pyradiomics(tmp_path):
    # the module's imports, and what its logic (RadSurvLib.control.logic) imports when it runs
    modules = ["RadSurvLib", "RadSurvLib.worker.server", "RadSurvLib.errors", "RadSurvLib.worker.environment",
               "RadSurvLib.worker.client", "RadSurvLib.batch", *radsurvlib_imports_of_the_module()]
    script = textwrap.dedent(f"""
        import importlib, importlib.abc, sys
        BLOCKED = {HEAVY!r}

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is not installed in Slicer's Python (blocked by the test)")
                return None

        sys.meta_path.insert(0, Blocker())
        for name in {modules!r}:
            importlib.import_module(name)
        # what the module's logic calls before any worker runs
        from RadSurvLib.rings import parse_bands
        from RadSurvLib.models.bundle import default_bundle_path
        from RadSurvLib.radiomics.roi import LIU2025_PARAMS
        from RadSurvLib.worker.environment import PythonEnvironment
        from RadSurvLib.batch import read_cases
        from RadSurvLib.options import ScoreOptions
        from RadSurvLib.control.logic import ScoringLogic
        from RadSurvLib.control.task import input_key
        assert parse_bands("3,6,9") == ((0.0, 3.0), (3.0, 6.0), (6.0, 9.0))
        assert default_bundle_path().is_dir() and LIU2025_PARAMS.is_file()
        assert PythonEnvironment({str(tmp_path / 'env')!r}).status().state == "needs install"
        assert read_cases([("a.nrrd", "b.nrrd")])[0].case_id == "a"
        options = ScoringLogic.optionsFromGui("3", "", "cpu", "quick (original image only)")
        assert options.parameter_file().name == "Quick_PyRadiomics.yaml" and options.rings_mm == ((0.0, 3.0),)
        assert len(input_key(["x", "y"], options)) == 16
        # the panel: parameter node -> ScoreOptions, the model's summary (bundle.json and checksum only)
        from RadSurvLib.control import parameters
        assert parameters.options_from_parameters(parameters.defaults()) == ScoreOptions()
        summary, demonstration = parameters.model_summary()
        assert demonstration and "demo-seresnet3d" in summary
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("ok", len([m for m in sys.modules if m.startswith("RadSurvLib")]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=str(REPO),
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok")


def test_blocker_really_blocks(tmp_path):
    """The same blocker makes a module that needs torch at import time fail (the test can fail)."""
    (tmp_path / "needs_torch.py").write_text("import torch\n")
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {HEAVY!r}:
                    raise ImportError(name)
        sys.meta_path.insert(0, Blocker())
        import needs_torch
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=str(tmp_path),
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode != 0 and "ImportError" in done.stderr
