"""An output folder: its file names, the transaction that fills it, and reading it back.

A run (``pipeline.score_case``, ``pipeline.map_case``) writes into a staging folder inside the
output folder (``.radsurv-partial-<pid>-<random>``) and moves its files in only when it succeeded
(the description file, ``result.json`` or ``voxelmaps.json``, last), so a failed or interrupted run
leaves the folder as it was: ``staged`` is that transaction. Nothing clobbers a folder:

- one run at a time: a run holds ``.radsurv-lock`` (its process id, host and start time) while it
  works; a second run into the folder is refused, naming the first; the lock of a killed run (its
  process gone) is taken over (``run_lock``);
- RadSurv's files are the description file of the earlier run and the files it lists (its
  ``outputs`` / ``maps``; an older ``result.json`` without the list: RadSurv's fixed names and
  ``voxelmap_*.nrrd``), plus a cohort case's ``error.log``; every other file is the user's. Without
  ``overwrite`` a folder holding an earlier run, or files of the user, is refused (a few named); with
  it the earlier run's files are all removed when the new set moves in (no stale voxel map or
  heatmap beside the new ``result.json``) and the user's files are kept (``out_dir_plan``);
- a refusal of the system while writing (a full disk, a read-only folder) is reported as such
  (``errors.environment_failure``), naming the output folder.
 ``read_output_dir`` and
``read_features_csv`` read a finished ``radsurv score`` folder back (the Slicer scene writer, the
web app, the cohort feature table).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError, OptionError, environment_failure

#: ``result.json``: a finished ``radsurv score`` run; its presence marks an earlier run.
RESULT_FILE = "result.json"
#: The other files of a ``radsurv score`` folder (``result.json["outputs"]`` names them).
RINGS_FILE = "rings.nrrd"
#: The GTV and rings on the 1 mm analysis grid, as the features were computed (uint8, labels as in
#: ``rings.nrrd``); the Slicer scene's ring segments are built from it. Older runs have none.
RINGS_1MM_FILE = "rings_1mm.nrrd"
FEATURES_FILE = "features.csv"
HEATMAP_FILE = "heatmap.nrrd"
OVERVIEW_FILE = "overview.png"
#: ``radsurv voxelmaps``'s description of its maps (its ``result.json``).
VOXELMAPS_FILE = "voxelmaps.json"
#: Voxel maps: ``voxelmap_<family>_<Feature>.nrrd``.
VOXEL_MAP_PATTERN = "voxelmap_*.nrrd"

#: Prefix of a run's staging folder inside the output folder: ``.radsurv-partial-<pid>-<random>``.
STAGING_PREFIX = ".radsurv-partial-"
#: The lock a run holds on its output folder (JSON: pid, host, started).
LOCK_FILE = ".radsurv-lock"
#: A failed cohort case's log (``batch``), in the case's folder.
ERROR_LOG = "error.log"
#: Prefix of ``prepare_out_dir``'s probe of a folder's write permission.
PROBE_PREFIX = ".radsurv-write-test-"
#: The files of a ``radsurv score`` folder before ``result.json`` listed them (older versions).
_SCORE_FILES = (RINGS_FILE, FEATURES_FILE, HEATMAP_FILE, OVERVIEW_FILE)
#: How many of the user's files a refusal names.
NAMED_FILES = 5


def voxel_map_file(name: str) -> str:
    """File name of the voxel map ``name`` (e.g. ``firstorder_Mean`` -> ``voxelmap_firstorder_Mean.nrrd``)."""
    return f"voxelmap_{name}.nrrd"


def check_new_file(path, overwrite: bool, field: str) -> None:
    """Check, before any work, that a file (e.g. a scene) can be written at ``path``: it does not
    exist unless ``overwrite``, it is not a folder, and its nearest existing folder is writable.

    Raises:
        OptionError (``field``): ``path`` exists and ``overwrite`` is False, is a folder, or lies
            where nothing can be written.
    """
    if not path:
        return
    path = Path(path)
    if path.is_dir():
        raise OptionError(field, f"{path} is a folder; give a file name.")
    if path.exists() and not overwrite:
        raise OptionError(field, f"{path} already exists and is kept. Choose another file name, "
                                 "or set [[overwrite]] to replace it.")
    parent = next(p for p in [path.absolute().parent, *path.absolute().parents] if p.exists())
    if not parent.is_dir():
        raise OptionError(field, f"{parent} is a file, not a folder; give a path in a folder.")
    try:
        Path(tempfile.mkdtemp(prefix=PROBE_PREFIX, dir=parent)).rmdir()
    except OSError as exc:
        raise OptionError(field, f"cannot write into {parent} ({exc.strerror or exc}); choose a folder you can "
                                 "write to.") from None


def prepare_out_dir(out_dir, overwrite: bool, field: str = "out_dir") -> tuple[Path, list]:
    """Create ``out_dir``; refuse to mix a new run into an earlier one or into the user's files
    unless ``overwrite`` (``out_dir_plan``).

    Returns:
        (the folder, the folders this call created, outermost first: ``remove_created`` removes
        them again when the run fails).

    Raises:
        OptionError (``field``): a file in the way, an earlier run or the user's files (without
            ``overwrite``), or a folder that cannot be written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(field, f"{out_dir} exists and is not a folder; give a folder.")
    out_dir_plan(out_dir, overwrite, field)  # early; checked again under the run's lock
    created = [p for p in [out_dir, *out_dir.parents] if not p.exists()][::-1]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=PROBE_PREFIX, dir=out_dir))
        probe.rmdir()
    except OSError as exc:
        remove_created(created)
        raise OptionError(field, f"cannot write into {out_dir} ({exc.strerror or exc}); choose a folder you can "
                                 "write to.") from None
    return out_dir, created


def earlier_outputs(out_dir) -> set:
    """The names of RadSurv's files in ``out_dir`` (see the module docstring): an earlier run's
    description file (``result.json`` / ``voxelmaps.json``) and what it lists, and ``error.log``."""
    out_dir = Path(out_dir)
    names = {ERROR_LOG} if (out_dir / ERROR_LOG).is_file() else set()
    for description, key in ((RESULT_FILE, "outputs"), (VOXELMAPS_FILE, "maps")):
        path = out_dir / description
        if not path.is_file():
            continue
        names.add(description)
        try:
            listed = json.loads(path.read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            listed = None
        if not isinstance(listed, dict):  # older or unreadable: RadSurv's names
            names |= {p.name for p in out_dir.glob(VOXEL_MAP_PATTERN)} | {
                n for n in _SCORE_FILES if description == RESULT_FILE and (out_dir / n).is_file()}
            continue
        values = [v for item in listed.values() for v in (item.values() if isinstance(item, dict) else [item])]
        names |= {_inside(out_dir, v) for v in values if isinstance(v, str)} - {None}
    return {n for n in names if (out_dir / n).is_file()}


def _inside(out_dir: Path, name: str):
    """``name`` (relative to ``out_dir``, or absolute) as a path relative to ``out_dir`` (POSIX form:
    ``rings.nrrd``, or ``dicom/seg.dcm`` in one of RadSurv's subfolders), or None when it lies outside."""
    path = Path(name) if Path(name).is_absolute() else out_dir / name
    try:
        relative = path.resolve().relative_to(out_dir.resolve())
    except ValueError:
        return None
    return relative.as_posix() if relative.parts else None


def _users_entries(out_dir: Path, earlier: set) -> list:
    """What in ``out_dir`` is not RadSurv's: its top-level files and folders that are neither an earlier
    run's files nor housekeeping; a folder holding an earlier run's files (``dicom/``) is RadSurv's,
    and only the files in it that the run did not list (``dicom/notes.txt``) are the user's."""
    theirs = []
    for entry in out_dir.iterdir():
        if entry.name in earlier or _is_housekeeping(entry.name):
            continue
        listed = {n for n in earlier if n.startswith(entry.name + "/")}
        if entry.is_dir() and listed:
            theirs += [f.relative_to(out_dir).as_posix() for f in entry.rglob("*")
                       if f.relative_to(out_dir).as_posix() not in listed and not f.is_dir()]
        else:
            theirs.append(entry.name)
    return sorted(theirs)


def _is_housekeeping(name: str) -> bool:
    """A lock, staging folder or write probe of a run (RadSurv's, never the user's)."""
    return name.startswith((STAGING_PREFIX, PROBE_PREFIX, LOCK_FILE))


def out_dir_plan(out_dir, overwrite: bool, field: str = "out_dir") -> set:
    """Check what ``out_dir`` holds before a run writes into it; returns the names of the earlier
    run's files that the new set replaces (removed when it moves in; empty without ``overwrite``).

    Raises:
        OptionError (``field``): without ``overwrite``, the folder holds an earlier run or files
            that RadSurv did not write (the first ``NAMED_FILES`` named).
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return set()
    earlier = earlier_outputs(out_dir)
    if overwrite:
        return earlier
    if earlier - {ERROR_LOG}:
        raise OptionError(field, f"{out_dir} already holds the results of an earlier run; they are kept. "
                                 "Choose another folder, or set [[overwrite]] to replace them.")
    theirs = _users_entries(out_dir, earlier)
    if theirs:
        raise users_files_error(out_dir, theirs, field)
    return set()


def users_files_error(out_dir, names, field: str = "out_dir") -> OptionError:
    """The refusal of a folder holding the user's files ``names`` (the first ``NAMED_FILES`` named)."""
    more = f" and {len(names) - NAMED_FILES} more" if len(names) > NAMED_FILES else ""
    return OptionError(field, f"{out_dir} holds files that RadSurv did not write ({', '.join(names[:NAMED_FILES])}"
                              f"{more}); they are kept. Choose an empty or new folder, or set [[overwrite]] to "
                              "write beside them (files with the names of RadSurv's outputs are then replaced).")


@contextmanager
def run_lock(out_dir, field: str = "out_dir"):
    """Hold ``out_dir``'s lock (``LOCK_FILE``) while the block runs; a killed run's lock (its process
    gone, on this computer) is taken over.

    Raises:
        OptionError (``field``): another run holds the folder (its process id, computer and start named).
    """
    path = Path(out_dir) / LOCK_FILE
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        try:
            _create_whole(path, mine)
        except FileExistsError:
            holder = _lock_holder(path)
            if holder and _holder_alive(holder):
                raise OptionError(field, f"{out_dir} is in use by another RadSurv run (process {holder.get('pid')} on "
                                         f"{holder.get('host')}, started {holder.get('started')}); wait until it "
                                         "ends, or choose another folder. If no such run is active any more, "
                                         f"delete {path}.") from None
            _take_over(path, holder)
            continue
        break
    else:
        raise OptionError(field, f"{out_dir}: could not take over the lock {path} of an ended run; delete it, "
                                 "then run again.")
    try:
        yield path
    finally:
        if _lock_holder(path) == mine:
            path.unlink(missing_ok=True)


def _create_whole(path: Path, content: dict) -> None:
    """Create the lock ``path`` holding ``content``, or raise FileExistsError: written beside it, then
    hard-linked in one step, so a run killed while taking the lock never leaves an empty lock."""
    draft = path.with_name(f"{LOCK_FILE}.{os.getpid()}-{os.urandom(4).hex()}.draft")
    draft.write_text(json.dumps(content), encoding="utf-8")
    try:
        os.link(draft, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (FAT, some shares): create, then write
        with os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644), "w", encoding="utf-8") as handle:
            json.dump(content, handle)
    finally:
        draft.unlink(missing_ok=True)


def release_lock_of(out_dir, pid) -> None:
    """Remove ``out_dir``'s lock when process ``pid`` holds it: a run the caller killed (the module's
    Cancel), whose folder should not wait for the next run to take the lock over."""
    path = Path(out_dir) / LOCK_FILE
    holder = _lock_holder(path)
    if holder and holder.get("pid") == pid and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def _lock_holder(path: Path):
    """The lock's content (dict), {} for one being written or unreadable, None when there is none."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


#: Seconds after which a lock without readable content is taken for a crashed run's.
_UNREADABLE_LOCK_S = 10.0


def _holder_alive(holder: dict) -> bool:
    """Whether the run holding a lock still runs (another computer's: assumed so)."""
    if not holder:  # written just now, or cut by a crash
        return False
    if holder.get("host") != socket.gethostname():
        return True
    return not isinstance(holder.get("pid"), int) or _process_alive(holder["pid"])


def _take_over(path: Path, holder) -> None:
    """Move an ended run's lock aside; put it back when it turns out to be a live run's new lock."""
    if holder == {} and time.time() - _mtime(path) < _UNREADABLE_LOCK_S:
        time.sleep(0.2)  # a lock being written: look again
        return
    aside = path.with_name(f"{LOCK_FILE}.{os.getpid()}-{os.urandom(4).hex()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another run took it over first
    if holder and _lock_holder(aside) != holder:  # a new lock came in between: not ours to take
        try:
            os.link(aside, path)
        except OSError:
            pass
    aside.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


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
    """Whether process ``pid`` of this computer runs (one of another user: assumed so)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # Windows' os.kill would terminate the process: ask the kernel
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: keep it
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has ended but was not reaped (Linux: state Z or X in /proc): a killed run whose
    parent died too stays a zombie where nothing reaps it (PID 1 of some containers), yet answers
    ``os.kill(pid, 0)``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS) or gone: os.kill decided
    return stat[stat.rfind(")") + 2:][:1] in ("Z", "X")


def _windows_process_alive(pid: int) -> bool:
    import ctypes

    kernel = ctypes.windll.kernel32
    handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.GetLastError() == 5  # access denied: it exists
    code = ctypes.c_ulong()
    try:
        kernel.GetExitCodeProcess(handle, ctypes.byref(code))
    finally:
        kernel.CloseHandle(handle)
    return code.value == 259  # STILL_ACTIVE


@contextmanager
def staged(out_dir, overwrite: bool, last: str = RESULT_FILE, field: str = "out_dir"):
    """The output-folder transaction: yields ``(out_dir, staging)``; the files written to ``staging``
    move into ``out_dir`` when the block ends without an error (``last`` moved last).

    ``out_dir`` is checked and created first (``prepare_out_dir``), the run takes its lock
    (``run_lock``), checks what it holds (``out_dir_plan``; ``overwrite`` lets a new run replace
    an earlier one: the earlier run's files that the new set does not replace are removed, the
    user's files kept) and removes staging folders of killed runs. On an error or an interrupt the
    staging folder and the folders this call created are removed.

    Raises:
        OptionError (``field``): as ``prepare_out_dir``, ``run_lock`` and ``out_dir_plan``; a full
            disk or a folder the system refused while the block wrote into it.
    """
    out_dir, created = prepare_out_dir(out_dir, overwrite, field)
    finished = False
    try:
        with run_lock(out_dir, field), _environment_named(out_dir, field):
            earlier = out_dir_plan(out_dir, overwrite, field)
            remove_stale_staging(out_dir)
            staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out_dir))
            try:
                yield out_dir, staging
                _move_in(staging, out_dir, last, earlier)
                finished = True
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        if not finished:
            remove_created(created)


def _move_in(staging: Path, out_dir: Path, last: str, earlier: set) -> None:
    """Replace the earlier run's files by the new set: the earlier description file first (no stale
    ``result.json`` over a mixed folder), then the new files (those of a subfolder such as ``dicom/``
    one by one, beside the user's files there), the earlier ones left over (and a subfolder they
    leave empty), ``last``."""
    names = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if not p.is_dir())
    for stale in sorted(earlier & {RESULT_FILE, VOXELMAPS_FILE}):
        (out_dir / stale).unlink(missing_ok=True)
    for name in [n for n in names if n != last]:
        if "/" in name:
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, out_dir / name)
    for stale in sorted(earlier - set(names)):
        (out_dir / stale).unlink(missing_ok=True)
        if "/" in stale:
            _remove_empty_folders(out_dir / stale, out_dir)
    if last in names:
        os.replace(staging / last, out_dir / last)


def _remove_empty_folders(path: Path, out_dir: Path) -> None:
    """Remove the folders above ``path`` up to ``out_dir`` (excluded) that are empty."""
    for parent in path.parents:
        if parent == out_dir or out_dir not in parent.parents:
            return
        try:
            parent.rmdir()
        except OSError:  # not empty (the user's files, or the new set's): kept
            return


#: Free bytes below which a failed write is taken for a full disk (SimpleITK reports no errno).
_FULL_DISK_BYTES = 1 << 20


@contextmanager
def _environment_named(out_dir: Path, field: str):
    """Report a refusal of the system as such (``errors.environment_failure``): naming ``field``
    when it concerns ``out_dir`` (a full disk, a read-only folder), else the file it concerns. A
    write error that names no file (SimpleITK's ``RuntimeError``, ``os.write``) on a full disk is
    the full disk."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            ours = str(Path(exc.filename).absolute()).startswith(str(out_dir.absolute()))
            failure = environment_failure(exc, field, out_dir) if ours else environment_failure(exc)
            if failure is not None:
                raise failure from None
        _raise_if_full(out_dir, field, exc)
        raise
    except RuntimeError as exc:  # SimpleITK's writers
        _raise_if_full(out_dir, field, exc)
        raise


def _raise_if_full(out_dir: Path, field: str, exc: BaseException) -> None:
    """Raise the full-disk error of ``out_dir`` when its disk has (almost) no space left."""
    if _free_bytes(out_dir) < _FULL_DISK_BYTES:
        import errno

        raise environment_failure(OSError(errno.ENOSPC, "No space left on device"), field, out_dir) from exc


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return _FULL_DISK_BYTES


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
        (paths), ``rings_1mm`` (path of the 1 mm analysis labelmap, None for runs older than
        that file), ``voxel_maps`` (dict feature name -> path, in ``result.json`` order, else sorted
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
        "rings_1mm": need(outputs["rings_1mm"], "1 mm ring labelmap") if outputs.get("rings_1mm") else None,
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
