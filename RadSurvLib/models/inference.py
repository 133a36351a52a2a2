"""Risk score and Grad-CAM heatmap for one case with a loaded model bundle."""

from __future__ import annotations

import re

from ..errors import InputError


def resolve_device(device: str = "auto") -> str:
    """Torch device name for ``device``: ``"auto"`` -> ``"cuda"`` when available else ``"cpu"``;
    ``"cpu"``, ``"cuda"`` and ``"cuda:N"`` as they are.

    Raises:
        InputError: unknown device, or ``"cuda"`` requested on a machine without a usable CUDA GPU.
    """
    import torch

    device = str(device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" or re.fullmatch(r"cuda:\d+", device):
        if not torch.cuda.is_available():
            raise InputError(f"device: {device} was requested but no CUDA GPU is available to PyTorch on this "
                             f"machine (torch {torch.__version__}); use cpu or auto.")
        return device
    if device == "cpu":
        return "cpu"
    raise InputError(f"device: unknown device {device!r}; use auto, cpu, cuda or cuda:N.")


def check_device(device: str = "auto") -> str:
    """``device`` checked and normalised (lower case) without importing torch unless CUDA is asked for:
    ``"auto"`` stays ``"auto"`` (``resolve_device`` picks the device when the work starts).

    Raises:
        InputError: as ``resolve_device``.
    """
    device = str(device or "auto").lower()
    return device if device in ("auto", "cpu") else resolve_device(device)


def predict_case(bundle, ct_1mm, gtv_1mm, reference, device: str = "auto", voxel_maps=None,
                 radscores=None) -> dict:
    """Predict the risk score of one case and explain it with Grad-CAM, for any bundle architecture.

    Args:
        bundle: ``RadSurvLib.models.bundle.Bundle`` (from ``load_bundle``).
        ct_1mm: SimpleITK CT on the 1 mm isotropic grid, HU float32.
        gtv_1mm: SimpleITK GTV mask (uint8 0/1) on the same grid.
        reference: SimpleITK image whose geometry the heatmap takes (the original CT).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        voxel_maps: dict map name -> SimpleITK voxel map (any grid covering the GTV), needed by
            ``"ct3d+maps"`` bundles (Vision-Mamba); ignored otherwise.
        radscores: dict name -> RadScore (or a sequence in the bundle's ``radscore_names`` order),
            needed by ``"slice2d+radscores"`` bundles (Deep-RadScore); ignored otherwise.

    Returns:
        ``{"risk_score": float (tanh risk in (-1, 1), higher = worse prognosis; a logit for a binary
        endpoint), "heatmap": SimpleITK float32 image in the reference geometry with values in [0, 1]
        (0 outside the model crop; for 2D models only on the patch's slice), "device": "cpu" | "cuda",
        "gradcam_layer": str, "gradcam_method": "hirescam" (see RadSurvLib.explain), "input_kind": str,
        "endpoint": "survival" | "binary"}``, plus
        ``"probability"`` (sigmoid of the logit) for a binary endpoint.

    Raises:
        InputError: bad device, CT/GTV grid mismatch, empty GTV, missing voxel maps or RadScores.
    """
    import math

    from ..explain import gradcam, gradcam_to_reference
    from .inputs import build_model_input

    device = resolve_device(device)
    kind = bundle.input_kind
    model_input = build_model_input(kind, ct_1mm, gtv_1mm, bundle.preprocessing,
                                    voxel_maps=voxel_maps, radscores=radscores)
    scores = None if model_input.radscores is None else model_input.radscores.to(device)
    model = bundle.model.to(device)
    try:
        cam, risk = gradcam(model, model_input.x.to(device), layer=bundle.gradcam_layer, radscores=scores)
    finally:
        bundle.model.to("cpu")  # the Bundle promises a CPU model between calls
    heatmap = gradcam_to_reference(cam[0], model_input.geometry, reference)
    out = {"risk_score": float(risk[0]), "heatmap": heatmap, "device": device,
           "gradcam_layer": bundle.gradcam_layer, "gradcam_method": "hirescam", "input_kind": kind,
           "endpoint": bundle.endpoint}
    if bundle.endpoint == "binary":
        out["probability"] = 1.0 / (1.0 + math.exp(-out["risk_score"]))
    return out
