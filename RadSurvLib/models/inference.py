"""Risk score and Grad-CAM heatmap for one case with a loaded model bundle."""

from __future__ import annotations

from ..errors import InputError


def resolve_device(device: str = "auto") -> str:
    """Torch device name for ``device``: ``"auto"`` -> ``"cuda"`` when available else ``"cpu"``.

    Raises:
        InputError: unknown device, or ``"cuda"`` requested on a machine without a usable CUDA GPU.
    """
    import torch

    device = str(device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA GPU is available to PyTorch on this machine "
                             f"(torch {torch.__version__}); use --device cpu or --device auto.")
        return "cuda"
    if device == "cpu":
        return "cpu"
    raise InputError(f"--device: unknown device {device!r}; use auto, cpu or cuda.")


def predict_case(bundle, ct_1mm, gtv_1mm, reference, device: str = "auto") -> dict:
    """Predict the risk score of one case and explain it with Grad-CAM.

    Args:
        bundle: ``RadSurvLib.bundle.Bundle`` (from ``load_bundle``).
        ct_1mm: SimpleITK CT on the 1 mm isotropic grid, HU float32.
        gtv_1mm: SimpleITK GTV mask (uint8 0/1) on the same grid.
        reference: SimpleITK image whose geometry the heatmap takes (the original CT).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns:
        ``{"risk_score": float in (-1, 1) (higher = worse prognosis), "heatmap": SimpleITK float32 image
        in the reference geometry with values in [0, 1] (0 outside the model crop), "device": "cpu" |
        "cuda", "gradcam_layer": str}``.

    Raises:
        InputError: bad device, CT/GTV grid mismatch, empty GTV.
    """
    from ..explain import gradcam, gradcam_to_reference
    from .preprocess import make_model_input

    device = resolve_device(device)
    x, geometry = make_model_input(ct_1mm, gtv_1mm, **bundle.preprocessing)
    model = bundle.model.to(device)
    try:
        cam, risk = gradcam(model, x.to(device), layer=bundle.gradcam_layer)
    finally:
        bundle.model.to("cpu")  # the Bundle promises a CPU model between calls
    heatmap = gradcam_to_reference(cam[0], geometry, reference)
    return {"risk_score": float(risk[0]), "heatmap": heatmap, "device": device,
            "gradcam_layer": bundle.gradcam_layer}
