"""Evaluating a family's feature functions on its coefficients (shared by every family module)."""

from __future__ import annotations

import numpy as np


def evaluate(functions: dict, coefficients, names) -> dict:
    """{name: float} of ``functions[name](coefficients)`` for each name; NumPy's warnings of a
    division by zero are silenced (the value is then NaN or inf, as PyRadiomics').

    Args:
        functions: feature name -> function of the family's coefficients (a (1,) or scalar result).
        coefficients: the family's coefficient object for one ROI.
        names: the feature names to compute, in output order.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return {name: float(np.squeeze(functions[name](coefficients))) for name in names}
