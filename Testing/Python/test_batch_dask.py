"""Batch scoring on Dask (``radsurv batch --scheduler``, ``process_cohort(scheduler=...)``).

Real cases (PAT1, PyRadiomics' lung1 and lung2, the full-size planning CT lung1_001 from DICOM +
RTSTRUCT), synthetic cases of ``radsurv synth-cohort`` and one broken case (lung1's CT with lung2's
mask), scored with a light job on a LocalCluster of 2 worker processes: every good case finishes,
the broken one is recorded, and every result equals the sequential run's bit for bit. Faults: a
worker process killed in the middle of a case (the case is retried on another worker and finishes,
no row lost or doubled) and the client killed mid-run (a resume redoes no finished case).
"""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PAT1_CT, PAT1_GTV, REPO

pytest.importorskip("distributed")

LUNG = REPO / "Testing" / "Data" / "PyRadiomics_baseline"
LUNG1_001 = REPO.parent / "shared" / "data" / "lung1_001"

pytestmark = pytest.mark.slow


def light_options(**changes):
    from RadSurvLib.options import ScoreOptions

    return ScoreOptions(rings_mm="3", radiomics="quick", voxel_map_features=("firstorder_Mean",), device="cpu",
                        **changes)


@pytest.fixture(scope="module")
def cohort_csv(tmp_path_factory):
    """A cases CSV: 4 real cases, 2 synthetic ones and one broken case."""
    from RadSurvLib.training.synthetic_cohort import write_cohort

    folder = tmp_path_factory.mktemp("cohort")
    synth = write_cohort(folder / "synth", n_cases=2, seed=11)
    with open(synth["manifest"], newline="") as handle:
        synthetic = [(row["case_id"], str(folder / "synth" / row["ct"]), str(folder / "synth" / row["gtv"]))
                     for row in csv.DictReader(handle)]
    rows = [("PAT1", str(PAT1_CT), str(PAT1_GTV), "", ""),
            ("lung1", str(LUNG / "lung1_image.nrrd"), str(LUNG / "lung1_label.nrrd"), "", ""),
            ("lung2", str(LUNG / "lung2_image.nrrd"), str(LUNG / "lung2_label.nrrd"), "", ""),
            ("broken", str(LUNG / "lung1_image.nrrd"), str(LUNG / "lung2_label.nrrd"), "", "")]
    if LUNG1_001.is_dir():
        rows.append(("lung1_001", str(LUNG1_001 / "image"), "", str(LUNG1_001 / "rtstruct" / "RS.dcm"), "GTV-1"))
    rows += [(case_id, ct, gtv, "", "") for case_id, ct, gtv in synthetic]
    path = folder / "cases.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "ct", "gtv", "rtstruct", "roi"])
        writer.writerows(rows)
    return path


def digests(case_dir: Path) -> dict:
    """SHA-256 of every output file of a case except result.json (which holds paths and timings)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(case_dir.iterdir())
            if p.is_file() and p.name not in ("result.json", "error.log", "overview.png")}


def test_local_cluster_equals_sequential(cohort_csv, tmp_path):
    """2 Dask workers vs one case after the other: the same cases done, the broken one failed, and
    the same risk scores, features, rings, maps and heatmaps byte for byte."""
    import json

    from RadSurvLib.batch import process_cohort

    sequential = process_cohort(cohort_csv, tmp_path / "seq", options=light_options())
    links = []
    dask = process_cohort(cohort_csv, tmp_path / "dask", options=light_options(), scheduler="local:2",
                          on_dashboard=links.append)
    assert links and links[0].startswith("http")
    assert sequential["failed"] == dask["failed"] == ["broken"]
    assert sorted(sequential["done"]) == sorted(dask["done"]) and len(dask["done"]) >= 6
    assert "grid" in dask["rows"]["broken"]["error"]
    for case_id in dask["done"]:
        a, b = tmp_path / "seq" / "cases" / case_id, tmp_path / "dask" / "cases" / case_id
        assert digests(a) == digests(b), case_id
        ra, rb = (json.loads((d / "result.json").read_text()) for d in (a, b))
        assert ra["risk_score"] == rb["risk_score"] and ra["gtv"] == rb["gtv"]
    with open(tmp_path / "dask" / "results.csv", newline="") as handle:
        ids = [row["case_id"] for row in csv.DictReader(handle)]
    assert sorted(ids) == sorted(dask["done"] + ["broken"])  # one row per case, none doubled


class KillOnce:
    """A scorer that kills its own worker process the first time it scores ``case_id`` (after half
    a second of work), then scores normally: a worker lost in the middle of a case."""

    def __init__(self, case_id: str, marker: str):
        self.case_id, self.marker = case_id, marker

    def __call__(self, job):
        from RadSurvLib.batch import in_process_scorer

        if Path(job["out_dir"]).name == self.case_id and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
        return in_process_scorer(job)


def test_worker_killed_mid_case_is_retried(tmp_path):
    import cloudpickle

    from RadSurvLib.batch import process_cohort

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cases = [("lung1", str(LUNG / "lung1_image.nrrd"), str(LUNG / "lung1_label.nrrd")),
             ("lung2", str(LUNG / "lung2_image.nrrd"), str(LUNG / "lung2_label.nrrd"))]
    marker = tmp_path / "killed"
    summary = process_cohort(cases, tmp_path / "out", scorer=KillOnce("lung2", str(marker)),
                             options=light_options(features_only=True), scheduler="local:2", retries=2)
    assert marker.is_file()  # a worker really died
    assert sorted(summary["done"]) == ["lung1", "lung2"] and not summary["failed"]
    with open(tmp_path / "out" / "results.csv", newline="") as handle:
        assert sorted(row["case_id"] for row in csv.DictReader(handle)) == ["lung1", "lung2"]


def test_client_killed_then_resume_redoes_no_finished_case(tmp_path):
    """`radsurv batch --scheduler local:2` killed (the whole process group) after its first row;
    the resume skips every finished case (result.json untouched) and scores the rest."""
    from RadSurvLib.batch import process_cohort, read_results

    cases = tmp_path / "cases.csv"
    cases.write_text("case_id,ct,gtv\n" + "".join(
        f"{name}{i},{LUNG / f'{name}_image.nrrd'},{LUNG / f'{name}_label.nrrd'}\n"
        for i in range(2) for name in ("lung1", "lung2")))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "RadSurvLib", "features", "--cases", str(cases), "--out", str(out),
               "--radiomics", "quick", "--rings", "3", "--voxel-maps", "firstorder_Mean", "--scheduler", "local:1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            if any(r["status"] == "done" for r in read_results(out).values()):
                break
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    _wait_until_group_ended(process.pid)  # its Dask worker too: a live one still holds its case's lock
    finished = {c: (out / "cases" / c / "result.json").stat().st_mtime_ns
                for c, r in read_results(out).items() if r["status"] == "done"}
    assert finished, "the batch was killed before any case finished"
    summary = process_cohort(cases, out, options=light_options(features_only=True))
    assert set(finished) <= set(summary["skipped"])
    assert {c: (out / "cases" / c / "result.json").stat().st_mtime_ns for c in finished} == finished
    assert sorted(summary["skipped"] + summary["done"]) == ["lung10", "lung11", "lung20", "lung21"], \
        {c: r["error"] for c, r in read_results(out).items() if r["status"] != "done"}
    with open(out / "results.csv", newline="") as handle:
        done_rows = [row["case_id"] for row in csv.DictReader(handle) if row["status"] == "done"]
    assert sorted(done_rows) == sorted(set(done_rows))  # no case recorded twice


def test_resume_with_other_options_reruns_or_refuses(tmp_path):
    """A finished case is skipped only with the same result-changing options (issue 15): other rings
    re-score it (or, with on_changed='refuse', the call is refused naming the option)."""
    from RadSurvLib.batch import process_cohort
    from RadSurvLib.errors import InputError

    cases = [("lung1", str(LUNG / "lung1_image.nrrd"), str(LUNG / "lung1_label.nrrd"))]
    first = process_cohort(cases, tmp_path / "out", options=light_options(features_only=True))
    assert first["done"] == ["lung1"]
    again = process_cohort(cases, tmp_path / "out", options=light_options(features_only=True))
    assert again["skipped"] == ["lung1"]
    with pytest.raises(InputError, match="rings_mm"):
        process_cohort(cases, tmp_path / "out", options=light_options(features_only=True).replace(rings_mm="5"),
                       on_changed="refuse")
    rerun = process_cohort(cases, tmp_path / "out", options=light_options(features_only=True).replace(rings_mm="5"))
    assert rerun["done"] == ["lung1"] and not rerun["skipped"]


def test_half_written_last_row_is_not_taken_as_done(tmp_path):
    from RadSurvLib.batch import RESULT_COLUMNS, _append_row, _repair_results, read_results

    path = tmp_path / "results.csv"
    _append_row(path, {"case_id": "a", "status": "done", "out_dir": "x"})
    with open(path, "a") as handle:
        handle.write("b,do")  # a kill in the middle of a row
    assert set(read_results(tmp_path)) == {"a"}
    _repair_results(path)
    _append_row(path, {"case_id": "c", "status": "failed", "out_dir": "y", "error": "boom"})
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(RESULT_COLUMNS) and len(lines) == 3 and lines[2].startswith("c,failed")


def test_scheduler_names_are_checked():
    from RadSurvLib.errors import InputError
    from RadSurvLib.scheduler import SchedulerSpec

    assert SchedulerSpec.parse(None).kind == "sequential"
    assert SchedulerSpec.parse("local:3") == SchedulerSpec("local", 3)
    assert SchedulerSpec.parse("tcp://10.0.0.1:8786").address == "tcp://10.0.0.1:8786"
    for bad in ("local:0", "local:x", "slurm", "http://host:8786"):
        with pytest.raises(InputError, match="scheduler"):
            SchedulerSpec.parse(bad)


def _wait_until_group_ended(pgid: int, timeout_s: float = 60.0) -> None:
    """Wait until no process of group ``pgid`` runs (Linux /proc; ended-but-unreaped ones count as ended)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                running.append(stat.parent.name)
        if not running:
            return
        time.sleep(0.2)
    raise AssertionError(f"processes {running} of the killed batch still run after {timeout_s} s")


def test_results_csv_holds_the_case_warnings_and_reads_an_earlier_file(tmp_path):
    """A case's warnings (result.json) are in its results.csv row; a results.csv written before the
    warnings column is still read and resumed in its own columns."""
    from RadSurvLib.batch import EARLIER_RESULT_COLUMNS, RESULT_COLUMNS, _append_row, _row_from_result, read_results

    path = tmp_path / "results.csv"
    warned = {"risk_score": 0.5, "warnings": ["GTVComponentsWarning: GTV: the mask has 2 separate parts",
                                              "RingClippedWarning: ring 6-9 mm clipped"]}
    _append_row(path, _row_from_result("a", warned, tmp_path / "a", 1.0))
    assert read_results(tmp_path)["a"]["warnings"] == " | ".join(warned["warnings"])
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "results.csv").write_text(",".join(EARLIER_RESULT_COLUMNS) + "\nb,done,0.1,low,m,x,1,,2026-01-01T00:00:00\n")
    _append_row(earlier / "results.csv", _row_from_result("c", warned, earlier / "c", 2.0))
    rows = read_results(earlier)
    assert set(rows) == {"b", "c"} and rows["b"]["risk_group"] == "low" and rows["c"]["risk_score"] == "0.5"
    lines = (earlier / "results.csv").read_text().splitlines()
    assert lines[0] == ",".join(EARLIER_RESULT_COLUMNS) and len(lines[2].split(",")) == len(EARLIER_RESULT_COLUMNS)
    assert tuple(read_results(earlier)["c"]) == RESULT_COLUMNS
