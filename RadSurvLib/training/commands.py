"""``radsurv train``, ``radsurv finetune``, ``radsurv deep-features`` and ``radsurv synth-cohort``.

:func:`add_parsers` registers the sub-commands; :data:`RUNNERS` maps each name to ``run(args) -> exit status``.

- ``train``: manifest -> preprocessing cache -> training (``loop.fit``) -> model bundle folder with
  ``bundle.json`` + ``model.safetensors`` (median training risk as cut-off, provenance),
  ``training_report.json``, ``training_curves.png`` and ``checkpoints/`` (deletable once done).
- ``finetune``: the same from an existing bundle (its architecture, preprocessing and normalisation),
  all layers or ``--head-only``, with a lower default learning rate (Wang et al.: pre-train on RTOG 0617,
  fine-tune on the immunotherapy cohort).
- ``deep-features``: the deep-feature vector of every manifest case under a bundle, as CSV.
- ``synth-cohort``: a synthetic cohort with a known hazard (``RadSurvLib.training.synthetic_cohort``).
"""

from __future__ import annotations

import sys
import time as _time
from pathlib import Path

from ..errors import InputError

#: Small CPU configurations of each architecture (the paper-size ones are the class defaults).
SMALL_PARAMS = {
    "SEResNet3D": {"in_channels": 1, "base_width": 8, "blocks_per_stage": [2, 2, 2, 2],
                   "head_units": [64, 32, 16], "dropout": 0.4, "se_ratio": 64},
    "VisionMamba3D": {"in_channels": 4, "image_size": 32, "patch_size": 4, "embed_dim": 32, "depth": 2,
                      "d_state": 8, "head_units": [32], "dropout": 0.2},
    "DeepRadScore2D": {"in_channels": 1, "n_radscores": 0, "hidden_units": 64, "dropout": 0.2,
                       "init_features": 16, "growth_rate": 8, "block_config": [2, 2, 2, 2], "bn_size": 2},
}
#: Default preprocessing of each input kind (normalisation statistics are added from the training set).
DEFAULT_PREPROCESSING = {
    "ct3d": {"crop_size": 64, "margin_mm": 5.0, "hu_clip": [-1000.0, 400.0], "spacing_mm": [1.0, 1.0, 1.0]},
    "ct3d+maps": {"crop_size": 32, "margin_mm": 5.0, "hu_clip": [-1000.0, 400.0], "spacing_mm": [1.0, 1.0, 1.0],
                  "voxel_maps": ["firstorder_Mean", "firstorder_Variance", "firstorder_Entropy"],
                  "kernel_radius": 1, "bin_width": 25.0},
    "slice2d+radscores": {"patch_size": 64, "hu_clip": [-1000.0, 400.0], "spacing_mm": [1.0, 1.0, 1.0],
                          "radscore_names": []},
}
NORM_KEYS = ("norm_mean", "norm_std", "map_norm")
HEAD_PREFIXES = {"DeepRadScore2D": ("fc_penultimate", "fc_out")}


def _log(message: str) -> None:
    print(message, flush=True)


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "radsurv" / "preprocessing"


def _progress(desc):
    from tqdm.auto import tqdm

    return lambda items: tqdm(items, desc=desc, unit="case", file=sys.stdout)


def _common(p, bundle_out=True):
    p.add_argument("--manifest", required=True,
                   help="cohort CSV: case_id, ct, gtv, time_days, event [, endpoint, clinical columns]; relative "
                        "paths are resolved against the CSV's folder")
    p.add_argument("--on-bad-row", default="stop", choices=("stop", "skip"),
                   help="a bad manifest row (missing file, time <= 0, event not 0/1) stops the run (default) or is "
                        "skipped; either way it is reported with its line number")
    p.add_argument("--cache-dir", default=None,
                   help=f"preprocessing cache folder (default {_default_cache_dir()}; 'none' disables it)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"), help="torch device (default cpu)")


def _training_args(p, lr_default: float):
    val = p.add_mutually_exclusive_group()
    val.add_argument("--val-fraction", type=float, default=0.2,
                     help="fraction of the manifest held out for validation / early stopping, stratified by event "
                          "(default 0.2; 0 = no validation)")
    val.add_argument("--val-manifest", default=None, help="separate validation manifest instead of --val-fraction")
    p.add_argument("--test-manifest", default=None,
                   help="held-out test manifest, evaluated once after training (C-index in the report and bundle)")
    p.add_argument("--epochs", type=int, default=100, help="maximum epochs (default 100, Liu et al.)")
    p.add_argument("--batch-size", type=int, default=32, help="default 32 (Liu et al.)")
    p.add_argument("--lr", type=float, default=lr_default, help=f"initial Adam learning rate (default {lr_default:g})")
    p.add_argument("--lr-decay", type=float, default=0.96, help="exponential decay factor (default 0.96)")
    p.add_argument("--decay-steps", type=int, default=1000, help="optimiser steps per decay (default 1000, Liu et al.)")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="L2 lambda (default 1e-4, Liu et al.)")
    p.add_argument("--patience", type=int, default=15, help="early-stopping patience in epochs (default 15; 0 = off)")
    p.add_argument("--monitor", default="loss", choices=("loss", "c_index"),
                   help="validation quantity of early stopping and best-epoch choice (default loss)")
    p.add_argument("--augment", default="liu", choices=("liu", "spatial", "none"),
                   help="liu = Table 1 of Liu et al. (default); spatial = mirroring + rotation only")
    p.add_argument("--endpoint", default="survival", choices=("survival", "binary"),
                   help="survival (Cox loss, default) or binary (BCE on the manifest's endpoint column)")
    p.add_argument("--seed", type=int, default=0, help="seed of split, initialisation, shuffling, augmentation")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT/checkpoints")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--name", default=None, help="bundle name (default: the --out folder's name)")


def add_parsers(sub) -> None:
    """Add ``train``, ``finetune``, ``deep-features`` and ``synth-cohort`` to the ``radsurv`` sub-parsers."""
    tr = sub.add_parser("train", help="train a deep survival model on a cohort manifest; writes a model bundle",
                        description="Train SEResNet3D, VisionMamba3D or DeepRadScore2D (Cox loss, Liu et al.'s "
                                    "augmentation, Adam + exponential decay, early stopping, checkpoints).")
    _common(tr)
    tr.add_argument("--model", required=True, choices=tuple(SMALL_PARAMS), help="architecture")
    tr.add_argument("--out", required=True, help="output bundle folder")
    tr.add_argument("--model-params", default=None,
                    help="JSON of constructor arguments overriding the small CPU defaults, e.g. '{\"base_width\": 64}'")
    tr.add_argument("--preprocessing", default=None,
                    help="JSON overriding the default preprocessing, e.g. '{\"voxel_maps\": [\"firstorder_Mean\"]}'")
    tr.add_argument("--radscore-columns", default=None,
                    help="manifest columns holding the RadScores of DeepRadScore2D (comma-separated)")
    _training_args(tr, 1e-4)

    ft = sub.add_parser("finetune", help="fine-tune a model bundle on a (target) cohort; writes a new bundle",
                        description="Cross-cohort transfer (Wang et al.): start from --from, train all layers or "
                                    "only the head (--head-only) with a lower learning rate.")
    _common(ft)
    ft.add_argument("--from", dest="source", required=True, help="source model bundle folder")
    ft.add_argument("--out", required=True, help="output bundle folder")
    ft.add_argument("--head-only", action="store_true", help="train only the prediction head (backbone frozen)")
    ft.add_argument("--radscore-columns", default=None, help="as for train")
    _training_args(ft, 1e-5)

    df = sub.add_parser("deep-features", help="export each case's deep-feature vector under a bundle (CSV)",
                        description="Write case_id + deep_0..deep_{F-1} per manifest case, for the combined model of "
                                    "`radsurv signature fit --groups`.")
    _common(df)
    df.add_argument("--bundle", required=True, help="model bundle folder")
    df.add_argument("--out", required=True, help="output CSV")
    df.add_argument("--id-column", default="PatientID", help="name of the case id column in the CSV (default PatientID)")
    df.add_argument("--radscore-columns", default=None, help="as for train")

    sc = sub.add_parser("synth-cohort", help="write a synthetic cohort with a known hazard on a real CT background",
                        description=("Synthetic tumours (size, texture heterogeneity, necrosis drive the hazard) in "
                                     "lung blocks of the PAT1 CT; writes images/, manifest.csv and truth.csv."))
    sc.add_argument("--out", required=True, help="output folder")
    sc.add_argument("--n", type=int, required=True, help="number of cases")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--start", type=int, default=0, help="index of the first case")
    sc.add_argument("--shift", action="store_true",
                    help="TARGET cohort: shifted hazard weights and scanner-like intensity change (for finetune)")
    sc.add_argument("--background", default=None, help="background CT (default RadSurvLib/resources/PAT1/image.nii.gz)")


# --------------------------------------------------------------------------------------------------------------
def _json_arg(text, name):
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: not valid JSON ({exc}); e.g. '{{\"base_width\": 8}}'.") from None
    if not isinstance(value, dict):
        raise InputError(f"{name}: must be a JSON object.")
    return value


def _cache(args, kind, settings):
    from .cache import CaseCache

    folder = args.cache_dir
    folder = None if (folder or "").lower() == "none" else Path(folder) if folder else _default_cache_dir()
    return CaseCache(folder, kind, {k: v for k, v in settings.items() if k not in NORM_KEYS})


def _load(args, path, kind, settings, what, require_endpoint=False):
    """Read a manifest and preprocess its cases (cached); returns (Manifest, CohortArrays)."""
    import torch

    from .cache import load_cohort
    from .manifest import read_manifest

    manifest = read_manifest(path, args.on_bad_row, require_endpoint=require_endpoint, log=_log)
    cache = _cache(args, kind, settings)
    data = load_cohort(manifest.cases, cache, None if args.no_progress else _progress(f"preprocessing {what}"))
    names = [c.strip() for c in (getattr(args, "radscore_columns", None) or "").split(",") if c.strip()]
    if names:
        try:
            data.radscores = torch.tensor([[float(c.extra[n]) for n in names] for c in manifest.cases])
        except (KeyError, ValueError) as exc:
            raise InputError(f"--radscore-columns: manifest {path} lacks a numeric column {exc}.") from None
    _log(f"{what}: {len(data)} cases, {int(data.event.sum())} events ({len(manifest.problems)} bad rows skipped; "
         f"cache {cache.hits} hits, {cache.misses} computed)")
    return manifest, data


def norm_stats(kind: str, x, settings: dict) -> dict:
    """Training-set normalisation: CT channel mean/std (HU) and, for ``ct3d+maps``, ``map_norm`` per map.

    ``x``: float tensor ``[N, C, *spatial]`` (not normalised). Returns the preprocessing keys to add.
    """
    stats = {"norm_mean": float(x[:, 0].mean()), "norm_std": float(x[:, 0].std()) or 1.0}
    if kind == "ct3d+maps":
        stats["map_norm"] = {name: [float(x[:, 1 + i].mean()), float(x[:, 1 + i].std()) or 1.0]
                             for i, name in enumerate(settings["voxel_maps"])}
    return stats


def apply_norm(kind: str, data, pre: dict) -> None:
    """Normalise ``data.x`` in place with the preprocessing dict's statistics (see ``norm_stats``)."""
    data.x[:, 0] = (data.x[:, 0] - pre["norm_mean"]) / pre["norm_std"]
    if kind == "ct3d+maps":
        for i, name in enumerate(pre["voxel_maps"]):
            mean, std = pre["map_norm"][name]
            data.x[:, 1 + i] = (data.x[:, 1 + i] - mean) / std


def split_validation(data, fraction: float, seed: int):
    """Stratified (by event) random split: ``(train, val)`` (``val`` None when ``fraction`` is 0).

    Raises:
        InputError: fraction outside [0, 1) or a split leaving fewer than 2 cases on a side.
    """
    import numpy as np

    if not 0 <= fraction < 1:
        raise InputError(f"--val-fraction: must be in [0, 1), got {fraction}.")
    if fraction == 0:
        return data, None
    rng = np.random.default_rng(seed)
    event = data.event.numpy().astype(bool)
    val = []
    for group in (np.flatnonzero(event), np.flatnonzero(~event)):
        group = rng.permutation(group)
        val += group[:int(round(fraction * len(group)))].tolist()
    val = sorted(val)
    train = sorted(set(range(len(data))) - set(val))
    if len(val) < 2 or len(train) < 2:
        raise InputError(f"--val-fraction {fraction}: {len(train)} training / {len(val)} validation cases; "
                         "each side needs at least 2 (use a larger cohort or --val-fraction 0).")
    return data.subset(train), data.subset(val)


def centre_output(model, data, batch_size: int = 32) -> float:
    """Shift the bias of the last linear layer (``out`` / ``fc_out``) so the median training risk is 0.

    Only for tanh survival outputs; rankings are unchanged (tanh is increasing). Returns the shift (0 when
    the model has no such layer)."""
    import numpy as np
    import torch

    from .loop import predict

    layer = getattr(model, "out", None) or getattr(model, "fc_out", None)
    if not isinstance(layer, torch.nn.Linear) or getattr(model, "endpoint", "survival") != "survival":
        return 0.0
    risk = predict(model, data, batch_size)
    shift = float(np.median(np.arctanh(np.clip(risk, -0.999999, 0.999999))))
    with torch.no_grad():
        layer.bias -= shift
    return shift


def _settings(args):
    from .loop import TrainSettings

    return TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
                         decay_steps=args.decay_steps, weight_decay=args.weight_decay, patience=args.patience,
                         monitor=args.monitor, seed=args.seed, augment=args.augment, endpoint=args.endpoint,
                         head_only=bool(getattr(args, "head_only", False)))


def _command_line() -> str:
    import shlex

    return "radsurv " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "radsurv"


def _run_training(args, mode: str) -> int:
    """Shared body of ``train`` and ``finetune``."""
    import datetime
    import platform

    import numpy as np
    import torch

    from .. import __version__
    from ..models.bundle import load_bundle, save_bundle
    from ..io.images import sha256_file
    from ..models.inference import resolve_device
    from .cache import input_kind
    from .loop import evaluate, fit, predict
    from .report import write_report

    started = _time.time()
    device = resolve_device(args.device)
    settings = _settings(args)
    settings.check()
    torch.manual_seed(settings.seed)
    source = None
    if mode == "finetune":
        source = load_bundle(args.source)
        arch_name = source.config["architecture"]["name"]
        params = dict(source.config["architecture"].get("params") or {})
        kind = input_kind(arch_name)
        pre = dict(source.config["preprocessing"])
    else:
        arch_name = args.model
        kind = input_kind(arch_name)
        params = {**SMALL_PARAMS[arch_name], **_json_arg(args.model_params, "--model-params")}
        pre = {**DEFAULT_PREPROCESSING[kind], **_json_arg(args.preprocessing, "--preprocessing")}
        if kind == "ct3d+maps":
            params["in_channels"] = 1 + len(pre["voxel_maps"])
            params["image_size"] = int(pre["crop_size"])
        if args.endpoint == "binary" and arch_name != "SEResNet3D":
            params["endpoint"] = "binary"
        if args.endpoint == "binary" and arch_name == "SEResNet3D":
            raise InputError("--endpoint binary: SEResNet3D has a tanh survival output only; use VisionMamba3D or "
                             "DeepRadScore2D.")
    names = [c.strip() for c in (args.radscore_columns or "").split(",") if c.strip()]
    if kind == "slice2d+radscores":
        if mode == "train":
            pre["radscore_names"] = names
            params["n_radscores"] = len(names)
        elif len(names) != len(pre.get("radscore_names") or []):
            raise InputError(f"--radscore-columns: the source bundle takes {len(pre.get('radscore_names') or [])} "
                             f"RadScores ({pre.get('radscore_names')}); give as many columns.")
    need_endpoint = args.endpoint == "binary"
    manifest, data = _load(args, args.manifest, kind, pre, "training manifest", need_endpoint)
    if args.val_manifest:
        _, val = _load(args, args.val_manifest, kind, pre, "validation manifest", need_endpoint)
        train = data
    else:
        train, val = split_validation(data, args.val_fraction, settings.seed)
    test = _load(args, args.test_manifest, kind, pre, "test manifest", need_endpoint)[1] if args.test_manifest else None
    if mode == "train":
        pre.update(norm_stats(kind, train.x, pre))
    for part in (train, val, test):
        if part is not None:
            apply_norm(kind, part, pre)

    if mode == "finetune":
        model = source.model
        model.train()
    else:
        from ..models.registry import build_model

        try:
            model = build_model(arch_name, params)
        except (TypeError, ValueError) as exc:
            raise InputError(f"--model-params: {exc}") from None
    if arch_name in HEAD_PREFIXES and not hasattr(model, "head_prefixes"):
        model.head_prefixes = HEAD_PREFIXES[arch_name]
    out = Path(args.out)
    _log(f"{mode} {arch_name} ({sum(p.numel() for p in model.parameters()):,} parameters) on {len(train)} cases"
         + (f", validation {len(val)}" if val is not None else "") + f", device {device}")
    result = fit(model, train, val, settings, out, resume=args.resume, device=device, log=_log,
                 progress=not args.no_progress)
    model.to("cpu")
    shift = centre_output(model, train) if args.endpoint == "survival" else 0.0
    risk_train = predict(model, train)
    cutoff = float(np.median(risk_train))
    metrics = {"train_c_index": evaluate(model, train, settings)["c_index"]}
    if val is not None:
        metrics["val_c_index"] = evaluate(model, val, settings)["c_index"]
    if test is not None:
        metrics["test_c_index"] = evaluate(model, test, settings)["c_index"]
    _log("  " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    training = {**{k: v for k, v in vars(settings).items()}, "optimizer": "Adam",
                "loss": ("Cox negative log partial likelihood (Breslow ties)" if args.endpoint == "survival"
                         else "binary cross-entropy"),
                "epochs_run": len(result.history), "best_epoch": result.best_epoch,
                "stopped_early": result.stopped_early, "resumed_from_epoch": result.resumed_from,
                "output_bias_shift": shift, "seconds": round(_time.time() - started, 1),
                "torch_threads": torch.get_num_threads(), "device": device}
    provenance = {
        "command": _command_line(), "mode": mode, "seed": settings.seed,
        "manifest": str(Path(args.manifest).resolve()), "manifest_sha256": sha256_file(args.manifest),
        "n_train": len(train), "n_val": 0 if val is None else len(val), "n_test": 0 if test is None else len(test),
        "events_train": int(train.event.sum()), "bad_rows_skipped": [list(p) for p in manifest.problems],
        **{k: round(float(v), 4) for k, v in metrics.items()}, "training": training,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "radsurv_version": __version__, "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }
    if source is not None:
        provenance["finetuned_from"] = {"path": str(source.path), "name": source.name, "version": source.version,
                                        "weights_sha256": source.config["weights"]["sha256"],
                                        "provenance": source.config.get("provenance", {})}
    name = args.name or out.name
    config = {
        "name": name, "version": f"{__version__}-{mode}", "demonstration": False,
        "disclaimer": "Research model trained with radsurv " + mode + " on the cohort in provenance.manifest; "
                      "not a clinically validated model.",
        "architecture": {"name": arch_name, "params": params}, "endpoint": args.endpoint,
        "preprocessing": pre, "gradcam_layer": getattr(model, "gradcam_layer", "layer2"),
        "risk_cutoff": cutoff, "provenance": provenance,
    }
    save_bundle(model, config, out)
    report = {"architecture": arch_name, "mode": mode, "endpoint": args.endpoint, "best_epoch": result.best_epoch,
              "risk_cutoff": cutoff, "metrics": metrics, "provenance": provenance}
    paths = write_report(out, report, result.history)
    _log(f"bundle written to {out} (cut-off {cutoff:.4f}); report {paths['json']}, curves {paths['png']} "
         f"({_time.time() - started:.0f} s)")
    return 0


def run_train(args) -> int:
    """``radsurv train``."""
    return _run_training(args, "train")


def run_finetune(args) -> int:
    """``radsurv finetune``."""
    return _run_training(args, "finetune")


def run_deep_features(args) -> int:
    """``radsurv deep-features``: CSV with the id column and ``deep_0`` .. ``deep_{F-1}``."""
    import csv

    from ..models.bundle import load_bundle
    from .cache import input_kind
    from .loop import predict

    bundle = load_bundle(args.bundle)
    arch = bundle.config["architecture"]["name"]
    kind = input_kind(arch)
    pre = dict(bundle.config["preprocessing"])
    args.no_progress = False
    _, data = _load(args, args.manifest, kind, pre, "manifest")
    apply_norm(kind, data, pre)
    feats = predict(bundle.model, data, features=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([args.id_column] + [f"deep_{i}" for i in range(feats.shape[1])])
        for case_id, row in zip(data.case_ids, feats):
            writer.writerow([case_id] + [f"{v:.6g}" for v in row])
    _log(f"{len(data)} cases x {feats.shape[1]} deep features ({arch}) written to {out}")
    return 0


def run_synth_cohort(args) -> int:
    """``radsurv synth-cohort``."""
    from .synthetic_cohort import write_cohort
    from .synthetic import load_background

    background = load_background(args.background) if args.background else None
    info = write_cohort(args.out, args.n, seed=args.seed, shift=args.shift, background=background,
                        start=args.start, log=_log)
    _log(f"{info['n_cases']} cases ({info['n_events']} events, {info['spec']['name']} cohort) written to {args.out}: "
         f"{info['manifest']}, {info['truth']}")
    return 0


RUNNERS = {"train": run_train, "finetune": run_finetune, "deep-features": run_deep_features,
           "synth-cohort": run_synth_cohort}
