"""An output folder: its file names, the transaction that fills it, and reading it back.

A run (``pipeline.score_case``, ``pipeline.map_case``) writes into a staging folder inside the
output folder (``.radsurv-partial-<pid>-<random>``) and moves its files in only when it succeeded
(the description file, ``result.json`` or ``voxelmaps.json``, last), so a failed or interrupted run
leaves the folder as it was: ``staged`` is that transaction. ``read_output_dir`` and
``read_features_csv`` read a finished ``radsurv score`` folder back (the Slicer scene writer, the
web app, the cohort feature table).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError, OptionError

#: ``result.json``: a finished ``radsurv score`` run; its presence marks an earlier run.
RESULT_FILE = "result.json"
#: The other files of a ``radsurv score`` folder (``result.json["outputs"]`` names them).
RINGS_FILE = "rings.nrrd"
FEATURES_FILE = "features.csv"
HEATMAP_FILE = "heatmap.nrrd"
OVERVIEW_FILE = "overview.png"
#: ``radsurv voxelmaps``'s description of its maps (its ``result.json``).
VOXELMAPS_FILE = "voxelmaps.json"
#: Voxel maps: ``voxelmap_<family>_<Feature>.nrrd``.
VOXEL_MAP_PATTERN = "voxelmap_*.nrrd"

#: Prefix of a run's staging folder inside the output folder: ``.radsurv-partial-<pid>-<random>``.
STAGING_PREFIX = ".radsurv-partial-"


def voxel_map_file(name: str) -> str:
    """File name of the voxel map ``name`` (e.g. ``firstorder_Mean`` -> ``voxelmap_firstorder_Mean.nrrd``)."""
    return f"voxelmap_{name}.nrrd"


def check_new_file(path, overwrite: bool, field: str) -> None:
    """Refuse to replace an existing file (e.g. a scene) unless ``overwrite``.

    Raises:
        OptionError (``field``): ``path`` exists and ``overwrite`` is False.
    """
    if path and Path(path).exists() and not overwrite:
        raise OptionError(field, f"{path} already exists and is kept. Choose another file name, "
                                 "or set [[overwrite]] to replace it.")


def prepare_out_dir(out_dir, overwrite: bool, field: str = "out_dir") -> tuple[Path, list]:
    """Create ``out_dir``; refuse to mix a new run into an earlier one unless ``overwrite``.

    Returns:
        (the folder, the folders this call created, outermost first: ``remove_created`` removes
        them again when the run fails).

    Raises:
        OptionError (``field``): a file in the way, an earlier run, or a folder that cannot be written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(field, f"{out_dir} exists and is not a folder; give a folder.")
    if (out_dir / RESULT_FILE).exists() and not overwrite:
        raise OptionError(field, f"{out_dir} already holds the results of an earlier run; they are kept. "
                                 "Choose another folder, or set [[overwrite]] to replace them.")
    created = [p for p in [out_dir, *out_dir.parents] if not p.exists()][::-1]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=".radsurv-write-test-", dir=out_dir))
        probe.rmdir()
    except OSError as exc:
        remove_created(created)
        raise OptionError(field, f"cannot write into {out_dir} ({exc.strerror or exc}); choose a folder you can "
                                 "write to.") from None
    return out_dir, created


def remove_created(created) -> None:
    """Remove the folders a failed run created (innermost first), each only if it is empty."""
    for folder in reversed(list(created)):
        try:
            folder.rmdir()
        except OSError:
            break


def remove_stale_staging(out_dir: Path) -> None:
    """Remove staging folders left by killed runs (SIGKILL, the module's Cancel): those whose
    process is gone. A staging folder without a process id (older versions) is removed too."""
    for folder in Path(out_dir).glob(STAGING_PREFIX + "*"):
        pid = folder.name[len(STAGING_PREFIX):].split("-")[0]
        if pid.isdigit() and _process_alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill would terminate the process: keep it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: keep it
    return True


@contextmanager
def staged(out_dir, overwrite: bool, last: str = RESULT_FILE, field: str = "out_dir"):
    """The output-folder transaction: yields ``(out_dir, staging)``; the files written to ``staging``
    move into ``out_dir`` when the block ends without an error (``last`` moved last).

    ``out_dir`` is checked and created first (``prepare_out_dir``; ``overwrite`` lets a new run
    replace an earlier one) and staging folders of killed runs are removed. On an error or an
    interrupt the staging folder and the folders this call created are removed.

    Raises:
        OptionError (``field``): as ``prepare_out_dir``.
    """
    out_dir, created = prepare_out_dir(out_dir, overwrite, field)
    remove_stale_staging(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out_dir))
    finished = False
    try:
        yield out_dir, staging
        names = sorted(p.name for p in staging.iterdir())
        for name in [n for n in names if n != last] + [n for n in names if n == last]:
            os.replace(staging / name, out_dir / name)
        finished = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not finished:
            remove_created(created)


def json_safe(value):
    """``value`` with every NaN / infinity replaced by None (JSON has no NaN), numpy scalars as numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalars
        return json_safe(value.item())
    return value


def write_json(data: dict, path) -> None:
    """Write ``data`` as strict JSON: NaN and infinities become null (e.g. the mean distance of an empty ring)."""
    Path(path).write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


# --------------------------------------------------------------------------------------------
# Reading a finished folder back
# --------------------------------------------------------------------------------------------

def read_output_dir(out_dir) -> dict:
    """Check a ``radsurv score`` output folder and list its files.

    Args:
        out_dir: folder written by ``RadSurvLib.pipeline.score_case``.

    Returns:
        dict with ``result`` (parsed ``result.json``), ``rings`` / ``heatmap`` / ``features``
        (paths), ``voxel_maps`` (dict feature name -> path, in ``result.json`` order, else sorted
        by file name) and ``rings_info`` (list of ``{"label", "inner_mm", "outer_mm", ...}``).

    Raises:
        InputError: the folder or one of its files is missing, or ``result.json`` is not valid
            JSON / lacks ``risk_score``.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"RadSurv output folder not found: {out_dir}. Run the RadSurv pipeline "
                         "(radsurv score or RadSurvLib.pipeline.score_case) to create it.")
    result_path = out_dir / RESULT_FILE
    if not result_path.is_file():
        raise InputError(f"RadSurv output folder {out_dir} has no {RESULT_FILE}: the pipeline did "
                         "not finish there. Run it again into this folder.")
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{result_path}: cannot read it as JSON ({exc}). Run the pipeline again.") from None
    if not isinstance(result, dict) or "risk_score" not in result:
        raise InputError(f"{result_path}: no 'risk_score' entry; it was not written by RadSurv's pipeline.")

    outputs = result.get("outputs") or {}

    def need(relative, what):
        path = out_dir / relative
        if not path.is_file():
            raise InputError(f"RadSurv output folder {out_dir}: {what} file {relative} is missing. "
                             "Run the pipeline again into this folder.")
        return path

    listed_maps = outputs.get("voxel_maps")
    if isinstance(listed_maps, dict) and listed_maps:
        voxel_maps = {name: need(rel, f"voxel map {name}") for name, rel in listed_maps.items()}
    else:  # older result.json without the list: take the files by their contract name
        voxel_maps = {p.name[len("voxelmap_"):-len(".nrrd")]: p for p in sorted(out_dir.glob(VOXEL_MAP_PATTERN))}
    rings_info = result.get("rings")
    if not isinstance(rings_info, list):
        rings_info = []
    return {
        "out_dir": out_dir,
        "result": result,
        "rings": need(outputs.get("rings", RINGS_FILE), "ring labelmap"),
        "heatmap": need(outputs.get("heatmap", HEATMAP_FILE), "heatmap"),
        "features": need(outputs.get("features", FEATURES_FILE), "features table"),
        "voxel_maps": voxel_maps,
        "rings_info": rings_info,
    }


def read_features_csv(path) -> tuple[list[str], list[str], dict[str, list[float]]]:
    """Read ``features.csv`` (one row per ROI, column ``roi``, then one column per feature).

    Returns:
        ``(roi_names, feature_names, values)`` where ``values[feature]`` lists one float per ROI
        in ``roi_names`` order. Columns with a non-numeric value (PyRadiomics ``diagnostics_*``
        strings, for example) are left out; they stay in the CSV file.

    Raises:
        InputError: the file has no ``roi`` column or no rows.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "roi" not in rows[0]:
        raise InputError(f"{path}: expected a header with a 'roi' column and one row per ROI.")
    roi_names = [row["roi"] for row in rows]
    feature_names, values = [], {}
    for name in rows[0]:
        if name == "roi":
            continue
        try:
            column = [float(row[name]) for row in rows]
        except (TypeError, ValueError):
            continue
        feature_names.append(name)
        values[name] = column
    return roi_names, feature_names, values
