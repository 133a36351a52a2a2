"""The voxel-map engine: settings checks, discretisation, chunking, kernel-cube gathering, progress.

PyRadiomics voxel-based semantics (``radiomics/base.py`` ``_initVoxelBasedCalculation`` /
``_calculateVoxels``, ``radiomics/imageoperations.py`` ``binImage`` / ``cropToTumorMask``, the C
extension's ``calculate_*`` with ``kernelRadius``):

* The image is cropped to the ROI bounding box grown by ``kernel_radius`` voxels (clipped to the
  image). The *support* is the ROI for a masked kernel, the whole crop for an unmasked one.
* Gray levels are discretised once over the support with the fixed bin width: edges start at
  ``min - (min mod bin_width)``, so the level of ``x`` is ``floor(x / w) - floor(min / w) + 1``.
  ``Ng`` (``n_levels``) is the highest level in the support; levels absent from the support keep
  their number (PyRadiomics deletes their empty rows, which changes no feature).
* The kernel of an ROI voxel c is the cube of ``(2r+1)^3`` voxels around c intersected with the
  support. Texture matrices are built from the kernel voxels only: a neighbour (GLCM pair end,
  GLDM / NGTDM neighbour, run or zone member) outside the kernel cube or outside the support does
  not count, exactly as the C extension builds each voxel's matrix on a kernel mask.

The kernel cubes (``(n, D, D, D)`` gray levels, 0 where not in the kernel) and the settings given
to each family's ``compute`` are the voxel-map half of the family interface: ``radiomics.families``
(its package docstring) describes both.

Memory bound: ROI voxels are processed in chunks of ``n_chunk = max(1, CHUNK_BYTES //
max_family(bytes_per_voxel))`` (with W > 1 workers split further so that each worker gets ~4
chunks, never below ``MIN_CHUNK`` voxels); on CPU ``W`` worker threads (default: torch's thread count) each
hold one chunk, so the transient working set is at most about ``W * CHUNK_BYTES`` (32 MiB per
worker; small chunks also stay in cache) whatever the ROI size. On top come the crop arrays (8 + 8 + 1 bytes per voxel of the
grown bounding box, as torch tensors, plus the numpy copies: ~50 bytes per crop voxel), the
float64 results (8 bytes per ROI voxel per map) and the float32 output images (4 bytes per CT voxel
per map). For an ROI of N voxels whose grown box holds B voxels, with M maps and a CT of V voxels:
``peak ~ W * CHUNK_BYTES + 50 B + 8 N M + 4 V M`` bytes (plus the CT itself and, as the
estimates are rough, up to ~2x on the chunk term).
Measured (``Testing/Benchmarks/bench_voxelmaps.py --memory``, W = 2): PAT1's GTV + 9 mm ring
(235,350 voxels, CT 204 x 201 x 60), kernel radius 2, the 41 first-order + GLCM maps: peak RSS
1.35 GiB (1.00 GiB above the loaded inputs); all 92 maps of the six families on a 53,097-voxel slab
of it: 1.76 GiB, of which ~0.9 GiB are the 92 float32 CT-sized output images (4 V M). With the whole
ROI, all 92 maps: ``2 x 32 MiB x ~2 + 50 B + 8 x 235,350 x 92 + 4 x 2.46e6 x 92`` ~ 1.3 GB on top of
the inputs, i.e. < 2 GiB, well below 4 GiB.
"""

from __future__ import annotations

from ...errors import InputError
from ..families import MODULES
from ..families.kernel_cubes import CHUNK_BYTES, directions_13
from .compiled import compiled_family

#: The default maps of ``compute_voxel_maps`` and of ``radsurv score`` (see the package docstring).
DEFAULT_FEATURES = (
    "firstorder_Mean", "firstorder_Variance", "firstorder_Skewness", "firstorder_Kurtosis",
    "firstorder_Entropy", "firstorder_Uniformity", "firstorder_Energy",
    "firstorder_RootMeanSquared", "firstorder_Minimum", "firstorder_Maximum",
    "glcm_Contrast", "glcm_SumAverage", "glcm_Autocorrelation", "glcm_DifferenceAverage",
    "glcm_Id", "glcm_Idm", "glcm_JointEnergy", "glcm_JointEntropy",
)

#: Smallest chunk (ROI voxels) when chunks are split so that every CPU worker thread gets some.
MIN_CHUNK = 512

#: On CUDA one chunk of ``GPU_CHUNK_FACTOR * CHUNK_BYTES`` (512 MiB) at a time (fewer, larger kernels).
GPU_CHUNK_FACTOR = 16

#: family name -> module (``FEATURES``, ``COSTLY``, ``compute``), in output order: the families of
#: ``radiomics.families`` but shape (ROI only).
FAMILIES = {family: module for family, module in MODULES.items() if family != "shape"}

#: Every map name the engine computes, "<family>_<Feature>" as PyRadiomics names its voxel-based
#: outputs (without the "original_" image-type prefix); costly features included.
AVAILABLE_FEATURES = tuple(f"{fam}_{name}" for fam, mod in FAMILIES.items() for name in mod.FEATURES)

#: Map names of each family without the costly ones (what ``--families`` selects).
FAMILY_DEFAULTS = {fam: tuple(f"{fam}_{n}" for n in mod.FEATURES if n not in mod.COSTLY)
                   for fam, mod in FAMILIES.items()}


def check_features(features) -> list:
    """Validate map names; returns them as a list in the given order without repeats.

    Raises:
        InputError: unknown names (the message lists the available ones) or none given.
    """
    if isinstance(features, str):
        features = [features]
    names = list(dict.fromkeys(features))
    unknown = [n for n in names if n not in AVAILABLE_FEATURES]
    if unknown or not names:
        raise InputError(f"voxel maps: unknown feature name(s) {unknown or '(none given)'}; "
                         f"available: {', '.join(AVAILABLE_FEATURES)}.")
    return names


def features_of_families(families) -> list:
    """All non-costly map names of the given families ("firstorder", "glcm", ...).

    Raises:
        InputError: an unknown family name.
    """
    if isinstance(families, str):
        families = [f for f in families.split(",") if f]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise InputError(f"voxel maps: unknown family name(s) {unknown or '(none given)'}; "
                         f"available: {', '.join(FAMILIES)}.")
    return [n for f in families for n in FAMILY_DEFAULTS[f]]


def check_settings(kernel_radius, bin_width) -> None:
    """Raise InputError unless kernel_radius is an integer >= 1 and bin_width a positive number."""
    import math
    import numbers

    if (isinstance(kernel_radius, bool) or not isinstance(kernel_radius, numbers.Real)
            or not float(kernel_radius).is_integer() or kernel_radius < 1):
        raise InputError(f"voxel maps: kernel_radius must be an integer >= 1 (voxels), got "
                         f"{kernel_radius!r}.")
    if (isinstance(bin_width, bool) or not isinstance(bin_width, numbers.Real)
            or not math.isfinite(bin_width) or bin_width <= 0):
        raise InputError(f"voxel maps: bin_width must be a positive number of HU, got {bin_width!r}.")


def torch_device(device):
    """torch.device for "cpu", "cuda", "cuda:N" or "auto" (CUDA when available).

    Raises:
        InputError: a device torch cannot use here.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
        torch.zeros(1, device=dev)
    except (RuntimeError, AssertionError, TypeError) as exc:
        raise InputError(f"voxel maps: device {device!r} is not usable here ({exc}). "
                         "Use 'cpu' or 'auto'.") from None
    return dev


def grown_bbox(roi, r: int) -> tuple:
    """Slices of the ROI bounding box grown by r voxels, clipped to the array (PyRadiomics crop)."""
    import numpy as np

    nz = np.nonzero(roi)
    return tuple(slice(max(int(c.min()) - r, 0), min(int(c.max()) + r + 1, s))
                 for c, s in zip(nz, roi.shape))


def discretise(values, support, bin_width: float):
    """Gray levels 1..Ng inside ``support`` (0 outside), PyRadiomics fixed-bin-width rule.

    Args:
        values: numpy float64 array (z, y, x), HU.
        support: numpy bool array, same shape.
        bin_width: HU.

    Returns:
        numpy int64 array, same shape. Source: ``radiomics.imageoperations.binImage`` (binWidth).
    """
    import numpy as np

    inside = values[support]
    vmin, vmax = inside.min(), inside.max()
    low = vmin - (vmin % bin_width)  # first multiple of the bin width <= min
    edges = np.arange(low, vmax + 2 * bin_width, bin_width)
    levels = np.zeros(values.shape, dtype=np.int64)
    levels[support] = np.digitize(inside, edges)
    return levels


def kernel_offsets(r: int, strides):
    """Flat offsets of the (2r+1)^3 kernel cube in (z, y, x) raster order, shape (D^3,)."""
    import torch

    d = torch.arange(-r, r + 1, device=strides.device)
    grid = torch.stack(torch.meshgrid(d, d, d, indexing="ij"), -1).reshape(-1, 3)
    return (grid * strides).sum(-1)


def directions_present(roi, support, r: int):
    """Per direction d of ``directions_13``: does any ROI voxel's kernel hold a pair (p, p + d)?

    A pair lies in the kernel of c iff p and p + d are in the support and p lies in the box
    ``[c - r, c + r - d]`` (per axis, for d = +1; mirrored for -1). Computed on the crop with
    cumulative sums (no loop over voxels). Returns a numpy bool array (13,).
    """
    import numpy as np

    out = np.zeros(13, dtype=bool)
    roi_i = roi.astype(np.int64)
    for k, d in enumerate(directions_13()):
        # pair starts p with p and p + d in the support (p + d inside the array)
        src = tuple(slice(max(0, -a), s - max(0, a)) for a, s in zip(d, support.shape))
        dst = tuple(slice(max(0, a), s + min(0, a)) for a, s in zip(d, support.shape))
        starts = np.zeros_like(support)
        starts[src] = support[src] & support[dst]
        if not starts.any():
            continue
        # near[p] = some ROI voxel c with c_a in [p_a - r + max(d_a, 0), p_a + r + min(d_a, 0)]
        near = roi_i
        for axis, a in enumerate(d):
            lo, hi = -r + max(a, 0), r + min(a, 0)
            near = _window_any(near, axis, lo, hi)
        out[k] = bool((starts & near).any())
    return out


def _window_any(x, axis: int, lo: int, hi: int):
    """y[p] = any(x[p + lo .. p + hi]) along ``axis`` (out-of-range counts as 0); int arrays."""
    import numpy as np

    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    c = np.concatenate([np.zeros(x.shape[:-1] + (1,), np.int64), np.cumsum(x, -1)], -1)
    idx = np.arange(n)
    a = np.clip(idx + lo, 0, n)
    b = np.clip(idx + hi + 1, 0, n)
    y = (c[..., b] - c[..., a] > 0).astype(np.int64)
    return np.moveaxis(y, -1, axis)


def voxel_feature_values(image, roi, names, kernel_radius: int = 1, bin_width: float = 25.0,
                         masked: bool = True, voxel_volume: float = 1.0, device="cpu",
                         progress=None, workers=None) -> dict:
    """Feature values at the ROI voxels, in float64 (the engine behind ``compute_voxel_maps``).

    Args:
        image: numpy float array (z, y, x), HU.
        roi: numpy bool array (z, y, x), True inside the GTV.
        names: map names from ``AVAILABLE_FEATURES``.
        kernel_radius: voxels (integer >= 1); bin_width: HU; masked: PyRadiomics maskedKernel.
        voxel_volume: mm^3 per voxel (only used by firstorder_TotalEnergy).
        device: torch device ("cpu", "cuda", "auto").
        progress: optional callable ``progress(fraction)`` called after each chunk.
        workers: CPU threads working on chunks in parallel (default ``torch.get_num_threads()``);
            each torch op then runs single-threaded. Ignored on CUDA.

    Returns:
        dict name -> numpy float64 array of shape (N,), N = ``roi.sum()``, voxels in
        ``numpy.nonzero(roi)`` order (z, then y, then x).

    Raises:
        InputError: as ``compute_voxel_maps`` (except the grid check).
    """
    import numpy as np
    import torch

    names = check_features(names)
    check_settings(kernel_radius, bin_width)
    image, roi = np.asarray(image, dtype=np.float64), np.asarray(roi, dtype=bool)
    if image.ndim != 3 or image.shape != roi.shape:
        raise InputError(f"voxel maps: image and ROI must be 3D arrays of one shape, got "
                         f"{image.shape} and {roi.shape}.")
    if not roi.any():
        raise InputError("GTV: the mask is empty (no voxel != 0). Provide a GTV segmentation with "
                         "at least one voxel.")
    dev = torch_device(device)
    r = int(kernel_radius)
    box = grown_bbox(roi, r)
    img_box, roi_box = image[box], roi[box]
    support = roi_box if masked else np.ones_like(roi_box)
    if not np.all(np.isfinite(img_box[support])):
        where = "inside the GTV" if masked else "inside the GTV bounding box grown by the kernel"
        raise InputError(f"CT: NaN or infinite values {where}; voxel maps need finite HU. "
                         "Check the CT (e.g. resampling outside the scan) and the GTV.")
    levels = discretise(img_box, support, bin_width)
    by_family = {}
    for n in names:
        fam, feat = n.split("_", 1)
        by_family.setdefault(fam, []).append(feat)
    needs_levels = any(f != "firstorder" for f in by_family) or any(
        f in ("Entropy", "Uniformity") for f in by_family.get("firstorder", []))
    if needs_levels and np.unique(levels[support]).size < 2:
        lo, hi = img_box[support].min(), img_box[support].max()
        raise InputError(f"bin_width={bin_width} HU leaves a single gray level in the ROI (HU "
                         f"{lo:g} to {hi:g}); texture maps (and first-order Entropy, Uniformity) "
                         "are then undefined. Use a smaller bin width.")
    n_levels = int(levels[support].max())  # PyRadiomics Ng: the highest gray level of the support

    settings = {"voxel_volume": float(voxel_volume), "distances": [1]}
    if "glcm" in by_family:
        settings["directions_present"] = torch.as_tensor(
            directions_present(roi_box, support, r), device=dev)

    # Pad by r so that every kernel index is valid; the pad is "not in the kernel" (level 0).
    pad = [(r, r)] * 3
    padded_shape = tuple(s + 2 * r for s in img_box.shape)
    D = 2 * r + 1
    need_values = any(getattr(FAMILIES[f], "NEEDS_VALUES", False) for f in by_family)
    t_lev = torch.as_tensor(np.pad(levels, pad).ravel(), dtype=torch.int64, device=dev)
    t_val = (torch.as_tensor(np.pad(np.where(support, img_box, 0.0), pad).ravel(),
                             dtype=torch.float64, device=dev) if need_values else None)
    centres = np.ravel_multi_index(tuple(c + r for c in np.nonzero(roi_box)), padded_shape)
    centres = torch.as_tensor(centres, dtype=torch.int64, device=dev)
    strides = torch.tensor([padded_shape[1] * padded_shape[2], padded_shape[2], 1], device=dev)
    kernel = kernel_offsets(r, strides)

    per_voxel = max(getattr(FAMILIES[f], "bytes_per_voxel", _default_bytes)(D, n_levels, feats)
                    for f, feats in by_family.items())
    budget = CHUNK_BYTES * (GPU_CHUNK_FACTOR if dev.type == "cuda" else 1)
    chunk = max(1, budget // max(per_voxel, 1))
    total = centres.numel()
    want_workers = max(1, workers or torch.get_num_threads()) if dev.type == "cpu" else 1
    if want_workers > 1:  # at least ~4 chunks per worker thread (not below MIN_CHUNK voxels)
        chunk = min(chunk, max(MIN_CHUNK, -(-total // (4 * want_workers))))
    starts = list(range(0, total, chunk))

    def run_chunk(begin):
        c = centres[begin:begin + chunk]
        idx = c[:, None] + kernel[None, :]
        cubes = t_lev[idx].view(-1, D, D, D)
        values = t_val[idx].view(-1, D, D, D) if need_values else None
        res_all = {}
        for fam, feats in by_family.items():
            mod = FAMILIES[fam]
            extra = dict(settings)
            if getattr(mod, "NEEDS_VALUES", False):
                extra["values"] = values
            fast, rest = _split_compiled(fam, feats, dev)
            if fast:
                res = fast[1](cubes.numpy(), n_levels, fast[0], **_as_numpy(extra))
                for f in fast[0]:
                    res_all[f"{fam}_{f}"] = torch.from_numpy(res[f])
            if rest:
                res = mod.compute(cubes, n_levels, rest, **extra)
                for f in rest:
                    res_all[f"{fam}_{f}"] = res[f].to("cpu", torch.float64)
        return res_all

    out = {n: [] for n in names}
    n_workers = min(want_workers, len(starts))
    # CPU: chunks run in parallel threads (torch releases the GIL in its kernels), each op
    # single-threaded; intra-op threading on small chunks stalls badly on a busy machine.
    threads = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(1)
    try:
        if n_workers == 1:
            results = map(run_chunk, starts)
        else:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(n_workers)
            results = pool.map(run_chunk, starts)
        for k, res in enumerate(results):
            for n in names:
                out[n].append(res[n])
            if progress is not None:
                progress(min(starts[k] + chunk, total) / total)
        if n_workers > 1:
            pool.shutdown()
    finally:
        torch.set_num_threads(threads)
    return {n: torch.cat(v).numpy() for n, v in out.items()}


def _split_compiled(family, feats, dev):
    """((names, compute) of the compiled CPU path or None, the names left to torch)."""
    compiled = compiled_family(family) if dev.type == "cpu" else None
    if compiled is None:
        return None, feats
    fast = [f for f in feats if f in compiled[0]]
    rest = [f for f in feats if f not in compiled[0]]
    return ((fast, compiled[1]) if fast else None), rest


def _as_numpy(settings: dict) -> dict:
    """The compute settings with torch tensors as NumPy arrays (the compiled path's inputs)."""
    return {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in settings.items()}


def _default_bytes(D, n_levels, names) -> int:
    return 64 * D ** 3 * 16


def compute_voxel_maps(ct, gtv, features=None, kernel_radius: int = 1, bin_width: float = 25.0,
                       masked: bool = True, background: float = 0.0, device="cpu",
                       progress=None, extent: str = "ct") -> dict:
    """Voxel-level radiomics maps inside the GTV, in the CT's geometry.

    Args:
        ct: ``SimpleITK.Image``, 3D CT in HU (any scalar pixel type; used as float64).
        gtv: ``SimpleITK.Image`` on the CT grid; voxels != 0 are the ROI (uint8 0/1 expected).
            To map the GTV plus a peritumoral ring, pass their union.
        features: map names from ``AVAILABLE_FEATURES`` ("firstorder_Mean", "glcm_Contrast", ...);
            None: ``DEFAULT_FEATURES``.
        kernel_radius: half-size of the cubic kernel in voxels (1 -> 3x3x3), integer >= 1.
        bin_width: fixed bin width in HU for gray-level discretisation (PyRadiomics binWidth).
        masked: True: only ROI voxels inside the kernel count (PyRadiomics maskedKernel=True);
            False: every image voxel inside the kernel counts.
        background: value written outside the ROI (0.0 in RadSurv outputs).
        device: torch device ("cpu", "cuda", "cuda:0", or "auto" = CUDA when available).
        progress: optional callable ``progress(fraction)``, fraction in [0, 1], after each chunk.
        extent: ``"ct"``: each map on the whole CT grid; ``"roi"``: on the ROI's bounding box grown
            by one voxel (within the grid) of the CT grid (same spacing and direction, origin at the
            box's first voxel): a full-size CT
            holds 18 whole-grid float32 maps in gigabytes, their ROI boxes in megabytes.
            ``place_on_grid`` puts such a map back on the whole grid.

    Returns:
        dict name -> ``SimpleITK.Image`` float32, same size/spacing/origin/direction as ``ct``
        (``extent="ct"``) or on the ROI's box of its grid (``"roi"``). Inside the ROI: the feature value (units: HU for
        Mean/Minimum/Maximum/Range/percentiles/deviations/RMS, HU^2 for Variance and Energy,
        HU^2 mm^3 for TotalEnergy, gray-level units for texture, unitless otherwise); outside:
        ``background``. Where PyRadiomics is NaN, so is the map (documented per feature:
        GLCM maps at ROI voxels whose kernel holds no voxel pair in any direction, e.g. an
        isolated voxel with a masked kernel; glcm_JointAverage wherever one direction of the
        kernel is empty although it is not empty for every voxel; see ``glcm``).

    Raises:
        ValueError: ``extent`` not ``"ct"`` or ``"roi"`` (a programming error).
        InputError: unknown feature name (the message lists the available ones), kernel_radius
            not an integer >= 1, bin_width not positive, grids differ, empty GTV, NaN/inf CT
            values in the region that enters the kernels, a bin width that leaves a single gray
            level when a discretised feature (texture, Entropy, Uniformity) is requested, or a
            device that torch cannot use.

    Source: PyRadiomics voxel-based extraction (``radiomics.firstorder``, ``radiomics.glcm``,
    ``radiomics.glrlm``, ``radiomics.glszm``, ``radiomics.gldm``, ``radiomics.ngtdm``).
    """
    import numpy as np
    import SimpleITK as sitk

    from ...io.images import check_same_geometry

    if extent not in ("ct", "roi"):
        raise ValueError(f"extent must be 'ct' or 'roi', not {extent!r}")
    names = check_features(DEFAULT_FEATURES if features is None else features)
    check_settings(kernel_radius, bin_width)
    check_same_geometry(ct, gtv, "CT", "GTV")
    roi_full = sitk.GetArrayViewFromImage(gtv) != 0
    if not roi_full.any():
        roi_full = roi_full.copy()  # voxel_feature_values names the empty ROI
        box = tuple(slice(0, n) for n in roi_full.shape)
    else:
        # Only the ROI's box grown by the kernel enters the kernels: no float64 copy of the whole CT.
        box = grown_bbox(roi_full, kernel_radius)
    image = sitk.GetArrayViewFromImage(ct)[box].astype(np.float64)
    roi = roi_full[box]
    voxel_volume = float(np.multiply.reduce(ct.GetSpacing()))
    values = voxel_feature_values(image, roi, names, kernel_radius, bin_width, masked,
                                  voxel_volume, device, progress)
    # The ROI's box and one voxel of background around it (inside the grid): a map interpolated
    # linearly (the Vision-Mamba input) meets the background at the ROI's edge as on the whole grid.
    inner = grown_bbox(roi, 1) if roi.any() else tuple(slice(0, n) for n in roi.shape)
    start = [int(b.start) + int(i.start) for b, i in zip(box, inner)]
    maps = {}
    for name in names:
        crop = np.full(image.shape, background, dtype=np.float32)
        crop[roi] = values[name]
        out = sitk.GetImageFromArray(crop[inner])
        out.SetSpacing(ct.GetSpacing())
        out.SetDirection(ct.GetDirection())
        out.SetOrigin(ct.TransformIndexToPhysicalPoint(start[::-1]))
        maps[name] = out if extent == "roi" else place_on_grid(out, ct, background)
    return maps


def place_on_grid(voxel_map, reference, background: float = 0.0):
    """A map on a box of ``reference``'s grid (``compute_voxel_maps(..., extent="roi")``) put on the
    whole grid of ``reference``: voxels copied, ``background`` elsewhere.

    Args:
        voxel_map: ``SimpleITK.Image`` float32 whose grid is a box of ``reference``'s grid (same spacing
            and direction, origin on one of its voxels, inside it).
        reference: ``SimpleITK.Image`` (e.g. the CT) whose geometry the result takes.
        background: value outside the box.

    Returns:
        ``SimpleITK.Image`` float32 of ``reference``'s size, spacing, origin and direction.

    Raises:
        ValueError: ``voxel_map`` is not on a box of ``reference``'s grid.
    """
    import numpy as np
    import SimpleITK as sitk

    index = reference.TransformPhysicalPointToContinuousIndex(voxel_map.GetOrigin())
    start = [int(round(i)) for i in index]
    size = voxel_map.GetSize()
    if (not np.allclose(index, start, atol=1e-3) or not np.allclose(voxel_map.GetSpacing(), reference.GetSpacing())
            or not np.allclose(voxel_map.GetDirection(), reference.GetDirection(), atol=1e-6)
            or min(start) < 0 or any(a + n > m for a, n, m in zip(start, size, reference.GetSize()))):
        raise ValueError("the voxel map is not on a box of the reference grid")
    out = sitk.Image(reference.GetSize(), sitk.sitkFloat32)  # zeros; pasted into in place (no array copies)
    out.CopyInformation(reference)
    if background:
        out = sitk.Add(out, float(background))
    out[tuple(slice(a, a + n) for a, n in zip(start, size))] = sitk.Cast(voxel_map, sitk.sitkFloat32)
    return out


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

    from ...io.images import check_same_geometry

    names = list(maps) if names is None else list(names)
    missing = [n for n in names if n not in maps]
    if missing or not names:
        raise InputError(f"voxel maps: missing map(s) {missing or '(none given)'}; present: "
                         f"{', '.join(maps)}.")
    for n in names[1:]:
        check_same_geometry(maps[names[0]], maps[n], names[0], n)
    stacked = np.stack([sitk.GetArrayFromImage(maps[n]).astype(np.float32) for n in names])
    if as_tensor:
        import torch
        return torch.from_numpy(stacked)
    return stacked
