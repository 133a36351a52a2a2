"""``radsurv train``, ``finetune``, ``deep-features`` and ``synth-cohort``: parse, build the library's
configuration, call it (``RadSurvLib.training.train.train``, ``training.deep_features``,
``training.synthetic_cohort``); library errors are told in the flags' terms."""

from __future__ import annotations

import functools
import json
import re

from ..errors import InputError

#: Library parameter (``TrainConfig`` / ``TrainSettings`` field) -> flag, for the error messages.
FLAGS = {
    "manifest": "--manifest", "val_manifest": "--val-manifest", "test_manifest": "--test-manifest",
    "on_bad_row": "--on-bad-row", "cache_dir": "--cache-dir", "device": "--device", "model": "--model",
    "model_params": "--model-params", "preprocessing": "--preprocessing", "radscore_columns": "--radscore-columns",
    "val_fraction": "--val-fraction", "epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr",
    "lr_decay": "--lr-decay", "decay_steps": "--decay-steps", "weight_decay": "--weight-decay",
    "patience": "--patience", "monitor": "--monitor", "augment": "--augment", "endpoint": "--endpoint",
    "ties": "--ties", "seed": "--seed", "resume": "--resume", "head_only": "--head-only", "out": "--out",
    "source_bundle": "--from", "n_cases": "--n",
}


def cli_message(message: str) -> str:
    """A training library message with its parameter names replaced by the flags: names with an underscore
    anywhere, one-word names where they lead the message or a '; '-separated clause."""
    def flag(match):
        return match.group(1) + FLAGS.get(match.group(2), match.group(2))

    message = re.sub(r"(^|[\s(])([a-z]+_[a-z_]+)\b", flag, message)
    return re.sub(r"(^|; |settings: )([a-z]+)\b(?=:| must)", flag, message)


def _translated(run):
    @functools.wraps(run)
    def wrapper(args):
        try:
            return run(args)
        except InputError as exc:
            raise InputError(cli_message(str(exc))) from None
    return wrapper


def _common(p):
    from ..training.cache import default_cache_dir

    p.add_argument("--manifest", required=True,
                   help="manifest CSV: case_id, ct, gtv, time_days, event [, endpoint, clinical columns]; relative "
                        "paths are resolved against the CSV's folder")
    p.add_argument("--on-bad-row", default="stop", choices=("stop", "skip"),
                   help="a bad manifest row (missing file, time <= 0, event not 0/1) stops the run (default) or is "
                        "skipped; either way it is reported with its line number")
    p.add_argument("--cache-dir", default=None,
                   help=f"preprocessing cache folder (default {default_cache_dir()}; 'none' disables it)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"), help="torch device (default cpu)")
    p.add_argument("--radscore-columns", default=None,
                   help="manifest columns holding the RadScores of DeepRadScore2D (comma-separated)")


def _training_args(p, lr_default: float):
    from ..training.augment import PRESETS
    from ..training.losses import TIES

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
    p.add_argument("--augment", default="liu", choices=tuple(PRESETS),
                   help="liu = Table 1 of Liu et al. (default); spatial = mirroring + rotation only; flip-rot90 = "
                        "the demonstration bundle's (mirroring, k * 90 degree turns)")
    p.add_argument("--endpoint", default="survival", choices=("survival", "binary"),
                   help="survival (Cox loss, default) or binary (BCE on the manifest's endpoint column)")
    p.add_argument("--ties", default="breslow", choices=TIES,
                   help="tied event times in the Cox loss: breslow (default) or efron")
    p.add_argument("--seed", type=int, default=0, help="seed of split, initialisation, shuffling, augmentation")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT/checkpoints")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--name", default=None, help="bundle name (default: the --out folder's name)")


def add_parsers(sub) -> None:
    """Add ``train``, ``finetune``, ``deep-features`` and ``synth-cohort`` to the ``radsurv`` sub-parsers."""
    from ..models.registry import SPECS

    tr = sub.add_parser("train", help="train a deep survival model on a manifest; writes a model bundle",
                        description="Train SEResNet3D, VisionMamba3D or DeepRadScore2D (Cox loss, Liu et al.'s "
                                    "augmentation, Adam + exponential decay, early stopping, checkpoints).")
    _common(tr)
    tr.add_argument("--model", required=True, choices=tuple(SPECS), help="architecture")
    tr.add_argument("--out", required=True, help="output bundle folder")
    tr.add_argument("--model-params", default=None,
                    help="JSON of constructor arguments overriding the small CPU defaults, e.g. '{\"base_width\": 64}'")
    tr.add_argument("--preprocessing", default=None,
                    help="JSON overriding the default preprocessing, e.g. '{\"voxel_maps\": [\"firstorder_Mean\"]}'")
    _training_args(tr, 1e-4)

    ft = sub.add_parser("finetune", help="fine-tune a model bundle on a (target) manifest; writes a new bundle",
                        description="Cross-cohort transfer (Wang et al.): start from --from, train all layers or "
                                    "only the head (--head-only) with a lower learning rate.")
    _common(ft)
    ft.add_argument("--from", dest="source", required=True, help="source model bundle folder")
    ft.add_argument("--out", required=True, help="output bundle folder")
    ft.add_argument("--head-only", action="store_true", help="train only the prediction head (backbone frozen)")
    _training_args(ft, 1e-5)

    df = sub.add_parser("deep-features", help="export each case's deep-feature vector under a bundle (CSV)",
                        description="Write case_id + deep_0..deep_{F-1} per manifest case, for the combined model of "
                                    "`radsurv signature fit --groups`.")
    _common(df)
    df.add_argument("--bundle", required=True, help="model bundle folder")
    df.add_argument("--out", required=True, help="output CSV")
    df.add_argument("--id-column", default="PatientID", help="name of the case id column in the CSV (default PatientID)")

    sc = sub.add_parser("synth-cohort", help="write synthetic cases with a known hazard on a real CT background",
                        description=("Synthetic tumours (size, texture heterogeneity, necrosis drive the hazard) in "
                                     "lung blocks of the PAT1 CT; writes images/, manifest.csv and truth.csv."))
    sc.add_argument("--out", required=True, help="output folder")
    sc.add_argument("--n", type=int, required=True, help="number of cases")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--start", type=int, default=0, help="index of the first case")
    sc.add_argument("--shift", action="store_true",
                    help="TARGET data: shifted hazard weights and scanner-like intensity change (for finetune)")
    sc.add_argument("--background", default=None, help="background CT (default RadSurvLib/resources/PAT1/image.nii.gz)")


def _json_arg(text, flag):
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{flag}: not valid JSON ({exc}); e.g. '{{\"base_width\": 8}}'.") from None
    if not isinstance(value, dict):
        raise InputError(f"{flag}: must be a JSON object.")
    return value


def _cache_dir(text):
    from pathlib import Path

    from ..training.cache import default_cache_dir

    if text is None:
        return default_cache_dir()
    return None if text.lower() == "none" else Path(text)


def _columns(text) -> tuple:
    return tuple(c.strip() for c in (text or "").split(",") if c.strip())


def train_config(args, mode: str):
    """The ``TrainConfig`` of a parsed ``radsurv train`` / ``finetune`` command line."""
    from ..training.loop import TrainSettings
    from ..training.train import TrainConfig

    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
                             decay_steps=args.decay_steps, weight_decay=args.weight_decay, patience=args.patience,
                             monitor=args.monitor, seed=args.seed, augment=args.augment, endpoint=args.endpoint,
                             head_only=bool(getattr(args, "head_only", False)), ties=args.ties)
    return TrainConfig(
        out=args.out, manifest=args.manifest, model=getattr(args, "model", "SEResNet3D"),
        source_bundle=args.source if mode == "finetune" else None,
        model_params=_json_arg(getattr(args, "model_params", None), "--model-params"),
        preprocessing=_json_arg(getattr(args, "preprocessing", None), "--preprocessing"),
        radscore_columns=_columns(args.radscore_columns), val_manifest=args.val_manifest,
        val_fraction=args.val_fraction, test_manifest=args.test_manifest, settings=settings,
        on_bad_row=args.on_bad_row, cache_dir=_cache_dir(args.cache_dir), device=args.device, resume=args.resume,
        progress=not args.no_progress, name=args.name)


@_translated
def run_train(args) -> int:
    """``radsurv train``."""
    from ..training.train import train

    train(train_config(args, "train"))
    return 0


@_translated
def run_finetune(args) -> int:
    """``radsurv finetune``."""
    from ..training.train import train

    train(train_config(args, "finetune"))
    return 0


@_translated
def run_deep_features(args) -> int:
    """``radsurv deep-features``."""
    from ..training.deep_features import export_deep_features

    export_deep_features(args.bundle, args.manifest, args.out, id_column=args.id_column,
                         cache_dir=_cache_dir(args.cache_dir), on_bad_row=args.on_bad_row,
                         radscore_columns=_columns(args.radscore_columns), progress=True)
    return 0


@_translated
def run_synth_cohort(args) -> int:
    """``radsurv synth-cohort``."""
    from ..training.synthetic import load_background
    from ..training.synthetic_cohort import write_cohort

    background = load_background(args.background) if args.background else None
    info = write_cohort(args.out, args.n, seed=args.seed, shift=args.shift, background=background,
                        start=args.start, log=print)
    print(f"{info['n_cases']} cases ({info['n_events']} events, {info['spec']['name']} data) written to {args.out}: "
          f"{info['manifest']}, {info['truth']}")
    return 0


RUNNERS = {"train": run_train, "finetune": run_finetune, "deep-features": run_deep_features,
           "synth-cohort": run_synth_cohort}
