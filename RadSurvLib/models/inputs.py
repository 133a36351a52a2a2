"""Model inputs, one builder per ``input_kind``; training and inference both use these.

All builders start from the CT and GTV on the 1 mm isotropic analysis grid (SimpleITK, HU / 0-1 mask,
the CT's direction) and the bundle's ``preprocessing`` dict, and return a ``ModelInput``:

- ``"ct3d"`` (SE-ResNet, Liu et al. 2025): the GTV bounding box + ``margin_mm`` resampled to
  ``crop_size``^3 (``crop.make_model_input``), HU clipped to ``hu_clip`` and z-scored with the
  fixed ``norm_mean`` / ``norm_std``. x ``[1, 1, D, D, D]`` (z, y, x).
- ``"ct3d+maps"`` (Vision-Mamba, Wang et al. 2026): the same CT crop as channel 0, then the voxel
  radiomics maps named in ``preprocessing["voxel_maps"]`` (in that order) resampled onto the same
  crop grid (linear, 0 = the maps' background outside their extent) and z-scored with
  ``preprocessing["map_norm"][name] = [mean, std]`` (default 0, 1). x ``[1, 1 + M, D, D, D]``.
- ``"slice2d+radscores"`` (Deep-RadScore, Zhang et al. 2024): the axial slice of the 1 mm grid with
  the most GTV voxels (ties: the one nearest the GTV's centre), a ``patch_size`` x ``patch_size``
  patch at 1 mm pixels centred on the centroid of the GTV on that slice (linear interpolation),
  clipped / z-scored like the CT crop; the RadScores ordered as ``preprocessing["radscore_names"]``.
  x ``[1, 1, P, P]`` (y, x), radscores ``[1, R]``.

``geometry`` (for Grad-CAM): ``size`` (x, y, z voxels), ``spacing`` (mm), ``origin`` (mm),
``direction`` (row-major 3x3) of the model grid; for the 2D patch ``size`` is ``[P, P, 1]`` and
``slice_index`` is the chosen slice's k index on the 1 mm grid.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import InputError

#: ``make_model_input`` keyword arguments taken from a preprocessing dict.
CROP_KEYS = ("crop_size", "margin_mm", "hu_clip", "norm_mean", "norm_std")

#: Default 2D patch size (Zhang et al. 2024: 160 x 160 pixels).
PATCH_SIZE = 160

#: Gray-level bin width of the voxel maps of a scoring run, and of those a ``ct3d+maps`` model takes
#: when its bundle names none, HU (Liu et al. 2025's bin width).
VOXEL_MAP_BIN_WIDTH_HU = 25.0


class ModelInput(NamedTuple):
    """One case's model input.

    Attributes:
        x: float32 tensor, ``[1, C, z, y, x]`` (3D kinds) or ``[1, 1, y, x]`` (2D).
        radscores: float32 tensor ``[1, R]`` or None (only for ``"slice2d+radscores"``).
        geometry: dict of the model grid (see the module docstring).
    """

    x: object
    radscores: object
    geometry: dict


def _crop_kwargs(preprocessing: dict) -> dict:
    pre = dict(preprocessing or {})
    out = {key: pre[key] for key in CROP_KEYS if key in pre}
    if "hu_clip" in out:
        out["hu_clip"] = tuple(out["hu_clip"])
    return out


def build_ct3d(ct_1mm, gtv_1mm, preprocessing: dict) -> ModelInput:
    """``"ct3d"`` input: CT crop ``[1, 1, D, D, D]`` (see the module docstring).

    Raises:
        InputError: CT / GTV on different grids, empty GTV, ``norm_std <= 0``.
    """
    from .crop import make_model_input

    x, geometry = make_model_input(ct_1mm, gtv_1mm, **_crop_kwargs(preprocessing))
    return ModelInput(x, None, geometry)


def build_ct3d_maps(ct_1mm, gtv_1mm, preprocessing: dict, voxel_maps: dict) -> ModelInput:
    """``"ct3d+maps"`` input: CT crop + voxel maps as channels, ``[1, 1 + M, D, D, D]``.

    Args:
        ct_1mm, gtv_1mm: SimpleITK CT (HU) and GTV on the 1 mm grid.
        preprocessing: the bundle's dict: crop keys, ``voxel_maps`` (list of M map names, e.g.
            ``"firstorder_Mean"``), optional ``map_norm`` {name: [mean, std]}.
        voxel_maps: dict map name -> SimpleITK image in any geometry covering the GTV (e.g. the CT's
            own grid, as ``RadSurvLib.radiomics.voxelmaps.compute_voxel_maps`` writes them; 0 outside the GTV).

    Raises:
        InputError: a required map is missing, a map's std <= 0, or as ``build_ct3d``.
    """
    import numpy as np
    import SimpleITK as sitk
    import torch

    from .crop import geometry_image

    names = list((preprocessing or {}).get("voxel_maps") or [])
    if not names:
        raise InputError("model preprocessing: the bundle lists no 'voxel_maps' for its ct3d+maps input; "
                         "re-create the bundle with the map names it was trained on.")
    voxel_maps = dict(voxel_maps or {})
    missing = [name for name in names if name not in voxel_maps]
    if missing:
        raise InputError(f"voxel maps: the model needs {', '.join(missing)} (has: "
                         f"{', '.join(sorted(voxel_maps)) or 'none'}); compute them with "
                         "RadSurvLib.radiomics.voxelmaps.compute_voxel_maps(features=...).")
    base = build_ct3d(ct_1mm, gtv_1mm, preprocessing)
    reference = geometry_image(base.geometry)
    norms = dict((preprocessing or {}).get("map_norm") or {})
    channels = [base.x[0, 0].numpy()]
    for name in names:
        mean, std = (float(v) for v in norms.get(name, (0.0, 1.0)))
        if not std > 0:
            raise InputError(f"model preprocessing: map_norm std of {name} must be > 0, got {std}; check the bundle.")
        resampled = sitk.Resample(sitk.Cast(voxel_maps[name], sitk.sitkFloat32), reference, sitk.Transform(),
                                  sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        values = sitk.GetArrayFromImage(resampled)
        channels.append(((np.nan_to_num(values, nan=0.0) - mean) / std).astype(np.float32))
    x = torch.from_numpy(np.ascontiguousarray(np.stack(channels)))[None]
    return ModelInput(x, None, base.geometry)


def largest_slice(gtv_1mm) -> int:
    """k index (axial slice of the image grid) with the most GTV voxels; ties: nearest the GTV's centre.

    Raises:
        InputError: empty GTV.
    """
    import numpy as np
    import SimpleITK as sitk

    counts = (sitk.GetArrayViewFromImage(gtv_1mm) != 0).sum(axis=(1, 2))  # per z (k) index
    if counts.max() == 0:
        raise InputError("GTV: the mask is empty (no non-zero voxel); draw or select the tumour segment.")
    best = np.flatnonzero(counts == counts.max())
    centre = float((np.arange(len(counts)) * counts).sum() / counts.sum())
    return int(best[np.argmin(np.abs(best - centre))])


def radscore_tensor(radscores, names) -> object:
    """RadScores as float32 ``[1, R]`` in the order of ``names``.

    Args:
        radscores: dict name -> float, or a sequence of R floats already in ``names`` order.
        names: the bundle's ``radscore_names`` (e.g. ``["GTV", "ring_0_3mm"]``).

    Raises:
        InputError: None, a missing name, a wrong count or a non-finite value.
    """
    import numpy as np
    import torch

    names = list(names or [])
    if radscores is None:
        raise InputError(f"radscores: the model needs the RadScores {', '.join(names) or '(none listed)'}; "
                         "pass the radiomics signature (signature) that gives them.")
    if isinstance(radscores, dict):
        missing = [name for name in names if name not in radscores]
        if missing:
            raise InputError(f"radscores: missing {', '.join(missing)} (have {', '.join(sorted(radscores))}).")
        values = [radscores[name] for name in names]
    else:
        values = list(np.asarray(radscores, dtype=float).reshape(-1))
        if names and len(values) != len(names):
            raise InputError(f"radscores: got {len(values)} values; the model takes {len(names)} ({', '.join(names)}).")
    values = np.asarray(values, dtype=np.float32)
    if not np.all(np.isfinite(values)):
        raise InputError(f"radscores: non-finite value in {values.tolist()}.")
    return torch.from_numpy(values)[None]


def build_slice2d(ct_1mm, gtv_1mm, preprocessing: dict, radscores=None) -> ModelInput:
    """``"slice2d+radscores"`` input: the 2D patch ``[1, 1, P, P]`` and RadScores ``[1, R]``.

    Args:
        ct_1mm, gtv_1mm: SimpleITK CT (HU) and GTV on the 1 mm grid (axial slices = k index).
        preprocessing: ``patch_size`` (P, default 160), ``hu_clip``, ``norm_mean``, ``norm_std`` (HU),
            ``radscore_names`` (R names; empty for an image-only model).
        radscores: dict or sequence (see ``radscore_tensor``); may be None when R = 0.

    Raises:
        InputError: grid mismatch, empty GTV, ``norm_std <= 0``, missing / bad RadScores.
    """
    import numpy as np
    import SimpleITK as sitk
    import torch

    from ..io.images import check_same_geometry

    pre = dict(preprocessing or {})
    check_same_geometry(ct_1mm, gtv_1mm, "CT (1 mm)", "GTV (1 mm)")
    size = int(pre.get("patch_size", PATCH_SIZE))
    low, high = (float(v) for v in pre.get("hu_clip", (-1000.0, 400.0)))
    mean, std = float(pre.get("norm_mean", 0.0)), float(pre.get("norm_std", 1.0))
    if not std > 0:
        raise InputError(f"model preprocessing: norm_std must be > 0 HU, got {std}; check the bundle.")
    names = list(pre.get("radscore_names") or [])
    scores = radscore_tensor(radscores, names) if names else None

    k = largest_slice(gtv_1mm)
    mask = sitk.GetArrayViewFromImage(gtv_1mm)[k] != 0  # (y, x)
    j, i = (float(v) for v in np.argwhere(mask).mean(axis=0))
    centre = np.array(gtv_1mm.TransformContinuousIndexToPhysicalPoint([i, j, float(k)]))
    spacing = np.array(ct_1mm.GetSpacing(), dtype=float)
    direction = np.array(ct_1mm.GetDirection(), dtype=float).reshape(3, 3)
    half = np.array([(size - 1) / 2.0 * spacing[0], (size - 1) / 2.0 * spacing[1], 0.0])
    origin = centre - direction @ half
    geometry = {"size": [size, size, 1], "spacing": [float(v) for v in spacing],
                "origin": [float(v) for v in origin], "direction": [float(v) for v in direction.ravel()],
                "slice_index": k}
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([size, size, 1])
    resampler.SetOutputSpacing(geometry["spacing"])
    resampler.SetOutputOrigin(geometry["origin"])
    resampler.SetOutputDirection(geometry["direction"])
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetDefaultPixelValue(low)
    resampler.SetOutputPixelType(sitk.sitkFloat32)
    patch = sitk.GetArrayFromImage(resampler.Execute(sitk.Cast(ct_1mm, sitk.sitkFloat32)))[0]  # (y, x)
    patch = (np.clip(patch, low, high) - mean) / std
    x = torch.from_numpy(np.ascontiguousarray(patch, dtype=np.float32))[None, None]
    return ModelInput(x, scores, geometry)


def build_model_input(input_kind: str, ct_1mm, gtv_1mm, preprocessing: dict, voxel_maps=None,
                      radscores=None) -> ModelInput:
    """Dispatch to the builder of ``input_kind`` (``"ct3d"``, ``"ct3d+maps"``, ``"slice2d+radscores"``).

    Raises:
        InputError: unknown kind, or what the builder raises (missing maps / RadScores named).
    """
    if input_kind == "ct3d":
        return build_ct3d(ct_1mm, gtv_1mm, preprocessing)
    if input_kind == "ct3d+maps":
        return build_ct3d_maps(ct_1mm, gtv_1mm, preprocessing, voxel_maps)
    if input_kind == "slice2d+radscores":
        return build_slice2d(ct_1mm, gtv_1mm, preprocessing, radscores)
    raise InputError(f"model input kind {input_kind!r} is unknown; use ct3d, ct3d+maps or slice2d+radscores.")


def voxel_map_settings(preprocessing: dict, kernel_radius: int = 1) -> tuple[int, float]:
    """(kernel radius in voxels, bin width in HU) of the voxel maps a ``ct3d+maps`` model takes: the
    bundle's ``preprocessing["kernel_radius"]`` / ``["bin_width"]``, else ``kernel_radius`` and
    ``VOXEL_MAP_BIN_WIDTH_HU``."""
    pre = preprocessing or {}
    return int(pre.get("kernel_radius", kernel_radius)), float(pre.get("bin_width", VOXEL_MAP_BIN_WIDTH_HU))


def model_voxel_maps(ct, gtv, preprocessing: dict, kernel_radius: int = 1, device: str = "cpu") -> dict:
    """The voxel maps a ``ct3d+maps`` model takes (``preprocessing["voxel_maps"]``, in that order),
    computed with its settings (``voxel_map_settings``) inside the GTV, on the CT's own grid.

    Args:
        ct: SimpleITK CT (HU); gtv: SimpleITK mask on its grid (non-zero = GTV); device: torch device.

    Returns:
        ``{name: SimpleITK float32 map}`` on the GTV's box of the CT grid
        (``radiomics.voxelmaps.compute_voxel_maps(..., extent="roi")``).
    """
    from ..io.images import binary_mask
    from ..radiomics.voxelmaps import compute_voxel_maps

    radius, bin_width = voxel_map_settings(preprocessing, kernel_radius)
    return compute_voxel_maps(ct, binary_mask(gtv), features=list(preprocessing["voxel_maps"]),
                              kernel_radius=radius, bin_width=bin_width, device=device, extent="roi")


#: First token of PyRadiomics feature names (image types): a GTV feature column starts with one.
IMAGE_TYPE_PREFIXES = ("original", "wavelet", "log", "square", "squareroot", "logarithm", "exponential",
                       "gradient", "lbp")


def feature_roi(column: str, roi_names) -> str | None:
    """The ROI of a feature column named as ``survival.signature.case_feature_row`` names them.

    GTV features keep their PyRadiomics names (``original_firstorder_Mean``: first token an image
    type); other ROIs are prefixed with the ROI name (``ring_3-6mm_original_firstorder_Mean``).

    Returns:
        ``"GTV"`` for an unprefixed PyRadiomics name, the longest matching name of ``roi_names`` for a
        prefixed one, or None (another ROI).
    """
    matches = [roi for roi in roi_names if roi != "GTV" and column.startswith(f"{roi}_")]
    if matches:
        return max(matches, key=len)
    head = column.split("_", 1)[0].split("-", 1)[0]
    return "GTV" if head in IMAGE_TYPE_PREFIXES else None


def radscores_by_roi(signature: dict, row: dict, roi_names) -> dict:
    """Split a signature's RadScore into per-ROI RadScores (Zhang et al. 2024's GTV and ring RadScores).

    ``RadScore = sum_j coef_j * (f_j - mean_j) / sd_j`` over the signature's features (Liu et al. 2025;
    ``RadSurvLib.survival.signature``); the RadScore of ROI ``r`` is the same sum restricted to the
    features of ``r`` (so the per-ROI RadScores add up to the signature's RadScore when every feature
    belongs to one of ``roi_names``). An ROI without selected features gets 0.

    Args:
        signature: a signature dict (``load_signature``): ``features``, ``means``, ``sds``, ``coefficients``.
        row: feature column -> value for one case (``case_feature_row(table)``).
        roi_names: ROI names as in the features table (e.g. ``["GTV", "ring_0-3mm"]``).

    Returns:
        dict ROI name -> RadScore (float), in ``roi_names`` order.

    Raises:
        InputError: a signature feature is missing from ``row`` or not a finite number.
    """
    import math

    out = {roi: 0.0 for roi in roi_names}
    for name, mean, sd, coef in zip(signature["features"], signature["means"], signature["sds"],
                                    signature["coefficients"]):
        roi = feature_roi(name, roi_names)
        if roi not in out:
            continue
        if name not in row:
            raise InputError(f"signature: the case lacks the signature feature {name!r}; fit the signature on "
                             "features that the radiomics parameter file computes.")
        value = float(row[name])
        if not math.isfinite(value):
            raise InputError(f"signature: feature {name!r} is not a finite number for this case ({value}).")
        out[roi] += float(coef) * (value - float(mean)) / float(sd)
    return out
