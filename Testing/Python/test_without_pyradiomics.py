"""The default path never imports PyRadiomics: with ``import radiomics`` blocked
(``sys.modules["radiomics"] = None`` in every Python that runs RadSurv here), ``radsurv score``,
``radsurv batch`` and the Slicer module's logic (``ScoringLogic.process``, which runs the worker
``python -m RadSurvLib.worker``) score PAT1 with the default options: Liu et al. 2025's 1316
features per ROI from RadSurv's engine, voxel maps and the risk score. Choosing the PyRadiomics
engine there gives one clear sentence.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import PAT1_CT, PAT1_GTV, REPO

pytestmark = pytest.mark.slow

#: A Python in which ``import radiomics`` fails; runs ``-m MODULE ARGS`` or ``-c CODE``.
BLOCKED_PYTHON = textwrap.dedent('''
    import runpy, sys
    sys.modules["radiomics"] = None  # any import of PyRadiomics now raises ImportError
    flag, target, *rest = sys.argv[1:]
    sys.argv = [target, *rest]
    if flag == "-m":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
''')


@pytest.fixture(scope="module")
def blocked_python(tmp_path_factory):
    """The command (list) of a Python without PyRadiomics: this interpreter and the blocker script."""
    script = tmp_path_factory.mktemp("blocked") / "blocked_python.py"
    script.write_text(BLOCKED_PYTHON)
    command = [sys.executable, str(script)]
    done = subprocess.run([*command, "-c", "import radiomics"], capture_output=True, text=True)
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr  # the block holds
    return command


def run(command, *args):
    done = subprocess.run([*command, *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def check_scored(out_dir) -> None:
    """A complete default run: RadSurv's engine, 1316 features for the GTV and each ring, a risk score."""
    result = json.loads((out_dir / "result.json").read_text())
    assert result["features"]["engine"] == "radsurv"
    assert result["features"]["params_file"] == "Liu2025_PyRadiomics.yaml"
    assert result["features"]["per_roi"] == {"GTV": 1316, "ring_0-3mm": 1316, "ring_3-6mm": 1316, "ring_6-9mm": 1316}
    assert isinstance(result["risk_score"], float)
    with open(out_dir / "features.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["roi"] for row in rows] == ["GTV", "ring_0-3mm", "ring_3-6mm", "ring_6-9mm"]
    assert float(rows[0]["original_shape_VoxelVolume"]) == pytest.approx(result["gtv"]["volume_mm3_resampled"])
    assert any(out_dir.glob("voxelmap_*.nrrd"))


def test_radsurv_score(blocked_python, tmp_path):
    run(blocked_python, "-m", "RadSurvLib", "score", "--ct", PAT1_CT, "--gtv", PAT1_GTV, "--out", tmp_path / "PAT1")
    check_scored(tmp_path / "PAT1")


def test_radsurv_batch(blocked_python, tmp_path):
    cases = tmp_path / "cases.csv"
    cases.write_text(f"case_id,ct,gtv\nPAT1,{PAT1_CT},{PAT1_GTV}\n")
    run(blocked_python, "-m", "RadSurvLib", "batch", "--cases", cases, "--out", tmp_path / "cohort")
    check_scored(tmp_path / "cohort" / "cases" / "PAT1")


def test_module_logic_through_the_worker(blocked_python, tmp_path):
    pytest.importorskip("slicer", reason="needs the slicer-core wheel (pip install slicer-core)")
    from test_slicer_task import make_case_scene

    from RadSurvLib.control import logic as sl

    scene, ct, seg, gtv_id, _ = make_case_scene()
    result = sl.ScoringLogic().process(ct, seg, gtv_id, pythonCommand=blocked_python, outputDir=tmp_path / "PAT1")
    check_scored(tmp_path / "PAT1")
    assert result["nodes"]["ring_segment_ids"]


def test_pyradiomics_engine_without_pyradiomics_is_one_sentence(blocked_python, tmp_path):
    done = subprocess.run([*blocked_python, "-m", "RadSurvLib", "score", "--ct", PAT1_CT, "--gtv", PAT1_GTV,
                           "--out", tmp_path / "out", "--radiomics-engine", "pyradiomics"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "PyRadiomics is not installed" in done.stderr and "radsurv[pyradiomics]" in done.stderr
    assert not (tmp_path / "out").exists()
