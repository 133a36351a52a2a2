"""Grad-CAM heatmaps for the risk model, and their mapping back onto the original CT.

Two class-activation methods on one layer of the model, both keeping the positive part, upsampling the
map to the input size (trilinear / bilinear) and rescaling it per case to [0, 1]:

* ``"hirescam"`` (default; HiResCAM, Draelos & Carin 2020): the element-wise product of the layer's
  activations and the gradient of the risk score, summed over channels. For models that end in global
  average pooling and fully connected layers it is each position's own contribution to the risk.
* ``"gradcam"`` (Grad-CAM, Selvaraju et al. 2017, via MONAI's ``monai.visualize.GradCAM``): activations
  weighted by the spatial MEAN of the gradient. It can point away from the evidence: on RadSurv's
  synthetic test (a bright cube drives the hazard, ``Testing/Python/test_training_gradcam.py``) its peak
  fell in the cube in 0/32 cases, HiResCAM's in 26/32 (chance 7 %), because averaging the gradient lets
  channel offsets over the whole (lung) background outweigh the lesion.

High values mark the regions that raise the predicted risk.

Layer choice and resolution at a 64^3 input (``SEResNet3D``): stem (conv + max pooling) 16^3,
``layer1`` 16^3, ``layer2`` 8^3, ``layer3`` 4^3, ``layer4`` 2^3. RadSurv's default is ``layer2``:
8^3 cells (each ~1/8 of the crop per axis) are the compromise between spatial detail and semantic depth;
``layer4`` at 2^3 would only say which octant of the crop matters.

``VisionMamba3D``: ``token_grid`` (the final token grid reshaped to ``[B, C, g, g, g]``, g = crop /
patch size, e.g. 8^3 for a 64^3 crop with 8^3 patches). ``DeepRadScore2D`` (2D, 160x160 patch):
``backbone.denseblock3`` (10x10 cells of 16 mm; ``backbone.denseblock4`` / ``norm5`` are 5x5). A 2D map
is placed on the CT slice nearest to the patch's slice (``gradcam_to_reference``).
"""

from __future__ import annotations


def _risk_as_logits(model, radscores=None):
    """Wrap a risk model (``[B]`` output) so that it returns one-"class" logits ``[B, 1]`` for MONAI CAMs.

    ``radscores`` (``[B, R]`` or None) are held fixed and passed to ``model(x, radscores)``.
    """
    from torch import nn

    class RiskAsLogits(nn.Module):
        def __init__(self, net, scores):
            super().__init__()
            self.net = net
            self.scores = scores

        def forward(self, x):
            out = self.net(x) if self.scores is None else self.net(x, self.scores)
            return out.unsqueeze(1)

    return RiskAsLogits(model, radscores)


METHODS = ("hirescam", "gradcam")


def gradcam(model, x, layer: str = "layer2", radscores=None, method: str = "hirescam"):
    """Class-activation heatmap (3D or 2D) of the model output at one layer of ``model``.

    Args:
        model: risk model (``forward(x, radscores=None) -> [B]``); a copy in eval mode is used.
        x: float tensor ``[B, C, z, y, x]`` (3D models) or ``[B, C, y, x]`` (2D) on the model's device.
        layer: name of the target layer in ``model`` (e.g. ``"layer2"``, ``"token_grid"``,
            ``"backbone.denseblock3"``); its output must be ``[B, C', *spatial]``.
        radscores: ``[B, R]`` tensor for models that fuse RadScores, else None.
        method: ``"hirescam"`` (default) or ``"gradcam"`` (MONAI); see the module docstring.

    Returns:
        ``(cam, risk)``: numpy float32 ``[B, *x.shape[2:]]`` in [0, 1] (upsampled to the input grid;
        per case min-max; all zero when the gradient-weighted activations are nowhere positive) and
        numpy ``[B]`` model outputs (risk, or logit for a binary endpoint).

    Raises:
        ValueError: ``layer`` is not a submodule of ``model``, or ``method`` is unknown.
    """
    import copy

    import numpy as np
    import torch
    from monai.visualize import GradCAM

    if layer not in dict(model.named_modules()) or not layer:
        raise ValueError(f"Grad-CAM layer {layer!r} is not a layer of {type(model).__name__}; "
                         "use e.g. 'layer2' (see RadSurvLib.explain).")
    if method not in METHODS:
        raise ValueError(f"heatmap method {method!r} is unknown; use one of {', '.join(METHODS)}.")
    # MONAI registers hooks that it never removes: work on a copy so the caller's model stays clean.
    model = copy.deepcopy(model).eval()
    if method == "hirescam":
        return _hirescam(model, x.detach(), layer, radscores)
    # The wrapper must be in eval mode too: MONAI puts a module that was in training mode back into
    # training mode after its pass, which would switch on dropout and batch statistics in ``model``.
    if radscores is not None:
        radscores = torch.as_tensor(radscores, dtype=x.dtype, device=x.device)
    cam_engine = GradCAM(nn_module=_risk_as_logits(model, radscores).eval(), target_layers=f"net.{layer}")
    x = x.detach()
    with torch.enable_grad():
        cam = cam_engine(x, class_idx=0)
    with torch.no_grad():
        risk = model.eval()(x) if radscores is None else model.eval()(x, radscores)
    cam = cam.detach().float().cpu().numpy()[:, 0]
    cam = np.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(cam, 0.0, 1.0).astype(np.float32), risk.detach().cpu().numpy()


def _hirescam(model, x, layer: str, radscores):
    """HiResCAM of an eval-mode ``model`` at ``layer``: ReLU(sum_k dRisk/dA_k * A_k), upsampled, min-max per case."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    captured = {}
    hook = dict(model.named_modules())[layer].register_forward_hook(
        lambda module, inputs, output: captured.__setitem__("a", output))
    try:
        with torch.enable_grad():
            out = model(x) if radscores is None else model(x, torch.as_tensor(radscores, dtype=x.dtype,
                                                                               device=x.device))
            activations = captured["a"]
            (grad,) = torch.autograd.grad(out.sum(), activations)
    finally:
        hook.remove()
    cam = F.relu((grad * activations).sum(1, keepdim=True)).detach()
    mode = "trilinear" if cam.dim() == 5 else "bilinear"
    cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode=mode, align_corners=False)[:, 0]
    flat = cam.reshape(len(cam), -1)
    low, high = flat.min(1).values, flat.max(1).values
    scale = torch.where(high > low, high - low, torch.ones_like(high))
    cam = (cam - low.view(-1, *[1] * (cam.dim() - 1))) / scale.view(-1, *[1] * (cam.dim() - 1))
    cam = np.nan_to_num(cam.float().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(cam, 0.0, 1.0).astype(np.float32), out.detach().cpu().numpy()


def _snap_slab_to_reference(geometry: dict, reference_image) -> dict:
    """A one-slice geometry moved along its normal onto the nearest slice of ``reference_image``.

    The slab's thickness becomes the reference's slice spacing, so linear resampling paints exactly one
    reference slice. Geometries whose normal is not along a reference axis are returned unchanged.
    """
    import numpy as np

    direction = np.array(geometry["direction"], dtype=float).reshape(3, 3)
    normal = direction[:, 2]
    ref_dir = np.array(reference_image.GetDirection(), dtype=float).reshape(3, 3)
    cosines = ref_dir.T @ normal
    axis = int(np.argmax(np.abs(cosines)))
    if abs(cosines[axis]) < 0.999:
        return geometry
    origin = np.array(geometry["origin"], dtype=float)
    index = list(reference_image.TransformPhysicalPointToContinuousIndex([float(v) for v in origin]))
    index[axis] = float(min(max(round(index[axis]), 0), reference_image.GetSize()[axis] - 1))
    snapped = np.array(reference_image.TransformContinuousIndexToPhysicalPoint(index))
    origin = origin + normal * float(normal @ (snapped - origin))
    spacing = list(geometry["spacing"])
    spacing[2] = float(reference_image.GetSpacing()[axis])
    return {**geometry, "origin": [float(v) for v in origin], "spacing": spacing}


def gradcam_to_reference(cam_64, crop_geometry: dict, reference_image):
    """Resample a heatmap from the model's grid into a reference image's geometry.

    Args:
        cam_64: numpy ``[z, y, x]`` heatmap on the 3D crop grid (e.g. 64^3), or ``[y, x]`` on a 2D
            patch (``crop_geometry["size"] = [P, P, 1]``), values in [0, 1].
        crop_geometry: dict from ``RadSurvLib.models.crop.crop_geometry`` or
            ``RadSurvLib.models.inputs.build_slice2d`` (size, spacing, origin, direction in mm).
        reference_image: SimpleITK image whose grid the output takes (the original CT).

    Returns:
        SimpleITK float32 image in the reference geometry, linear interpolation, 0 outside the crop,
        clipped to [0, 1]. A 2D map is placed on the one reference slice nearest to the patch's slice
        (when the patch is parallel to the reference's slices) and is 0 on every other slice.

    Raises:
        ValueError: ``cam_64`` shape is not the grid's (z, y, x) or (y, x) size.
    """
    import numpy as np
    import SimpleITK as sitk

    cam = np.asarray(cam_64, dtype=np.float32)
    expected = tuple(int(v) for v in reversed(crop_geometry["size"]))
    if cam.ndim == 2 and expected[0] == 1:
        cam = cam[None]
        crop_geometry = _snap_slab_to_reference(crop_geometry, reference_image)
    if cam.shape != expected:
        raise ValueError(f"Grad-CAM map has shape {cam.shape}; the model grid is {expected} (z, y, x).")
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
