"""Deep-feature vectors of manifest cases under a model bundle (``radsurv deep-features``), as CSV, for the
combined (deep + radiomics + clinical) models of ``radsurv signature fit --groups``."""

from __future__ import annotations

import csv
from pathlib import Path


def export_deep_features(bundle_path, manifest, out_csv, id_column: str = "PatientID", cache_dir=None,
                         on_bad_row: str = "stop", radscore_columns=(), progress: bool = True, log=print) -> Path:
    """Write ``id_column, deep_0 .. deep_{F-1}`` (one row per manifest case) under a bundle.

    The cases are preprocessed as in training (``RadSurvLib.training.cache``, the bundle's preprocessing
    and normalisation); the vector is ``model.features`` (``[F]``, e.g. the pooled SE-ResNet features).

    Args:
        bundle_path: model bundle folder.
        manifest: manifest CSV (``RadSurvLib.training.manifest``).
        out_csv: output CSV path (folders created).
        id_column: header of the case-id column.
        cache_dir: preprocessing cache folder (None: no cache).
        on_bad_row: ``"stop"`` or ``"skip"``.
        radscore_columns: manifest columns of the RadScores (``slice2d+radscores`` bundles).
        progress: progress bar; log: callable(str).

    Returns:
        The CSV path.

    Raises:
        BundleError: bad bundle. InputError: bad manifest rows, missing RadScore columns.
    """
    from ..models.bundle import load_bundle
    from ..models.registry import model_spec
    from .loop import predict
    from .train import TrainConfig, load_data, normalised

    bundle = load_bundle(bundle_path)
    spec = model_spec(bundle.config["architecture"]["name"])
    pre = dict(bundle.config["preprocessing"])
    config = TrainConfig(out=None, manifest=manifest, radscore_columns=tuple(radscore_columns), on_bad_row=on_bad_row,
                         cache_dir=cache_dir, progress=progress, log=log)
    _, data = load_data(config, manifest, spec.input_kind, pre, "manifest")
    feats = predict(bundle.model, normalised(spec.input_kind, data, pre), features=True)
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([id_column] + [f"deep_{i}" for i in range(feats.shape[1])])
        for case_id, row in zip(data.case_ids, feats):
            writer.writerow([case_id] + [f"{v:.6g}" for v in row])
    log(f"{len(data)} cases x {feats.shape[1]} deep features ({spec.name}) written to {out}")
    return out
