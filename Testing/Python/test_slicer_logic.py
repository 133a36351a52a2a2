"""``RadSurvLib.control.logic.ScoringLogic`` (the body of the module's ``RadSurvLogic``) on real MRML
(slicer-core): the worker's Python ($RADSURV_WORKER_PYTHON or the environment), the GUI's radiomics
labels and messages, every option reaching ``score_case`` through ``process`` and ``processCohort``
(the real worker code run in this process by an injected runner, ``score_case`` recorded, see
conftest.py), and ``process`` end to end with the scripted worker of test_slicer_task.py."""

from __future__ import annotations

import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel (pip install slicer-core)")

from conftest import PAT1_CT, PAT1_GTV, InProcessWorkerRunner  # noqa: E402
from test_options import PAT1_CASE, every_option, files  # noqa: E402,F401  (fixtures)
from test_slicer_task import fake_worker, make_case_scene, scene_state  # noqa: E402,F401  (fake_worker: fixture)

from RadSurvLib.errors import InputError  # noqa: E402
from RadSurvLib.options import OptionError, ScoreOptions  # noqa: E402
from RadSurvLib.control import logic as sl  # noqa: E402
from RadSurvLib.worker.client import WorkerFailed  # noqa: E402
from RadSurvLib.worker.environment import PythonEnvironment  # noqa: E402

pytestmark = pytest.mark.slicer


def test_worker_python_from_the_variable_or_the_environment(monkeypatch, tmp_path):
    logic = sl.ScoringLogic(environment=PythonEnvironment(tmp_path / "env"))
    monkeypatch.delenv(sl.WORKER_PYTHON_VARIABLE, raising=False)
    assert not logic.environmentStatus().ready
    with pytest.raises(InputError, match="Install button"):
        logic.workerPythonCommand()
    monkeypatch.setenv(sl.WORKER_PYTHON_VARIABLE, "/opt/python/bin/python3")
    assert logic.environmentStatus().ready and "RADSURV_WORKER_PYTHON" in logic.environmentStatus().line()
    assert logic.workerPythonCommand() == ["/opt/python/bin/python3"]


def test_gui_settings_become_score_options():
    logic = sl.ScoringLogic()
    assert logic.radiomicsParameterFile("quick (original image only)").endswith("Quick_PyRadiomics.yaml")
    assert logic.radiomicsParameterFile("Liu et al. 2025 (full)").endswith("Liu2025_PyRadiomics.yaml")
    options = logic.optionsFromGui("3-6", "", "cpu", "quick (original image only)")
    assert options == ScoreOptions(rings_mm="3-6", device="cpu", radiomics="quick")
    with pytest.raises(OptionError) as caught:
        logic.optionsFromGui("6,3", "", "cpu", "Liu et al. 2025 (full)")
    assert sl.guiMessage(caught.value).startswith("Rings (mm): band 6-3 mm is invalid")
    with pytest.raises(OptionError) as caught:
        logic.optionsFromGui("3", "", "cpu", "everything")
    assert sl.guiMessage(caught.value).startswith("Radiomics: 'everything' is not one of liu2025, quick")


def test_process_passes_every_option_to_score_case(captured_score_case, every_option, tmp_path):
    scene, ct, seg, gtv_id, _ = make_case_scene()
    before = scene_state(scene, seg)
    runner = InProcessWorkerRunner()
    logic = sl.ScoringLogic(runner=runner)
    # a scene's GTV is a segment: no label to choose; this CT came from NIfTI, so no DICOM outputs (refused below)
    options = every_option.replace(gtv_label=None, dicom_out=False)
    with pytest.raises(WorkerFailed, match="stopped after the options"):
        logic.process(ct, seg, gtv_id, options=options, pythonCommand=["python"], outputDir=tmp_path / "out")
    (call,) = captured_score_case
    assert call["options"] == options
    assert call["ct"].endswith("ct.nrrd") and call["gtv"].endswith("gtv.nrrd")  # the exported segment
    assert scene_state(scene, seg) == before  # a failed run leaves the scene as it was

    # field names as keywords, on top of the defaults or of given options
    with pytest.raises(WorkerFailed):
        logic.process(ct, seg, gtv_id, pythonCommand=["python"], rings_mm="0-3", device="cpu", radiomics="quick")
    assert captured_score_case[-1]["options"] == ScoreOptions(rings_mm="0-3", device="cpu", radiomics="quick")
    with pytest.raises(OptionError, match="gtv_label"):
        logic.process(ct, seg, gtv_id, options=every_option, pythonCommand=["python"])
    with pytest.raises(OptionError, match="kernel_radius"):
        logic.process(ct, seg, gtv_id, pythonCommand=["python"], kernel_radius=9)
    with pytest.raises(OptionError, match="not loaded from the DICOM database"):
        logic.process(ct, seg, gtv_id, pythonCommand=["python"], dicom_out=True)
    assert len(captured_score_case) == 2  # the bad options never reached a worker


def test_process_cohort_passes_every_option_to_score_case(captured_score_case, every_option, tmp_path):
    logic = sl.ScoringLogic(runner=InProcessWorkerRunner())
    options = every_option.replace(scene_path="scene.mrb", overwrite=False)
    summary = logic.processCohort([PAT1_CASE], tmp_path / "cohort", options=options,  # DICOM: every option fits
                                  pythonCommand=["python"])
    assert summary["failed"] == ["PAT1"] and "stopped after the options" in summary["rows"]["PAT1"]["error"]
    (call,) = captured_score_case
    case_dir = tmp_path / "cohort" / "cases" / "PAT1"
    assert call["options"] == options.replace(scene_path=str(case_dir / "scene.mrb"))
    summary = logic.processCohort([("PAT1", str(PAT1_CT), str(PAT1_GTV))], tmp_path / "cohort2",
                                  pythonCommand=["python"], rings_mm="3", device="cpu")
    assert captured_score_case[-1]["options"] == ScoreOptions(rings_mm="3", device="cpu")


def test_process_end_to_end_with_the_scripted_worker(fake_worker, tmp_path):
    """The scripted worker replays the real PAT1 outputs: rings in the segmentation, only the parts
    asked for, the heatmap named by its method; the same inputs again are skipped."""
    scene, ct, seg, gtv_id, _ = make_case_scene()
    logic = sl.ScoringLogic()
    result = logic.process(ct, seg, gtv_id, pythonCommand=fake_worker("success"), device="cpu",
                           outputs={"voxel_maps": False})
    nodes = result["nodes"]
    names = [seg.GetSegmentation().GetSegment(s).GetName() for s in nodes["ring_segment_ids"]]
    assert names == ["GTV ring 0-3 mm", "GTV ring 3-6 mm", "GTV ring 6-9 mm"]
    assert nodes["voxel_map_volumes"] == {}
    assert scene.GetNodeByID(nodes["heatmap_volume"]).GetName() == "RadSurv HiResCAM heatmap"
    again = logic.process(ct, seg, gtv_id, pythonCommand=fake_worker("success"), device="cpu")
    assert again["skipped"] and sorted(again["existing"]["segments"]) == sorted(nodes["ring_segment_ids"])


def test_panel_parameters_reach_score_case(captured_score_case, every_option, tmp_path):
    """What the module's panel holds (``control.parameters``, the parameter node's values) is what
    ``score_case`` gets, through the module's path (``options_from_parameters`` -> ``startScoring``)."""
    from RadSurvLib.control import parameters

    scene, ct, seg, gtv_id, _ = make_case_scene()
    # a scene's GTV is a segment; this CT came from NIfTI: "DICOM outputs" from the panel, test_module_dicom_out.py
    options = every_option.replace(gtv_label=None, dicom_out=False)
    values = {**parameters.defaults(), **parameters.parameters_from_options(options),
              "outputDirectory": tmp_path / "out", "outputHeatmap": False}
    logic = sl.ScoringLogic(runner=InProcessWorkerRunner())
    with pytest.raises(WorkerFailed, match="stopped after the options"):
        logic.process(ct, seg, gtv_id, options=parameters.options_from_parameters(values), pythonCommand=["python"],
                      outputDir=parameters.path_or_none(values["outputDirectory"]),
                      outputs=parameters.outputs_from_parameters(values), ifExists=values["ifResultsExist"])
    (call,) = captured_score_case
    assert call["options"] == options
    assert parameters.outputs_from_parameters(values) == {"rings": True, "voxel_maps": True, "heatmap": False,
                                                          "tables": True}
