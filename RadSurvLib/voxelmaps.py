"""Voxel-level radiomics feature maps inside the GTV (first-order and GLCM families).

Each map gives, at every GTV voxel, a radiomics feature computed over the cubic kernel of
``kernel_radius`` voxels around it. The semantics are those of PyRadiomics' voxel-based
extraction (``RadiomicsFeatureExtractor(...).execute(image, mask, voxelBased=True)`` with
``binWidth``, ``kernelRadius``, ``maskedKernel``, ``force2D=False``, ``distances=[1]``,
symmetrical GLCM, ``weightingNorm=None``, ``voxelArrayShift=0``, no resampling, no
normalisation); ``Testing/Python/test_voxelmaps.py`` checks parity against PyRadiomics.

How it is computed (torch; one code path for CPU and CUDA, float64 throughout):

* Gray levels are discretised once over the whole ROI (the GTV; with ``masked=False`` the
  GTV bounding box grown by the kernel radius, which is the region PyRadiomics crops to) with
  the fixed bin width: edges start at ``min - (min mod bin_width)``, so the level of ``x`` is
  ``floor(x / w) - floor(min / w) + 1``.
* Work is done on the GTV bounding box grown by the kernel radius, padded by the radius so
  every kernel is addressable; voxels outside the image or (masked kernel) outside the GTV
  are "not in the kernel".
* GTV voxels are processed in chunks. For each chunk the kernel samples (``(2r+1)^3`` per
  voxel) and, for GLCM, the voxel pairs (p, p+d) with both p and p+d in the kernel cube, for
  the 13 directions d of distance 1, are gathered by index. Moments are two-pass (as
  PyRadiomics), so kurtosis of -800 HU lung is not lost to cancellation. Features linear in
  the normalised GLCM are means of f(i, j) over the valid pairs of a direction. Nonlinear
  ones (energies, entropies, maximum probability) need the per-voxel histogram of gray
  levels / cells: it is obtained by sorting the codes of each row and counting runs of equal
  codes, so only the cells present are touched and no Ng x Ng matrix is built.
* Discretisation runs in float64 (as PyRadiomics' first-order class; its GLCM class bins
  the image's own dtype): the two can differ only for a non-integer HU value lying within
  rounding of a bin edge.

Memory: the chunk size is chosen so that the per-chunk working set stays below
``CHUNK_BYTES`` (64 MiB; estimated at 192 bytes per kernel sample and 256 bytes per pair
slot, i.e. ~65 kB per voxel at radius 1, ~400 kB at radius 2); on top come the box arrays
(17 bytes per voxel of the grown GTV bounding box) and the float32 output maps (4 bytes per
CT voxel per map). Larger chunks are not faster on CPU and make the allocator keep more.

Deliberate differences from PyRadiomics, all documented per feature:

* ``glcm_JointAverage`` averages over the non-empty directions (like every other GLCM
  feature); PyRadiomics uses a plain mean there, so its value is NaN at voxels where some
  direction has no pair (edge voxels). Elsewhere the two agree; where PyRadiomics is NaN ours
  equals its ``SumAverage / 2``.
* Skewness and kurtosis are 0 where the kernel is flat (variance exactly 0); PyRadiomics
  returns the (near-zero) third/fourth central moment there.
"""

from __future__ import annotations

from functools import cached_property

from .errors import InputError
from .io import check_same_geometry

#: First-order features (PyRadiomics ``firstorder``), name -> IBSI tag (None: not in IBSI).
#: PyRadiomics deviates from IBSI in places (kurtosis not excess, entropies with eps).
FIRSTORDER_FEATURES = {
    "Mean": "Q4LE", "Variance": "ECT3", "Skewness": "KE2A", "Kurtosis": "IPH6 (+3: not excess)",
    "Entropy": "TLU2", "Uniformity": "BJ5W", "Energy": "N8CA", "TotalEnergy": None,
    "RootMeanSquared": "5ZWQ", "Minimum": "1GSF", "Maximum": "84IY", "Range": "2OJQ",
    "Median": "Y12H", "10Percentile": "QG58", "90Percentile": "8DWT",
    "InterquartileRange": "SALO", "MeanAbsoluteDeviation": "4FUA",
    "RobustMeanAbsoluteDeviation": "1128",
}

#: GLCM features (PyRadiomics ``glcm``), name -> IBSI tag.
GLCM_FEATURES = {
    "Autocorrelation": "QWB0", "JointAverage": "60VM", "ClusterProminence": "AE86",
    "ClusterShade": "7NFM", "ClusterTendency": "DG8W", "Contrast": "ACUI", "Correlation": "NI2N",
    "DifferenceAverage": "TF7R", "DifferenceEntropy": "NTRS", "DifferenceVariance": "D3YU",
    "JointEnergy": "8ZQL", "JointEntropy": "TU9B", "Id": "IB1Z", "Idm": "WF0Z", "Idn": "NDRX",
    "Idmn": "1QCO", "InverseVariance": "E8JP", "MaximumProbability": "GYBY",
    "SumAverage": "ZGXS", "SumEntropy": "P6QZ", "SumSquares": "UR99",
}

#: All map names this module computes, "<family>_<Feature>" as in PyRadiomics output keys.
AVAILABLE_FEATURES = tuple([f"firstorder_{n}" for n in FIRSTORDER_FEATURES]
                           + [f"glcm_{n}" for n in GLCM_FEATURES])

#: The default maps: a compact first-order set and GLCM features (linear ones plus energy/entropy).
DEFAULT_FEATURES = (
    "firstorder_Mean", "firstorder_Variance", "firstorder_Skewness", "firstorder_Kurtosis",
    "firstorder_Entropy", "firstorder_Uniformity", "firstorder_Energy",
    "firstorder_RootMeanSquared", "firstorder_Minimum", "firstorder_Maximum",
    "glcm_Contrast", "glcm_JointAverage", "glcm_Autocorrelation", "glcm_DifferenceAverage",
    "glcm_Id", "glcm_Idm", "glcm_JointEnergy", "glcm_JointEntropy",
)

#: Upper bound of the per-chunk working set in bytes (see the module docstring).
CHUNK_BYTES = 64 * 2**20

# PyRadiomics' eps in entropies: numpy.spacing(1).
_EPS = 2.220446049250313e-16


def compute_voxel_maps(ct, gtv, features=DEFAULT_FEATURES, kernel_radius: int = 1,
                       bin_width: float = 25.0, masked: bool = True, background: float = 0.0,
                       device="cpu", progress=None) -> dict:
    """Voxel-level radiomics maps inside the GTV, in the CT's geometry.

    Args:
        ct: ``SimpleITK.Image``, 3D CT in HU (any scalar pixel type; used as float64).
        gtv: ``SimpleITK.Image`` on the CT grid; voxels != 0 are the GTV (uint8 0/1 expected).
        features: map names from ``AVAILABLE_FEATURES`` ("firstorder_Mean", "glcm_Contrast", ...).
        kernel_radius: half-size of the cubic kernel in voxels (1 -> 3x3x3), integer >= 1.
        bin_width: fixed bin width in HU for gray-level discretisation (PyRadiomics binWidth).
        masked: True: only GTV voxels inside the kernel count (PyRadiomics maskedKernel=True);
            False: every image voxel inside the kernel counts.
        background: value written outside the GTV (0.0 in RadSurv outputs).
        device: torch device ("cpu", "cuda", "cuda:0", or "auto" = CUDA when available).
        progress: optional callable ``progress(fraction)``, fraction in [0, 1], after each chunk.

    Returns:
        dict name -> ``SimpleITK.Image`` float32, same size/spacing/origin/direction as ``ct``
        (the full volume, not a crop). Inside the GTV: the feature value (units: HU for
        Mean/Minimum/Maximum/Range/percentiles/deviations/RMS, HU^2 for Variance and Energy,
        HU^2 mm^3 for TotalEnergy, gray-level units for GLCM, unitless otherwise); outside:
        ``background``. GLCM maps are NaN at GTV voxels whose kernel holds no voxel pair in any
        direction (an isolated GTV voxel with a masked kernel), as in PyRadiomics.

    Raises:
        InputError: unknown feature name (the message lists the available ones), kernel_radius
            not an integer >= 1, bin_width not positive, grids differ, empty GTV, NaN/inf CT
            values in the region that enters the kernels, a bin width that leaves a single gray
            level when a discretised feature (Entropy, Uniformity, GLCM) is requested, or a
            device that torch cannot use.

    Source: PyRadiomics voxel-based extraction (``radiomics.firstorder``, ``radiomics.glcm``);
    IBSI tags in ``FIRSTORDER_FEATURES`` / ``GLCM_FEATURES``.
    """
    import numpy as np
    import SimpleITK as sitk

    names = _check_features(features)
    _check_settings(kernel_radius, bin_width)
    check_same_geometry(ct, gtv, "CT", "GTV")
    image = sitk.GetArrayFromImage(ct).astype(np.float64)
    roi = sitk.GetArrayFromImage(gtv) != 0
    voxel_volume = float(np.multiply.reduce(ct.GetSpacing()))
    values = voxel_feature_values(image, roi, names, kernel_radius, bin_width, masked,
                                  voxel_volume, device, progress)
    maps = {}
    for name in names:
        full = np.full(image.shape, background, dtype=np.float32)
        full[roi] = values[name]
        out = sitk.GetImageFromArray(full)
        out.CopyInformation(ct)
        maps[name] = out
    return maps


def voxel_feature_values(image, roi, names, kernel_radius: int = 1, bin_width: float = 25.0,
                         masked: bool = True, voxel_volume: float = 1.0, device="cpu",
                         progress=None) -> dict:
    """Feature values at the ROI voxels, in float64 (the engine behind ``compute_voxel_maps``).

    Args:
        image: numpy float array (z, y, x), HU.
        roi: numpy bool array (z, y, x), True inside the GTV.
        names: map names from ``AVAILABLE_FEATURES``.
        kernel_radius, bin_width, masked, device, progress: as in ``compute_voxel_maps``.
        voxel_volume: mm^3 per voxel (only used by firstorder_TotalEnergy).

    Returns:
        dict name -> numpy float64 array of shape (N,), N = ``roi.sum()``, voxels in
        ``numpy.nonzero(roi)`` order (z, then y, then x).

    Raises:
        InputError: as ``compute_voxel_maps`` (except the grid check).
    """
    import numpy as np
    import torch

    names = _check_features(names)
    _check_settings(kernel_radius, bin_width)
    image, roi = np.asarray(image, dtype=np.float64), np.asarray(roi, dtype=bool)
    if not roi.any():
        raise InputError("GTV: the mask is empty (no voxel != 0). Provide a GTV segmentation with "
                         "at least one voxel.")
    dev = _torch_device(device)
    r = int(kernel_radius)
    box = _grown_bbox(roi, r)
    img_box, roi_box = image[box], roi[box]
    support = roi_box if masked else np.ones_like(roi_box)
    if not np.all(np.isfinite(img_box[support])):
        where = "inside the GTV" if masked else "inside the GTV bounding box grown by the kernel"
        raise InputError(f"CT: NaN or infinite values {where}; voxel maps need finite HU. "
                         "Check the CT (e.g. resampling outside the scan) and the GTV.")
    levels = _discretise(img_box, support, bin_width)
    needs_levels = any(n.startswith("glcm_") or n in ("firstorder_Entropy", "firstorder_Uniformity")
                       for n in names)
    if needs_levels and np.unique(levels[support]).size < 2:
        lo, hi = img_box[support].min(), img_box[support].max()
        raise InputError(f"bin_width={bin_width} HU leaves a single gray level in the ROI (HU "
                         f"{lo:g} to {hi:g}); Entropy, Uniformity and GLCM maps are undefined. "
                         "Use a smaller bin width.")
    n_levels = int(levels[support].max())  # PyRadiomics Ng: the highest gray level in the ROI

    # Pad by r so that every kernel index is valid; the pad is "not in the kernel".
    pad = [(r, r)] * 3
    padded_shape = tuple(s + 2 * r for s in img_box.shape)
    t_val = torch.as_tensor(np.pad(img_box, pad).ravel(), dtype=torch.float64, device=dev)
    t_lev = torch.as_tensor(np.pad(levels, pad).ravel(), dtype=torch.int64, device=dev)
    t_sup = torch.as_tensor(np.pad(support, pad).ravel(), dtype=torch.bool, device=dev)
    centres = np.ravel_multi_index(tuple(c + r for c in np.nonzero(roi_box)), padded_shape)
    centres = torch.as_tensor(centres, dtype=torch.int64, device=dev)
    strides = torch.tensor([padded_shape[1] * padded_shape[2], padded_shape[2], 1], device=dev)
    kernel = _kernel_offsets(r, strides)
    starts, ends, pair_ok = _pair_offsets(r, strides)

    first = [n[len("firstorder_"):] for n in names if n.startswith("firstorder_")]
    glcm = [n[len("glcm_"):] for n in names if n.startswith("glcm_")]
    per_voxel = 192 * (kernel.numel() if first else 0) + 256 * (starts.numel() if glcm else 0)
    chunk = max(1, CHUNK_BYTES // max(per_voxel, 1))
    out = {n: [] for n in names}
    total = centres.numel()
    for begin in range(0, total, chunk):
        c = centres[begin:begin + chunk]
        if first:
            idx = c[:, None] + kernel[None, :]
            sample = _KernelSample(t_val[idx], t_lev[idx], t_sup[idx], voxel_volume)
            for f in first:
                out[f"firstorder_{f}"].append(getattr(sample, _snake(f)).cpu())
        if glcm:
            ia = c[:, None, None] + starts[None]
            ib = c[:, None, None] + ends[None]
            ok = t_sup[ia] & t_sup[ib] & pair_ok[None]
            pairs = _PairSample(t_lev[ia].double(), t_lev[ib].double(), ok, n_levels)
            for f in glcm:
                out[f"glcm_{f}"].append(pairs.mean_over_directions(getattr(pairs, _snake(f))).cpu())
        if progress is not None:
            progress(min(begin + chunk, total) / total)
    return {n: torch.cat(v).numpy() for n, v in out.items()}


def stack_maps(maps: dict, names=None, as_tensor: bool = False):
    """Stack voxel maps into one channel-first array for models.

    Args:
        maps: dict name -> ``SimpleITK.Image`` (from ``compute_voxel_maps``), all on one grid.
        names: channel order (default: ``maps`` order).
        as_tensor: return a ``torch.Tensor`` instead of a numpy array.

    Returns:
        float32 array/tensor of shape (C, z, y, x), C = len(names), channel k = ``names[k]``.

    Raises:
        InputError: a requested name is missing, or the maps are not on one grid.
    """
    import numpy as np
    import SimpleITK as sitk

    names = list(maps) if names is None else list(names)
    missing = [n for n in names if n not in maps]
    if missing or not names:
        raise InputError(f"voxel maps: {missing or 'no names'} not available; "
                         f"available: {', '.join(maps)}.")
    for n in names[1:]:
        check_same_geometry(maps[names[0]], maps[n], names[0], n)
    stacked = np.stack([sitk.GetArrayFromImage(maps[n]).astype(np.float32) for n in names])
    if as_tensor:
        import torch
        return torch.from_numpy(stacked)
    return stacked


# ----------------------------------------------------------------------------- checks and setup

def _check_features(features) -> list:
    if isinstance(features, str):
        features = [features]
    names = list(dict.fromkeys(features))  # keep order, drop repeats
    unknown = [n for n in names if n not in AVAILABLE_FEATURES]
    if unknown or not names:
        raise InputError(f"voxel maps: unknown feature name(s) {unknown or '(none given)'}; "
                         f"available: {', '.join(AVAILABLE_FEATURES)}.")
    return names


def _check_settings(kernel_radius, bin_width) -> None:
    import math
    import numbers

    if (isinstance(kernel_radius, bool) or not isinstance(kernel_radius, numbers.Real)
            or not float(kernel_radius).is_integer() or kernel_radius < 1):
        raise InputError(f"voxel maps: kernel_radius must be an integer >= 1 (voxels), got "
                         f"{kernel_radius!r}.")
    if (isinstance(bin_width, bool) or not isinstance(bin_width, numbers.Real)
            or not math.isfinite(bin_width) or bin_width <= 0):
        raise InputError(f"voxel maps: bin_width must be a positive number of HU, got {bin_width!r}.")


def _torch_device(device):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
        torch.zeros(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise InputError(f"voxel maps: device {device!r} is not usable here ({exc}). "
                         "Use 'cpu' or 'auto'.") from None
    return dev


def _grown_bbox(roi, r: int) -> tuple:
    """Slices of the ROI bounding box grown by r voxels, clipped to the array (PyRadiomics crop)."""
    import numpy as np

    nz = np.nonzero(roi)
    return tuple(slice(max(int(c.min()) - r, 0), min(int(c.max()) + r + 1, s))
                 for c, s in zip(nz, roi.shape))


def _discretise(values, support, bin_width: float):
    """Gray levels 1..Ng inside ``support`` (0 outside), PyRadiomics fixed-bin-width rule."""
    import numpy as np

    inside = values[support]
    vmin, vmax = inside.min(), inside.max()
    low = vmin - (vmin % bin_width)  # first multiple of the bin width <= min
    edges = np.arange(low, vmax + 2 * bin_width, bin_width)
    levels = np.zeros(values.shape, dtype=np.int64)
    levels[support] = np.digitize(inside, edges)
    return levels


def _kernel_offsets(r: int, strides):
    """Flat offsets of the (2r+1)^3 kernel cube, shape (K,)."""
    import torch

    d = torch.arange(-r, r + 1, device=strides.device)
    grid = torch.stack(torch.meshgrid(d, d, d, indexing="ij"), -1).reshape(-1, 3)
    return (grid * strides).sum(-1)


def _directions():
    """The 13 unique distance-1 directions (dz, dy, dx) in 3D, one of each +-pair."""
    dirs = []
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if (dz, dy, dx) > (0, 0, 0):
                    dirs.append((dz, dy, dx))
    return dirs


def _pair_offsets(r: int, strides):
    """Flat offsets (from the kernel centre) of the pairs (p, p + d) with both ends in the kernel.

    Returns starts, ends (int64) and valid (bool), each of shape (13, P): P is the largest pair
    count of a direction, (2r+1)^2 * 2r; shorter directions are padded with invalid entries.
    """
    import itertools

    import torch

    per_dir = []
    for d in _directions():
        ranges = [range(max(-r, -r - a), min(r, r - a) + 1) for a in d]
        per_dir.append([(p, tuple(pi + di for pi, di in zip(p, d))) for p in itertools.product(*ranges)])
    width = max(len(p) for p in per_dir)
    starts = torch.zeros(13, width, 3, dtype=torch.int64)
    ends = torch.zeros(13, width, 3, dtype=torch.int64)
    valid = torch.zeros(13, width, dtype=torch.bool)
    for k, plist in enumerate(per_dir):
        starts[k, :len(plist)] = torch.tensor([p for p, _ in plist])
        ends[k, :len(plist)] = torch.tensor([q for _, q in plist])
        valid[k, :len(plist)] = True
    dev, strides = strides.device, strides.cpu()
    return ((starts * strides).sum(-1).to(dev), (ends * strides).sum(-1).to(dev), valid.to(dev))


def _snake(name: str) -> str:
    """'RootMeanSquared' -> 'root_mean_squared', '10Percentile' -> 'p10' (attribute names)."""
    import re

    if name[0].isdigit():
        return "p" + name[:2]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _run_counts(codes, ok, extra=None):
    """Per row (last axis): how many valid entries hold each distinct code.

    Returns counts (float64, same shape as ``codes``): one slot per run of equal sorted codes,
    zeros in the unused slots. With ``extra`` (bool, same shape), also returns per slot whether
    its code's entries have ``extra`` set (a property of the code, e.g. "diagonal cell").
    """
    import torch

    codes = torch.where(ok, codes, -1)  # valid codes are >= 0; invalid ones form a 0-weight run
    ordered, order = codes.sort(-1)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    run = starts.long().cumsum(-1) - 1
    valid = (ordered >= 0).double()
    counts = torch.zeros_like(valid).scatter_add_(-1, run, valid)
    if extra is None:
        return counts
    flagged = torch.zeros_like(valid).scatter_add_(-1, run, valid * extra.gather(-1, order))
    return counts, flagged > 0


def _entropy(p):
    """-sum p log2(p + eps) over the last axis (PyRadiomics' entropy; empty slots add 0)."""
    import torch

    return -(p * torch.log2(p + _EPS)).sum(-1)


def _masked_mean(x, ok, count):
    return (x * ok).sum(-1) / count


# ----------------------------------------------------------------------------- first order

class _KernelSample:
    """Kernel samples of a chunk of voxels: values (n, K) float64, levels (n, K), validity (n, K).

    Each property is one PyRadiomics first-order feature (shape (n,)), following
    ``radiomics/firstorder.py`` (population moments, log2 entropies with eps, raw HU).
    """

    def __init__(self, values, levels, ok, voxel_volume):
        self.v, self.levels, self.ok = values, levels, ok
        self.voxel_volume = voxel_volume  # mm^3, for TotalEnergy
        self.count = ok.sum(-1).double()

    @cached_property
    def mean(self):
        return _masked_mean(self.v, self.ok, self.count)

    @cached_property
    def _dev(self):
        return (self.v - self.mean[:, None]) * self.ok

    def _moment(self, k):
        return (self._dev ** k).sum(-1) / self.count

    @cached_property
    def variance(self):
        return self._moment(2)

    @cached_property
    def skewness(self):
        m2 = self.variance
        return self._moment(3) / _nonzero_or(m2, 1.0) ** 1.5 * (m2 != 0)

    @cached_property
    def kurtosis(self):
        m2 = self.variance
        return self._moment(4) / _nonzero_or(m2, 1.0) ** 2 * (m2 != 0)

    @cached_property
    def _p_levels(self):
        """Histogram p(i) of the discretised kernel, one slot per gray level present."""
        return _run_counts(self.levels, self.ok) / self.count[:, None]

    @cached_property
    def entropy(self):
        return _entropy(self._p_levels)

    @cached_property
    def uniformity(self):
        return (self._p_levels ** 2).sum(-1)

    @cached_property
    def energy(self):
        return (self.v ** 2 * self.ok).sum(-1)

    @cached_property
    def total_energy(self):
        return self.energy * self.voxel_volume

    @cached_property
    def root_mean_squared(self):
        return (self.energy / self.count).sqrt()

    @cached_property
    def minimum(self):
        return self.v.masked_fill(~self.ok, float("inf")).amin(-1)

    @cached_property
    def maximum(self):
        return self.v.masked_fill(~self.ok, float("-inf")).amax(-1)

    @cached_property
    def range(self):
        return self.maximum - self.minimum

    @cached_property
    def _sorted(self):
        return self.v.masked_fill(~self.ok, float("inf")).sort(-1).values

    def _percentile(self, q):
        """numpy's default ('linear') percentile of the valid samples of each row."""
        import torch

        pos = (self.count - 1) * (q / 100.0)
        lo = pos.floor()
        lo_i = lo.long()[:, None]
        hi_i = torch.minimum(lo_i + 1, (self.count.long() - 1)[:, None])
        a = self._sorted.gather(-1, lo_i)[:, 0]
        b = self._sorted.gather(-1, hi_i)[:, 0]
        t = pos - lo
        return torch.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)

    @cached_property
    def median(self):
        return self._percentile(50)

    @cached_property
    def p10(self):
        return self._percentile(10)

    @cached_property
    def p90(self):
        return self._percentile(90)

    @cached_property
    def interquartile_range(self):
        return self._percentile(75) - self._percentile(25)

    @cached_property
    def mean_absolute_deviation(self):
        return _masked_mean(self._dev.abs(), self.ok, self.count)

    @cached_property
    def robust_mean_absolute_deviation(self):
        inside = self.ok & (self.v >= self.p10[:, None]) & (self.v <= self.p90[:, None])
        n = inside.sum(-1).double()
        mean = _masked_mean(self.v, inside, n)
        return _masked_mean((self.v - mean[:, None]).abs(), inside, n)


def _nonzero_or(x, value):
    """``x`` with exact zeros replaced by ``value`` (guards divisions in flat kernels)."""
    import torch

    return torch.where(x == 0, torch.full_like(x, value), x)


# ----------------------------------------------------------------------------- GLCM

class _PairSample:
    """Voxel pairs of a chunk: levels a, b (n, 13, P) float64, validity ok (n, 13, P).

    The symmetric GLCM of direction d holds each pair twice, as (a, b) and (b, a), so N = 2 x
    (number of valid pairs) entries. Each property is one PyRadiomics GLCM feature per
    direction, shape (n, 13), NaN for an empty direction; ``mean_over_directions`` averages
    the non-empty ones (PyRadiomics ``numpy.nanmean`` over angles).
    """

    def __init__(self, a, b, ok, n_levels):
        self.a, self.b, self.ok, self.ng = a, b, ok, float(n_levels)
        self.npairs = ok.sum(-1).double()
        self.empty = self.npairs == 0

    @staticmethod
    def mean_over_directions(per_dir):
        import torch

        return torch.nanmean(per_dir, -1)

    def _pair_mean(self, values):
        """Mean over the valid pairs of each direction; NaN when the direction is empty."""
        return (values * self.ok).sum(-1) / self.npairs  # 0/0 -> NaN for empty directions

    def _sym_mean(self, f):
        """Mean of f over the symmetric GLCM entries: (f(a, b) + f(b, a)) / 2 over pairs."""
        return self._pair_mean((f(self.a, self.b) + f(self.b, self.a)) / 2)

    @cached_property
    def joint_average(self):
        # Averaged over non-empty directions like the rest (PyRadiomics: NaN if one is empty).
        return self._pair_mean((self.a + self.b) / 2)

    @cached_property
    def _ux(self):
        return self.joint_average[..., None]

    @cached_property
    def autocorrelation(self):
        return self._pair_mean(self.a * self.b)

    def _cluster(self, k):
        return self._pair_mean((self.a + self.b - 2 * self._ux) ** k)

    @cached_property
    def cluster_prominence(self):
        return self._cluster(4)

    @cached_property
    def cluster_shade(self):
        return self._cluster(3)

    @cached_property
    def cluster_tendency(self):
        return self._cluster(2)

    @cached_property
    def _diff(self):
        return (self.a - self.b).abs()

    @cached_property
    def contrast(self):
        return self._pair_mean(self._diff ** 2)

    @cached_property
    def sum_squares(self):
        return self._sym_mean(lambda i, j: (i - self._ux) ** 2)

    @cached_property
    def correlation(self):
        import torch

        sigma = self.sum_squares.sqrt()  # sigma_x = sigma_y for a symmetric GLCM
        cov = self._pair_mean((self.a - self._ux) * (self.b - self._ux))
        corr = cov / (sigma * sigma + _EPS)
        return torch.where(sigma * sigma == 0, torch.ones_like(corr), corr)

    @cached_property
    def difference_average(self):
        return self._pair_mean(self._diff)

    @cached_property
    def difference_variance(self):
        return self._pair_mean((self._diff - self.difference_average[..., None]) ** 2)

    def _entropy_of(self, codes):
        """Entropy of the distribution of ``codes`` (e.g. |i - j|) over the valid pairs."""
        return _entropy(_run_counts(codes.long(), self.ok) / self.npairs[..., None])

    @cached_property
    def difference_entropy(self):
        return self._entropy_of(self._diff)

    @cached_property
    def sum_entropy(self):
        return self._entropy_of(self.a + self.b)

    @cached_property
    def sum_average(self):
        return self._pair_mean(self.a + self.b)

    @cached_property
    def _cells(self):
        """p(i, j) and multiplicity of the GLCM cells present, one slot per unordered {i, j}.

        The symmetric GLCM holds an unordered pair {i, j} (i != j) in two cells, each with
        p = u / (2 n), and a diagonal pair (i, i) in one cell with p = u / n (u: its count
        among the n valid pairs); shape (n_vox, 13, P) each.
        """
        import torch

        lo, hi = torch.minimum(self.a, self.b), torch.maximum(self.a, self.b)
        codes = (lo * (self.ng + 1) + hi).long()
        counts, diagonal = _run_counts(codes, self.ok, extra=self.a == self.b)
        p = counts / (2 * self.npairs[..., None]) * torch.where(diagonal, 2.0, 1.0)
        return p, torch.where(diagonal, 1.0, 2.0)

    @cached_property
    def joint_energy(self):
        p, cells = self._cells
        return (cells * p ** 2).sum(-1)

    @cached_property
    def joint_entropy(self):
        import torch

        p, cells = self._cells
        return -(cells * p * torch.log2(p + _EPS)).sum(-1)

    @cached_property
    def maximum_probability(self):
        return self._cells[0].amax(-1)

    @cached_property
    def id(self):
        return self._pair_mean(1 / (1 + self._diff))

    @cached_property
    def idm(self):
        return self._pair_mean(1 / (1 + self._diff ** 2))

    @cached_property
    def idn(self):
        return self._pair_mean(1 / (1 + self._diff / self.ng))

    @cached_property
    def idmn(self):
        return self._pair_mean(1 / (1 + self._diff ** 2 / self.ng ** 2))

    @cached_property
    def inverse_variance(self):
        import torch

        k = self._diff
        return self._pair_mean(torch.where(k > 0, 1 / k.clamp(min=1) ** 2, torch.zeros_like(k)))
