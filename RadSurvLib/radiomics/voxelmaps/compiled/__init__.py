"""Compiled (Numba) CPU path of the voxel maps: per family, the features of each kernel in one pass
over its cube, with no L x L or per-pair tensors.

The torch path of each family (``radiomics.families.<family>.compute``) is the reference and serves
CUDA and the features a compiled module does not give. A compiled module gives, for the same kernel
cubes (layout: ``radiomics.families``' package docstring), the same values:

    NAMES                                          the features it computes
    compute(cubes, n_levels, names, **settings)    cubes: numpy int64 (n, D, D, D); settings as the
                                                   torch path's; returns {name: numpy float64 (n,)}

Its loops are ``numba.njit(nogil=True, cache=True)`` and serial: the engine runs chunks on its
worker threads, which the released GIL lets run on every core.
"""

from __future__ import annotations

import importlib
import importlib.util

#: family -> (module of this package, its compute function); a family absent here uses torch.
_COMPILED = {
    "glcm": ("glcm", "compute"),
    "ngtdm": ("ngtdm", "compute"),
    "glszm": ("glszm", "compute"),
    "glrlm": ("glrlm", "compute"),
    "gldm": ("gldm", "compute"),
}


def compiled_family(family: str):
    """(NAMES, compute) of ``family``'s compiled CPU path, or None when it has none (or Numba, a
    default dependency, cannot be imported: the torch path then runs)."""
    entry = _COMPILED.get(family)
    if entry is None or importlib.util.find_spec("numba") is None:
        return None
    module = importlib.import_module(f"{__name__}.{entry[0]}")
    return getattr(module, "NAMES"), getattr(module, entry[1])
