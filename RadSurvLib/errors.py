"""Exceptions that RadSurv raises for bad input, and how each front end names the input.

Every message names the input, says what is wrong and how to fix it. The command line prints
the message alone (no traceback) and exits with status 2.

Errors speak the library's terms: an ``OptionError`` names the field (``rings_mm``), and
``FRONT_END_NAMES`` gives each field's name in each front end (CLI flag ``--rings``, worker job key
``rings_mm``, Slicer GUI label ``Rings (mm)``) so that ``translate`` can say the same thing in the
caller's words. Any ``InputError`` whose message starts with a known parameter name (``ct: ...``,
``out_dir: ...``) is translated the same way. This module imports nothing of RadSurv: every
floor of the package may raise these.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path


class RadSurvError(Exception):
    """Base class of every error that RadSurv reports to the user."""


class InputError(RadSurvError):
    """A CT, GTV mask, manifest or option is missing, unreadable or inconsistent."""


class BundleError(RadSurvError):
    """A model bundle is missing, malformed, or fails its checksum."""


#: Front ends whose names ``translate`` knows.
FRONT_ENDS = ("cli", "job", "gui")

#: Each parameter's name per front end: (CLI flag, worker job key, Slicer GUI label). Options and
#: the inputs of ``score_case`` and ``map_case`` (so that their errors can be translated too).
FRONT_END_NAMES = {
    "ct": ("--ct", "ct", "CT volume"),
    "gtv": ("--gtv", "gtv", "GTV segment"),
    "rtstruct": ("--rtstruct", "rtstruct", "RTSTRUCT file"),
    "seg": ("--seg", "seg", "DICOM SEG file"),
    "roi": ("--roi", "roi", "ROI / segment name"),
    "out_dir": ("--out", "out_dir", "Output folder"),
    "bundle": ("--bundle", "bundle", "Model bundle"),
    "rings_mm": ("--rings", "rings_mm", "Rings (mm)"),
    "inner_rim_mm": ("--inner-rim", "inner_rim_mm", "Inner rim (mm)"),
    "air_hu": ("--exclude-air", "air_hu", "Exclude air below (HU)"),
    "lung_mask": ("--lung-mask", "lung_mask", "Lung mask"),
    "ring_convention": ("--ring-convention", "ring_convention", "Ring distances"),
    "device": ("--device", "device", "Device"),
    "params_file": ("--params-file", "params_file", "PyRadiomics parameter file"),
    "radiomics": ("--radiomics", "radiomics", "Radiomics"),
    "kernel_radius": ("--kernel-radius", "kernel_radius", "Kernel radius (voxels)"),
    "voxel_map_features": ("--voxel-maps", "voxel_map_features", "Voxel maps"),
    "signature": ("--signature", "signature", "Radiomics signature"),
    "radiomics_engine": ("--radiomics-engine", "radiomics_engine", "Radiomics engine"),
    "gtv_label": ("--gtv-label", "gtv_label", "GTV label"),
    "features_only": ("--features-only", "features_only", "ROI features only"),
    "scene_path": ("--scene", "scene_path", "Scene file"),
    "dicom_out": ("--dicom-out", "dicom_out", "DICOM outputs"),
    "overwrite": ("--overwrite", "overwrite", "If results exist"),
    "bin_width": ("--bin-width", "bin_width", "Bin width (HU)"),  # pipeline.map_case (radsurv voxelmaps)
    "ring_mm": ("--ring", "ring_mm", "Ring (mm)"),
    "cases": ("--cases", "cases", "Cases file"),  # batch.process_cohort (radsurv batch / features)
}

class OptionError(InputError):
    """A scoring option (or an input of ``score_case``) is invalid.

    Attributes:
        field: the parameter's library name (a key of ``FRONT_END_NAMES``, e.g. ``rings_mm``).
        problem: what is wrong and how to fix it, without the name. Other parameters are written
            ``[[name]]`` in it, so each front end can name them in its own terms.
    """

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(render(field, problem, None))


def _front_end_name(name: str, front_end: str | None) -> str:
    if front_end is None or name not in FRONT_END_NAMES:
        return name
    return FRONT_END_NAMES[name][FRONT_ENDS.index(front_end)]


def render(field: str, problem: str, front_end: str | None) -> str:
    """``"<name>: <problem>"`` with every name in ``front_end``'s terms (None: the library's)."""
    if front_end is not None and front_end not in FRONT_ENDS:
        raise ValueError(f"front_end {front_end!r}: choose one of {', '.join(FRONT_ENDS)}")
    text = re.sub(r"\[\[(\w+)\]\]", lambda m: _front_end_name(m.group(1), front_end), problem)
    return f"{_front_end_name(field, front_end)}: {text}"


def translate(error: Exception, front_end: str) -> str:
    """The message of ``error`` in the terms of ``front_end`` ("cli", "job" or "gui").

    An ``OptionError`` is rendered from its field and problem; another error whose message starts
    with ``"<known parameter>: "`` gets that prefix translated; any other message is returned as it is.
    """
    if isinstance(error, OptionError):
        return render(error.field, error.problem, front_end)
    message = str(error)
    head, sep, rest = message.partition(": ")
    if sep and head in FRONT_END_NAMES:
        return render(head, rest, front_end)
    return message


def input_error(name: str, problem: str):
    """The error for a bad input called ``name``: ``OptionError`` when ``name`` is a
    parameter of the library (a key of ``FRONT_END_NAMES``, e.g. ``"gtv"``), so that each
    front end names it (and any ``[[parameter]]`` in ``problem``) in its own terms; otherwise an
    ``InputError`` reading ``"<name>: <problem>"``.
    """
    if name in FRONT_END_NAMES:
        return OptionError(name, problem)
    return InputError(render(name, problem, None))


def parameter(name: str) -> str:
    """``name`` as a ``[[name]]`` reference for ``input_error`` when it is a library parameter."""
    return f"[[{name}]]" if name in FRONT_END_NAMES else name


# --------------------------------------------------------------------------------------------
# The system refused: disk full, read-only folder, permission, a file that vanished, an encoding
# --------------------------------------------------------------------------------------------

class EnvironmentFailure(InputError):
    """The computer refused what a run needed (a full disk, a read-only folder, no permission, a
    file that vanished, a text file that is not UTF-8): not a bug of RadSurv, one sentence and the fix."""


#: errno -> (what happened, how to fix it); ``{path}`` is the file or folder concerned.
_SYSTEM_ERRORS = {
    errno.ENOSPC: ("the disk holding {path} is full", "free some space there (or choose a folder on another "
                                                      "disk), then run again"),
    errno.EROFS: ("{path} is on a read-only disk", "choose a folder you can write to"),
    errno.EACCES: ("permission denied for {path}", "choose a file or folder you can read and write, or ask for "
                                                   "access"),
    errno.EPERM: ("the system does not permit this on {path}", "choose a file or folder you can read and write"),
    errno.ENOENT: ("{path} is gone (moved or deleted while RadSurv was using it)", "put it back, or give its new "
                                                                                  "place, then run again"),
}
if hasattr(errno, "EDQUOT"):
    _SYSTEM_ERRORS[errno.EDQUOT] = ("your disk quota for {path} is used up", "free some space, then run again")


def environment_failure(exc: BaseException, field: str | None = None, path=None):
    """The user's error for a refusal of the system, or None when ``exc`` is not one (a bug).

    Args:
        exc: an ``OSError`` with a known ``errno`` (``_SYSTEM_ERRORS``; a file name, or ``path``),
            or a ``UnicodeDecodeError`` from decoding the whole of the text file ``path``.
        field: the parameter whose file or folder it is (e.g. ``"out_dir"``): the error is then an
            ``OptionError`` that each front end names in its terms; None: an ``EnvironmentFailure``.
        path: the file or folder to name (None: the one ``exc`` names).

    Returns:
        ``EnvironmentFailure`` / ``OptionError`` (raise it ``from None``), or None.
    """
    if isinstance(exc, UnicodeDecodeError):
        if path is None:
            return None
        data = exc.object if isinstance(exc.object, (bytes, bytearray)) else b""
        line = data.count(b"\n", 0, exc.start) + 1
        problem = (f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8 "
                   "(e.g. Excel: CSV UTF-8), then run again.") if data else f"{path} is not UTF-8 text."
    elif isinstance(exc, OSError) and exc.errno in _SYSTEM_ERRORS:
        where = path if path is not None else exc.filename
        if where is None:
            return None
        what, fix = _SYSTEM_ERRORS[exc.errno]
        problem = f"{what.format(path=where)}; {fix}."
    elif isinstance(exc, OSError) and (exc.filename is not None or path is not None):  # EIO, EISDIR, ...
        problem = f"{path or exc.filename}: {exc.strerror or exc}; check it, then run again."
    else:
        return None
    return OptionError(field, problem) if field else EnvironmentFailure(problem[0].upper() + problem[1:])


def user_message(exc: BaseException, front_end: str | None) -> str | None:
    """What a front end tells the user about ``exc``: a ``RadSurvError`` or a refusal of the system
    (``environment_failure``), in ``front_end``'s terms (None: the library's); None for anything
    else (a bug: an internal error)."""
    if not isinstance(exc, RadSurvError):
        exc = environment_failure(exc)
    return None if exc is None else translate(exc, front_end)


#: Folder of the logs of internal errors (default: ``<temp>/radsurv-logs``).
LOG_DIR_VARIABLE = "RADSURV_LOG_DIR"


def write_crash_log(what: str, text: str) -> Path:
    """Write the log of an internal error (a traceback and what led to it) to a new file
    ``radsurv-<what>-<date>-<time>-<pid>.log`` in ``$RADSURV_LOG_DIR`` (default ``<temp>/radsurv-logs``).

    Returns:
        The file's path. Raises OSError when the folder cannot be written.
    """
    import datetime
    import tempfile

    folder = Path(os.environ.get(LOG_DIR_VARIABLE) or Path(tempfile.gettempdir()) / "radsurv-logs")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"radsurv-{what}-{stamp}-{os.getpid()}.log"
    path.write_text(text, encoding="utf-8")
    return path
