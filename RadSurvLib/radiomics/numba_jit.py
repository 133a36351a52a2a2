"""The one way RadSurv compiles its loops with Numba (a default dependency): ``njit(nogil=True,
cache=True)`` (nogil: the engines' worker threads run loops side by side; cache: compiled once per
installation), without the on-disk cache where Numba finds no writable cache directory (the
package's ``__pycache__``, ``NUMBA_CACHE_DIR``, the user's cache): it refuses ``cache=True`` at
import there, so the loops are then compiled at each process's first call instead.
"""

from __future__ import annotations


def jit(function, **options):
    """``function`` compiled by ``numba.njit(nogil=True, cache=True, **options)``, or without the
    cache where none can be written.

    Args:
        options: further ``numba.njit`` options, e.g. ``error_model="numpy"`` (no Python checks of
            divisions by zero: loops that divide per element run several times faster).

    Raises:
        ImportError: Numba is not installed (callers that have a NumPy fallback check first).
    """
    from numba import njit

    try:
        return njit(cache=True, nogil=True, **options)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(nogil=True, **options)(function)
