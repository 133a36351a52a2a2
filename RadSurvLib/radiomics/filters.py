"""Intensity normalisation and the filtered image types of PyRadiomics, written for RadSurv's engine.

Definitions: PyRadiomics' documentation ("Image processing and filters", "Customizing the
extraction"; ``imageoperations``), with SimpleITK (LoG, normalisation) and PyWavelets (wavelet).
Arrays are (z, y, x) as SimpleITK's ``GetArrayFromImage``; names are PyRadiomics' image names
(``wavelet-LLH``, ``log-sigma-1-0-mm-3D``, ``square``, ...), used as feature-name prefixes.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def normalise(image, scale: float = 1.0, outliers=None):
    """PyRadiomics' ``normalize``: f(x) = s (x - mu) / sigma over the whole image (SimpleITK
    ``Normalize``), values beyond +-``outliers`` (``removeOutliers``, in sigmas) clipped after
    centring and before scaling by s = ``scale`` (``normalizeScale``).

    Args:
        image: SimpleITK image. Returns: SimpleITK image (``Normalize``'s real pixel type).

    Raises:
        InputError: a constant image (sigma 0).
    """
    import SimpleITK as sitk

    stats = sitk.StatisticsImageFilter()
    stats.Execute(image)
    if not stats.GetSigma() > 0:
        raise InputError("radiomics normalize: the image is constant (standard deviation 0); set "
                         "normalize: false in the parameter file.")
    out = sitk.Normalize(image)
    if outliers is not None:
        out = sitk.Clamp(out, out.GetPixelID(), -float(outliers), float(outliers))
    return out * float(scale)


def log_images(image, sigmas):
    """Laplacian of Gaussian images (PyRadiomics ``LoG``): SimpleITK's recursive-Gaussian LoG with
    scale normalisation, per sigma (mm); a sigma whose kernel (ceil(sigma / spacing) + 1 voxels) does
    not fit in the image, and an image under 4 voxels along an axis, give no image (as PyRadiomics).
    Filtered by ``recursive_gaussian`` (the same values as SimpleITK, bit for bit, in less time);
    by SimpleITK where Numba is missing.

    Yields:
        (name, float64 array (z, y, x)).
    """
    import SimpleITK as sitk

    from .roi_engine.kernels import AVAILABLE as COMPILED

    size = np.array(image.GetSize())
    spacing = np.array(image.GetSpacing())
    if size.min() < 4:
        return
    values = sitk.GetArrayViewFromImage(image)
    compiled = COMPILED and values.ndim == 3 and values.dtype.kind in "iuf" and values.itemsize <= 8  # scalar images
    for sigma in sigmas:
        if np.all(size >= np.ceil(sigma / spacing) + 1):
            name = f"log-sigma-{str(sigma).replace('.', '-')}-mm-3D"
            if compiled:
                from .recursive_gaussian import laplacian_of_gaussian

                yield name, laplacian_of_gaussian(values, spacing[::-1], float(sigma)).astype(np.float64)
                continue
            filtered = sitk.LaplacianRecursiveGaussian(image, sigma=float(sigma), normalizeAcrossScale=True)
            yield name, _array(filtered)


def wavelet_images(image, wavelet="coif1", level: int = 1, start_level: int = 0):
    """Wavelet images (PyRadiomics ``Wavelet``): undecimated (stationary) 3D wavelet transform,
    PyWavelets ``swtn`` one level at a time on axes (x, y, z), the approximation of each level
    transformed again; every combination of low (L) / high (H) pass per axis (x, y, z in the
    name's order) at levels start_level + 1 .. start_level + level, then the last approximation (LLL).
    An odd axis is padded by one voxel at its end, wrapping around (PyWavelets' SWT needs even
    lengths), and the outputs are cut back to the image's shape, as PyRadiomics does.

    Yields:
        (name, float64 array (z, y, x)): ``wavelet-<LHL>`` at the first level, ``wavelet<k>-<...>``
        at level k > 1.
    """
    import pywt

    original = np.asarray(_array_of(image))
    shape = original.shape
    data = np.pad(original, [(0, s % 2) for s in shape], mode="wrap")
    crop = tuple(slice(0, s) for s in shape)
    wavelet = wavelet if isinstance(wavelet, pywt.Wavelet) else pywt.Wavelet(wavelet)
    axes = (2, 1, 0)

    def one_level(values):
        return pywt.swtn(values, wavelet, level=1, start_level=0, axes=axes)[0]

    for _ in range(start_level):
        data = one_level(data)["aaa"]
    for index in range(1, level + 1):
        decomposition = one_level(data)
        data = decomposition["aaa"]
        prefix = "wavelet-" if index == 1 else f"wavelet{index}-"
        for key, values in decomposition.items():
            if key != "aaa":
                name = key.replace("a", "L").replace("d", "H")
                yield prefix + name, values[crop].astype(np.float64)
    prefix = "wavelet-" if level == 1 else f"wavelet{level}-"
    yield prefix + "LLL", data[crop].astype(np.float64)


def _max_abs(x: np.ndarray) -> float:
    return float(np.max(np.abs(x)))


def square(x: np.ndarray) -> np.ndarray:
    """PyRadiomics ``Square``: f(x) = (c x)^2, c = 1 / sqrt(max |x|)."""
    return (x / np.sqrt(_max_abs(x))) ** 2


def square_root(x: np.ndarray) -> np.ndarray:
    """PyRadiomics ``SquareRoot``: f(x) = sqrt(c x) for x >= 0, -sqrt(-c x) for x < 0, c = max |x|."""
    c = _max_abs(x)
    return np.sign(x) * np.sqrt(np.abs(x) * c)


def logarithm(x: np.ndarray) -> np.ndarray:
    """PyRadiomics ``Logarithm``: f(x) = c log(x + 1) for x >= 0, -c log(1 - x) for x < 0,
    c = max |x| / log(max |x| + 1)."""
    top = _max_abs(x)
    return np.sign(x) * np.log1p(np.abs(x)) * (top / np.log(top + 1))


def exponential(x: np.ndarray) -> np.ndarray:
    """PyRadiomics ``Exponential``: f(x) = exp(c x), c = log(max |x|) / max |x|."""
    top = _max_abs(x)
    return np.exp(np.log(top) / top * x)


#: Image type -> (image name, function of the float64 array) for the pointwise image types.
POINTWISE = {"Square": ("square", square), "SquareRoot": ("squareroot", square_root),
             "Logarithm": ("logarithm", logarithm), "Exponential": ("exponential", exponential)}


def filtered_images(image, kind: str, get):
    """The images of one image type of a (cropped) image, in PyRadiomics' order.

    Args:
        image: SimpleITK image (normalised CT crop). kind: PyRadiomics image type.
        get: callable(setting name) -> value (the image type's settings, ``params.Parameters.get``).

    Yields:
        (name, float64 array (z, y, x)).

    Raises:
        InputError: an image type this module does not implement.
    """
    if kind == "LoG":
        yield from log_images(image, get("sigma") or [])
    elif kind == "Wavelet":
        yield from wavelet_images(image, get("wavelet"), int(get("level")), int(get("start_level")))
    elif kind in POINTWISE:
        name, function = POINTWISE[kind]
        with np.errstate(all="ignore"):  # a max |x| of 0 or 1 gives inf / NaN, as PyRadiomics
            yield name, function(_array(image))
    else:
        raise InputError(f"radiomics: not supported by RadSurv's engine: imageType {kind}")


def _array_of(image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)


def _array(image) -> np.ndarray:
    return _array_of(image).astype(np.float64, copy=False)
