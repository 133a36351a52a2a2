"""Train the demonstration SE-ResNet bundle on the synthetic cohort (CPU, a few minutes).

Usage::

    python -m RadSurvLib.training.demo --out RadSurvLib/resources/bundles/demo-seresnet3d

Recipe (Liu et al. 2025, scaled down for two CPU cores): ``SEResNet3D`` with a small width, Cox
negative log partial likelihood (Breslow ties), Adam with weight decay 1e-4 (the paper's L2
lambda = 1e-4), batch size 32, exponential learning-rate decay (x0.96 per epoch; the paper decays x0.96
per 1000 steps), learning rate 1e-3 (the paper's 1e-4 learns too slowly for a few-minute demo),
fixed number of epochs (no early stopping, so the held-out cases never steer training).
Augmentation: random mirroring along each axis and rotation about z by multiples of 90 degrees
(a subset of Liu et al. Table 1; intensity augmentations are left out because the synthetic hazard
is carried by intensity texture). After training the output bias is shifted so that the median
training risk is 0 (``centre_risk``; rankings unchanged). Cases are split into training and held-out sets by index; the
held-out Harrell C-index against the synthetic survival data and the concordance with the true
log hazard are written into the bundle's provenance.
"""

from __future__ import annotations

import argparse
import time as _time

DISCLAIMER = "Demonstration model trained on synthetic tumours inserted into one real CT; not a clinical model."
DEFAULTS = {"n_train": 256, "n_heldout": 128, "epochs": 24, "batch_size": 32, "lr": 1e-3,
            "weight_decay": 1e-4, "base_width": 8, "seed": 2025}
HEAD_UNITS = (64, 32, 16)  # the paper's 512-512-256-128 head, scaled with the width (8 * base_width features)
PREPROCESSING = {"crop_size": 64, "margin_mm": 5.0, "hu_clip": [-1000.0, 400.0], "spacing_mm": [1.0, 1.0, 1.0]}
GRADCAM_LAYER = "layer2"


def build_arrays(n_cases: int, seed: int, start: int, background, log=print):
    """Synthetic cases -> model inputs in clipped HU (not yet z-scored) and survival data.

    Returns:
        ``(x, time_days, event, log_hazard)``: float32 tensor ``[N, 1, 64, 64, 64]`` (z, y, x), and NumPy
        arrays ``[N]``.
    """
    import numpy as np
    import torch

    from ..models.crop import make_model_input
    from .synthetic import generate_cases

    inputs, times, events, hazards = [], [], [], []
    for case in generate_cases(n_cases, seed=seed, background=background, start=start):
        x, _ = make_model_input(case.ct, case.gtv, crop_size=PREPROCESSING["crop_size"],
                                margin_mm=PREPROCESSING["margin_mm"], hu_clip=PREPROCESSING["hu_clip"])
        inputs.append(x[0])
        times.append(case.time_days)
        events.append(case.event)
        hazards.append(case.log_hazard)
    log(f"  {n_cases} cases from index {start}: {int(np.sum(events))} events", flush=True)
    return torch.stack(inputs), np.array(times), np.array(events, bool), np.array(hazards)


def augment(batch, generator):
    """Random mirroring (each axis, p = 0.5) and rotation about z by k * 90 degrees, per case.

    ``batch``: ``[B, 1, z, y, x]``; the rotation turns the (y, x) plane.
    """
    import torch

    out = []
    for x in batch:
        flips = [d for d in (1, 2, 3) if torch.rand(1, generator=generator).item() < 0.5]
        x = torch.flip(x, flips) if flips else x
        k = int(torch.randint(0, 4, (1,), generator=generator).item())
        out.append(torch.rot90(x, k, dims=(2, 3)))
    return torch.stack(out)


def predict_risk(model, x, batch_size: int = 64):
    """Risk scores (NumPy ``[N]``) of inputs ``[N, 1, z, y, x]`` in eval mode, without gradients."""
    import torch

    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def train(model, x, time_days, event, epochs: int, batch_size: int, lr: float, weight_decay: float,
          seed: int, log=print) -> list:
    """Train ``model`` in place with the Cox loss; returns the mean training loss of each epoch."""
    import torch

    from . import cox_partial_likelihood_loss

    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)  # L2 1e-4 (Liu)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=0.96)
    t, e = torch.as_tensor(time_days, dtype=torch.float32), torch.as_tensor(event)
    history = []
    for epoch in range(epochs):
        epoch_started = _time.time()
        model.train()
        order, losses = torch.randperm(len(x), generator=generator), []
        for i in range(0, len(x) - batch_size + 1, batch_size):  # drop the last partial batch
            index = order[i:i + batch_size]
            loss = cox_partial_likelihood_loss(model(augment(x[index], generator)), t[index], e[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        schedule.step()
        history.append(sum(losses) / max(len(losses), 1))
        log(f"  epoch {epoch + 1:3d}/{epochs}: Cox loss {history[-1]:.4f} ({_time.time() - epoch_started:.1f} s)", flush=True)
    return history


def centre_risk(model, x, batch_size: int = 64) -> float:
    """Shift the output bias so that the median training risk is 0; returns the shift.

    The Cox loss does not see a constant shift of the log hazard, so training can drift the tanh
    output towards -1 or +1. tanh is strictly increasing, so the shift keeps every ranking (and
    C-index) and puts the risk scores and the median cut-off in the middle of (-1, 1).
    """
    import torch

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model.out(model.head(model.features(x[i:i + batch_size]))).squeeze(1)
                            for i in range(0, len(x), batch_size)])
        shift = float(logits.median())
        model.out.bias -= shift
    return shift


def add_arguments(parser) -> None:
    """Add the demo trainer's options (``--out`` and the ``DEFAULTS``) to an argparse parser."""
    parser.add_argument("--out", required=True, help="output bundle folder")
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value,
                            help=f"default {value}")


def parse_args(argv=None):
    """Command-line options of the demo trainer (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="radsurv train-demo", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None, args=None) -> dict:
    """Build the synthetic cohort, train, evaluate on the held-out cases and write the bundle.

    Options come from ``argv`` (command-line words) or from ``args`` (an argparse namespace with
    the options of ``add_arguments``, as ``radsurv train-demo`` passes them).

    Returns:
        The written ``bundle.json`` content (dict). Exit status 0 via ``python -m``.
    """
    import datetime
    import platform

    import numpy as np
    import torch

    from .. import __version__
    from ..models.bundle import save_bundle
    from ..models.seresnet import SEResNet3D
    from . import harrell_c_index, pairwise_concordance
    from .synthetic import (BETA_HET, BETA_NEC, CENSORED_FRACTION, MEDIAN_SURVIVAL_DAYS, load_background)

    args = args or parse_args(argv)
    started = _time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    print("building the synthetic cohort ...", flush=True)
    background = load_background()
    x_train, t_train, e_train, h_train = build_arrays(args.n_train, args.seed, 0, background)
    x_test, t_test, e_test, h_test = build_arrays(args.n_heldout, args.seed, args.n_train, background)
    mean, std = float(x_train.mean()), float(x_train.std())  # fixed z-score statistics (training set)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    params = {"in_channels": 1, "base_width": args.base_width, "blocks_per_stage": [2, 2, 2, 2],
              "head_units": list(HEAD_UNITS), "dropout": 0.4, "se_ratio": 64}
    model = SEResNet3D(**params)
    print(f"training SEResNet3D (base_width {args.base_width}) on {len(x_train)} cases ...", flush=True)
    train_started = _time.time()
    history = train(model, x_train, t_train, e_train, args.epochs, args.batch_size, args.lr,
                    args.weight_decay, args.seed)
    train_seconds = _time.time() - train_started
    centre_risk(model, x_train)
    risk_train, risk_test = predict_risk(model, x_train), predict_risk(model, x_test)
    metrics = {
        "heldout_c_index": harrell_c_index(t_test, e_test, risk_test),
        "heldout_concordance_with_true_hazard": pairwise_concordance(risk_test, h_test),
        "heldout_c_index_of_true_hazard": harrell_c_index(t_test, e_test, h_test),
        "train_c_index": harrell_c_index(t_train, e_train, risk_train),
    }
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()), flush=True)
    command = "python -m RadSurvLib.training.demo --out " + args.out + "".join(
        f" --{k.replace('_', '-')} {getattr(args, k)}" for k, v in DEFAULTS.items() if getattr(args, k) != v)
    config = {
        "name": "demo-seresnet3d", "version": f"{__version__}-demo", "demonstration": True,
        "disclaimer": DISCLAIMER,
        "architecture": {"name": "SEResNet3D", "params": params},
        "preprocessing": {**PREPROCESSING, "norm_mean": mean, "norm_std": std},
        "gradcam_layer": GRADCAM_LAYER,
        "risk_cutoff": float(np.median(risk_train)),
        "provenance": {
            "command": command, "seed": args.seed,
            "data": ("Synthetic cohort (RadSurvLib.training.synthetic): ellipsoidal tumours inserted into 80 mm "
                     "lung blocks of one real CT (RadSurvLib/resources/PAT1, IBSI phantom, 1 mm B-spline). Ground truth: "
                     f"log hazard = {BETA_HET} * z(heterogeneity) + {BETA_NEC} * z(necrotic fraction); exponential "
                     f"survival, median {MEDIAN_SURVIVAL_DAYS:.0f} days at log hazard 0; independent exponential "
                     f"censoring, {CENSORED_FRACTION:.0%} expected."),
            "n_train": int(len(x_train)), "n_heldout": int(len(x_test)),
            "events_train": int(e_train.sum()), "events_heldout": int(e_test.sum()),
            **{k: round(float(v), 4) for k, v in metrics.items()},
            "training": {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": "Adam",
                         "lr": args.lr, "lr_decay_per_epoch": 0.96, "weight_decay": args.weight_decay,
                         "loss": "Cox negative log partial likelihood (Breslow ties)",
                         "augmentation": "mirroring (x, y, z; p=0.5 each), rotation about z by k*90 deg",
                         "final_train_loss": round(history[-1], 4), "train_seconds": round(train_seconds, 1),
                         "total_seconds": round(_time.time() - started, 1), "torch_threads": torch.get_num_threads()},
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "radsurv_version": __version__, "torch_version": torch.__version__,
            "python_version": platform.python_version(),
        },
    }
    folder = save_bundle(model, config, args.out)
    print(f"bundle written to {folder} ({_time.time() - started:.0f} s)", flush=True)
    return config


if __name__ == "__main__":
    main()
