"""The pinned environment exists on every platform Slicer ships: ``PINNED_REQUIREMENTS`` resolved
against PyPI for Python 3.12 (Slicer 5.10's) with ``uv pip compile --python-platform ...`` on
manylinux x86_64, Windows amd64, macOS x86_64 (Slicer 5.8 / 5.10 for macOS) and macOS arm64
(macOS 14, the oldest that torch 2.13's arm64 wheel supports), with building from source forbidden
(``--no-build``: wheels only, for every package and its dependencies): a pinned or dependent package
with no wheel for a platform fails, as it would for a Slicer user without a C compiler. Needs PyPI (reachable on the development machines and in CI); prints the
resolved versions (run with ``-s`` to see them).
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from RadSurvLib.worker import environment as renv

pytestmark = pytest.mark.slow

#: uv's --python-platform name -> (MACOSX_DEPLOYMENT_TARGET or None, expected torch version).
PLATFORMS = {
    "x86_64-manylinux_2_28": (None, renv.TORCH_VERSION),
    "x86_64-pc-windows-msvc": (None, renv.TORCH_VERSION),
    "x86_64-apple-darwin": ("12.0", renv.MAC_INTEL_TORCH_VERSION),
    "aarch64-apple-darwin": ("14.0", renv.TORCH_VERSION),
}


@pytest.fixture(scope="module")
def uv():
    found = renv.find_uv()
    if not found:
        pytest.skip("needs uv (pip install uv)")
    return found


def compile_for(uv, platform, requirements, tmp_path, macos=None):
    """``uv pip compile`` of ``requirements`` for ``platform``; returns (exit status, name -> version, text)."""
    source = tmp_path / f"requirements-{platform}.in"
    source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    if macos:
        env["MACOSX_DEPLOYMENT_TARGET"] = macos
    done = subprocess.run([uv, "pip", "compile", str(source), "--python-platform", platform, "--python-version",
                           "3.12", "--no-build", "--no-header", "--no-annotate",
                           "--no-config", "--quiet"], capture_output=True, text=True, env=env, timeout=600)
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", done.stdout, re.M))
    return done.returncode, {k.lower(): v for k, v in pins.items()}, done.stdout + done.stderr


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_pinned_set_resolves_with_wheels(uv, platform, tmp_path):
    macos, torch = PLATFORMS[platform]
    code, pins, text = compile_for(uv, platform, renv.PINNED_REQUIREMENTS, tmp_path, macos)
    assert code == 0, f"{platform}: the pinned set does not resolve with wheels:\n{text[-3000:]}"
    assert pins["torch"] == torch
    for requirement in renv.PINNED_REQUIREMENTS:  # every pin that applies is what was resolved
        name, version = re.match(r"([A-Za-z0-9_.-]+)==([0-9.]+)", requirement).groups()
        if name.lower() in pins and version != pins[name.lower()]:
            assert ";" in requirement, f"{platform}: {name} resolved to {pins[name.lower()]}, pinned {version}"
    print(f"\n{platform} (Python 3.12{', macOS ' + macos if macos else ''}): {len(pins)} packages; "
          + ", ".join(f"{n} {pins[n]}" for n in ("torch", "numpy", "monai", "scipy", "simpleitk",
                                                  "numba", "pywavelets", "scikit-image") if n in pins))


def test_a_pin_without_a_wheel_fails(uv, tmp_path):
    """The check can fail: torch 2.13.0 has no macOS x86_64 wheel (PyTorch's last there is 2.2.2)."""
    code, _, text = compile_for(uv, "x86_64-apple-darwin", ["torch==2.13.0"], tmp_path, "12.0")
    assert code != 0 and "torch" in text


def test_a_source_only_package_fails(uv, tmp_path):
    """Building is forbidden: PyRadiomics (source only on Python 3.12) does not resolve, so it can
    never come back into the pinned set unnoticed."""
    code, _, text = compile_for(uv, "x86_64-manylinux_2_28", ["pyradiomics-bhklab==3.1.4"], tmp_path)
    assert code != 0 and "pyradiomics-bhklab" in text
