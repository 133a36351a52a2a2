"""The environment's Windows paths and process flags, checked on any machine by injecting the
platform (no Windows needed).

From CPython 3.12's ``venv`` and Slicer's install rules (``CMake/SlicerBlockInstallPython.cmake``):
Slicer's ``bin`` holds ``python-real.exe``, ``python312.dll`` and ``python3.dll``, the standard
library is ``lib\\Python\\Lib``, and no venv launcher is installed (so ``venv`` writes no
``Scripts\\python.exe``); GUI programs that start console programs must pass ``CREATE_NO_WINDOW``
(as ``slicer.util.launchConsoleProcess`` does) or each child opens a console window.
"""

from __future__ import annotations

import io
import subprocess
import sys
import types
from pathlib import Path, PureWindowsPath

import pytest

from RadSurvLib.errors import InputError
from RadSurvLib.worker import client
from RadSurvLib.worker import environment as renv

LOCALAPPDATA = r"C:\Users\jane.doe\AppData\Local"


def test_location_is_under_localappdata():
    location = renv.default_location("win32", {"LOCALAPPDATA": LOCALAPPDATA}, home=r"C:\Users\jane.doe")
    assert location == PureWindowsPath(LOCALAPPDATA, "RadSurv", "python-env")
    assert str(location) == r"C:\Users\jane.doe\AppData\Local\RadSurv\python-env"
    # no LOCALAPPDATA: the same folder from the home folder
    assert renv.default_location("win32", {}, home=r"C:\Users\jane.doe") == location


def test_interpreter_is_scripts_python_exe():
    location = PureWindowsPath(LOCALAPPDATA, "RadSurv", "python-env")
    assert str(renv.interpreter_path(location, "win32")) == LOCALAPPDATA + r"\RadSurv\python-env\Scripts\python.exe"
    assert renv.interpreter_path("/home/u/env", "linux").as_posix() == "/home/u/env/bin/python"


def test_max_path_risk():
    """The default location leaves room for torch's deepest file; Slicer's settings folder did not."""
    default = renv.default_location("win32", {"LOCALAPPDATA": LOCALAPPDATA})
    renv.check_location_length(default, "win32")
    assert len(str(default)) + renv.LONGEST_SITE_PACKAGES_PATH <= renv.WINDOWS_MAX_PATH
    old = PureWindowsPath(LOCALAPPDATA, "slicer.org", "Slicer 5.10.0", "slicer.org", "RadSurv", "python-env")
    with pytest.raises(InputError, match="location") as caught:
        renv.check_location_length(old, "win32")
    assert "260" in str(caught.value) and "LOCALAPPDATA" in str(caught.value)
    renv.check_location_length("/" + "x" * 200, "linux")  # no such limit elsewhere


def test_process_flags():
    flags = renv.process_flags("win32")
    assert flags == {"creationflags": 0x08000000}
    assert flags["creationflags"] == getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000)
    group = renv.process_flags("win32", new_group=True)["creationflags"]
    assert group & 0x08000000 and group & getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)
    assert renv.process_flags("linux") == {} and renv.process_flags("linux", new_group=True) == {"start_new_session": True}


class FakePopen:
    """Records Popen's keyword arguments; a process that has already ended with no output."""
    calls = []

    def __init__(self, command, **kwargs):
        FakePopen.calls.append(kwargs)
        self.pid, self.stdout, self.stderr = 4242, io.BytesIO(b""), io.BytesIO(b"")

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0


def test_worker_process_gets_no_console_window_and_its_own_group(monkeypatch):
    monkeypatch.setattr(renv, "current_platform", lambda: "win32")
    monkeypatch.setattr(client.subprocess, "Popen", FakePopen)
    FakePopen.calls.clear()
    handle = client.SubprocessHandle(["python.exe", "-m", "RadSurvLib.worker", "job.json"], env={})
    assert handle.returncode == 0
    flags = FakePopen.calls[-1]["creationflags"]
    assert flags & renv.CREATE_NO_WINDOW and flags & renv.CREATE_NEW_PROCESS_GROUP
    assert "start_new_session" not in FakePopen.calls[-1]


def test_environment_steps_get_no_console_window(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(renv, "current_platform", lambda: "win32")
    monkeypatch.setattr(renv.subprocess, "run", lambda command, **kwargs: seen.append(kwargs) or
                        types.SimpleNamespace(returncode=0))
    with open(tmp_path / "log.txt", "w") as log:
        assert renv._run(["uv.exe", "pip", "install"], log, env={}) == 0
    assert seen[-1]["creationflags"] == renv.CREATE_NO_WINDOW


def test_library_folder_goes_first_on_path():
    env = renv.child_environ({"library_dirs": [r"C:\Slicer 5.10.0\bin"]},
                             {"PATH": r"C:\Windows\system32;C:\Slicer 5.10.0\bin", "PYTHONHOME": r"C:\Slicer\lib\Python"},
                             "win32")
    assert env["PATH"] == r"C:\Slicer 5.10.0\bin;C:\Windows\system32" and "PYTHONHOME" not in env
    assert "LD_LIBRARY_PATH" not in env


def test_windows_base_view(monkeypatch, tmp_path):
    """python-real.exe copied as python.exe (venv's launcher looks for home\\python.exe) with
    Slicer's DLLs; Lib and DLLs as directory junctions; Slicer's folder only read."""
    slicer = tmp_path / "Slicer 5.10.0"
    (slicer / "bin").mkdir(parents=True)
    for name in ("python-real.exe", "python312.dll", "python3.dll", "vcruntime140.dll", "Qt5Core.dll"):
        (slicer / "bin" / name).write_bytes(name.encode())
    for name in ("Lib", "DLLs", "include"):
        (slicer / "lib" / "Python" / name).mkdir(parents=True)
    junctions = []
    monkeypatch.setitem(sys.modules, "_winapi", types.SimpleNamespace(
        CreateJunction=lambda source, target: junctions.append((Path(source), Path(target)))))
    base = {"executable": str(slicer / "bin" / "python-real.exe"), "base_prefix": str(slicer / "lib" / "Python"),
            "version": "3.12.1"}
    view = renv.make_base_view(base, tmp_path / "python-env-base", "win32")
    assert view == tmp_path / "python-env-base" / "python.exe" and view.read_bytes() == b"python-real.exe"
    copied = sorted(p.name for p in view.parent.iterdir())
    assert copied == ["python.exe", "python3.dll", "python312.dll", "vcruntime140.dll"]  # not Qt's
    assert junctions == [(slicer / "lib" / "Python" / "Lib", view.parent / "Lib"),
                         (slicer / "lib" / "Python" / "DLLs", view.parent / "DLLs"),
                         (slicer / "lib" / "Python" / "include", view.parent / "include")]
    assert sorted(p.name for p in (slicer / "bin").iterdir()) == ["Qt5Core.dll", "python-real.exe", "python3.dll",
                                                                  "python312.dll", "vcruntime140.dll"]


def test_cancel_kills_the_tree_without_a_console_window(monkeypatch):
    seen = []
    monkeypatch.setattr(renv, "current_platform", lambda: "win32")
    monkeypatch.setattr(client.os, "name", "nt")
    monkeypatch.setattr(client.subprocess, "run", lambda command, **kwargs: seen.append((command, kwargs)))
    client.kill_process_tree(4242)
    command, kwargs = seen[-1]
    assert command[:3] == ["taskkill", "/T", "/F"] and kwargs["creationflags"] == renv.CREATE_NO_WINDOW
