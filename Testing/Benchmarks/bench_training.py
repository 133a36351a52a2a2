"""Training and inference throughput (cases/s) of each RadSurv architecture.

Usage::

    python Testing/Benchmarks/bench_training.py [--device cpu|cuda|auto] [--batch-size 8] [--steps 3]
        [--config small|paper]

For each architecture (``RadSurvLib.models.registry``) with the small CPU configuration of
``radsurv train`` (its ``ModelSpec.small_params``, the default) or the paper-size defaults
(``--config paper``), on random inputs of its input kind's shape (SEResNet3D ``[B, 1, 64, 64, 64]``,
VisionMamba3D ``[B, 4, 32, 32, 32]``, DeepRadScore2D ``[B, 1, 64, 64]`` small / ``[B, 1, 160, 160]`` paper):
one training step = Liu et al. augmentation + forward + Cox loss + backward + Adam step; inference = forward
without gradients in eval mode. One warm-up step is not timed. ``--device auto`` runs on CPU and, when
available, on CUDA too. Prints one line per (device, model).
"""

from __future__ import annotations

import argparse
import time


def shapes(name: str, config: str):
    from RadSurvLib.models.registry import model_spec

    spec = model_spec(name)
    if name == "SEResNet3D":
        return (1, 64, 64, 64), 0
    if name == "VisionMamba3D":
        p = spec.small_params
        return (p["in_channels"], p["image_size"], p["image_size"], p["image_size"]), 0
    size = spec.preprocessing["patch_size"] if config == "small" else 160
    return (1, size, size), (0 if config == "small" else 2)


def bench(name: str, device: str, batch_size: int, steps: int, config: str) -> dict:
    import torch

    from RadSurvLib.models.registry import build_model, model_spec
    from RadSurvLib.training.augment import Augmenter
    from RadSurvLib.training.loop import call_model
    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    params = dict(model_spec(name).small_params) if config == "small" else {}
    shape, n_radscores = shapes(name, config)
    if name == "DeepRadScore2D":
        params["n_radscores"] = n_radscores
    model = build_model(name, params).to(device)
    x = torch.randn(batch_size, *shape)
    r = torch.randn(batch_size, n_radscores) if n_radscores else None
    time_days = torch.rand(batch_size) * 1000 + 1
    event = torch.ones(batch_size)
    augment = Augmenter()
    generator = torch.Generator().manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def train_step():
        model.train()
        xb = augment(x, generator).to(device)
        loss = cox_partial_likelihood_loss(call_model(model, xb, None if r is None else r.to(device)), time_days, event)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def infer_step():
        model.eval()
        with torch.no_grad():
            call_model(model, x.to(device), None if r is None else r.to(device))

    out = {"model": name, "device": device, "params": sum(p.numel() for p in model.parameters())}
    for label, fn in (("train", train_step), ("infer", infer_step)):
        fn()
        sync()
        started = time.perf_counter()
        for _ in range(steps):
            fn()
        sync()
        out[f"{label}_cases_per_s"] = steps * batch_size / (time.perf_counter() - started)
    return out


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--config", default="small", choices=("small", "paper"))
    parser.add_argument("--models", default="SEResNet3D,VisionMamba3D,DeepRadScore2D")
    args = parser.parse_args(argv)
    devices = {"auto": ["cpu"] + (["cuda"] if torch.cuda.is_available() else []), "cpu": ["cpu"],
               "cuda": ["cuda"]}[args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU available")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {args.batch_size}, "
          f"{args.steps} timed steps, {args.config} configs"
          + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
    print(f"{'device':6s} {'model':16s} {'params':>10s} {'train cases/s':>14s} {'infer cases/s':>14s}")
    for device in devices:
        for name in args.models.split(","):
            res = bench(name, device, args.batch_size, args.steps, args.config)
            print(f"{device:6s} {name:16s} {res['params']:>10,d} {res['train_cases_per_s']:>14.2f} "
                  f"{res['infer_cases_per_s']:>14.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
