"""The one training loop (``fit``), used by ``RadSurvLib.training.train``: Cox (or BCE) loss, Liu et al.'s augmentation,
Adam with exponential learning-rate decay and L2 weight decay, early stopping, checkpoints and resume.

Recipe (Liu et al. 2025, methods): Cox negative partial likelihood (Breslow ties; Efron optional), Adam (initial
learning rate 1e-4), exponential decay x0.96 (the paper: every 1000 steps; here ``lr_decay`` per
``decay_steps`` optimiser steps), batch size 32, L2 lambda 1e-4 (as Adam ``weight_decay``), up to 100
epochs with early stopping after 15 epochs without improvement of the validation loss (``monitor``
may also be the validation C-index, Harrell's, ``RadSurvLib.survival.metrics.harrell_c``). Binary
endpoints use binary cross-entropy on the logit.

Checkpoints (``<out>/checkpoints``): after every epoch ``epoch_<n>.safetensors`` (model weights,
Adam moments, RNG states) and ``epoch_<n>.json`` (epoch, history, early-stopping state, optimiser and
scheduler scalars), both written atomically, then ``latest.json`` names them; ``best.safetensors``
holds the best weights so far. Older epoch files are deleted only after the new ones are complete, so
a run stopped at any moment loses no finished checkpoint. ``resume=True`` continues from
``latest.json`` and, with the same data and settings, reaches the same state as an uninterrupted run
(all randomness comes from seeded generators whose states are checkpointed).
"""

from __future__ import annotations

import json
import os
import time as _time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError


@dataclass
class TrainSettings:
    """Optimisation settings (defaults: Liu et al. 2025 where the paper gives them).

    Attributes:
        epochs: maximum number of epochs (paper 100).
        batch_size: cases per optimiser step (paper 32); the last partial batch is dropped when it has
            fewer than 2 cases.
        lr: initial learning rate of Adam (paper 1e-4).
        lr_decay: multiplicative learning-rate decay (paper 0.96) every ``decay_steps`` steps.
        decay_steps: optimiser steps between decays (paper 1000; small data sets: ~ steps per epoch).
        weight_decay: L2 penalty lambda (paper 1e-4), Adam ``weight_decay``.
        patience: early stopping after this many epochs without improvement (paper 15; 0 = off).
        monitor: ``"loss"`` (validation loss, paper) or ``"c_index"`` (validation C-index / AUC).
        seed: seed of weights init, shuffling, augmentation and dropout.
        augment: a preset of ``augment.PRESETS``: ``"liu"`` (Table 1), ``"spatial"`` (mirroring +
            rotation only), ``"flip-rot90"`` (the demonstration bundle's) or ``"none"``.
        endpoint: ``"survival"`` (Cox loss) or ``"binary"`` (BCE).
        ties: tied event times in the Cox loss, ``"breslow"`` (default) or ``"efron"``.
        head_only: train only the parameters of the prediction head (``model.head_prefixes``).
        keep_checkpoints: epoch checkpoints kept on disk (>= 1; plus ``best``).
    """

    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-4
    lr_decay: float = 0.96
    decay_steps: int = 1000
    weight_decay: float = 1e-4
    patience: int = 15
    monitor: str = "loss"
    seed: int = 0
    augment: str = "liu"
    endpoint: str = "survival"
    head_only: bool = False
    keep_checkpoints: int = 2
    ties: str = "breslow"

    def check(self) -> None:
        """Raises ``InputError`` naming each setting that is out of range (by its field name)."""
        from .augment import PRESETS
        from .losses import TIES

        problems = []
        if self.epochs < 1:
            problems.append("epochs must be >= 1")
        if self.batch_size < 2:
            problems.append("batch_size must be >= 2 (the Cox loss compares cases)")
        if not self.lr > 0:
            problems.append("lr must be > 0")
        if not 0 < self.lr_decay <= 1:
            problems.append("lr_decay must be in (0, 1]")
        if self.decay_steps < 1:
            problems.append("decay_steps must be >= 1")
        if self.monitor not in ("loss", "c_index"):
            problems.append("monitor must be loss or c_index")
        if self.augment not in PRESETS:
            problems.append(f"augment must be one of {', '.join(PRESETS)}")
        if self.endpoint not in ("survival", "binary"):
            problems.append("endpoint must be survival or binary")
        if self.ties not in TIES:
            problems.append(f"ties must be one of {', '.join(TIES)}")
        if problems:
            raise InputError("training settings: " + "; ".join(problems) + ".")


def head_prefixes(model) -> tuple:
    """Parameter-name prefixes of the model's prediction head (its ``ModelSpec.head_prefixes``)."""
    from ..models.registry import spec_of

    return tuple(spec_of(model).head_prefixes)


def trainable_parameters(model, head_only: bool):
    """Parameters to optimise; with ``head_only`` the others get ``requires_grad=False``.

    Raises:
        InputError: ``head_only`` and the model has no parameter under its head prefixes.
    """
    if not head_only:
        for p in model.parameters():
            p.requires_grad_(True)
        return [p for p in model.parameters()]
    prefixes = head_prefixes(model)
    chosen = []
    for name, p in model.named_parameters():
        is_head = name.startswith(prefixes)
        p.requires_grad_(is_head)
        if is_head:
            chosen.append(p)
    if not chosen:
        raise InputError(f"head_only: {type(model).__name__} has no parameters under {prefixes}.")
    return chosen


def set_train_mode(model, head_only: bool) -> None:
    """``model.train()``; with ``head_only`` the backbone stays in eval mode (batch-norm statistics frozen)."""
    model.train()
    if head_only:
        prefixes = head_prefixes(model)
        for name, module in model.named_modules():
            if name and not name.startswith(prefixes):
                module.eval()


def call_model(model, x, radscores=None, features: bool = False):
    """``model(x)`` or ``model(x, radscores)`` (or ``.features``), as the architecture takes."""
    fn = model.features if features else model
    return fn(x) if radscores is None else fn(x, radscores)


def predict(model, data, batch_size: int = 32, device: str = "cpu", features: bool = False):
    """Risk scores ``[N]`` (or deep features ``[N, F]``) of a ``TrainingSet`` in eval mode (NumPy)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            r = None if data.radscores is None else data.radscores[i:i + batch_size].to(device)
            out.append(call_model(model, data.x[i:i + batch_size].to(device), r, features).float().cpu())
    return torch.cat(out).numpy()


def loss_fn(settings: TrainSettings, output, time_days, event, endpoint):
    """The loss of ``settings``: Cox (``settings.ties``) or BCE with logits (``RadSurvLib.training.losses``)."""
    from .losses import training_loss

    return training_loss(settings.endpoint, output, time_days, event, endpoint, ties=settings.ties)


def c_index(time_days, event, risk) -> float:
    """Harrell's C (``RadSurvLib.survival.metrics.harrell_c``, the one ``radsurv evaluate`` prints);
    NaN when it is undefined (no comparable pair, e.g. a small validation set without events)."""
    from ..errors import InputError as _InputError
    from ..survival.metrics import harrell_c

    try:
        return harrell_c(time_days, event, risk)
    except _InputError:
        return float("nan")


def score(settings: TrainSettings, data, output, index=None) -> float:
    """C-index (survival) or ROC AUC (binary endpoint) of outputs ``[N]`` on the cases ``index`` (default
    all) of ``data``."""
    pick = (lambda t: (t if index is None else t[index]).numpy())
    if settings.endpoint == "binary":
        return _auc(pick(data.endpoint), output)
    return c_index(pick(data.time_days), pick(data.event), output)


def evaluate(model, data, settings: TrainSettings, device: str = "cpu") -> dict:
    """Loss (over the whole set at once) and C-index (survival; AUC for binary) of a ``TrainingSet``."""
    import torch

    risk = predict(model, data, device=device)
    loss = float(loss_fn(settings, torch.as_tensor(risk), data.time_days, data.event, data.endpoint))
    return {"loss": loss, "c_index": score(settings, data, risk)}


def _auc(labels, score) -> float:
    """ROC AUC (NaN when only one class is present)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, score)) if len(np.unique(labels)) == 2 else float("nan")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _save_tensors(path: Path, tensors: dict) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def _checkpoint_tensors(model, optimiser, generators: dict) -> tuple:
    """Model weights, Adam moments and RNG states as one flat tensor dict, plus the optimiser's JSON part."""
    import torch

    tensors = {f"model.{k}": v.clone() for k, v in model.state_dict().items()}
    state = optimiser.state_dict()
    scalars = {"param_groups": state["param_groups"], "state": {}}
    for index, entry in state["state"].items():
        scalars["state"][str(index)] = {}
        for name, value in entry.items():
            if torch.is_tensor(value) and value.dim() > 0:
                tensors[f"optim.{index}.{name}"] = value.clone()
            else:
                scalars["state"][str(index)][name] = float(value)
    tensors["rng.torch"] = torch.get_rng_state()
    for name, gen in generators.items():
        tensors[f"rng.{name}"] = gen.get_state()
    return tensors, scalars


def _restore(model, optimiser, generators: dict, tensors: dict, scalars: dict) -> None:
    import torch

    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    state = {"param_groups": scalars["param_groups"], "state": {}}
    for index, entry in scalars["state"].items():
        state["state"][int(index)] = {name: torch.tensor(value) for name, value in entry.items()}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state["state"].setdefault(int(index), {})[name] = value
    optimiser.load_state_dict(state)
    torch.set_rng_state(tensors["rng.torch"])
    for name, gen in generators.items():
        gen.set_state(tensors[f"rng.{name}"])


@dataclass
class FitResult:
    """Outcome of ``fit``: per-epoch ``history`` (list of dicts: epoch, train_loss, val_loss, val_c_index,
    train_c_index, lr, seconds), ``best_epoch``, ``stopped_early``, ``resumed_from`` (epoch or None)."""

    history: list = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    resumed_from: object = None


def fit(model, train, val, settings: TrainSettings, out_dir, resume: bool = False, device: str = "cpu",
        log=print, progress: bool = True, checkpoint_dir=None) -> FitResult:
    """Train ``model`` in place on ``train`` (``TrainingSet``), early-stopping on ``val``.

    After training the best-epoch weights (by ``settings.monitor`` on ``val``; the last epoch when
    ``val`` is None) are loaded into ``model``.

    Args:
        model: architecture instance (``forward(x[, radscores]) -> [B]``).
        train, val: ``TrainingSet`` (inputs already normalised); ``val`` may be None.
        settings: ``TrainSettings``.
        out_dir: run folder; checkpoints go to ``out_dir/checkpoints`` unless ``checkpoint_dir`` is given.
        resume: continue from ``out_dir/checkpoints/latest.json``.
        device: torch device name.
        log: callable(str) for messages.
        progress: tqdm progress bar per epoch (loss shown live).
        checkpoint_dir: folder of the checkpoints (default ``out_dir/checkpoints``).

    Returns:
        ``FitResult``.

    Raises:
        InputError: bad settings, ``resume`` without a checkpoint, a checkpoint from other settings, or
            too few training cases for one batch.
    """
    import torch
    from safetensors.torch import load_file

    from .augment import augmenter_for

    settings.check()
    if len(train) < 2:
        raise InputError(f"training set: {len(train)} case(s); at least 2 are needed.")
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else Path(out_dir) / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    shuffle_gen = torch.Generator().manual_seed(settings.seed + 1)
    augment_gen = torch.Generator().manual_seed(settings.seed + 2)
    generators = {"shuffle": shuffle_gen, "augment": augment_gen}
    augmenter = augmenter_for(settings.augment)
    model.to(device)
    params = trainable_parameters(model, settings.head_only)
    optimiser = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    result = FitResult()
    best_metric, bad_epochs, start_epoch, step = None, 0, 0, 0
    settings_json = asdict(settings)

    latest = ckpt_dir / "latest.json"
    if resume:
        if not latest.is_file():
            raise InputError(f"resume: no checkpoint in {ckpt_dir}; start the run without resume.")
        pointer = json.loads(latest.read_text(encoding="utf-8"))
        meta = json.loads((ckpt_dir / pointer["json"]).read_text(encoding="utf-8"))
        defaults = asdict(TrainSettings())  # settings added later read as their defaults in older checkpoints
        changed = {k: (meta["settings"].get(k, defaults[k]), v) for k, v in settings_json.items()
                   if k not in ("epochs", "patience") and meta["settings"].get(k, defaults[k]) != v}
        if changed:
            raise InputError(f"resume: settings differ from the checkpoint ({changed}); use the same settings "
                             "or start a new output folder (out).")
        _restore(model, optimiser, generators, load_file(str(ckpt_dir / pointer["tensors"])), meta["optimiser"])
        result.history = meta["history"]
        best_metric, bad_epochs, step = meta["best_metric"], meta["bad_epochs"], meta["step"]
        result.best_epoch, start_epoch = meta["best_epoch"], meta["epoch"]
        result.resumed_from = start_epoch
        log(f"resumed from epoch {start_epoch} ({ckpt_dir / pointer['tensors']})")
        if meta.get("stopped_early"):
            result.stopped_early = True
            start_epoch = settings.epochs

    def lr_now() -> float:
        return settings.lr * settings.lr_decay ** (step // settings.decay_steps)

    n = len(train)
    for epoch in range(start_epoch, settings.epochs):
        if result.stopped_early:
            break
        started = _time.time()
        set_train_mode(model, settings.head_only)
        order = torch.randperm(n, generator=shuffle_gen)
        batches = [order[i:i + settings.batch_size] for i in range(0, n, settings.batch_size)]
        if len(batches) > 1 and len(batches[-1]) < 2:
            batches = batches[:-1]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(batches), desc=f"epoch {epoch + 1}/{settings.epochs}", leave=False, unit="batch")
        losses, epoch_outputs = [], []
        for index in batches:
            for group in optimiser.param_groups:
                group["lr"] = lr_now()
            x = augmenter(train.x[index], augment_gen).to(device)
            r = None if train.radscores is None else train.radscores[index].to(device)
            output = call_model(model, x, r)
            loss = loss_fn(settings, output, train.time_days[index], train.event[index],
                           None if train.endpoint is None else train.endpoint[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            losses.append(float(loss.detach()))
            epoch_outputs.append(output.detach().float().cpu())
            if bar:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if bar:
            bar.close()
        record = {"epoch": epoch + 1, "train_loss": sum(losses) / max(len(losses), 1), "lr": lr_now()}
        # training C-index of the epoch from the batch outputs (training mode, augmented inputs): free to compute
        seen = torch.cat(batches)
        outputs = torch.cat(epoch_outputs).numpy()
        record["train_c_index"] = score(settings, train, outputs, seen)
        if val is not None:
            val_eval = evaluate(model, val, settings, device)
            record["val_loss"], record["val_c_index"] = val_eval["loss"], val_eval["c_index"]
            monitored = val_eval["loss"] if settings.monitor == "loss" else -val_eval["c_index"]
        else:
            monitored = -float(epoch)  # no validation set: the best epoch is the last one
        record["seconds"] = round(_time.time() - started, 2)
        result.history.append(record)
        improved = best_metric is None or (monitored == monitored and monitored < best_metric)
        if improved:
            best_metric, bad_epochs, result.best_epoch = monitored, 0, epoch + 1
            _save_tensors(ckpt_dir / "best.safetensors", model.state_dict())
        else:
            bad_epochs += 1
        if settings.patience and val is not None and bad_epochs >= settings.patience:
            result.stopped_early = True
        log(f"epoch {epoch + 1:3d}/{settings.epochs}: loss {record['train_loss']:.4f}, train C "
            f"{record['train_c_index']:.3f}" + (f", val loss {record['val_loss']:.4f}, val C {record['val_c_index']:.3f}"
                                                if val is not None else "")
            + f" ({record['seconds']:.1f} s)" + (" *" if improved else ""))
        # checkpoint: tensors + JSON first, then the pointer, then prune old epochs
        tensors, scalars = _checkpoint_tensors(model, optimiser, generators)
        stem = f"epoch_{epoch + 1:04d}"
        _save_tensors(ckpt_dir / f"{stem}.safetensors", tensors)
        meta = {"epoch": epoch + 1, "step": step, "history": result.history, "best_metric": best_metric,
                "best_epoch": result.best_epoch, "bad_epochs": bad_epochs, "stopped_early": result.stopped_early,
                "settings": settings_json, "optimiser": scalars}
        _atomic_write_text(ckpt_dir / f"{stem}.json", json.dumps(meta, indent=1))
        _atomic_write_text(latest, json.dumps({"tensors": f"{stem}.safetensors", "json": f"{stem}.json",
                                               "epoch": epoch + 1}))
        old = sorted(ckpt_dir.glob("epoch_*.json"))[:-max(1, settings.keep_checkpoints)]
        for path in old:
            path.unlink(missing_ok=True)
            path.with_suffix(".safetensors").unlink(missing_ok=True)
        if result.stopped_early:
            log(f"early stopping: no improvement of validation {settings.monitor} for {settings.patience} epochs")
    best = ckpt_dir / "best.safetensors"
    if best.is_file():
        model.load_state_dict(load_file(str(best)), strict=True)
    model.eval()
    return result
