"""The demonstration bundle's preset of the normal training (``radsurv train-demo``).

``demo_config`` builds a ``TrainConfig`` for ``RadSurvLib.training.train.train``: the synthetic cases
of ``RadSurvLib.training.synthetic`` (tumours inserted into the PAT1 CT; log hazard driven by texture
heterogeneity and necrosis), the first ``n_train`` for training, the next ``n_heldout`` as the held-out
test set; ``SEResNet3D`` with its small CPU parameters; Liu et al. 2025's recipe scaled down for two CPU
cores: Cox loss (Breslow ties), Adam with weight decay 1e-4 (the paper's L2 lambda), batch size 32,
learning rate 1e-3 (the paper's 1e-4 learns too slowly for a few-minute demo) decayed x0.96 per epoch
(the paper: per 1000 steps), a fixed number of epochs (no validation set, so the held-out cases never
steer training), the ``"flip-rot90"`` augmentation (intensity augmentations are left out because the
synthetic hazard is carried by intensity texture). As every trained survival model, the output bias is
centred so the median training risk is 0. The held-out Harrell C-index and the concordance with the
true log hazard go into the bundle's provenance.

The shipped ``resources/bundles/demo-seresnet3d`` was made by the earlier stand-alone demo trainer
with these settings (its own loop: another random stream, so this preset gives another bundle whose
held-out C-index agrees within noise; the shipped bundle is kept as it is).
"""

from __future__ import annotations

DISCLAIMER = "Demonstration model trained on synthetic tumours inserted into one real CT; not a clinical model."
#: Options of ``radsurv train-demo`` and their defaults.
DEFAULTS = {"n_train": 256, "n_heldout": 128, "epochs": 24, "batch_size": 32, "lr": 1e-3,
            "weight_decay": 1e-4, "base_width": 8, "seed": 2025}
BUNDLE_NAME = "demo-seresnet3d"


def synthetic_training_set(n_cases: int, seed: int, start: int, preprocessing: dict, background=None, log=print):
    """Synthetic cases ``start .. start + n_cases - 1`` as a ``TrainingSet`` (not normalised: clipped HU).

    Args:
        n_cases, seed, start: cases of ``synthetic.generate_cases``.
        preprocessing: ``ct3d`` preprocessing dict (``crop_size``, ``margin_mm``, ``hu_clip``).
        background: 1 mm background CT (default PAT1).

    Returns:
        ``TrainingSet`` with x ``[N, 1, D, D, D]`` (z, y, x), times (days), events and the true log hazard.
    """
    import numpy as np
    import torch

    from ..models.inputs import build_model_input
    from .cache import NORM_KEYS, TrainingSet
    from .synthetic import generate_cases

    raw = {**{k: v for k, v in preprocessing.items() if k not in NORM_KEYS}, "norm_mean": 0.0, "norm_std": 1.0}
    xs, times, events, hazards = [], [], [], []
    for case in generate_cases(n_cases, seed=seed, background=background, start=start):
        xs.append(build_model_input("ct3d", case.ct, case.gtv, raw).x[0])
        times.append(case.time_days)
        events.append(float(case.event))
        hazards.append(case.log_hazard)
    log(f"  {n_cases} synthetic cases from index {start}: {int(np.sum(events))} events")
    return TrainingSet([f"synthetic-{start + i:04d}" for i in range(n_cases)], torch.stack(xs), None,
                       torch.tensor(times, dtype=torch.float32), torch.tensor(events), None,
                       torch.tensor(hazards, dtype=torch.float64))


def data_description() -> str:
    """Provenance text of the synthetic data."""
    from .synthetic import BETA_HET, BETA_NEC, CENSORED_FRACTION, MEDIAN_SURVIVAL_DAYS

    return ("Synthetic cases (RadSurvLib.training.synthetic): ellipsoidal tumours inserted into 80 mm lung blocks "
            "of one real CT (RadSurvLib/resources/PAT1, IBSI phantom, 1 mm B-spline). Ground truth: log hazard = "
            f"{BETA_HET} * z(heterogeneity) + {BETA_NEC} * z(necrotic fraction); exponential survival, median "
            f"{MEDIAN_SURVIVAL_DAYS:.0f} days at log hazard 0; independent exponential censoring, "
            f"{CENSORED_FRACTION:.0%} expected.")


def demo_config(out, checkpoint_dir=None, log=print, progress: bool = False, **options):
    """The ``TrainConfig`` of the demonstration bundle.

    Args:
        out: output bundle folder.
        checkpoint_dir: where ``fit`` keeps its checkpoints (default ``out/checkpoints``).
        log: callable(str); progress: progress bars.
        **options: overrides of ``DEFAULTS`` (``n_train``, ``n_heldout``, ``epochs``, ``batch_size``,
            ``lr``, ``weight_decay``, ``base_width``, ``seed``).

    Raises:
        InputError: an unknown option.
    """
    from ..errors import InputError
    from ..models.registry import model_spec
    from .loop import TrainSettings
    from .synthetic import load_background
    from .train import TrainConfig

    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise InputError(f"train-demo: unknown option(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}.")
    o = {**DEFAULTS, **options}
    spec = model_spec("SEResNet3D")
    background = load_background()
    log("building the synthetic cases ...")
    train_set = synthetic_training_set(o["n_train"], o["seed"], 0, spec.preprocessing, background, log)
    heldout = synthetic_training_set(o["n_heldout"], o["seed"], o["n_train"], spec.preprocessing, background, log)
    steps_per_epoch = max(1, o["n_train"] // o["batch_size"])
    settings = TrainSettings(epochs=o["epochs"], batch_size=o["batch_size"], lr=o["lr"], lr_decay=0.96,
                             decay_steps=steps_per_epoch, weight_decay=o["weight_decay"], patience=0,
                             seed=o["seed"], augment="flip-rot90", endpoint="survival")
    command = "radsurv train-demo --out " + str(out) + "".join(
        f" --{k.replace('_', '-')} {o[k]}" for k, v in DEFAULTS.items() if o[k] != v)
    return TrainConfig(out=out, manifest=train_set, model=spec.name, model_params={"base_width": o["base_width"]},
                       val_fraction=0.0, test_manifest=heldout, settings=settings, cache_dir=None,
                       progress=progress, name=BUNDLE_NAME, checkpoint_dir=checkpoint_dir, write_report=False,
                       demonstration=True, disclaimer=DISCLAIMER, data_description=data_description(),
                       command=command, log=log)


def train_demo(out, log=print, progress: bool = False, **options):
    """Train the demonstration bundle into ``out`` (checkpoints in a temporary folder, then deleted).

    Returns:
        ``RadSurvLib.training.train.TrainResult``; ``metrics["test_c_index"]`` is the held-out Harrell C.
    """
    import tempfile

    from .train import train

    with tempfile.TemporaryDirectory(prefix="radsurv-demo-") as checkpoints:
        return train(demo_config(out, checkpoints, log=log, progress=progress, **options))


def add_baseline_survival(folder, log=print) -> dict:
    """Add the Breslow baseline survival to an existing demonstration bundle, leaving its weights as they are.

    For the shipped ``resources/bundles/demo-seresnet3d`` (trained before bundles stored a baseline; re-training
    would change its weights): its own training cases are rebuilt (``synthetic_training_set`` with the
    provenance's ``n_train`` and ``seed``, cases 0 .. n_train - 1, as in ``demo_config``), normalised with the
    bundle's ``norm_mean`` / ``norm_std``, scored with the shipped weights (eval mode, no augmentation), and
    ``models.bundle.estimate_baseline_survival`` gives the entry that is written into ``bundle.json``. The
    rebuilt cases are checked to be the training cases: same number of events and the same training
    C-index (within 0.001) as the provenance records.

    Args:
        folder: the bundle folder (``bundle.json`` rewritten; ``model.safetensors`` untouched).
        log: callable(str).

    Returns:
        The ``baseline_survival`` entry written.

    Raises:
        InputError: the rebuilt cases do not reproduce the provenance's events or training C-index.
        BundleError: an unreadable bundle.
    """
    import json
    from pathlib import Path

    from ..errors import InputError
    from ..models.bundle import CONFIG_FILE, estimate_baseline_survival, load_bundle
    from .loop import c_index, predict
    from .train import normalised

    bundle = load_bundle(folder)
    prov = bundle.config["provenance"]
    n_train, seed = int(prov["n_train"]), int(prov["seed"])
    data = synthetic_training_set(n_train, seed, 0, bundle.config["preprocessing"], log=log)
    data = normalised("ct3d", data, bundle.config["preprocessing"])
    risk = predict(bundle.model, data)
    time, event = data.time_days.numpy(), data.event.numpy()
    train_c = c_index(time, event, risk)
    log(f"  {n_train} training cases rebuilt: {int(event.sum())} events, training C-index {train_c:.4f} "
        f"(provenance: {prov.get('events_train')} events, {prov.get('train_c_index')})")
    if int(event.sum()) != int(prov["events_train"]) or abs(train_c - float(prov["train_c_index"])) > 1e-3:
        raise InputError(f"demo baseline: the rebuilt cases are not the bundle's training cases ({int(event.sum())} "
                         f"events, C-index {train_c:.4f}; provenance {prov['events_train']}, {prov['train_c_index']}).")
    entry = estimate_baseline_survival(
        risk, time, event,
        fitted_on=(f"training predictions: the shipped weights (eval mode, no augmentation) on the bundle's own "
                   f"{n_train} training cases, rebuilt with RadSurvLib.training.demo.synthetic_training_set(n_train="
                   f"{n_train}, seed={seed}, start=0) and checked against the provenance ({int(event.sum())} events, "
                   f"training C-index {train_c:.4f}); added after training by "
                   "RadSurvLib.training.demo.add_baseline_survival, the weights unchanged"))
    path = Path(folder) / CONFIG_FILE
    config = json.loads(path.read_text(encoding="utf-8"))
    config["baseline_survival"] = entry
    import datetime

    from .. import __version__

    config.setdefault("provenance", {})["baseline_survival"] = {
        "command": f"python -m RadSurvLib.training.demo add-baseline {folder}",
        "method": "Breslow baseline from the shipped weights' predictions on the rebuilt training cases "
                  "(weights and their SHA-256 unchanged; no re-training)",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "radsurv_version": __version__}
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return entry


if __name__ == "__main__":  # python -m RadSurvLib.training.demo add-baseline FOLDER
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "add-baseline":
        sys.exit("usage: python -m RadSurvLib.training.demo add-baseline BUNDLE_FOLDER")
    add_baseline_survival(sys.argv[2])
