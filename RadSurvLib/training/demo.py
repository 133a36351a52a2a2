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
