"""RadSurv's own Python environment, without creating one (seconds): pins, location, the deliberate
child environment, every status, the failing steps and the ``environment`` command. The real
creation from Slicer's layout is test_slicer_python_layout.py; Windows paths test_windows_layout.py;
the pins against PyPI test_platform_pins.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from RadSurvLib.errors import InputError
from RadSurvLib.worker import environment as renv

REPO = Path(__file__).resolve().parents[2]

#: PEP 508 marker environments of the platforms Slicer ships (and macOS arm64 for Slicer >= 5.12).
PLATFORMS = {
    "linux x86_64": {"sys_platform": "linux", "platform_machine": "x86_64", "platform_system": "Linux"},
    "windows amd64": {"sys_platform": "win32", "platform_machine": "AMD64", "platform_system": "Windows"},
    "macos x86_64": {"sys_platform": "darwin", "platform_machine": "x86_64", "platform_system": "Darwin"},
    "macos arm64": {"sys_platform": "darwin", "platform_machine": "arm64", "platform_system": "Darwin"},
}


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pins_for(platform: dict) -> dict:
    """name -> version of the pins whose marker holds on ``platform``."""
    from packaging.requirements import Requirement

    pins = {}
    for text in renv.PINNED_REQUIREMENTS:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(platform):
            assert requirement.name.lower() not in pins, f"two pins of {requirement.name} on {platform}"
            pins[requirement.name.lower()] = str(requirement.specifier).removeprefix("==")
    return pins


def test_every_runtime_dependency_is_pinned_once_per_platform():
    """A dependency added to pyproject.toml must be pinned for the Slicer environment too."""
    tomllib = pytest.importorskip("tomllib", reason="Python >= 3.11 reads pyproject.toml")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = {requirement_name(r) for r in project["dependencies"]}
    for name, platform in PLATFORMS.items():
        pins = pins_for(platform)
        assert not needed - set(pins), f"{name}: add to PINNED_REQUIREMENTS: {sorted(needed - set(pins))}"
        assert all(re.fullmatch(r"[0-9.]+", v) for v in pins.values()), pins
    assert pins_for(PLATFORMS["linux x86_64"])["torch"] == renv.TORCH_VERSION
    assert pins_for(PLATFORMS["macos x86_64"])["torch"] == renv.MAC_INTEL_TORCH_VERSION == "2.2.2"
    assert pins_for(PLATFORMS["macos x86_64"])["numpy"].startswith("1.")  # torch 2.2 needs numpy 1.x


def test_mac_intel_says_what_is_untested():
    note = renv.platform_note("darwin", "x86_64")
    assert "2.2.2" in note and "deep survival model" in note and "Grad-CAM" in note and "untested" in note
    assert renv.platform_note("linux", "x86_64") is None and renv.platform_note("darwin", "arm64") is None


def test_no_driver_parsing_left():
    """The CUDA build is uv's choice (--torch-backend), not ours from nvidia-smi."""
    source = Path(renv.__file__).read_text(encoding="utf-8")
    assert "nvidia-smi" not in source and not hasattr(renv, "nvidia_driver_version")
    assert not hasattr(renv, "choose_torch_build") and not hasattr(renv.PythonEnvironment, "worker_command")
    assert renv.PythonEnvironment("/x").torch_backend in ("auto", *filter(None, [renv.os.environ.get(
        renv.TORCH_BACKEND_ENV)]))


@pytest.mark.parametrize("platform, environ, expected", [
    ("linux", {}, "/home/u/.local/share/RadSurv/python-env"),
    ("linux", {"XDG_DATA_HOME": "/data/u"}, "/data/u/RadSurv/python-env"),
    ("darwin", {}, "/home/u/Library/Application Support/RadSurv/python-env"),
    ("linux", {"RADSURV_ENV": "/opt/radsurv-env"}, "/opt/radsurv-env"),
])
def test_default_location_is_a_per_user_data_folder(platform, environ, expected):
    assert renv.default_location(platform, environ, home="/home/u") == Path(expected)


def test_default_location_ignores_slicers_settings_folder(monkeypatch, tmp_path):
    """Not under <Slicer install>/slicer.org (gone with the install) any more."""
    class App:
        slicerRevisionUserSettingsFilePath = str(tmp_path / "Slicer-5.10" / "slicer.org" / "Slicer-33330.ini")

    monkeypatch.delenv("RADSURV_ENV", raising=False)
    monkeypatch.setitem(sys.modules, "slicer", type("FakeSlicer", (), {"app": App()})())
    assert "slicer.org" not in str(renv.default_location())


def test_child_environ_is_deliberate():
    slicer = {"PYTHONHOME": "/S/lib/Python", "PYTHONPATH": "/S/lib/Python/lib/python3.12:/S/bin/Python",
              "LD_LIBRARY_PATH": "/S/bin:/S/lib/Python/lib", "PATH": "/S/bin:/usr/bin", "VIRTUAL_ENV": "/x",
              "PYTHONSTARTUP": "/s.py", "HOME": "/home/u"}
    env = renv.child_environ({"library_dirs": ["/S/lib/Python/lib"]}, slicer, "linux")
    assert "PYTHONHOME" not in env and "VIRTUAL_ENV" not in env and "PYTHONSTARTUP" not in env
    assert env["PYTHONPATH"] == str(REPO)  # only RadSurvLib's folder, never Slicer's site-packages
    assert env["LD_LIBRARY_PATH"] == "/S/lib/Python/lib"  # libpython only, not Slicer's bin (VTK, Qt...)
    assert env["PYTHONNOUSERSITE"] == "1" and env["PYTHONUNBUFFERED"] == "1" and env["UV_PYTHON_DOWNLOADS"] == "never"
    assert env["PATH"] == "/S/bin:/usr/bin" and env["HOME"] == "/home/u"
    mac = renv.child_environ({"library_dirs": ["/S/lib/Python/lib"]}, slicer, "darwin")
    assert mac["DYLD_LIBRARY_PATH"] == "/S/lib/Python/lib"
    # an ordinary Python (no recorded library folder): the library path is left alone
    plain = renv.child_environ({}, {"LD_LIBRARY_PATH": "/opt/cuda/lib64", "PATH": "/usr/bin"}, "linux")
    assert plain["LD_LIBRARY_PATH"] == "/opt/cuda/lib64"


def test_library_dirs_only_for_a_base_run_with_pythonhome(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libpython3.12.so").write_bytes(b"")
    base = {"platform": "linux", "version": "3.12.1", "base_prefix": str(tmp_path), "executable": "/S/bin/python-real",
            "ldlibrary": "libpython3.12.so", "dllname": ""}
    assert renv.library_dirs(base, {"PYTHONHOME": str(tmp_path)}) == [str(tmp_path / "lib")]
    assert renv.library_dirs(base, {}) == []


def test_an_ordinary_python_starts_isolated_and_a_wrong_stdlib_is_caught():
    import os

    base = {"stdlib": os.path.dirname(os.__file__)}
    assert renv.starts_isolated(sys.executable, base, renv.child_environ({}))
    assert not renv.starts_isolated(sys.executable, {"stdlib": "/nonexistent/lib/python3.12"}, renv.child_environ({}))
    assert not renv.starts_isolated("/nonexistent/python-real", base, renv.child_environ({}))


def test_base_view_links_the_standard_library(tmp_path):
    """POSIX view: a copy of the interpreter beside links to the base's lib and include folders."""
    if renv.current_platform() == "win32":
        pytest.skip("POSIX layout")
    prefix = tmp_path / "Slicer" / "lib" / "Python"
    (prefix / "lib" / "python3.12").mkdir(parents=True)
    (prefix / "lib" / "python3.12" / "os.py").write_text("")
    (prefix / "include" / "python3.12").mkdir(parents=True)
    (prefix / "include" / "python3.12" / "pyconfig.h").write_text("")  # all of the headers Slicer ships
    exe = tmp_path / "Slicer" / "bin" / "python-real"
    exe.parent.mkdir(parents=True)
    exe.write_bytes(b"\x7fELF")
    view = renv.make_base_view({"executable": str(exe), "base_prefix": str(prefix), "version": "3.12.1"},
                               tmp_path / "python-env-base", "linux")
    assert view == tmp_path / "python-env-base" / "bin" / "python3.12" and view.read_bytes() == b"\x7fELF"
    assert (view.parent.parent / "lib" / "python3.12" / "os.py").is_file()  # found by getpath's landmark
    assert (view.parent.parent / "include" / "python3.12" / "pyconfig.h").is_file()  # for a source build
    assert exe.read_bytes() == b"\x7fELF" and not (prefix / "bin").exists()  # Slicer's tree is only read


def write_marker(env, **changes):
    info = {"requirements": env.requirements(), "torch": "2.13.0+cpu", "base_executable": sys.executable,
            "platform": "linux", "machine": "x86_64", **changes}
    env.marker.write_text(json.dumps(info))


def test_status_states(tmp_path, monkeypatch):
    monkeypatch.delenv("RADSURV_SLICER_VERSION", raising=False)
    env = renv.PythonEnvironment(tmp_path / "env")
    status = env.status()
    assert status.state == renv.NEEDS_INSTALL and "not created" in status.reason
    assert status.line().startswith("RadSurv environment: needs install")

    (tmp_path / "env").mkdir()
    assert env.status().state == renv.NEEDS_REPAIR and "unfinished" in env.status().reason

    write_marker(env)
    status = env.status()
    assert status.state == renv.BROKEN and "interpreter" in status.reason  # no bin/python

    write_marker(env, requirements=["numpy==1.0"])
    assert env.status().state == renv.NEEDS_REPAIR and "other package versions" in env.status().reason

    write_marker(env, base_executable=str(tmp_path / "Slicer-5.8" / "bin" / "python-real"))
    status = env.status()
    assert status.state == renv.BROKEN and "no longer exists" in status.reason and "Slicer-5.8" in status.reason

    write_marker(env, slicer_version="5.8.1")
    monkeypatch.setenv("RADSURV_SLICER_VERSION", "5.10.0")
    status = env.status()
    assert status.state == renv.NEEDS_REPAIR and "5.8.1" in status.reason and "5.10.0" in status.reason

    env.marker.write_text("{not json")
    assert env.status().state == renv.NEEDS_REPAIR and "unreadable" in env.status().reason


def test_status_import_check_finds_a_missing_package(tmp_path):
    """An environment whose interpreter lacks torch is broken, with the import error as reason."""
    env = renv.PythonEnvironment(tmp_path / "env")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env.location)], check=True)
    write_marker(env)
    assert env.status().state == renv.READY  # the files are there...
    status = env.status(check_imports=True)  # ...but nothing imports
    assert status.state == renv.BROKEN and "ModuleNotFoundError" in status.reason


def test_create_refuses_an_existing_folder_and_names_the_failed_step(tmp_path):
    (tmp_path / "env").mkdir()
    with pytest.raises(InputError, match="repair"):
        renv.PythonEnvironment(tmp_path / "env").create()

    failing = renv.PythonEnvironment(tmp_path / "env2", base_python=str(tmp_path / "no-such-python"))
    with pytest.raises(renv.EnvironmentSetupError, match="inspecting the base Python") as caught:
        failing.create()
    assert caught.value.step == "inspecting the base Python" and caught.value.log_file == failing.log_file
    assert str(failing.log_file) in str(caught.value)
    assert "network" not in str(caught.value) and "disk" not in str(caught.value)  # no guessed cause
    assert not (tmp_path / "env2").exists() and failing.log_file.is_file()
    assert "FAILED" in failing.log_file.read_text()
    assert failing.status().state == renv.NEEDS_INSTALL


def test_environment_command_prints_location_and_state(tmp_path):
    done = subprocess.run([sys.executable, "-m", "RadSurvLib", "environment", "status", "--location",
                           str(tmp_path / "env")], capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert done.returncode == 1
    assert f"location: {tmp_path / 'env'}" in done.stdout and "state: needs install" in done.stdout

    failed = subprocess.run([sys.executable, "-m", "RadSurvLib", "environment", "create", "--location",
                             str(tmp_path / "env"), "--python", str(tmp_path / "gone" / "python-real")],
                            capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert failed.returncode == 1
    assert "failed step: inspecting the base Python" in failed.stdout
    assert f"log: {tmp_path / 'env-install.log'}" in failed.stdout


def test_find_links_from_the_environment_variable(monkeypatch):
    """$RADSURV_FIND_LINKS reaches uv from every front end (the GUI has no --find-links)."""
    import os

    monkeypatch.setenv(renv.FIND_LINKS_ENV, os.pathsep.join(["/wheels/pyradiomics", "/wheels/mirror"]))
    env = renv.PythonEnvironment("/x", uv_args=["--offline"])
    assert env.uv_args == ["--offline", "--find-links", "/wheels/pyradiomics", "--find-links", "/wheels/mirror"]
    assert env._pip_offline_args() == ["--no-index", "--find-links", "/wheels/pyradiomics",
                                       "--find-links", "/wheels/mirror"]
