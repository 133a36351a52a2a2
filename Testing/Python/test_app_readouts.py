"""What the web app tells its user (``app.readouts``, no browser): messages and ``result.json`` without
server paths, the progress line's percentage and time left from the stage weights, and the slice
views' readouts (orientation letters, slice position, W/L, HU probe); the live GTV volume
(``app.scene.segment_volume_ml``) against the mask's own voxel count."""

from __future__ import annotations

import json

import numpy as np
import pytest

from RadSurvLib.app import readouts
from RadSurvLib.progress import STAGE_WEIGHTS, stage_fraction


# -- no server paths ----------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("ct: /tmp/radsurv-app-x1/upload-abc/notes.nii.gz is not an image.", "ct: notes.nii.gz is not an image."),
    ("Could not write the scene bundle /srv/work/jobs/7/scene.mrb", "Could not write the scene bundle scene.mrb"),
    ("file C:\\data\\ct.nrrd is bad", "file ct.nrrd is bad"),
    ("gtv: (/a/b/mask.nrrd, /a/b/ct.nrrd) differ", "gtv: (mask.nrrd, ct.nrrd) differ"),
    ("risk 0.512; rings 3/6/9 mm; 1/2 ml", "risk 0.512; rings 3/6/9 mm; 1/2 ml"),
    ("see https://example.org/docs/page for help", "see https://example.org/docs/page for help"),
])
def test_public_message_keeps_file_names_only(text, expected):
    assert readouts.public_message(text) == expected
    assert not readouts.has_server_path(readouts.public_message(text))


def test_public_result_strips_paths_at_every_depth_and_keeps_numbers():
    result = {"case_id": "PAT1", "risk_score": 0.512, "group": "high",
              "inputs": {"ct": "/tmp/radsurv-app-q/jobs/1/inputs/CT.nrrd", "gtv": "/tmp/x/y/GTV.nrrd"},
              "outputs": ["/tmp/radsurv-app-q/jobs/1/out/overview.png"], "done": True, "rings_mm": [3, 6, 9]}
    public = readouts.public_result(result)
    assert public == {"case_id": "PAT1", "risk_score": 0.512, "group": "high",
                      "inputs": {"ct": "CT.nrrd", "gtv": "GTV.nrrd"}, "outputs": ["overview.png"], "done": True,
                      "rings_mm": [3, 6, 9]}
    assert not readouts.has_server_path(json.dumps(public))


def test_result_json_as_served_has_no_server_path():
    pytest.importorskip("trame_slicer", reason="needs the app extra")
    from RadSurvLib.app.server import public_file

    raw = json.dumps({"paths": {"out_dir": "/tmp/radsurv-app-1/jobs/a/out"}, "risk_score": 0.25}).encode()
    served = json.loads(public_file("result.json", raw))
    assert served == {"paths": {"out_dir": "out"}, "risk_score": 0.25}
    csv = b"case_id,image\nPAT1,/tmp/radsurv-app-1/jobs/a/inputs/CT.nrrd\n"
    assert public_file("features.csv", csv) == b"case_id,image\nPAT1,CT.nrrd\n"
    assert public_file("overview.png", b"\x89PNG/tmp/x/y") == b"\x89PNG/tmp/x/y"


# -- progress and time left ---------------------------------------------------------------------
def test_duration_text():
    assert readouts.duration_text(0.2) == "1 s"
    assert readouts.duration_text(59) == "59 s"
    assert readouts.duration_text(61) == "1 min 05 s"
    assert readouts.duration_text(185) == "3 min 05 s"
    assert readouts.duration_text(3720) == "1 h 02 min"


def test_progress_clock_on_a_run_at_a_steady_pace():
    """A run taking exactly its stage weights' share of 100 s: the clock's time left is the true time left."""
    total_s = 100.0
    weights = sum(STAGE_WEIGHTS.values())
    clock = readouts.ProgressClock(started=0.0)
    assert clock.update("starting", 0.0, now=1.0) == (0.0, None)  # no estimate before a stage ended
    finished, t = [], 0.0
    for stage, weight in STAGE_WEIGHTS.items():
        start_fraction = stage_fraction(finished, stage, False)
        shown, left = clock.update(stage, start_fraction, now=t)
        if start_fraction >= clock.min_fraction:
            assert shown == pytest.approx(start_fraction)
            assert left == pytest.approx(total_s - t, rel=1e-6)
            # half-way through the stage: the bar moved on by half the stage's weight, time left as true
            mid = t + total_s * weight / weights / 2
            shown, left = clock.update(stage, start_fraction, now=mid)
            assert shown == pytest.approx(start_fraction + weight / weights / 2)
            assert left == pytest.approx(total_s - mid, rel=1e-6)
        t += total_s * weight / weights
        finished.append(stage)
    assert clock.update("done", 1.0, now=t) == (1.0, 0.0)


def test_progress_clock_never_passes_an_unfinished_stage_and_grows_its_estimate():
    clock = readouts.ProgressClock(started=0.0)
    features_start = stage_fraction(["validate", "resample", "rings"], "features", False)  # 0.15
    clock.update("features", features_start, now=15.0)  # 1 s per 1 % so far: features expected 60 s
    _, left_on_time = clock.update("features", features_start, now=45.0)
    shown_late, left_late = clock.update("features", features_start, now=500.0)  # far past its expected 60 s
    features_end = features_start + STAGE_WEIGHTS["features"] / sum(STAGE_WEIGHTS.values())
    assert shown_late < features_end, "the bar passed the end of a stage that has not ended"
    assert left_late > left_on_time > 0, "a stage running long must not bring the time left to 0"
    shown, text = clock.text("features", features_start, now=45.0)
    assert text.startswith(f"{100 * shown:.0f} % - about ") and text.endswith(" left")


# -- slice view readouts -----------------------------------------------------------------------
def _matrix(x, y, normal, origin):
    return [[x[i], y[i], normal[i], origin[i]] for i in range(3)] + [[0, 0, 0, 1]]


def test_orientation_letters_of_slicers_default_views():
    axial = _matrix((-1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, -10.4))   # Slicer's axial: patient's right on the left
    coronal = _matrix((-1, 0, 0), (0, 0, 1), (0, 1, 0), (0, 18.1, 0))
    sagittal = _matrix((0, 1, 0), (0, 0, 1), (1, 0, 0), (74.7, 0, 0))
    assert readouts.orientation_letters(axial) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert readouts.orientation_letters(coronal) == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert readouts.orientation_letters(sagittal) == {"left": "P", "right": "A", "top": "S", "bottom": "I"}
    oblique = _matrix((-0.9, 0.3, 0.1), (0.3, 0.9, 0.2), (0, 0, 1), (0, 0, 0))
    assert readouts.orientation_letters(oblique)["right"] == "L"
    assert readouts.slice_position_text(axial) == "I 10.4 mm"
    assert readouts.slice_position_text(coronal) == "A 18.1 mm"
    assert readouts.slice_position_text(sagittal) == "R 74.7 mm"


def test_window_text_names_presets():
    assert readouts.window_text(350, 40) == "W 350 L 40 (mediastinum)"
    assert readouts.window_text(1500, -600) == "W 1500 L -600 (lung)"
    assert readouts.window_text(400, 50) == "W 400 L 50"
    assert set(readouts.WINDOW_PRESETS_HU) == {"lung", "mediastinum", "bone"}


def test_hu_probe_samples_the_nearest_voxel():
    values = np.arange(4 * 5 * 6, dtype=float).reshape(6, 5, 4)  # (k, j, i)
    # 2 mm voxels, origin at RAS (10, 20, 30): ijk = (ras - origin) / 2
    ras_to_ijk = [[0.5, 0, 0, -5.0], [0, 0.5, 0, -10.0], [0, 0, 0.5, -15.0], [0, 0, 0, 1]]
    look = lambda i, j, k: values[k, j, i]  # noqa: E731
    assert readouts.sample_hu(ras_to_ijk, (4, 5, 6), look, (14.0, 22.0, 36.0)) == values[3, 1, 2]
    assert readouts.sample_hu(ras_to_ijk, (4, 5, 6), look, (14.9, 22.9, 36.9)) == values[3, 1, 2]  # rounds
    assert readouts.sample_hu(ras_to_ijk, (4, 5, 6), look, (14.0, 22.0, 46.0)) is None  # k = 8: outside
    assert readouts.probe_text(-23.44, (10, -5.25, 30)) == "-23.4 HU at R 10.0 P 5.2 S 30.0 mm"
    assert readouts.probe_text(None) == ""


def test_volume_text_rounds_and_groups():
    assert readouts.volume_text(358.6814) == "358.7 ml"
    assert readouts.volume_text(1234.56) == "1,234.6 ml"
    assert readouts.volume_text(0.523) == "523 mm³"
    assert readouts.volume_text(0.0) == "0 ml (empty)"
    assert readouts.volume_text(None) == "-"


# -- live GTV volume ---------------------------------------------------------------------------
def test_segment_volume_equals_the_masks_voxel_volume_and_follows_edits():
    slicer = pytest.importorskip("slicer", reason="needs slicer-core")
    import SimpleITK as sitk

    from RadSurvLib.app import inputs, scene

    case = inputs.pat1_case()
    mrml = slicer.vtkMRMLScene()
    ct = scene.add_ct(mrml, case.ct)
    segmentation = mrml.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segment_id = scene.set_gtv_from_mask(segmentation, ct, case.gtv)
    voxel_ml = float(np.prod(case.ct.GetSpacing())) / 1000.0
    truth_ml = int(sitk.GetArrayViewFromImage(case.gtv).sum()) * voxel_ml  # 125256 voxels
    assert scene.segment_volume_ml(segmentation, segment_id) == pytest.approx(truth_ml, rel=1e-9)
    # an edit of the labelmap (as a brush stroke makes) changes the volume at once
    empty = scene.ensure_gtv_segment(segmentation, ct)
    assert empty == segment_id
    segmentation.GetSegmentation().RemoveSegment(segment_id)
    new_id = scene.ensure_gtv_segment(segmentation, ct)
    assert scene.segment_volume_ml(segmentation, new_id) == 0.0
    assert scene.segment_volume_ml(segmentation, "no such segment") == 0.0
