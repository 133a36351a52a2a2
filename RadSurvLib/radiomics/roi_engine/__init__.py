"""RadSurv's ROI-radiomics engine: PyRadiomics' features for several ROIs of one image, in one pass.

What ``radiomics.featureextractor.RadiomicsFeatureExtractor.execute`` does for one ROI, done for all
ROIs (the GTV and its peritumoral rings) of one CT with the work shared where the result allows it:

1. ``normalize``: ``filters.normalise`` on the whole image given, once (PyRadiomics uses the
   statistics of the whole image, before any cropping).
2. ROI checks as ``imageoperations.getMask`` / ``checkMask`` (empty ROI, one voxel, fewer than
   ``minimumROIDimensions`` dimensions, ``minimumROISize``): ``InputError`` with PyRadiomics' reason.
3. ``preCrop``: PyRadiomics filters each ROI's bounding box grown by ``padDistance`` voxels (clipped to
   the image). The filtered values then depend on the crop:
   * Wavelet (PyWavelets' SWT, periodic): a voxel's value depends only on the voxels within the
     filter's reach, so for every ROI whose grown box is not clipped and whose ``padDistance`` covers
     the reach, the values equal those of one transform of the union of these boxes: computed once
     and shared (bit-identical: same taps, same order). Other ROIs get their own transform.
   * LoG (SimpleITK's recursive Gaussian, infinite support): values depend on the crop, so each
     distinct grown box gets its own LoG, exactly as PyRadiomics. (With ``preCrop: false`` every filter
     is computed once on the whole image and shared by all ROIs.)
   Square, SquareRoot, Logarithm and Exponential scale by the largest |value| of the crop: one per
   distinct grown box too. The filters are RadSurv's (``radiomics.filters``).
4. Per image and ROI: the ROI's bounding box, gray levels with ``getBinEdges``' rule (fixed bin
   width, ``binWidth``; NumPy min / max instead of Python's builtins: same numbers; or a fixed bin
   count, ``binCount``) and ``numpy.digitize``.
5. Features: one module per class in ``radiomics.families``, which holds the class's matrix of an
   ROI and its feature functions (those of the voxel maps too: the ROI is one kernel). Shape:
   ``families.shape`` (marching-cubes contributions, diameters from the convex hull). Texture
   matrices: ``neighbours`` (the ROI's neighbour structure, in-plane only with ``force2D``; the
   families' vectorised NumPy ``roi_matrix`` or ``kernels`` with Numba, equal to PyRadiomics' C
   extension in the tests).

Output: per ROI an ordered dict with PyRadiomics' feature names and order, values as floats.
``resegmentRange`` (with ``resegmentMode`` and ``resegmentShape``) resegments each ROI after step 2
(``resegment``). Settings the engine does not implement (resampling, distances other than [1],
``weightingNorm``, ``force2D`` with wavelets, other image types: ``params.Parameters.unsupported``) raise
``InputError`` ("not supported by RadSurv's engine: ...") before any work; PyRadiomics itself is never
imported.
"""

from __future__ import annotations

import numpy as np

from ...errors import InputError
from .. import families, filters
from ..params import DEFAULTS
from . import neighbours


def check_settings(parameters) -> dict:
    """The settings of ``parameters`` (``params.Parameters``) with PyRadiomics' defaults filled in.

    Raises:
        InputError: a setting, image type or feature the engine does not implement.
    """
    parameters.check_supported()
    settings = dict(DEFAULTS)
    settings.update({k: v for k, v in parameters.settings.items() if v is not None or DEFAULTS.get(k) is None})
    return settings


def _bounds(mask: np.ndarray) -> tuple:
    """(lo, hi): the mask's bounding box, z, y, x, hi exclusive."""
    nz = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != k))) for k in range(3)]
    return np.array([n[0] for n in nz]), np.array([n[-1] for n in nz]) + 1


def resegment(values: np.ndarray, mask: np.ndarray, settings: dict) -> np.ndarray:
    """The ROI without its voxels outside ``resegmentRange`` (PyRadiomics' resegmentation): one
    threshold T keeps values >= T, two keep T_low <= value <= T_high; the thresholds are values
    (``resegmentMode`` absolute), fractions of the ROI's maximum (relative) or mean + T standard
    deviations of the ROI (sigma). IBSI "re-segmentation" (range re-segmentation).

    Raises:
        InputError: a range of neither 1 nor 2 values, or an unknown mode.
    """
    thresholds = sorted(float(t) for t in settings["resegmentRange"])
    mode = settings.get("resegmentMode") or "absolute"
    inside = values[mask]
    if len(thresholds) not in (1, 2) or mode not in ("absolute", "relative", "sigma"):
        raise InputError(f"radiomics parameter file: resegmentRange {settings['resegmentRange']!r} with "
                         f"resegmentMode {mode!r}: give 1 or 2 thresholds and absolute, relative or sigma.")
    if mode == "relative":
        thresholds = [inside.max() * t for t in thresholds]
    elif mode == "sigma":
        thresholds = [inside.mean() + inside.std() * t for t in thresholds]
    keep = mask & (values >= thresholds[0])
    if len(thresholds) == 2:
        keep &= values <= thresholds[1]
    return keep


class _Roi:
    """One ROI: its mask, bounding box (z, y, x) and PyRadiomics' crop box (of the mask as given:
    PyRadiomics crops before it resegments). With resegmentation, the features other than shape use
    the resegmented ROI and its box; shape uses the ROI as given (``resegmentShape`` false), cut to
    the resegmented ROI's box as PyRadiomics does."""

    def __init__(self, name, mask: np.ndarray, settings: dict, values: np.ndarray = None):
        self.name = name
        check_roi(mask, name, settings)
        self.lo, self.hi = _bounds(mask)
        shape = np.array(mask.shape)
        if settings.get("preCrop", False):
            pad = int(settings.get("padDistance", 5))
            self.crop_lo = np.maximum(self.lo - pad, 0)
            self.crop_hi = np.minimum(self.hi + pad, shape)
            self.clipped = bool(np.any(self.lo - pad < 0) or np.any(self.hi + pad > shape))
        else:
            self.crop_lo, self.crop_hi, self.clipped = np.zeros(3, int), shape, False
        shape_mask = mask
        if settings.get("resegmentRange") is not None:
            mask = resegment(values, mask, settings)
            check_roi(mask, f"{name} (resegmented)", settings)
            self.lo, self.hi = _bounds(mask)
            shape_mask = mask if settings.get("resegmentShape") else shape_mask
        box = self._slices(self.lo, self.hi)
        self.box_mask = mask[box]
        self.shape_mask = shape_mask[box]
        # The same for every image: where the ROI's voxels are in the box and in the padded box
        # (raster order, ascending), and how many.
        box_shape = np.array(self.box_mask.shape)
        self.padded_shape = tuple(int(s) for s in box_shape + 2)
        self.padded_idx = np.flatnonzero(np.pad(self.box_mask, 1))
        self.n_voxels = self.padded_idx.size
        self._gather = {}

    @staticmethod
    def _slices(lo, hi):
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))

    def box_of(self, array: np.ndarray, origin) -> np.ndarray:
        """The ROI's bounding box out of ``array`` whose [0, 0, 0] is at ``origin`` (z, y, x)."""
        origin = np.asarray(origin)
        return array[self._slices(self.lo - origin, self.hi - origin)]

    def values_in(self, array: np.ndarray, origin) -> np.ndarray:
        """The ROI's voxel values (1D, raster order: as ``box_of(array, origin)[box_mask]``) out of
        the C-contiguous ``array`` whose [0, 0, 0] is at ``origin`` (z, y, x): one gather by flat
        indices, computed once per array shape and origin."""
        key = (tuple(int(o) for o in origin), array.shape)
        index = self._gather.get(key)
        if index is None:
            shift = self.lo - np.asarray(origin) - 1  # padded box -> array
            coords = np.unravel_index(self.padded_idx, self.padded_shape)
            index = np.ravel_multi_index(tuple(c + int(d) for c, d in zip(coords, shift)), array.shape)
            self._gather[key] = index
        return array.reshape(-1)[index]


def _check_grid(image, mask, name: str, settings: dict) -> None:
    """Mask on the image's grid, within ``geometryTolerance`` as PyRadiomics' ``checkMask`` asks
    (ITK's coordinate tolerance, relative to the voxel spacing; default 1e-6).

    Raises:
        InputError: another size, origin, spacing or direction.
    """
    tolerance = settings.get("geometryTolerance") or 1e-6
    scale = tolerance * min(image.GetSpacing())
    same = (mask.GetSize() == image.GetSize()
            and np.allclose(mask.GetOrigin(), image.GetOrigin(), rtol=0, atol=scale)
            and np.allclose(mask.GetSpacing(), image.GetSpacing(), rtol=0, atol=scale)
            and np.allclose(mask.GetDirection(), image.GetDirection(), rtol=0, atol=tolerance))
    if not same:
        raise InputError(f"radiomics: mask {name} is not on the image's grid (size, origin, spacing or "
                         f"direction differ beyond geometryTolerance {tolerance:g}); resample it onto "
                         "the image first.")


def check_roi(mask: np.ndarray, name: str, settings: dict) -> None:
    """PyRadiomics' ROI checks (``getMask``, ``checkMask``).

    Raises:
        InputError: with PyRadiomics' reason.
    """
    count = int(mask.sum())
    if count == 0:
        raise InputError(f"radiomics: ROI {name} is empty: no labels found in this mask "
                         "(i.e. nothing is segmented)")
    extent = [int(np.ptp(np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != k))))) + 1
              for k in range(3)]
    ndims = sum(e > 1 for e in extent)
    if ndims == 0:
        raise InputError(f"radiomics: ROI {name}: mask only contains 1 segmented voxel! "
                         "Cannot extract features for a single voxel.")
    min_dims = settings.get("minimumROIDimensions", 2)
    if ndims < min_dims:
        raise InputError(f"radiomics: ROI {name}: mask has too few dimensions (number of dimensions "
                         f"{ndims}, minimum required {min_dims})")
    min_size = settings.get("minimumROISize")
    if min_size is not None and count <= min_size:
        raise InputError(f"radiomics: ROI {name}: size of the ROI is too small (minimum size: "
                         f"{min_size}, ROI size: {count})")


def bin_levels(values: np.ndarray, bin_width: float, bin_count: int = None) -> np.ndarray:
    """Gray levels (int >= 1) of the ROI values (1D), as ``imageoperations.binImage``
    (``getBinEdges``): with a fixed bin width (IBSI "fixed bin size": bins of ``bin_width`` starting
    at the ROI minimum rounded down to a multiple of it) or, when ``bin_count`` is given, a fixed
    bin number (IBSI "fixed bin number": ``bin_count`` equal bins from the ROI minimum to its
    maximum, the maximum in the top bin).

    Raises:
        InputError: a value is NaN (PyRadiomics fails there too).
    """
    if not np.isfinite(values).all():
        raise InputError("radiomics: the image has NaN or infinite values inside the ROI after "
                         "filtering (NaN in the CT inside the filter support); fix or mask the CT.")
    if bin_count is not None:
        edges = np.histogram(values, int(bin_count))[1]
        edges[-1] += 1  # the maximum in the top bin, as PyRadiomics
        return np.digitize(values, edges)
    minimum = values.min()
    maximum = values.max()
    low = minimum - (minimum % bin_width)
    edges = np.arange(low, maximum + 2 * bin_width, bin_width)
    if len(edges) == 1:
        edges = [edges[0] - .5, edges[0] + .5]
    return np.digitize(values, edges)


class Stopped(Exception):
    """The run was interrupted (``stop`` set): the ROI's features were left unfinished."""


def _go_on(stop) -> None:
    if stop is not None and stop.is_set():
        raise Stopped()


def roi_image_features(values_box: np.ndarray, roi: _Roi, kwargs: dict, enabled: dict,
                       spacing_xyz, stop=None, values: np.ndarray = None) -> dict:
    """Features of one ROI on one (filtered) image: {family: {name: value}} for the enabled
    non-shape families (``enabled``: family -> feature names in order). ``values_box``: float64
    (z, y, x), the ROI's bounding box of the image; ``spacing_xyz`` in mm. ``values``: the ROI's
    voxel values (``values_box[roi.box_mask]``, float64) when the caller has them (then
    ``values_box`` may be None).

    Raises:
        Stopped: ``stop`` (a ``threading.Event``) was set (Ctrl-C: the run ends without waiting).
    """
    if values is None:
        values = values_box[roi.box_mask]
    values = values.astype(np.float64, copy=False)
    levels = bin_levels(values, kwargs.get("binWidth") or 25, kwargs.get("binCount"))
    gray_levels = np.flatnonzero(np.bincount(levels))  # np.unique, without a sort
    out = {}
    if "firstorder" in enabled:
        out["firstorder"] = families.firstorder.features(values, levels, spacing_xyz, kwargs,
                                                         enabled["firstorder"])
    _go_on(stop)
    texture = [f for f in enabled if f not in ("shape", "firstorder")]
    if not texture:
        return out
    from . import kernels

    n_levels = len(gray_levels)
    # ranks as bytes where they fit (the compiled loops' type; NumPy's ``roi_matrix`` widens them)
    dtype = np.int32 if not kernels.AVAILABLE or n_levels > 65535 else np.uint8 if n_levels <= 255 else np.uint16
    rank = np.zeros(int(gray_levels.max()) + 1, dtype=dtype)
    rank[gray_levels] = np.arange(1, n_levels + 1)
    padded = np.zeros(roi.padded_shape, dtype=dtype)
    padded.reshape(-1)[roi.padded_idx] = rank[levels]
    plane_axis = int(kwargs.get("force2Ddimension") or 0) if kwargs.get("force2D") else None
    nbrs = neighbours.RoiNeighbours(padded, roi.box_mask.shape, plane_axis, idx=roi.padded_idx)
    found = neighbours.compute(nbrs, n_levels, gray_levels, texture, roi.n_voxels, max(roi.box_mask.shape))
    for family in texture:
        _go_on(stop)
        if family == "ngtdm":
            out[family] = families.ngtdm.features(found[family], enabled[family])
        else:
            out[family] = families.MODULES[family].features(found[family], gray_levels, enabled[family])
    return out


def _wavelet_reach(kwargs) -> int:
    """Voxels on each side that one SWT output may depend on: (filter length - 1) per pass, the
    filter dilated by 2^j at pass j (PyRadiomics' ``_swt3`` runs start_level + level passes)."""
    import pywt

    wavelet = kwargs.get("wavelet", "coif1")
    length = (wavelet if isinstance(wavelet, pywt.Wavelet) else pywt.Wavelet(wavelet)).dec_len
    levels = kwargs.get("start_level", 0) + kwargs.get("level", 1)
    return (length - 1) * (2 ** levels - 1)


def _groups(rois, kind: str, kwargs: dict, settings: dict):
    """[(crop_lo, crop_hi, [rois])]: the boxes to filter and the ROIs each serves."""
    if kind == "Original":
        return [(np.zeros(3, int), None, list(rois))]
    if not settings.get("preCrop", False):
        return [(rois[0].crop_lo, rois[0].crop_hi, list(rois))]
    groups = []
    if kind == "Wavelet":
        pad = int(settings.get("padDistance", 5))
        shared = [r for r in rois if not r.clipped and pad >= _wavelet_reach(kwargs)]
        if shared:
            lo = np.min([r.crop_lo for r in shared], axis=0)
            hi = np.max([r.crop_hi for r in shared], axis=0)
            groups.append((lo, hi, shared))
        rest = [r for r in rois if r not in shared]
    else:
        rest = list(rois)
    by_box = {}
    for r in rest:
        by_box.setdefault((tuple(r.crop_lo), tuple(r.crop_hi)), []).append(r)
    groups += [(np.array(lo), np.array(hi), members) for (lo, hi), members in by_box.items()]
    return groups


def _filtered(image, kind: str, lo, hi, kwargs):
    """(name, float64 array (z, y, x) whose [0,0,0] is voxel ``lo``, kwargs) per filtered image."""
    import SimpleITK as sitk

    size = np.array(image.GetSize())[::-1]
    crop = sitk.Crop(image, [int(v) for v in lo[::-1]], [int(v) for v in (size - hi)[::-1]])
    for name, values in filters.filtered_images(crop, kind, lambda key: kwargs.get(key, DEFAULTS.get(key))):
        yield name, values, kwargs


def _workers() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def extract(image, masks: dict, extractor, progress=None, workers: int = None) -> dict:
    """PyRadiomics' features of several ROIs on one image, per a parameter file's settings.

    Args:
        image: SimpleITK image (CT in HU on the analysis grid).
        masks: ROI name -> SimpleITK mask on the same grid (voxels equal to the ``label`` setting,
            default 1, are the ROI).
        extractor: ``params.Parameters`` (``roi.make_extractor``): settings, image types and
            feature classes are read from it.
        progress: optional callable(message: str).
        workers: threads computing the ROIs of one filtered image at the same time (default: the
            CPU cores this process may use; NumPy releases the GIL in the heavy array operations).

    Returns:
        dict ROI name -> dict feature name -> value (PyRadiomics' names and order) or an
        ``InputError`` instance for an ROI PyRadiomics rejects (empty, one voxel, ...).

    Raises:
        InputError: a setting the engine does not implement; a mask on another grid.
    """
    import threading

    import SimpleITK as sitk

    settings = check_settings(extractor)
    label = int(settings.get("label", 1))
    # Load the compiled matrix loops (Numba's cache: about a second) while the shape features run. Not a
    # daemon: an interpreter that exits (Ctrl-C) while this thread is inside Numba crashes (SIGSEGV);
    # the exit waits for it instead.
    threading.Thread(target=neighbours.warm_up, name="radsurv-numba-warm-up").start()
    for name, mask in masks.items():
        _check_grid(image, mask, name, settings)
    if settings.get("normalize", False):
        image = filters.normalise(image, settings.get("normalizeScale", 1), settings.get("removeOutliers"))
    values = sitk.GetArrayViewFromImage(image) if settings.get("resegmentRange") is not None else None
    rois, table = [], {}
    for name, mask in masks.items():
        try:
            rois.append(_Roi(name, sitk.GetArrayViewFromImage(mask) == label, settings, values))
            table[name] = {}
        except InputError as exc:
            table[name] = exc
    spacing_xyz = image.GetSpacing()
    enabled = {family: families.enabled_names(family, names) for family, names in extractor.enabledFeatures.items()}
    if not rois:
        return table
    stop = threading.Event()

    def shape(roi):
        values = families.shape.features(roi.shape_mask, spacing_xyz[::-1], enabled["shape"])
        return {f"original_shape_{k}": v for k, v in values.items()}

    def one(roi, values, lo, args):
        try:
            if values.flags.c_contiguous:
                return roi_image_features(None, roi, args, enabled, spacing_xyz, stop, roi.values_in(values, lo))
            return roi_image_features(roi.box_of(values, lo), roi, args, enabled, spacing_xyz, stop)
        except InputError as exc:
            return exc

    workers = workers or _workers()
    if workers == 1:
        _fill(image, rois, extractor, settings, table, _Now, shape, one, enabled, progress)
        return table
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            _fill(image, rois, extractor, settings, table, pool.submit, shape, one, enabled, progress)
        except BaseException:  # Ctrl-C: the ROIs running stop at their next step, the others never start
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return table


class _Now:
    """``submit``'s stand-in for one worker: runs the call at once; ``result()`` gives its value."""

    def __init__(self, function, *args):
        self.value = function(*args)

    def result(self):
        return self.value


def _images(image, rois, extractor, settings):
    """(kind, origin, rois, image name, float64 array, kwargs) for every filtered image of every
    image type, in PyRadiomics' order; ``origin`` (z, y, x) is the array's first voxel."""
    import SimpleITK as sitk

    for kind, custom in extractor.enabledImagetypes.items():
        kwargs = dict(settings, **custom)
        for lo, hi, members in _groups(rois, kind, kwargs, settings):
            if kind == "Original":
                array = sitk.GetArrayViewFromImage(image).astype(np.float64, copy=False)
                yield kind, lo, members, "original", array, kwargs
                continue
            for name, values, args in _filtered(image, kind, lo, hi, kwargs):
                yield kind, lo, members, name, values, args


def _prefetched(iterable):
    """The items of ``iterable``, the next one computed in a helper thread while the caller works on
    the current one (the filters run in SimpleITK / PyWavelets without the GIL). Only the helper
    thread advances ``iterable``."""
    from concurrent.futures import ThreadPoolExecutor

    done = object()
    iterator = iter(iterable)
    with ThreadPoolExecutor(max_workers=1) as helper:
        pending = helper.submit(next, iterator, done)
        while True:
            item = pending.result()
            if item is done:
                return
            pending = helper.submit(next, iterator, done)
            yield item


#: Filtered images whose ROIs may be in the workers at once (each holds its float64 array): enough
#: to keep every worker busy while the GTV's task of one image outlasts the rings' tasks.
IMAGES_IN_FLIGHT = 3


def _fill(image, rois, extractor, settings, table, submit, shape, one, enabled, progress) -> None:
    """Fill ``table`` (ROI name -> dict, PyRadiomics' order) with every feature (see ``extract``).

    Every (ROI, filtered image) is one task for ``submit`` (a thread pool's, or ``_Now``): the
    workers take the tasks of the next images while the largest ROI of the current one runs (no
    barrier per image), with at most ``IMAGES_IN_FLIGHT`` images held. Results are written in
    image order, so the names come out in PyRadiomics' order whatever finishes first.
    """
    from collections import deque

    shapes = [(roi, submit(shape, roi)) for roi in rois] if "shape" in enabled else []
    pending, current = deque(), None

    def write(entry):
        image_name, todo = entry
        for roi, task in todo:
            result = task.result()
            if isinstance(table[roi.name], InputError):  # failed on an earlier image
                continue
            if isinstance(result, InputError):
                table[roi.name] = InputError(f"{result} (ROI {roi.name}, image {image_name})")
                continue
            row = table[roi.name]
            for family, feats in result.items():
                row.update({f"{image_name}_{family}_{k}": v for k, v in feats.items()})

    for kind, lo, members, image_name, values, args in _prefetched(_images(image, rois, extractor, settings)):
        if progress and kind != current:
            progress(f"radiomics features: {kind} image(s)")
        current = kind
        todo = [r for r in members if not isinstance(table[r.name], InputError)]
        pending.append((image_name, [(r, submit(one, r, values, lo, args)) for r in todo]))
        for roi, task in shapes:  # shape first in each row, as PyRadiomics
            table[roi.name].update(task.result())
        shapes = []
        while len(pending) > IMAGES_IN_FLIGHT:
            write(pending.popleft())
    for roi, task in shapes:  # no image type enabled
        table[roi.name].update(task.result())
    while pending:
        write(pending.popleft())
