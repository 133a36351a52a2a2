"""The Extensions Index's own checks on RadSurv's entry, offline.

Slicer's Extensions Index runs ``scripts/check_description_files.py`` (github.com/Slicer/
ExtensionsIndex, read at commit 07f1d1b, December 2026) on every pull request. This is our own
implementation of its checks that need no network; each test names the check it mirrors. The
online ones are covered as far as they can be offline: the icon and screenshot URLs must name
files of this repository (the checker downloads them and wants an image), and the GitHub topic
``3d-slicer-extension`` (read through GitHub's API by the checker) is in the release checklist of
the README. Also here: the README notes the index's 5.10 branch, PAT1's licence is declared and
its sample data opt-in, and the README's batch recipe exits.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "RadSurv.json"
EXTENSION_NAME = ENTRY.stem  # the index names the extension after its description file
SCHEMA = REPO / "Testing" / "Schemas" / "slicer-extension-catalog-entry-schema-v1.0.2.json"
RAW_PREFIX = "https://raw.githubusercontent.com/"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def entry() -> dict:
    return json.loads(ENTRY.read_text(encoding="utf-8"))


def cmake() -> str:
    return (REPO / "CMakeLists.txt").read_text(encoding="utf-8")


def repository_name() -> str:
    path = urllib.parse.urlsplit(entry()["scm_url"].strip().strip("/")).path
    return Path(path.split("/")[-1]).stem if path.endswith(".git") else path.split("/")[-1]


def test_check_json_file_format():
    """check_json_file_format: valid JSON, LF line endings only."""
    raw = ENTRY.read_bytes()
    json.loads(raw)
    assert b"\r" not in raw


def test_check_json_schema():
    """check_json_schema: the entry validates against the schema its $schema names (offline copy)."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert entry()["$schema"].split("#")[0].endswith(SCHEMA.name)
    jsonschema.validate(entry(), schema)


def test_check_extension_name():
    """check_extension_name: the extension's name does not start with 'Slicer'."""
    assert not EXTENSION_NAME.lower().startswith("slicer")


def test_check_category():
    """check_category: one of the index's accepted categories ('Quantification' is one of them)."""
    assert entry()["category"] == "Quantification"


def test_check_git_repository_name():
    """check_git_repository_name: the repository's name starts with 'Slicer' (or Slicer-, Slicer_,
    SlicerExtension-, SlicerExtension_)."""
    name = repository_name()
    assert name == "SlicerRadSurv"
    assert re.match(r"Slicer(Extension)?[-_]?", name)


def test_check_scm_url_syntax():
    """check_scm_url_syntax: scheme://host/path with a git or https scheme."""
    url = entry()["scm_url"]
    assert "://" in url and urllib.parse.urlsplit(url).scheme in ("git", "https")


def test_check_cmakelists_content_project_name():
    """check_cmakelists_content: the first project() of the top CMakeLists.txt is the extension's name."""
    match = re.search(r"project\s*\(\s*([^\s\)\n\r]+)", cmake(), re.IGNORECASE)
    assert match and match.group(1).strip("\"'") == EXTENSION_NAME


def literal_urls(variable: str, closing: str) -> list[str]:
    """The literal URLs of ``set(VARIABLE "...")``, read as the checker reads them (its regular
    expressions allow spaces before ')' for the icon only)."""
    found = re.findall(rf'set\s*\({variable}\s*"([^"]+)"{closing}\)', cmake(), re.IGNORECASE | re.MULTILINE)
    assert found, f"no literal set({variable} \"...\") in CMakeLists.txt"
    return found[0].split()


def repository_file(url: str) -> Path:
    """The file of this repository that a raw.githubusercontent.com URL of its main branch serves."""
    owner_repo = urllib.parse.urlsplit(entry()["scm_url"]).path.strip("/")
    prefix = f"{RAW_PREFIX}{owner_repo}/main/"
    assert url.startswith(prefix), f"{url} is not a raw file of {owner_repo}'s main branch"
    return REPO / url[len(prefix):]


def test_check_cmakelists_content_icon_url():
    """check_cmakelists_content / validate_image_url: a literal http(s) icon URL serving a PNG."""
    (url,) = literal_urls("EXTENSION_ICONURL", "[ ]*")
    assert url.startswith("https://") and "${" not in url
    path = repository_file(url)
    assert path.is_file() and path.read_bytes()[:8] == PNG_MAGIC, path


def test_check_cmakelists_content_screenshot_urls():
    """check_cmakelists_content / validate_image_url: literal screenshot URLs, each serving a PNG
    (the screenshots are the rendering test's pictures of PAT1 after scoring)."""
    urls = literal_urls("EXTENSION_SCREENSHOTURLS", "")
    assert urls and all(u.startswith("https://") and "${" not in u for u in urls)
    for url in urls:
        path = repository_file(url)
        assert path.parent == REPO / "Resources" / "Screenshots"
        assert path.is_file(), f"{path.relative_to(REPO)} is missing (made by the scene rendering test)"
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_check_repository_size():
    """check_repository_size: the checked-out repository is at most 100 MB."""
    files = subprocess.run(["git", "ls-files", "-z"], capture_output=True, cwd=str(REPO), check=True).stdout
    sizes = [(REPO / name).stat().st_size for name in files.decode().split("\0") if name and (REPO / name).is_file()]
    assert sum(sizes) <= 100 * 1024 * 1024


def test_check_license_file():
    """check_license_file: a licence file in the repository root."""
    names = ["LICENSE", "LICENCE", "License.txt", "license.txt", "LICENSE.txt", "COPYING", "COPYING.txt"]
    assert any((REPO / name).is_file() for name in names)


# ---------------------------------------------------------------------------------------------
# Beyond the checker: what reviewers of the pull request look at
# ---------------------------------------------------------------------------------------------

def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_notes_the_5_10_branch_and_the_topic():
    text = readme()
    assert "`5.10` branch" in text and "3d-slicer-extension" in text


def test_pat1_licence_is_declared_and_its_sample_data_opt_in():
    licence = (REPO / "RadSurvLib" / "resources" / "PAT1" / "LICENSE.md").read_text(encoding="utf-8")
    assert "CC BY-NC" in licence or "Attribution-NonCommercial" in licence
    assert "PAT1" in readme() and "CC BY-NC" in readme()
    module = (REPO / "RadSurv" / "RadSurv.py").read_text(encoding="utf-8")
    assert "as_uri()" in module and "file://" + "C:" not in module  # Path.as_uri(), valid on Windows
    tree = ast.parse(module)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "SAMPLE_DATA_SETTING" in names  # registration only when the user opted in


def test_readme_batch_recipe_exits():
    """``Slicer --no-main-window --python-script batch.py`` only returns when the script exits."""
    text = readme()
    recipes = [block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "processCohort" in block]
    assert recipes, "README: no batch recipe (a python block calling processCohort)"
    recipe = recipes[0].strip()
    assert recipe.splitlines()[-1].strip() == "sys.exit(0)" and "import sys" in recipe
    ast.parse(recipe)
