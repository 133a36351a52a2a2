"""The one training path: ``train(TrainConfig) -> TrainResult``.

``radsurv train`` and ``radsurv finetune`` build a ``TrainConfig`` from their options, ``radsurv
train-demo`` uses the preset of ``RadSurvLib.training.demo``; Python code calls ``train`` directly.

Steps: training data (a manifest, read and preprocessed through the cache, or a ``TrainingSet`` in
memory) -> validation split (stratified by event) or a validation set -> training-set normalisation
(``norm_mean`` / ``norm_std`` in HU, ``map_norm`` per voxel map; a fine-tuned model keeps its source's)
-> ``loop.fit`` -> output bias centred so the median training risk is 0 (survival) -> metrics (Harrell's
C of ``RadSurvLib.survival.metrics``, AUC for a binary endpoint) -> model bundle (``bundle.json`` +
``model.safetensors``, median training risk as cut-off, provenance, and for a survival endpoint the
Breslow baseline survival of the training cases: ``models.bundle.estimate_baseline_survival`` on the
final model's training predictions, in eval mode without augmentation, the same risk scores as the
cut-off; in-sample, so somewhat optimistic, as no out-of-fold models are trained) and, by default, the
training report (``training_report.json``, ``training_curves.png``).
"""

from __future__ import annotations

import sys
import time as _time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError
from .cache import NORM_KEYS, default_cache_dir
from .loop import TrainSettings


@dataclass
class TrainConfig:
    """What to train, on which data, and where to write the bundle.

    Attributes:
        out: output bundle folder (created).
        manifest: training data: a manifest CSV path (``RadSurvLib.training.manifest``) or a
            ``TrainingSet`` (inputs not yet normalised, as ``load_training_set`` returns them).
        model: architecture name (a key of ``RadSurvLib.models.registry.SPECS``); ignored when
            fine-tuning (``source_bundle``).
        source_bundle: fine-tune this model bundle folder (its architecture, preprocessing and
            normalisation) instead of training a new model.
        model_params: constructor arguments overriding the spec's ``small_params``.
        preprocessing: keys overriding the spec's default ``preprocessing``.
        radscore_columns: manifest columns holding the RadScores of a ``slice2d+radscores`` model.
        val_manifest: validation data (path or ``TrainingSet``); when None, ``val_fraction`` of the
            training data is held out (stratified by event; 0 = no validation).
        val_fraction: see ``val_manifest``, in [0, 1).
        test_manifest: held-out test data (path or ``TrainingSet``), evaluated once after training.
        settings: ``TrainSettings`` (optimisation, augmentation, endpoint, Cox ties).
        on_bad_row: ``"stop"`` or ``"skip"`` for bad manifest rows.
        cache_dir: preprocessing cache folder (None: no cache).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        resume: continue from the last checkpoint.
        progress: progress bars.
        name: bundle name (default: the ``out`` folder's name).
        checkpoint_dir: checkpoint folder (default ``out/checkpoints``).
        write_report: write ``training_report.json`` and ``training_curves.png`` into ``out``.
        demonstration, disclaimer: ``bundle.json`` fields (a demonstration model is not a clinical one).
        data_description: free text on the data, stored in the provenance.
        command: command line stored in the provenance (default: this process's ``sys.argv``).
        log: callable(str) for messages.
    """

    out: object
    manifest: object
    model: str = "SEResNet3D"
    source_bundle: object = None
    model_params: dict = field(default_factory=dict)
    preprocessing: dict = field(default_factory=dict)
    radscore_columns: tuple = ()
    val_manifest: object = None
    val_fraction: float = 0.2
    test_manifest: object = None
    settings: TrainSettings = field(default_factory=TrainSettings)
    on_bad_row: str = "stop"
    cache_dir: object = field(default_factory=default_cache_dir)
    device: str = "cpu"
    resume: bool = False
    progress: bool = True
    name: str | None = None
    checkpoint_dir: object = None
    write_report: bool = True
    demonstration: bool = False
    disclaimer: str | None = None
    data_description: str | None = None
    command: str | None = None
    log: object = print

    @property
    def mode(self) -> str:
        """``"finetune"`` when a ``source_bundle`` is given, else ``"train"``."""
        return "train" if self.source_bundle is None else "finetune"


@dataclass
class TrainResult:
    """Outcome of ``train``.

    Attributes:
        bundle_path: the written bundle folder.
        config: the written ``bundle.json`` content (without ``format`` / ``weights``).
        model: the trained model (eval mode, CPU).
        metrics: ``train_c_index``, ``val_c_index``, ``test_c_index`` (AUC for a binary endpoint) and,
            for test data with a known log hazard, ``test_concordance_with_true_hazard`` /
            ``test_c_index_of_true_hazard``.
        history: per-epoch records of ``loop.fit``; best_epoch, stopped_early: as ``loop.FitResult``.
        report: ``{"json": path, "png": path}`` or None.
    """

    bundle_path: Path
    config: dict
    model: object
    metrics: dict
    history: list
    best_epoch: int
    stopped_early: bool
    report: dict | None = None


def norm_stats(kind: str, x, settings: dict) -> dict:
    """Training-set normalisation: CT channel mean / std (HU) and, for ``ct3d+maps``, ``map_norm`` per map.

    ``x``: float tensor ``[N, C, *spatial]`` (not normalised). Returns the preprocessing keys to add.
    """
    stats = {"norm_mean": float(x[:, 0].mean()), "norm_std": float(x[:, 0].std()) or 1.0}
    if kind == "ct3d+maps":
        stats["map_norm"] = {name: [float(x[:, 1 + i].mean()), float(x[:, 1 + i].std()) or 1.0]
                             for i, name in enumerate(settings["voxel_maps"])}
    return stats


def normalised(kind: str, data, pre: dict):
    """A copy of ``data`` (``TrainingSet``) with ``x`` normalised by the preprocessing dict's statistics."""
    import dataclasses

    x = data.x.clone()
    x[:, 0] = (x[:, 0] - pre["norm_mean"]) / pre["norm_std"]
    if kind == "ct3d+maps":
        for i, name in enumerate(pre["voxel_maps"]):
            mean, std = pre["map_norm"][name]
            x[:, 1 + i] = (x[:, 1 + i] - mean) / std
    return dataclasses.replace(data, x=x)


def split_validation(data, fraction: float, seed: int):
    """Stratified (by event) random split: ``(train, val)`` (``val`` None when ``fraction`` is 0).

    Raises:
        InputError: fraction outside [0, 1) or a split leaving fewer than 2 cases on a side.
    """
    import numpy as np

    if not 0 <= fraction < 1:
        raise InputError(f"val_fraction: must be in [0, 1), got {fraction}.")
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
        raise InputError(f"val_fraction {fraction}: {len(train)} training / {len(val)} validation cases; "
                         "each side needs at least 2 (use a larger data set or val_fraction 0).")
    return data.subset(train), data.subset(val)


def centre_output(model, data, batch_size: int = 32) -> float:
    """Shift the bias of the output layer (the last of the spec's ``head_prefixes``) so that the median
    training risk is 0; returns the shift.

    The Cox loss does not see a constant shift of the log hazard, so training can drift the tanh output
    towards -1 or +1; tanh is increasing, so the shift keeps every ranking (and C-index). Only for tanh
    survival outputs (0 and no change otherwise).
    """
    import numpy as np
    import torch

    from ..models.registry import spec_of
    from .loop import predict

    layer = getattr(model, spec_of(model).head_prefixes[-1], None)
    if not isinstance(layer, torch.nn.Linear) or getattr(model, "endpoint", "survival") != "survival":
        return 0.0
    risk = predict(model, data, batch_size)
    shift = float(np.median(np.arctanh(np.clip(risk, -0.999999, 0.999999))))
    with torch.no_grad():
        layer.bias -= shift
    return shift


def _progress(config: TrainConfig, desc: str):
    if not config.progress:
        return None
    from tqdm.auto import tqdm

    return lambda items: tqdm(items, desc=desc, unit="case", file=sys.stdout)


def load_data(config: TrainConfig, source, kind: str, pre: dict, what: str):
    """``(Manifest or None, TrainingSet)`` of a manifest path (read with ``config.on_bad_row``, preprocessed
    through ``config.cache_dir``, RadScores from ``config.radscore_columns``) or an in-memory ``TrainingSet``
    (returned as it is). ``pre``: the preprocessing dict; ``what``: the data's name in messages.

    Raises:
        InputError: bad manifest or rows, a case that fails preprocessing, missing RadScore columns.
    """
    from .cache import CaseCache, TrainingSet, load_training_set, radscores_from_manifest
    from .manifest import read_manifest

    if isinstance(source, TrainingSet):
        return None, source
    manifest = read_manifest(source, config.on_bad_row, require_endpoint=config.settings.endpoint == "binary",
                             log=config.log)
    cache = CaseCache(config.cache_dir, kind, {k: v for k, v in pre.items() if k not in NORM_KEYS})
    data = load_training_set(manifest.cases, cache, _progress(config, f"preprocessing {what}"))
    if config.radscore_columns:
        data.radscores = radscores_from_manifest(manifest.cases, list(config.radscore_columns))
    config.log(f"{what}: {len(data)} cases, {int(data.event.sum())} events ({len(manifest.problems)} bad rows "
               f"skipped; cache {cache.hits} hits, {cache.misses} computed)")
    return manifest, data


def _architecture(config: TrainConfig):
    """``(spec, params, preprocessing, source Bundle or None)`` of a new or fine-tuned model."""
    from ..models.bundle import load_bundle
    from ..models.registry import SPECS, model_spec

    names = list(config.radscore_columns)
    if config.source_bundle is not None:
        source = load_bundle(config.source_bundle)
        spec = model_spec(source.config["architecture"]["name"])
        pre = dict(source.config["preprocessing"])
        if spec.input_kind == "slice2d+radscores" and len(names) != len(pre.get("radscore_names") or []):
            raise InputError(f"radscore_columns: the source bundle takes {len(pre.get('radscore_names') or [])} "
                             f"RadScores ({pre.get('radscore_names')}); give as many columns.")
        return spec, dict(source.config["architecture"].get("params") or {}), pre, source
    spec = model_spec(config.model)
    params = {**spec.small_params, **dict(config.model_params or {})}
    pre = {**spec.preprocessing, **dict(config.preprocessing or {})}
    if spec.input_kind == "ct3d+maps":
        params["in_channels"] = 1 + len(pre["voxel_maps"])
        params["image_size"] = int(pre["crop_size"])
    if spec.input_kind == "slice2d+radscores":
        pre["radscore_names"] = names
        params["n_radscores"] = len(names)
    if config.settings.endpoint == "binary":
        if "binary" not in spec.endpoints:
            raise InputError(f"endpoint binary: {spec.name} has a tanh survival output only; use "
                             f"{' or '.join(n for n, s in SPECS.items() if 'binary' in s.endpoints)}.")
        params["endpoint"] = "binary"
    return spec, params, pre, None


def _build(spec, params, source):
    from ..models.registry import build_model

    if source is not None:
        source.model.train()
        return source.model
    try:
        return build_model(spec.name, params)
    except (TypeError, ValueError) as exc:
        raise InputError(f"model_params: {exc}") from None


def _command_line() -> str:
    import shlex

    return "radsurv " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "radsurv"


def _evaluate_all(model, settings, parts: dict) -> dict:
    """Metrics of each non-empty part (``train`` / ``val`` / ``test``), plus the true-hazard ones of the test set."""
    from ..survival.metrics import pairwise_concordance
    from .loop import c_index, evaluate, predict

    metrics = {f"{name}_c_index": evaluate(model, data, settings)["c_index"]
               for name, data in parts.items() if data is not None}
    test = parts.get("test")
    if test is not None and test.log_hazard is not None:
        truth = test.log_hazard.numpy()
        metrics["test_concordance_with_true_hazard"] = pairwise_concordance(predict(model, test), truth)
        metrics["test_c_index_of_true_hazard"] = c_index(test.time_days.numpy(), test.event.numpy(), truth)
    return metrics


def train(config: TrainConfig) -> TrainResult:
    """Train (or fine-tune) a model and write its bundle; see the module docstring for the steps.

    Returns:
        ``TrainResult``.

    Raises:
        InputError: bad settings or data (bad manifest rows with ``on_bad_row="stop"``, unknown model,
            bad ``model_params``, too few cases), ``resume`` without a usable checkpoint.
        BundleError: an unreadable ``source_bundle``.
    """
    import datetime
    import platform

    import numpy as np
    import torch

    from .. import __version__
    from ..io.images import sha256_file
    from ..models.bundle import estimate_baseline_survival, save_bundle
    from ..models.inference import resolve_device
    from .loop import fit, predict
    from .report import write_report

    started = _time.time()
    settings, log = config.settings, config.log
    settings.check()
    device = resolve_device(config.device)
    torch.manual_seed(settings.seed)
    spec, params, pre, source = _architecture(config)
    kind = spec.input_kind
    manifest, data = load_data(config, config.manifest, kind, pre, "training data")
    if config.val_manifest is not None:
        train_set, val = data, load_data(config, config.val_manifest, kind, pre, "validation data")[1]
    else:
        train_set, val = split_validation(data, config.val_fraction, settings.seed)
    test = None if config.test_manifest is None else load_data(config, config.test_manifest, kind, pre, "test data")[1]
    if source is None:
        pre.update(norm_stats(kind, train_set.x, pre))
    train_set, val, test = (None if part is None else normalised(kind, part, pre) for part in (train_set, val, test))

    model = _build(spec, params, source)
    out = Path(config.out)
    log(f"{config.mode} {spec.name} ({sum(p.numel() for p in model.parameters()):,} parameters) on "
        f"{len(train_set)} cases" + (f", validation {len(val)}" if val is not None else "") + f", device {device}")
    fitted = fit(model, train_set, val, settings, out, resume=config.resume, device=device, log=log,
                 progress=config.progress, checkpoint_dir=config.checkpoint_dir)
    model.to("cpu")
    shift = centre_output(model, train_set) if settings.endpoint == "survival" else 0.0
    train_risk = predict(model, train_set)
    cutoff = float(np.median(train_risk))
    metrics = _evaluate_all(model, settings, {"train": train_set, "val": val, "test": test})
    log("  " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))

    loss = (f"Cox negative log partial likelihood ({settings.ties.capitalize()} ties)"
            if settings.endpoint == "survival" else "binary cross-entropy")
    training = {**asdict(settings), "optimizer": "Adam", "loss": loss, "epochs_run": len(fitted.history),
                "best_epoch": fitted.best_epoch, "stopped_early": fitted.stopped_early,
                "resumed_from_epoch": fitted.resumed_from, "output_bias_shift": shift,
                "final_train_loss": round(fitted.history[-1]["train_loss"], 4) if fitted.history else None,
                "seconds": round(_time.time() - started, 1), "torch_threads": torch.get_num_threads(),
                "device": device}
    provenance = {"command": config.command or _command_line(), "mode": config.mode, "seed": settings.seed}
    if isinstance(config.manifest, (str, Path)):
        provenance.update(manifest=str(Path(config.manifest).resolve()),
                          manifest_sha256=sha256_file(config.manifest))
    if config.data_description:
        provenance["data"] = config.data_description
    provenance.update({
        "n_train": len(train_set), "n_val": 0 if val is None else len(val), "n_test": 0 if test is None else len(test),
        "events_train": int(train_set.event.sum()),
        "bad_rows_skipped": [list(p) for p in manifest.problems] if manifest is not None else [],
        **{k: round(float(v), 4) for k, v in metrics.items()}, "training": training,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "radsurv_version": __version__, "torch_version": torch.__version__,
        "python_version": platform.python_version()})
    if test is not None:
        provenance["events_test"] = int(test.event.sum())
    if source is not None:
        provenance["finetuned_from"] = {"path": str(source.path), "name": source.name, "version": source.version,
                                        "weights_sha256": source.config["weights"]["sha256"],
                                        "provenance": source.config.get("provenance", {})}
    bundle_config = {
        "name": config.name or out.name,
        "version": f"{__version__}-{'demo' if config.demonstration else config.mode}",
        "demonstration": bool(config.demonstration),
        "disclaimer": config.disclaimer or (f"Research model trained with radsurv {config.mode} on the data in "
                                            "provenance; not a clinically validated model."),
        "architecture": {"name": spec.name, "params": params}, "endpoint": settings.endpoint,
        "preprocessing": pre, "gradcam_layer": spec.cam_layer_for(params),
        "risk_cutoff": cutoff, "provenance": provenance,
    }
    if settings.endpoint == "survival" and not bool(train_set.event.any()):
        log("  no event among the training cases: the bundle gets no baseline survival (no survival probabilities)")
    elif settings.endpoint == "survival":
        bundle_config["baseline_survival"] = estimate_baseline_survival(
            train_risk, train_set.time_days.numpy(), train_set.event.numpy(),
            fitted_on=f"training predictions: the final model (eval mode, no augmentation) on its {len(train_set)} "
                      f"training cases ({config.mode}; validation and test cases not used)")
    save_bundle(model, bundle_config, out)
    report = None
    if config.write_report:
        report = write_report(out, {"architecture": spec.name, "mode": config.mode, "endpoint": settings.endpoint,
                                    "best_epoch": fitted.best_epoch, "risk_cutoff": cutoff, "metrics": metrics,
                                    "provenance": provenance}, fitted.history)
    log(f"bundle written to {out} (cut-off {cutoff:.4f})" + (f"; report {report['json']}" if report else "")
        + f" ({_time.time() - started:.0f} s)")
    return TrainResult(bundle_path=out, config=bundle_config, model=model, metrics=metrics,
                       history=fitted.history, best_epoch=fitted.best_epoch, stopped_early=fitted.stopped_early,
                       report=report)
