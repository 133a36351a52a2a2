"""RadSurv's bundled environment, created for real by the code path the Slicer module uses, then a
real scoring job on PAT1 through the worker process in it, with the results written into a real
MRML scene (slicer-core).

Kept within CI time by:
- torch from this machine's local CPU wheel (``$PIP_FIND_LINKS`` passed to uv as ``--find-links``,
  ``torch_backend="none"``; in Slicer uv's ``--torch-backend=auto`` picks the CPU / CUDA build) and
  uv's cache for the other pinned packages;
- a light job: rings 3 mm only, first-order PyRadiomics features
  (``Testing/Parameters/FirstOrder_PyRadiomics.yaml``) and one voxel map. The full setting
  runs the same code (``RadSurvLib.worker.server`` -> ``pipeline.score_case``), only longer.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel (pip install slicer-core)")

from RadSurvLib.worker import environment as renv  # noqa: E402
from RadSurvLib.control import task as sj  # noqa: E402
from RadSurvLib.worker import client as wc  # noqa: E402
from RadSurvLib.options import ScoreOptions  # noqa: E402
from conftest import make_pat1_scene  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LIGHT_PARAMS = REPO / "Testing" / "Parameters" / "FirstOrder_PyRadiomics.yaml"
LIGHT_JOB = ScoreOptions(rings_mm=[3], device="cpu", params_file=str(LIGHT_PARAMS),
                         voxel_map_features=["firstorder_Mean"])


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """A RadSurv environment created from scratch, with how long that took and its progress."""
    import os

    # torch from this machine's local CPU wheel (pip's find-links, here for uv), not PyPI's CUDA build
    local_wheels = [a for folder in os.environ.get("PIP_FIND_LINKS", "").split() for a in ("--find-links", folder)]
    env = renv.PythonEnvironment(tmp_path_factory.mktemp("settings") / "RadSurv" / "python-env",
                                 base_python=sys.executable, torch_backend="none", uv_args=local_wheels)
    assert env.status().state == renv.NEEDS_INSTALL
    steps = []
    started = time.perf_counter()
    status = env.create(progress=lambda message, fraction: steps.append((message, fraction)))
    seconds = time.perf_counter() - started
    print(f"\nRadSurv environment created in {seconds:.0f} s: {status.line()}")
    return env, status, steps


def test_environment_is_created_ready_and_pinned(environment):
    env, status, steps = environment
    assert status.state == renv.READY, status.reason
    fractions = [f for _, f in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("torch" in m.lower() for m, _ in steps)
    info = json.loads(env.marker.read_text())
    assert info["torch"].endswith("+cpu") and info["requirements"] == list(renv.PINNED_REQUIREMENTS)
    assert env.python.exists()
    # the pins (those whose marker holds here) are what got installed
    import subprocess
    from packaging.requirements import Requirement

    frozen = subprocess.run([renv.find_uv(), "pip", "freeze", "--python", str(env.python)], capture_output=True,
                            text=True, env=env.environ(), check=True).stdout.lower().replace("_", "-").splitlines()
    for requirement in map(Requirement, renv.PINNED_REQUIREMENTS):
        if requirement.marker is None or requirement.marker.evaluate():
            pin = f"{requirement.name.lower().replace('_', '-')}{requirement.specifier}"
            assert any(line == pin or line.startswith(pin + "+") for line in frozen), pin
    assert any(line.startswith("torch==2.13.0") for line in frozen)




def test_pat1_scored_by_the_worker_in_the_environment(environment, tmp_path):
    env, status, _ = environment
    assert status.ready
    scene, ct, seg, gtv_id = make_pat1_scene()
    events = []
    task = sj.SceneScoringTask(ct, seg, gtv_id, [env.python], options=LIGHT_JOB, out_dir=tmp_path / "PAT1",
                               work_dir=tmp_path, on_progress=events.append)
    started = time.perf_counter()
    task.start()
    assert task.wait(timeout_s=900) == sj.SUCCEEDED, (task.error, getattr(task.error, "log", ""))
    seconds = time.perf_counter() - started

    result = json.loads((tmp_path / "PAT1" / "result.json").read_text())
    print(f"\nPAT1 through the worker: {seconds:.0f} s, risk score {result['risk_score']:.4f} "
          f"({result['risk_group']}), stage timings {result['timings_s']}")
    # the worker really ran in the environment's interpreter
    started_message = next(m for m in task.job.messages if m["type"] == "started")
    assert Path(started_message["python"]).parent == env.python.parent
    assert task.job.returncode == 0
    # progress: every stage, in order, fraction never going back, 1.0 at the end
    stages = [event.stage for event in events if event.done]
    from RadSurvLib.progress import STAGE_WEIGHTS

    assert [s for s in stages if s in STAGE_WEIGHTS] == list(STAGE_WEIGHTS)  # every stage, in order
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # results: a real risk score from the demonstration model, the same in the scene
    assert math.isfinite(result["risk_score"]) and -1 < result["risk_score"] < 1
    assert result["model"]["demonstration"] is True
    assert result["features"]["params_file"] == LIGHT_PARAMS.name
    assert result["voxel_maps"]["names"] == ["firstorder_Mean"]
    assert task.result["risk_score"] == result["risk_score"]
    names = [seg.GetSegmentation().GetSegment(s).GetName() for s in task.created["ring_segment_ids"]]
    assert names == ["GTV ring 0-3 mm"]
    heatmap = scene.GetNodeByID(task.created["heatmap_volume"])
    assert heatmap is not None and heatmap.GetImageData().GetDimensions() == ct.GetImageData().GetDimensions()
    scores = scene.GetNodeByID(task.created["scores_table"]).GetTable()
    rows = {scores.GetValue(r, 0).ToString(): scores.GetValue(r, 1).ToString() for r in range(scores.GetNumberOfRows())}
    assert float(rows["risk score"]) == pytest.approx(result["risk_score"], abs=5e-4)  # to 3 decimals
    # the voxel map equals the worker's file, voxel for voxel
    import numpy as np
    import SimpleITK as sitk
    from vtk.util import numpy_support

    node = scene.GetNodeByID(task.created["voxel_map_volumes"]["firstorder_Mean"])
    in_scene = numpy_support.vtk_to_numpy(node.GetImageData().GetPointData().GetScalars())
    on_disk = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "PAT1" / "voxelmap_firstorder_Mean.nrrd")))
    np.testing.assert_array_equal(in_scene, on_disk.ravel())
    assert float(on_disk.max()) > 0


def test_broken_environment_is_reported(environment):
    """A package that no longer imports makes the status 'broken' with the import error."""
    env, _, _ = environment
    torch_dirs = list(env.location.glob("lib*/python*/site-packages/torch")) + list(
        env.location.glob("Lib/site-packages/torch"))
    assert torch_dirs
    hidden = torch_dirs[0].with_name("torch-hidden")
    torch_dirs[0].rename(hidden)
    try:
        status = env.status(check_imports=True)
        assert status.state == renv.BROKEN and "torch" in status.reason and "repair" in status.reason
    finally:
        hidden.rename(torch_dirs[0])
    assert env.status().state == renv.READY  # (the import check passed in the fixture; not repeated: CI time)
