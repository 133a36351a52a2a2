"""Training manifest: one CSV row per case for ``radsurv train`` / ``finetune`` / ``deep-features``.

Columns (header names, case-insensitive): ``case_id``, ``ct``, ``gtv`` (NRRD / NIfTI paths; relative
paths are resolved against the CSV's folder), ``time_days`` (observed time, days, > 0), ``event``
(1 = death observed, 0 = censored); optional ``endpoint`` (binary 0/1 label for BCE training) and any
other columns (clinical covariates), kept as strings in ``ManifestCase.extra``.

A bad row (missing file, time not a positive finite number, event not 0/1, duplicate case id, empty
id) is reported with its line number in the CSV (the header is line 1); with ``on_bad_row="skip"`` it
is left out and reported, with ``"stop"`` the first bad row raises ``InputError``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

REQUIRED_COLUMNS = ("case_id", "ct", "gtv", "time_days", "event")


@dataclass
class ManifestCase:
    """One valid manifest row.

    Attributes:
        case_id: unique case identifier.
        ct, gtv: absolute paths of the CT (HU) and GTV mask files.
        time_days: observed time, days (> 0).
        event: 1 = event (death) observed, 0 = censored.
        endpoint: binary endpoint 0/1, or None when the manifest has no ``endpoint`` value.
        line: line number in the CSV (header = line 1).
        extra: the other columns (name -> string).
    """

    case_id: str
    ct: Path
    gtv: Path
    time_days: float
    event: int
    endpoint: int | None = None
    line: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class Manifest:
    """A read manifest: the valid cases and the problems of the rows left out.

    Attributes:
        path: the CSV file.
        cases: list of ``ManifestCase`` in file order.
        problems: list of ``(line, message)`` of the skipped rows.
    """

    path: Path
    cases: list
    problems: list


def _binary(value: str):
    text = str(value).strip()
    if text in ("0", "1", "0.0", "1.0"):
        return int(float(text))
    return None


def _check_row(row: dict, folder: Path, seen: set, require_endpoint: bool) -> ManifestCase:
    """Validate one row; raises ValueError with the problem."""
    case_id = (row.get("case_id") or "").strip()
    if not case_id:
        raise ValueError("case_id is empty")
    if case_id in seen:
        raise ValueError(f"case_id {case_id!r} appears twice")
    paths = {}
    for key in ("ct", "gtv"):
        text = (row.get(key) or "").strip()
        if not text:
            raise ValueError(f"{key} is empty")
        path = Path(text)
        path = path if path.is_absolute() else folder / path
        if not path.is_file():
            raise ValueError(f"{key} file not found: {path}")
        paths[key] = path.resolve()
    raw_time = (row.get("time_days") or "").strip()
    try:
        time_days = float(raw_time)
    except ValueError:
        raise ValueError(f"time_days {raw_time!r} is not a number") from None
    if not math.isfinite(time_days) or time_days <= 0:
        raise ValueError(f"time_days {raw_time!r} must be a positive number of days")
    event = _binary(row.get("event", ""))
    if event is None:
        raise ValueError(f"event {row.get('event')!r} must be 0 (censored) or 1 (death observed)")
    endpoint = None
    if "endpoint" in row and str(row["endpoint"]).strip() != "":
        endpoint = _binary(row["endpoint"])
        if endpoint is None:
            raise ValueError(f"endpoint {row['endpoint']!r} must be 0 or 1")
    elif require_endpoint:
        raise ValueError("endpoint is empty (binary training needs 0 or 1)")
    extra = {k: v for k, v in row.items() if k not in REQUIRED_COLUMNS and k != "endpoint"}
    return ManifestCase(case_id, paths["ct"], paths["gtv"], time_days, event, endpoint, extra=extra)


def read_manifest(path, on_bad_row: str = "stop", require_endpoint: bool = False, log=None) -> Manifest:
    """Read and validate a training manifest CSV.

    Args:
        path: the CSV file.
        on_bad_row: ``"stop"`` (raise at the first bad row) or ``"skip"`` (leave it out, report it).
        require_endpoint: every row needs a 0/1 ``endpoint`` (binary training).
        log: optional callable(str): each skipped row is reported as ``"<csv>:<line>: <problem> (skipped)"``.

    Returns:
        ``Manifest``.

    Raises:
        InputError: file missing or unreadable, a required column missing, a bad row with
            ``on_bad_row="stop"`` (message ``"manifest <csv> line <n>: <problem>"``), bad ``on_bad_row``,
            or no valid row left.
    """
    path = Path(path)
    if on_bad_row not in ("stop", "skip"):
        raise InputError(f"on_bad_row: must be 'skip' or 'stop', got {on_bad_row!r}.")
    if not path.is_file():
        raise InputError(f"manifest: file not found: {path}. Give a CSV with columns {', '.join(REQUIRED_COLUMNS)}.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise InputError(f"manifest {path}: missing column(s) {', '.join(missing)}; the header must name "
                                 f"{', '.join(REQUIRED_COLUMNS)} (optional: endpoint, clinical columns).")
            rows = [(reader.line_num, {h: (v or "") for h, v in zip(header, raw.values())}) for raw in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"manifest: cannot read {path} as CSV ({exc}).") from None
    cases, problems, seen = [], [], set()
    for line, row in rows:
        try:
            case = _check_row(row, path.parent, seen, require_endpoint)
        except ValueError as exc:
            message = f"manifest {path} line {line}: {exc}"
            if on_bad_row == "stop":
                raise InputError(message + ". Fix the row or run with on_bad_row skip.") from None
            problems.append((line, str(exc)))
            if log:
                log(f"{message} (skipped)")
            continue
        case.line = line
        seen.add(case.case_id)
        cases.append(case)
    if not cases:
        raise InputError(f"manifest {path}: no valid case ({len(problems)} bad row(s)).")
    return Manifest(path=path, cases=cases, problems=problems)
