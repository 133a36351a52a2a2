"""Array functions that take NumPy arrays or torch tensors alike, PyRadiomics' ``EPS``, and
``evaluate`` (a family's feature functions on one ROI).

The feature formulas of the families (``glcm``, ``firstorder``, ...) serve two callers: the voxel
maps (torch tensors, one row per kernel, on CPU or CUDA) and the ROI engine (NumPy arrays, one row:
the ROI is one kernel). They are written with the operators both libraries share (``+``, ``*``,
``**``, ``@``, ``.sum(axis)``) and, for the rest, with the module ``xp(x)`` returns (NumPy and torch
spell ``where``, ``log2``, ``exp``, ``sqrt``, ``abs``, ``amax``, ``nanmean``, ``*_like`` and
``linalg.eigvals`` alike); the few functions they spell differently are here.
"""

from __future__ import annotations

# NumPy and torch are imported when a formula runs, not when the families are imported: the command
# line (its parser lists the voxel-map families) also runs in Slicer's Python, which has neither.

#: PyRadiomics' eps in entropies and divisions, numpy.spacing(1): the one EPS of the families.
EPS = 2.220446049250313e-16


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch")


def xp(x):
    """The array module of ``x``: ``torch`` for a tensor, else ``numpy``."""
    if _is_tensor(x):
        import torch

        return torch
    import numpy

    return numpy


def take(x, index):
    """``x`` indexed along its last axis by the integer array ``index`` of the same leading shape
    (``numpy.take_along_axis`` / ``torch.gather`` on the last axis)."""
    if not _is_tensor(x):
        return xp(x).take_along_axis(x, index, -1)
    return x.gather(-1, index)


def nan_like(x):
    """An array of NaN of ``x``'s shape, dtype and device."""
    return xp(x).full_like(x, float("nan"))


def to_float64(x):
    """``x`` (bool or integer) as float64, same library and device."""
    return x.double() if _is_tensor(x) else x.astype("float64")


def to_int64(x):
    """``x`` as int64 (truncated toward zero), same library and device."""
    return x.long() if _is_tensor(x) else x.astype("int64")


def ones(x, n: int):
    """A float64 vector of ``n`` ones, same library and device as ``x``."""
    if not _is_tensor(x):
        return xp(x).ones(n)
    import torch

    return torch.ones(n, dtype=torch.float64, device=x.device)


def swapaxes(x):
    """``x`` with its last two axes swapped (a view)."""
    return xp(x).swapaxes(x, -1, -2)


def evaluate(functions: dict, coefficients, names) -> dict:
    """{name: float} of ``functions[name](coefficients)`` for each name; NumPy's warnings of a
    division by zero are silenced (the value is then NaN or inf, as PyRadiomics').

    Args:
        functions: feature name -> function of the family's coefficients (a (1,) or scalar result).
        coefficients: the family's coefficient object for one ROI (NumPy, one kernel).
        names: the feature names to compute, in output order.
    """
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return {name: float(np.squeeze(functions[name](coefficients))) for name in names}
