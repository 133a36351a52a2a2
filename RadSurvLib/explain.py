"""Grad-CAM heatmaps for the risk model, and their mapping back onto the original CT.

Grad-CAM (Selvaraju et al. 2017) weights the activations of one layer by the spatial mean of the
gradient of the risk score, sums over channels and keeps the positive part; RadSurv uses MONAI's
``monai.visualize.GradCAM``, which also upsamples the map to the input size (trilinear) and rescales
it to [0, 1]. High values mark the regions that raise the predicted risk.

Layer choice and resolution at a 64^3 input (``SEResNet3D``): stem (conv + max pooling) 16^3,
``layer1`` 16^3, ``layer2`` 8^3, ``layer3`` 4^3, ``layer4`` 2^3. RadSurv's default is ``layer2``:
8^3 cells (each ~1/8 of the crop per axis) are the compromise between spatial detail and semantic depth;
``layer4`` at 2^3 would only say which octant of the crop matters.
"""

from __future__ import annotations


def _risk_as_logits(model):
    """Wrap a risk model (``[B]`` output) so that it returns one-"class" logits ``[B, 1]`` for MONAI CAMs."""
    from torch import nn

    class RiskAsLogits(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x).unsqueeze(1)

    return RiskAsLogits(model)


def gradcam(model, x, layer: str = "layer2"):
    """3D Grad-CAM of the risk score with respect to one layer of ``model``.

    Args:
        model: risk model (``SEResNet3D``-like: ``forward(x) -> [B]``); a copy in eval mode is used.
        x: float tensor ``[B, 1, z, y, x]`` on the model's device.
        layer: name of the target layer in ``model`` (e.g. ``"layer2"``).

    Returns:
        ``(cam, risk)``: numpy float32 ``[B, z, y, x]`` in [0, 1] (per case min-max; all zero when the
        gradient-weighted activations are nowhere positive) and numpy ``[B]`` risk scores.

    Raises:
        ValueError: ``layer`` is not a submodule of ``model``.
    """
    import copy

    import numpy as np
    import torch
    from monai.visualize import GradCAM

    if layer not in dict(model.named_modules()) or not layer:
        raise ValueError(f"Grad-CAM layer {layer!r} is not a layer of {type(model).__name__}; "
                         "use e.g. 'layer2' (see RadSurvLib.explain).")
    # MONAI registers hooks that it never removes: work on a copy so the caller's model stays clean.
    model = copy.deepcopy(model).eval()
    # The wrapper must be in eval mode too: MONAI puts a module that was in training mode back into
    # training mode after its pass, which would switch on dropout and batch statistics in ``model``.
    cam_engine = GradCAM(nn_module=_risk_as_logits(model).eval(), target_layers=f"net.{layer}")
    x = x.detach()
    with torch.enable_grad():
        cam = cam_engine(x, class_idx=0)
    with torch.no_grad():
        risk = model.eval()(x)
    cam = cam.detach().float().cpu().numpy()[:, 0]
    cam = np.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(cam, 0.0, 1.0).astype(np.float32), risk.detach().cpu().numpy()


def gradcam_to_reference(cam_64, crop_geometry: dict, reference_image):
    """Resample a heatmap from the model's crop grid into a reference image's geometry.

    Args:
        cam_64: numpy ``[z, y, x]`` heatmap on the crop grid (e.g. 64^3), values in [0, 1].
        crop_geometry: dict from ``RadSurvLib.models.preprocess.crop_geometry`` (size, spacing,
            origin, direction of the crop grid in mm).
        reference_image: SimpleITK image whose grid the output takes (the original CT).

    Returns:
        SimpleITK float32 image in the reference geometry, linear interpolation, 0 outside the crop,
        clipped to [0, 1].

    Raises:
        ValueError: ``cam_64`` shape is not the crop grid's (z, y, x) size.
    """
    import numpy as np
    import SimpleITK as sitk

    cam = np.asarray(cam_64, dtype=np.float32)
    expected = tuple(int(v) for v in reversed(crop_geometry["size"]))
    if cam.shape != expected:
        raise ValueError(f"Grad-CAM map has shape {cam.shape}; the crop grid is {expected} (z, y, x).")
    heat = sitk.GetImageFromArray(cam)
    heat.SetSpacing(crop_geometry["spacing"])
    heat.SetOrigin(crop_geometry["origin"])
    heat.SetDirection(crop_geometry["direction"])
    resampler = sitk.ResampleImageFilter()
    resampler.SetReferenceImage(reference_image)
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetDefaultPixelValue(0.0)
    resampler.SetOutputPixelType(sitk.sitkFloat32)
    out = sitk.Clamp(resampler.Execute(heat), sitk.sitkFloat32, 0.0, 1.0)
    return out
