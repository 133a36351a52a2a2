"""Survival data: read and join feature and clinical tables, check (time, event), clean features.

Survival times are in **days** throughout RadSurv's statistics (the Lung1 clinical table's
``Survival.time``); ``event`` is 1 for an observed death and 0 for a censored follow-up.

Bad input is reported as :class:`RadSurvLib.errors.InputError` with a message naming the table,
the column and the patients concerned. Feature columns that cannot carry information are removed,
not silently used: a column with any missing/non-finite value, a non-numeric column and a column
that is constant in the *training* data are dropped and listed in the ``dropped`` dictionary that
:func:`clean_features` returns (and that the signature bundle records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

#: Days per year used to turn 1/2/3-year horizons into days (Julian year).
DAYS_PER_YEAR = 365.25


def read_table(path, what: str = "table"):
    """Read a CSV (optionally ``.gz``) into a pandas DataFrame.

    Args:
        path: file path.
        what: the table's role, used in error messages ("feature table", "clinical table").

    Returns:
        ``pandas.DataFrame``.

    Raises:
        InputError: the file is missing, unreadable or empty.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for malformed CSVs
        raise InputError(f"cannot read {what} {path}: {exc}") from exc
    if table.empty:
        raise InputError(f"{what} {path} has no rows")
    return table


def check_survival(time, event, what: str = "survival data", ids=None):
    """Check survival times and event indicators and return them as arrays.

    Args:
        time: array-like ``[N]``, follow-up time in days; every time must be finite and > 0.
        event: array-like ``[N]``, 1 = event (death) observed, 0 = censored; booleans accepted.
        what: name of the data in messages.
        ids: optional ``[N]`` patient identifiers, quoted in messages.

    Returns:
        ``(time float64 [N], event bool [N])``.

    Raises:
        InputError: lengths differ, fewer than 2 subjects, a time that is missing, non-finite,
            negative or zero, an event that is not 0/1, no event at all (all censored), or every
            subject has the event at the same time (no comparable pair).
    """
    ids = None if ids is None else np.asarray(ids)

    def name(mask):
        where = np.flatnonzero(mask)[:5]
        listed = ", ".join(str(ids[i]) if ids is not None else f"row {i}" for i in where)
        more = " ..." if mask.sum() > 5 else ""
        return f"{listed}{more}"

    try:
        time = np.asarray(time, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: survival times are not numbers ({exc})") from exc
    event_raw = np.asarray(event).reshape(-1)
    if time.shape != event_raw.shape:
        raise InputError(f"{what}: {time.size} times but {event_raw.size} event indicators")
    if time.size < 2:
        raise InputError(f"{what}: needs at least 2 subjects, got {time.size}")
    bad = ~np.isfinite(time)
    if bad.any():
        raise InputError(f"{what}: missing or non-finite survival time for {int(bad.sum())} subject(s): {name(bad)}")
    bad = time <= 0
    if bad.any():
        raise InputError(f"{what}: survival times must be > 0 days; {int(bad.sum())} subject(s) have "
                         f"time <= 0: {name(bad)} (min {time.min():g})")
    try:
        event_num = event_raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: event indicators must be 0/1 ({exc})") from exc
    bad = ~np.isin(event_num, (0.0, 1.0))
    if bad.any():
        raise InputError(f"{what}: event indicators must be 0 (censored) or 1 (event); "
                         f"{int(bad.sum())} subject(s) have other values: {name(bad)}")
    event = event_num.astype(bool)
    if not event.any():
        raise InputError(f"{what}: no event (every subject is censored); survival statistics need "
                         "at least one observed event")
    if np.unique(time).size == 1:
        raise InputError(f"{what}: every subject has the same time ({time[0]:g} days); no pair can be compared")
    return time, event


@dataclass
class FeatureTable:
    """A feature table joined with its clinical table: features, survival and clinical columns, one
    row per patient (the input of signature fitting and evaluation; "cohort" is batch scoring's word).

    Attributes:
        ids: ``[N]`` patient identifiers (str).
        features: ``pandas.DataFrame [N, F]`` of numeric feature columns (as read; cleaning is a
            separate step so that it can use training statistics only).
        time: ``[N]`` float, days.
        event: ``[N]`` bool.
        clinical: ``pandas.DataFrame [N, C]`` of the remaining clinical columns (for covariates and
            subgroups).
        notes: human-readable notes on the join (patients dropped, ...).
    """

    ids: np.ndarray
    features: object
    time: np.ndarray
    event: np.ndarray
    clinical: object
    notes: list = field(default_factory=list)


def load_feature_table(features_csv, clinical_csv=None, id_column: str = "PatientID",
                time_column: str = "Survival.time", event_column: str = "deadstatus.event",
                require_survival: bool = True) -> FeatureTable:
    """Read a feature table and a clinical table and join them on the patient ID (inner join).

    Args:
        features_csv: CSV with ``id_column`` and one numeric column per feature. If
            ``clinical_csv`` is None the time/event columns must be in this table.
        clinical_csv: CSV with ``id_column``, ``time_column`` (days) and ``event_column`` (0/1),
            plus optional clinical covariates.
        id_column, time_column, event_column: column names.
        require_survival: when False (applying a signature to new cases), missing time/event columns
            are allowed and ``time``/``event`` are None.

    Returns:
        :class:`FeatureTable`. Patients in only one table are left out and named in ``notes``.

    Raises:
        InputError: a column is missing, IDs are duplicated, no patient is in both tables, or the
            survival data fail :func:`check_survival`.
    """
    feats = read_table(features_csv, "feature table")
    if id_column not in feats.columns:
        raise InputError(f"feature table {features_csv} has no ID column {id_column!r} "
                         f"(columns start {list(feats.columns[:5])})")
    feats[id_column] = feats[id_column].astype(str)
    dup = feats[id_column][feats[id_column].duplicated()]
    if len(dup):
        raise InputError(f"feature table {features_csv}: duplicated {id_column} {sorted(set(dup))[:5]}")
    notes = []
    if clinical_csv is not None:
        clin = read_table(clinical_csv, "clinical table")
        if id_column not in clin.columns:
            raise InputError(f"clinical table {clinical_csv} has no ID column {id_column!r}")
        clin[id_column] = clin[id_column].astype(str)
        dup = clin[id_column][clin[id_column].duplicated()]
        if len(dup):
            raise InputError(f"clinical table {clinical_csv}: duplicated {id_column} {sorted(set(dup))[:5]}")
        overlap = [c for c in clin.columns if c in feats.columns and c != id_column]
        if overlap:
            raise InputError(f"columns {overlap[:5]} are in both the feature and the clinical table; rename them")
        only_feats = sorted(set(feats[id_column]) - set(clin[id_column]))
        if only_feats:
            notes.append(f"{len(only_feats)} patient(s) of the feature table have no clinical row and are "
                         f"left out: {only_feats[:5]}")
        merged = feats.merge(clin, on=id_column, how="inner")
        clinical_cols = [c for c in clin.columns if c != id_column]
        feature_cols = [c for c in feats.columns if c != id_column]
    else:
        merged = feats
        clinical_cols = [c for c in (time_column, event_column) if c in feats.columns]
        feature_cols = [c for c in feats.columns if c not in clinical_cols and c != id_column]
    if merged.empty:
        raise InputError(f"no patient ID ({id_column}) is in both the feature and the clinical table")
    ids = merged[id_column].to_numpy(dtype=str)
    time = event = None
    have = [c in merged.columns for c in (time_column, event_column)]
    if all(have):
        time, event = check_survival(merged[time_column].to_numpy(), merged[event_column].to_numpy(),
                                     what=f"columns {time_column!r}/{event_column!r}", ids=ids)
    elif require_survival:
        missing = [c for c, h in zip((time_column, event_column), have) if not h]
        raise InputError(f"survival column(s) {missing} not found in the clinical/feature table")
    clinical = merged[clinical_cols].reset_index(drop=True)
    features = merged[feature_cols].reset_index(drop=True)
    return FeatureTable(ids=ids, features=features, time=time, event=event, clinical=clinical, notes=notes)


def clean_features(features, min_std: float = 1e-12):
    """Drop feature columns that carry no usable information, naming each one.

    A column is dropped when it is non-numeric, has any missing or non-finite value, or has a
    standard deviation <= ``min_std`` (constant). Call it on the *training* rows only; the kept
    column names are then applied to other rows.

    Args:
        features: ``pandas.DataFrame [N, F]``.
        min_std: constant-column threshold (same units as the feature).

    Returns:
        ``(kept_columns list[str], dropped dict reason -> list[str])``.

    Raises:
        InputError: no feature column is left.
    """
    import pandas as pd

    dropped = {"non-numeric": [], "missing or non-finite values": [], "constant": []}
    kept = []
    for col in features.columns:
        values = pd.to_numeric(features[col], errors="coerce")
        if values.isna().all() and not features[col].isna().all():
            dropped["non-numeric"].append(str(col))
            continue
        arr = values.to_numpy(dtype=float)
        if not np.isfinite(arr).all():
            dropped["missing or non-finite values"].append(str(col))
            continue
        if arr.std() <= min_std:
            dropped["constant"].append(str(col))
            continue
        kept.append(str(col))
    if not kept:
        summary = ", ".join(f"{len(v)} {k}" for k, v in dropped.items() if v)
        raise InputError(f"no usable feature column: {summary}")
    return kept, dropped


def encode_covariates(clinical, names, levels=None):
    """Turn clinical covariates into a numeric design matrix (numeric as is, categorical one-hot).

    A column whose values are all numbers is used as a number (e.g. ``age`` in years); any other
    column is categorical: one 0/1 column per level except the first (sorted) training level.

    Args:
        clinical: ``pandas.DataFrame [N, C]``.
        names: covariate column names to use.
        levels: ``{name: [levels]}`` from the training data (None: learn them here).

    Returns:
        ``(matrix float [N, K], column names [K], levels dict)``.

    Raises:
        InputError: a covariate column is missing or has missing values (patients named), or a
            categorical value was not seen in training.
    """
    import pandas as pd

    learn = levels is None
    levels = {} if learn else dict(levels)
    cols, names_out = [], []
    for name in names:
        if name not in clinical.columns:
            raise InputError(f"clinical covariate {name!r} is not a column of the clinical table")
        series = clinical[name]
        if series.isna().any():
            raise InputError(f"clinical covariate {name!r} is missing for {int(series.isna().sum())} patient(s); "
                             "fill it in or leave the covariate out")
        numeric = pd.to_numeric(series, errors="coerce")
        if (learn and not numeric.isna().any()) or (not learn and levels.get(name) is None):
            levels[name] = None
            cols.append(numeric.to_numpy(dtype=float))
            names_out.append(name)
            continue
        values = series.astype(str).to_numpy()
        if learn:
            levels[name] = sorted(set(values))
        unseen = sorted(set(values) - set(levels[name]))
        if unseen:
            raise InputError(f"clinical covariate {name!r} has value(s) {unseen} not seen in training "
                             f"(training levels {levels[name]})")
        for level in levels[name][1:]:
            cols.append((values == level).astype(float))
            names_out.append(f"{name}[{level}]")
    matrix = np.column_stack(cols) if cols else np.zeros((len(clinical), 0))
    return matrix, names_out, levels
