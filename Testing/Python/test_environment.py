"""RadSurv's bundled environment manager without creating one (instant); the real creation and a
real worker job on PAT1 are in test_worker.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from RadSurvLib.worker import environment as renv
from RadSurvLib.errors import InputError

REPO = Path(__file__).resolve().parents[2]


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_every_runtime_dependency_is_pinned():
    """A dependency added to pyproject.toml must be pinned for the Slicer environment too."""
    tomllib = pytest.importorskip("tomllib", reason="Python >= 3.11 reads pyproject.toml")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = {requirement_name(r) for r in project["dependencies"]} - {"torch"}
    pinned = {requirement_name(r): r for r in renv.PINNED_REQUIREMENTS}
    assert not needed - set(pinned), f"add to environment.PINNED_REQUIREMENTS: {sorted(needed - set(pinned))}"
    assert all("==" in r for r in renv.PINNED_REQUIREMENTS)


@pytest.mark.parametrize("driver, build", [
    (None, "cpu"),
    ((590, 48, 1), "cu130"),
    ((580, 65, 6), "cu130"),
    ((575, 57, 8), "cu128"),
    ((560, 35, 3), "cu126"),
    ((535, 104, 5), "cpu"),  # older than every CUDA build: CPU, with the reason
])
def test_torch_build_follows_the_driver(driver, build, monkeypatch):
    monkeypatch.delenv(renv.TORCH_INDEX_ENV, raising=False)
    monkeypatch.setattr(renv.sys, "platform", "linux")
    chosen = renv.choose_torch_build(driver)
    assert chosen.name == build
    assert chosen.requirement == f"torch=={renv.TORCH_VERSION}"
    assert chosen.index_url == renv.PYTORCH_INDEX + build
    if driver == (535, 104, 5):
        assert "older" in chosen.reason


def test_torch_index_override(monkeypatch):
    monkeypatch.setenv(renv.TORCH_INDEX_ENV, "pip")
    assert renv.choose_torch_build((590, 1)).index_url is None
    assert renv.choose_torch_build(None, index_url="https://mirror/whl").index_url == "https://mirror/whl"


def test_driver_version_from_nvidia_smi():
    class Done:
        def __init__(self, code, out):
            self.returncode, self.stdout = code, out

    assert renv.nvidia_driver_version(lambda *a, **k: Done(0, "570.133.20\n570.133.20\n")) == (570, 133, 20)
    assert renv.nvidia_driver_version(lambda *a, **k: Done(9, "")) is None

    def missing(*a, **k):
        raise FileNotFoundError("nvidia-smi")

    assert renv.nvidia_driver_version(missing) is None


def test_worker_environ_drops_slicers_python_variables():
    env = renv.worker_environ({"PYTHONPATH": "/slicer/lib/site-packages", "PYTHONHOME": "/slicer",
                               "PATH": "/usr/bin", "VIRTUAL_ENV": "/x"})
    assert env["PYTHONPATH"] == str(REPO) and "PYTHONHOME" not in env and "VIRTUAL_ENV" not in env
    assert env["PATH"] == "/usr/bin" and env["PYTHONUNBUFFERED"] == "1"


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv("RADSURV_ENV", str(tmp_path / "env"))
    assert renv.default_location() == tmp_path / "env"
    monkeypatch.delenv("RADSURV_ENV")

    class App:
        slicerRevisionUserSettingsFilePath = str(tmp_path / "NA-MIC" / "Slicer-33330.ini")

    class FakeSlicer:
        app = App()

    monkeypatch.setitem(sys.modules, "slicer", FakeSlicer())
    assert renv.default_location() == tmp_path / "NA-MIC" / "RadSurv" / "python-env"


def test_status_needs_install_then_broken(tmp_path):
    env = renv.PythonEnvironment(tmp_path / "env")
    status = env.status()
    assert status.state == renv.NEEDS_INSTALL and "not created" in status.reason
    assert status.line().startswith("RadSurv environment: needs install")

    (tmp_path / "env").mkdir()
    assert "unfinished" in env.status().reason

    marker = {"requirements": env.requirements(), "torch": f"torch=={renv.TORCH_VERSION}", "torch_build": "cpu"}
    env.marker.write_text(json.dumps(marker))
    status = env.status()
    assert status.state == renv.BROKEN and "interpreter" in status.reason  # no bin/python

    env.marker.write_text(json.dumps(dict(marker, requirements=["numpy==1.0"])))
    status = env.status()
    assert status.state == renv.NEEDS_INSTALL and "other package versions" in status.reason

    env.marker.write_text("{not json")
    assert env.status().state == renv.BROKEN


def test_status_import_check_finds_a_missing_package(tmp_path):
    """An environment whose interpreter lacks torch is broken, with the import error as reason."""
    env = renv.PythonEnvironment(tmp_path / "env")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env.location)], check=True)
    env.marker.write_text(json.dumps({"requirements": env.requirements(), "torch": f"torch=={renv.TORCH_VERSION}",
                                      "torch_build": "cpu"}))
    assert env.status().state == renv.READY  # the files are there...
    status = env.status(check_imports=True)  # ...but nothing imports
    assert status.state == renv.BROKEN and "ModuleNotFoundError" in status.reason


def test_create_refuses_an_existing_folder_and_cleans_up_a_failed_one(tmp_path):
    (tmp_path / "env").mkdir()
    with pytest.raises(InputError, match="repair"):
        renv.PythonEnvironment(tmp_path / "env").create(driver_version=None)

    failing = renv.PythonEnvironment(tmp_path / "env2", base_python=str(tmp_path / "no-such-python"))
    with pytest.raises(renv.EnvironmentSetupError, match="creating the virtual environment"):
        failing.create(driver_version=None)
    assert not (tmp_path / "env2").exists() and not (tmp_path / "env2.partial").exists()
    assert failing.log_file.is_file()
    assert failing.status().state == renv.NEEDS_INSTALL
