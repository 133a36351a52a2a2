"""``RadSurvLib.options.ScoreOptions``: every field checked with an error naming it, the worker job
and argparse round trips, the front-end names, and every option reaching ``score_case`` through
every front end (``radsurv score``, ``radsurv batch``, ``process_cohort``, the worker job; the Slicer
logic is in test_slicer_logic.py). ``score_case`` is replaced by a recorder (conftest.py), so no
front end runs the pipeline here."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest

from conftest import PAT1_CT, PAT1_GTV, REPO, InProcessWorkerRunner

#: PAT1 as a DICOM series and its RTSTRUCT: a cohort case that every option fits (DICOM outputs too).
PAT1_DICOM = REPO / "RadSurvLib" / "resources" / "PAT1" / "dicom"
PAT1_CASE = {"case_id": "PAT1", "ct": str(PAT1_DICOM / "image"),
             "rtstruct": str(PAT1_DICOM / "mask" / "DCM_RS_00060.dcm"), "roi": "GTV-1"}

from RadSurvLib import options as opts
from RadSurvLib.errors import FRONT_END_NAMES, FRONT_ENDS, InputError, OptionError, translate
from RadSurvLib.options import ScoreOptions
from RadSurvLib.rings import DEFAULT_RINGS_MM


@pytest.fixture
def files(tmp_path):
    """Files that the path options must name: a signature file, a bundle folder, a params file."""
    from RadSurvLib.models.bundle import default_bundle_path

    signature = tmp_path / "signature.json"
    signature.write_text("{}")
    return {"bundle": str(default_bundle_path()), "signature": str(signature), "lung_mask": str(PAT1_GTV),
            "params_file": str(ScoreOptions(radiomics="quick").parameter_file())}


@pytest.fixture
def every_option(files, tmp_path):
    """A value other than the default for every field (the test fails if a field is added without one)."""
    values = {**files, "rings_mm": "3-6,6-9", "inner_rim_mm": 2.0, "air_hu": -950.0, "ring_convention": "surface",
              "device": "cpu", "radiomics": "quick", "kernel_radius": 2, "voxel_map_features": ("firstorder_Mean",),
              "radiomics_engine": "pyradiomics", "gtv_label": 2, "features_only": True,
              "dicom_out": True, "scene_path": str(tmp_path / "scene.mrb"), "overwrite": True}
    assert set(values) == set(opts.option_names())
    options = ScoreOptions(**values)
    default = ScoreOptions()
    assert all(getattr(options, name) != getattr(default, name) for name in opts.option_names())
    return options


def cli_flags(options: ScoreOptions) -> list[str]:
    """The command-line flags that set every field of ``options``."""
    flags = []
    for name in opts.option_names():
        flag, value = FRONT_END_NAMES[name][0], getattr(options, name)
        if name in ("overwrite", "features_only", "dicom_out"):
            flags += [flag] if value else []
        elif name == "rings_mm":
            flags += [flag, opts.bands_text(value)]
        elif name == "voxel_map_features":
            flags += [flag, ",".join(value)]
        else:
            flags += [flag, str(value)]
    return flags


# -- defaults and checks --------------------------------------------------------------------------

def test_defaults_are_liu2025():
    options = ScoreOptions()
    assert options.rings_mm == ((0.0, 3.0), (3.0, 6.0), (6.0, 9.0))
    assert DEFAULT_RINGS_MM == (3.0, 6.0, 9.0)
    assert options.parameter_file().name == "Liu2025_PyRadiomics.yaml" and options.parameter_file().is_file()
    assert ScoreOptions(radiomics="quick").parameter_file().name == "Quick_PyRadiomics.yaml"
    assert (options.kernel_radius, options.device, options.ring_convention, options.radiomics_engine) == (
        1, "auto", "centre", "radsurv")


@pytest.mark.parametrize("spec, bands", [
    ("3,6,9", ((0, 3), (3, 6), (6, 9))), ("3-6,6-9", ((3, 6), (6, 9))), ([5, 10], ((0, 5), (5, 10))),
    (4, ((0, 4),)), ("3,5-8", ((0, 3), (5, 8))),
])
def test_rings_are_parsed_into_bands(spec, bands):
    assert ScoreOptions(rings_mm=spec).rings_mm == tuple((float(a), float(b)) for a, b in bands)


BAD_VALUES = [
    ("rings_mm", "nan", "not finite"), ("rings_mm", "3,inf", "not finite"), ("rings_mm", "6,3", "invalid"),
    ("rings_mm", "3-6,5-9", "overlap"), ("rings_mm", "", "no ring"), ("rings_mm", "a,b", "not a list"),
    ("rings_mm", "-3", "not a list"), ("rings_mm", {"a": 1}, "not a list"),
    ("inner_rim_mm", 0, "greater than 0"), ("inner_rim_mm", -1, "greater than 0"),
    ("inner_rim_mm", float("nan"), "not finite"), ("inner_rim_mm", "x", "not a number"),
    ("air_hu", -2000, "outside"), ("air_hu", 5000, "outside"), ("air_hu", float("inf"), "not finite"),
    ("kernel_radius", 0, "from 1 to 6"), ("kernel_radius", 7, "from 1 to 6"), ("kernel_radius", 1.5, "from 1 to 6"),
    ("kernel_radius", True, "not an integer"), ("kernel_radius", "two", "not an integer"),
    ("device", "tpu", "auto, cpu, cuda"), ("ring_convention", "edge", "centre, surface"),
    ("radiomics_engine", "numpy", "pyradiomics, radsurv"), ("radiomics", "full", "liu2025, quick"),
    ("bundle", "/no/such/folder", "not a folder"), ("params_file", "/no/such.yaml", "not a file"),
    ("signature", "/no/such/signature", "does not exist"), ("lung_mask", "/no/lung.nrrd", "not a file"),
    ("voxel_map_features", ["glcm_Nope"], "unknown voxel-map feature"), ("voxel_map_features", [], "no feature"),
    ("gtv_label", 0, ">= 1"), ("gtv_label", 1.5, ">= 1"), ("overwrite", "yes", "true or false"),
    ("features_only", 1, "true or false"), ("dicom_out", "yes", "true or false"),
]


@pytest.mark.parametrize("field, value, problem", BAD_VALUES, ids=[f"{f}={v!r}" for f, v, _ in BAD_VALUES])
def test_bad_values_name_their_field(field, value, problem):
    with pytest.raises(OptionError, match=problem) as caught:
        ScoreOptions(**{field: value})
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")  # library terms
    assert isinstance(caught.value, InputError)


def test_every_checked_field_has_a_bad_value():
    checked = {field for field, _, _ in BAD_VALUES}
    assert checked == set(opts.option_names()) - {"scene_path"}  # any path is a scene file name


def test_a_folder_without_bundle_json_is_not_a_bundle(tmp_path):
    with pytest.raises(OptionError, match="no bundle.json"):
        ScoreOptions(bundle=str(tmp_path))


def test_a_signature_bundle_is_its_folder_or_its_file(tmp_path):
    with pytest.raises(OptionError, match="no signature.json"):
        ScoreOptions(signature=str(tmp_path))
    (tmp_path / "signature.json").write_text("{}")
    assert ScoreOptions(signature=str(tmp_path)).signature == str(tmp_path)
    assert ScoreOptions(signature=str(tmp_path / "signature.json")).signature == str(tmp_path / "signature.json")


def test_errors_are_translated_into_each_front_end():
    with pytest.raises(OptionError) as caught:
        ScoreOptions(rings_mm="6,3")
    error = caught.value
    assert translate(error, "cli").startswith("--rings: band 6-3 mm is invalid")
    assert translate(error, "gui").startswith("Rings (mm): band 6-3 mm is invalid")
    assert translate(error, "job").startswith("rings_mm: ")
    # other parameters named in a message follow the front end too
    other = OptionError("out_dir", "earlier run; set [[overwrite]] to replace it.")
    assert str(other) == "out_dir: earlier run; set overwrite to replace it."
    assert translate(other, "cli") == "--out: earlier run; set --overwrite to replace it."
    assert translate(other, "gui") == "Output folder: earlier run; set If results exist to replace it."
    # a plain InputError that starts with a parameter name, and one that does not
    assert translate(InputError("ct: file not found: x.nrrd"), "cli") == "--ct: file not found: x.nrrd"
    assert translate(InputError("something else: y"), "cli") == "something else: y"


def test_every_option_has_its_front_end_names():
    parser = argparse.ArgumentParser()
    opts.add_arguments(parser)
    flags = {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings and a.dest != "help"}
    assert flags == {name: FRONT_END_NAMES[name][0] for name in opts.option_names()}
    assert all(len(FRONT_END_NAMES[name]) == len(FRONT_ENDS) for name in FRONT_END_NAMES)


# -- round trips ----------------------------------------------------------------------------------

def test_job_round_trip_is_json_safe(every_option):
    job = json.loads(json.dumps(every_option.to_job()))
    assert set(job) == set(opts.option_names())
    assert ScoreOptions.from_job(job) == every_option
    assert ScoreOptions.from_job(ScoreOptions().to_job()) == ScoreOptions()
    assert ScoreOptions.from_job({}) == ScoreOptions()


def test_job_with_unknown_keys_names_them():
    with pytest.raises(InputError, match="unknown option.*rings, ringz"):
        ScoreOptions.from_job({"ringz": 3, "rings": [3], "device": "cpu"})


def test_job_paths_are_relative_to_its_folder(tmp_path):
    (tmp_path / "sig").write_text("{}")
    options = ScoreOptions.from_job({"signature": "sig", "scene_path": "out/scene.mrb"}, base_dir=tmp_path)
    assert options.signature == str(tmp_path / "sig") and options.scene_path == str(tmp_path / "out" / "scene.mrb")


def test_argparse_round_trip(every_option):
    parser = argparse.ArgumentParser()
    opts.add_arguments(parser)
    assert ScoreOptions.from_args(parser.parse_args([])) == ScoreOptions()
    assert ScoreOptions.from_args(parser.parse_args(cli_flags(every_option))) == every_option


def test_result_key_fields_change_with_results_only(every_option):
    key = ScoreOptions().result_key_fields()
    assert ScoreOptions(device="cpu", overwrite=True, scene_path="s.mrb").result_key_fields() == key
    assert ScoreOptions(rings_mm="3,6").result_key_fields() != key
    assert ScoreOptions(radiomics="quick").result_key_fields() != key
    # the same parameter file named two ways is the same result
    assert ScoreOptions(params_file=str(ScoreOptions().parameter_file())).result_key_fields() == key
    json.dumps(every_option.result_key_fields())
    changed = {name for name in opts.option_names()
               if ScoreOptions(**{name: getattr(every_option, name)}).result_key_fields() != key}
    assert changed == set(opts.RESULT_KEY_FIELDS) | {"radiomics"}


# -- every option through every front end --------------------------------------------------------

def test_radsurv_score_passes_every_option(captured_score_case, every_option, tmp_path, capsys):
    from RadSurvLib.cli import main

    status = main(["score", "--ct", str(PAT1_CT), "--gtv", str(PAT1_GTV), "--out", str(tmp_path / "out"),
                   *cli_flags(every_option)])
    assert status == 2 and "stopped after the options" in capsys.readouterr().err
    (call,) = captured_score_case
    assert call["options"] == every_option and str(call["out_dir"]) == str(tmp_path / "out")


def test_radsurv_score_names_flags_in_its_errors(tmp_path, capsys):
    from RadSurvLib.cli import main

    for flags, expected in ((["--kernel-radius", "0"], "--kernel-radius: 0 is not an integer from 1 to 6"),
                            (["--rings", "3,inf"], "--rings: '3,inf' holds a distance that is not finite"),
                            (["--exclude-air", "-5000"], "--exclude-air: -5000 HU is outside"),
                            (["--inner-rim", "nan"], "--inner-rim: 'nan' is not finite")):
        assert main(["score", "--ct", str(PAT1_CT), "--gtv", str(PAT1_GTV), "--out", str(tmp_path / "o"),
                     *flags]) == 2
        assert expected in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything was made


def expected_case_options(options, out_dir):
    """What a cohort case gets: its own scene file in its folder, overwrite as the cohort decides."""
    return options.replace(scene_path=str(Path(out_dir) / Path(options.scene_path).name))


def test_radsurv_batch_passes_every_option(captured_score_case, every_option, tmp_path):
    from RadSurvLib.cli import main

    cases = tmp_path / "cases.csv"
    cases.write_text("case_id,ct,rtstruct,roi\n" + ",".join(PAT1_CASE[k] for k in ("case_id", "ct", "rtstruct", "roi")))
    batch_options = every_option.replace(scene_path="scene.mrb")
    assert main(["batch", "--cases", str(cases), "--out", str(tmp_path / "cohort"), *cli_flags(batch_options)]) == 1
    (call,) = captured_score_case
    out_dir = tmp_path / "cohort" / "cases" / "PAT1"
    assert call["options"] == expected_case_options(batch_options, out_dir)
    assert Path(call["out_dir"]) == out_dir


def test_process_cohort_passes_every_option(captured_score_case, every_option, tmp_path):
    from RadSurvLib.batch import process_cohort

    events = []
    cohort_options = every_option.replace(scene_path="scene.mrb", overwrite=False)
    summary = process_cohort([PAT1_CASE], tmp_path / "cohort", options=cohort_options, progress=events.append)
    assert summary["failed"] == ["PAT1"] and "stopped after the options" in summary["rows"]["PAT1"]["error"]
    (call,) = captured_score_case
    out_dir = tmp_path / "cohort" / "cases" / "PAT1"
    assert call["options"] == expected_case_options(cohort_options, out_dir)  # overwrite False: resume
    assert [(e.stage, e.case_id, e.fraction, e.done) for e in events] == [("started", "PAT1", 0.0, False),
                                                                         ("failed", "PAT1", 1.0, True)]
    again = process_cohort([PAT1_CASE], tmp_path / "cohort", options=cohort_options, resume=False)
    assert again["failed"] == ["PAT1"]
    assert captured_score_case[-1]["options"].overwrite is True  # no resume: the case is scored afresh


def test_worker_job_passes_every_option(captured_score_case, every_option, tmp_path):
    from RadSurvLib.worker import protocol, server

    sent = []

    class Out:
        def send(self, message):
            sent.append(json.loads(protocol.encode(message)))

    job = protocol.make_job(every_option, str(PAT1_CT), str(tmp_path / "out"), gtv=str(PAT1_GTV))
    (tmp_path / "job.json").write_text(json.dumps(job))
    assert server.run_job(str(tmp_path / "job.json"), Out(), __import__("io").StringIO()) == 2
    (call,) = captured_score_case
    assert call["options"] == every_option
    assert [m["type"] for m in sent] == ["started", "error"] and sent[-1]["kind"] == "input"


def test_worker_job_through_the_client_passes_every_option(captured_score_case, every_option, tmp_path):
    """The client writes the job, the worker code reads it: the options arrive unchanged."""
    from RadSurvLib.worker import protocol
    from RadSurvLib.worker.client import FAILED, WorkerJob

    runner = InProcessWorkerRunner()
    job = protocol.make_job(every_option, str(PAT1_CT), str(tmp_path / "out"), gtv=str(PAT1_GTV))
    worker_job = WorkerJob(job, ["python"], tmp_path / "job", runner=runner)
    worker_job.start()
    assert worker_job.wait(10, interval_s=0) == FAILED and "stopped after the options" in str(worker_job.error)
    assert captured_score_case[0]["options"] == every_option


def test_worker_reports_a_bad_option_by_its_job_key(tmp_path):
    from RadSurvLib.worker import server

    sent = []

    class Out:
        def send(self, message):
            sent.append(message)

    job = {"ct": str(PAT1_CT), "gtv": str(PAT1_GTV), "out_dir": str(tmp_path / "out"), "kernel_radius": 0}
    assert server.run_job(job, Out(), __import__("io").StringIO()) == 2
    assert sent[-1]["message"].startswith("kernel_radius: 0 is not an integer from 1 to 6")
    assert not (tmp_path / "out").exists()


def test_score_options_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ScoreOptions().device = "cpu"


def test_a_shipped_signature_is_given_by_name(tmp_path, monkeypatch):
    """``--signature lung1-os-99`` (CLI, batch, the app's list, the module's choice) is the shipped
    bundle's folder; an unknown name is refused, naming the shipped ones; a path of that name in the
    working folder is the user's and wins."""
    from RadSurvLib.options import shipped_signature_names
    from RadSurvLib.resources import signature_path

    assert "lung1-os-99" in shipped_signature_names()
    assert ScoreOptions(signature="lung1-os-99").signature == str(signature_path("lung1-os-99"))
    with pytest.raises(OptionError, match="lung1-os-99") as caught:
        ScoreOptions(signature="lung2-os")
    assert "does not exist" in str(caught.value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lung1-os-99").mkdir()
    (tmp_path / "lung1-os-99" / "signature.json").write_text("{}")
    assert ScoreOptions(signature="lung1-os-99").signature == "lung1-os-99"
