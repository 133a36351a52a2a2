"""GLRLM features (PyRadiomics ``glrlm``, gray level run length matrix) of each voxel's kernel
(voxel maps, torch: ``compute``) and of an ROI (NumPy: ``roi_matrix``, ``features``).

Semantics are PyRadiomics' voxel-based ``glrlm`` class (``radiomics/glrlm.py`` with the C
kernel ``calculate_glrlm`` of ``radiomics/src/cmatrices.c``), ``weightingNorm=None``:

* 13 directions of distance 1 (one of each +-pair), runs of equal gray level along each
  direction through the voxels *in the kernel* only: a voxel not in the kernel (value 0 in
  the cube) ends a run, and runs stop at the cube's faces.
* One run length matrix P(i, j | theta) per direction; each feature is computed per
  direction and the values are averaged over directions (``numpy.nanmean``). Every direction
  holds at least the run through the kernel centre, but PyRadiomics' C kernel (``multiElement``
  in ``calculate_glrlm``) *empties* a direction in which no line of the kernel holds two kernel
  voxels (e.g. the 9 directions leaving the slice for a kernel confined to one slice); such a
  direction becomes NaN and is left out of the mean. Done identically here. A kernel of a
  single voxel therefore gives NaN for every GLRLM feature, as in PyRadiomics.
* PyRadiomics deletes the gray levels absent from the ROI and the run lengths absent from
  every kernel before computing features; features sum over the cells present with the true
  gray level i and run length j, so deleting empty rows/columns changes nothing and Ng (the
  highest gray level of the ROI) does not enter any GLRLM feature.

How (vectorised, one code path for CPU and CUDA): for a chunk of n cubes flattened to
K = D^3 positions, a table gives for every direction and position the flat index of the next
and previous position along the direction (a sentinel index K, gray level 0, past the faces).
A position starts a run if it is in the kernel and its predecessor is not in the kernel or has
another level; the run length is built by D - 1 gather steps ``L = 1 + same_next * L[next]``.
The run counts per (gray level, run length) cell come from one scatter-add over the run starts:
levels are renumbered 0..U-1 within each kernel (one sort of the kernel's K levels), and the
counts are scattered into (n, 13, U * D) bins, so no Ng x Nr matrix is built. The features are
``zones``' formulas (shared with the GLSZM, the GLDM and the ROI engine) on these cells
(``KernelRuns``).

Memory: ``bytes_per_voxel(D, Ng)`` = 13 * D^3 * 32 + 13 * U * D * 36 bytes per kernel with
U = min(D^3, Ng + 1), an upper bound (at most ~49 kB at r = 1, ~344 kB at r = 2; measured peaks
on PAT1 GTV kernels 9.4 kB and 33 kB).

Limitation: PyRadiomics drops the directions that move along an axis on which its cropped
image has a single voxel (a 2D image); the cubes do not carry the image size, so such images
(never a CT volume) would be averaged over all 13 directions here.

For an ROI (one kernel): P(i, j) per angle, the number of runs of gray level i and length j along
the angle (13 angles, angles without a run left out); N_r = number of runs per angle. Each feature
per angle, averaged over the angles. The formulas are ``zones``' (ShortRunEmphasis = sum p_r(j) /
j^2 / N_r, RunPercentage = N_r / N_p, ...): the ROI is one kernel, its matrix the ``zones.Matrix``
they read.
"""

from __future__ import annotations

from functools import lru_cache

from . import zones
from .arrays import evaluate, xp
from .kernel_cubes import CHUNK_BYTES, directions_13

#: GLRLM features (PyRadiomics ``glrlm``), name -> IBSI tag (IBSI 1, section 3.7).
FEATURES = {
    "ShortRunEmphasis": "22OV", "LongRunEmphasis": "W4KF", "GrayLevelNonUniformity": "R5YN",
    "GrayLevelNonUniformityNormalized": "OVBL", "RunLengthNonUniformity": "W92Y",
    "RunLengthNonUniformityNormalized": "IC23", "RunPercentage": "9ZK5",
    "GrayLevelVariance": "8CE5", "RunVariance": "SXLW", "RunEntropy": "HJ9O",
    "LowGrayLevelRunEmphasis": "V3SW", "HighGrayLevelRunEmphasis": "G3QZ",
    "ShortRunLowGrayLevelEmphasis": "HTZT", "ShortRunHighGrayLevelEmphasis": "GD3A",
    "LongRunLowGrayLevelEmphasis": "IVPO", "LongRunHighGrayLevelEmphasis": "3KUM",
}

#: Features off by default: none (the run-length pass, shared by all, dominates the cost).
COSTLY = frozenset()

#: PyRadiomics feature name -> its function (of a ``zones.Counts``, per direction).
FEATURE_FUNCTIONS = zones.functions("ShortRun", "LongRun", "RunLength", percentage="RunPercentage",
                                    low_high=("LowGrayLevelRun", "HighGrayLevelRun"),
                                    variance="RunVariance", entropy="RunEntropy")


def bytes_per_voxel(D: int, n_levels: int = 0, names=()) -> int:
    """Upper estimate of the peak working-set bytes per kernel (cube) of ``compute``.

    Args:
        D: cube edge 2r+1 (voxels).
        n_levels: highest gray level of the ROI (Ng); 0 = unknown. A kernel holds at most
            U = min(D^3, Ng + 1) distinct values (levels and 0), which bounds the histogram.
        names: unused (the estimate covers all features), accepted for the engine's family
            interface.

    Returns:
        int bytes: 13 * D^3 * 32 + 13 * U * D * 36 with U = min(8, D^3, Ng + 1) (~14 kB at
        D = 3): ~32 bytes per (direction, position) slot for the run pass plus the (level,
        length) cell histogram of U * D cells per direction for a typical U (measured on 3000
        PAT1 GTV kernels: 9.4 kB at D = 3, 33 kB at D = 5). ``compute`` groups kernels by their
        own U and splits a group of larger U into batches whose worst case (``_group_bytes``)
        stays within ``kernel_cubes.CHUNK_BYTES``. Excludes the input cubes (8 D^3 bytes) and the
        outputs (8 bytes per feature). Chunk size: budget // this.
    """
    D, k = int(D), int(D) ** 3
    u = min(8, k) if not n_levels or n_levels <= 0 else min(8, k, int(n_levels) + 1)
    return _group_bytes(D, u)


def _group_bytes(D: int, u: int) -> int:
    """Worst-case working set per kernel of ``_features`` for kernels of at most u distinct values."""
    return 13 * D ** 3 * 32 + 13 * u * D * 36


@lru_cache(maxsize=None)
def neighbour_tables(size: int, offsets: tuple):
    """Flat index of position p + o in a size^3 cube for each offset o (CPU int64, (len, K)).

    Positions whose neighbour is outside the cube get the sentinel index K = size^3.
    """
    import torch

    c = torch.arange(size)
    z, y, x = torch.meshgrid(c, c, c, indexing="ij")
    z, y, x = z.reshape(-1), y.reshape(-1), x.reshape(-1)
    k = size ** 3
    rows = []
    for dz, dy, dx in offsets:
        nz, ny, nx = z + dz, y + dy, x + dx
        inside = (nz >= 0) & (nz < size) & (ny >= 0) & (ny < size) & (nx >= 0) & (nx < size)
        flat = (nz * size + ny) * size + nx
        rows.append(torch.where(inside, flat, torch.full_like(flat, k)))
    return torch.stack(rows)


def _tables(size: int, offsets, device):
    return neighbour_tables(size, tuple(offsets)).to(device)


def counts_of_sorted(keys, valid):
    """Counts of valid entries per group of equal consecutive ``keys`` (float64, same shape).

    ``keys`` (..., M) sorted along the last axis; slot g of the result holds the number of
    ``valid`` entries in the g-th group of equal keys, unused slots 0 (used by GLSZM).
    """
    import torch

    new = torch.ones_like(keys, dtype=torch.bool)
    new[..., 1:] = keys[..., 1:] != keys[..., :-1]
    group = new.long().cumsum(-1) - 1
    return torch.zeros(keys.shape, dtype=torch.float64, device=keys.device).scatter_add_(
        -1, group, valid.double())


def local_ranks(levels):
    """Renumber the gray levels of each kernel 0..U-1 in increasing order (dense histograms).

    Args:
        levels: int64 (n, K) gray levels (0 = not in the kernel; it gets a rank like any level,
            callers give those entries zero weight).

    Returns:
        (rank, U, rank_level): rank int64 (n, K) of each entry's level among the distinct
        levels of its row; U (int) = the largest number of distinct values in a row (<= K), so
        per-kernel histograms fit in U bins instead of Ng; rank_level int64 (n, U), the level
        of each rank (0 for ranks a row does not use).
    """
    import torch

    ordered, order = levels.sort(-1)
    grp = torch.zeros_like(ordered)
    grp[:, 1:] = (ordered[:, 1:] != ordered[:, :-1]).long().cumsum(-1)
    rank = torch.empty_like(grp).scatter_(1, order, grp)
    n_ranks = int(grp[:, -1].max()) + 1 if grp.numel() else 1
    rank_level = torch.zeros(levels.shape[0], n_ranks, dtype=levels.dtype, device=levels.device)
    rank_level.scatter_(1, grp, ordered)
    return rank, n_ranks, rank_level


def check_cubes(cubes, names, features, family: str) -> None:
    """Validate the inputs of a family ``compute`` (shared by GLRLM and GLSZM).

    Args:
        cubes: expected torch int64 (n, D, D, D) with odd D.
        names: feature names requested; each must be a key of ``features``.
        features: the family's ``FEATURES`` dict.
        family: "GLRLM" or "GLSZM", for the message.

    Raises:
        InputError: unknown feature name (the message lists the available ones), or cubes of
            the wrong type, dtype or shape.
    """
    import torch

    from ...errors import InputError

    unknown = [n for n in names if n not in features]
    if unknown:
        raise InputError(f"{family} voxel maps: unknown feature(s) {unknown}; available: "
                         f"{', '.join(features)}.")
    if (not isinstance(cubes, torch.Tensor) or cubes.dim() != 4 or cubes.dtype != torch.int64
            or not (cubes.shape[1] == cubes.shape[2] == cubes.shape[3])
            or cubes.shape[1] % 2 != 1):
        raise InputError(f"{family} voxel maps: cubes must be an int64 tensor (n, D, D, D) with "
                         f"odd D = 2r+1 (got {getattr(cubes, 'dtype', type(cubes))} "
                         f"{tuple(getattr(cubes, 'shape', ()))}). Build them with the engine.")


def compute(cubes, n_levels, names, **settings) -> dict:
    """GLRLM features of each kernel, PyRadiomics voxel-based semantics (``weightingNorm=None``).

    Args:
        cubes: torch int64 (n, D, D, D), D = 2r+1, axis order (z, y, x): discretised gray level
            1..n_levels of each kernel voxel, 0 where the voxel is not in the kernel (outside
            the ROI for a masked kernel, outside the image). The centre cubes[:, r, r, r] is
            in the kernel (>= 1).
        n_levels: highest gray level of the ROI (PyRadiomics Ng); unused (no GLRLM feature
            depends on it), accepted for the common family interface.
        names: iterable of feature names from ``FEATURES`` (PyRadiomics names, e.g.
            "ShortRunEmphasis"), without the "glrlm_" prefix.
        **settings: ignored (``distances`` other than [1] are not supported by PyRadiomics'
            GLRLM either: it always uses distance 1).

    Returns:
        dict name -> torch float64 (n,) on the cubes' device: the mean of the per-direction
        feature over the directions PyRadiomics keeps (those with a line of two or more kernel
        voxels); NaN where it keeps none (a kernel of one voxel), as PyRadiomics. Units: gray
        levels (squared) for the gray-level emphases/variance, voxels (squared) for run-length
        ones, unitless otherwise.

    Raises:
        InputError: unknown feature name, or cubes not an int64 (n, D, D, D) tensor with odd D.

    Source: PyRadiomics ``radiomics.glrlm.RadiomicsGLRLM`` (IBSI tags in ``FEATURES``).
    """
    import torch

    names = list(dict.fromkeys(names))
    check_cubes(cubes, names, FEATURES, "GLRLM")
    n, size = cubes.shape[0], cubes.shape[1]
    dev = cubes.device
    if n == 0 or not names:
        return {nm: torch.zeros(n, dtype=torch.float64, device=dev) for nm in names}
    # Kernels are processed in groups of similar gray-level diversity: the cell histogram of a
    # group has U bins per run length, U = the group's largest count of distinct levels, so a
    # few heterogeneous kernels do not inflate the work of all others.
    flat = cubes.reshape(n, -1)
    ordered = flat.sort(-1).values
    distinct = (ordered[:, 1:] != ordered[:, :-1]).sum(-1) + 1
    bound = 2 ** torch.ceil(torch.log2(distinct.double())).long()
    out = {name: torch.empty(n, dtype=torch.float64, device=dev) for name in names}
    for b in torch.unique(bound).tolist():
        rows_all = torch.nonzero(bound == b).squeeze(1)
        step = max(1, CHUNK_BYTES // _group_bytes(size, min(int(b), size ** 3)))
        for s0 in range(0, rows_all.numel(), step):
            rows = rows_all[s0:s0 + step]
            part = _features(cubes[rows], names)
            for name in names:
                out[name][rows] = part[name]
    return out


def _features(cubes, names) -> dict:
    """``compute`` on one group of kernels (see there); returns name -> float64 (n,)."""
    import torch

    n, size = cubes.shape[0], cubes.shape[1]
    dev = cubes.device
    k = size ** 3
    dirs = directions_13()
    nxt = _tables(size, dirs, dev)                                  # (13, K)
    prv = _tables(size, [(-a, -b, -c) for a, b, c in dirs], dev)    # (13, K)

    lev = cubes.reshape(n, k)
    inside = lev > 0
    # Levels renumbered 0..U-1 per kernel (rank), small dtypes for the (n, 13, K) passes.
    rank, n_ranks, rank_level = local_ranks(lev)
    small = torch.int16 if n_ranks < 2**15 else torch.int32
    code = torch.cat([(rank + 1).to(small), rank.new_zeros(n, 1).to(small)], 1)  # 0: outside
    code = torch.where(torch.cat([inside, inside.new_zeros(n, 1)], 1), code,
                       torch.zeros_like(code))
    here = code[:, :k][:, None, :]                                  # (n, 1, K)
    nxt_e, prv_e = nxt.expand(n, 13, k), prv.expand(n, 13, k)
    code_e = code[:, None, :].expand(n, 13, k + 1)
    start = (code_e.gather(-1, prv_e) != here) & (here > 0)         # (n, 13, K) run starts
    same_next = (code_e.gather(-1, nxt_e) == here) & (here > 0)

    # Run length from each position to the end of its run: L = 1 + same_next * L[next];
    # ``later``: some in-kernel voxel lies further along the line (PyRadiomics' multiElement).
    inside_u8 = inside[:, None, :].to(torch.uint8)
    inside_next = torch.cat([inside, inside.new_zeros(n, 1)], 1)[:, None, :].expand(
        n, 13, k + 1).gather(-1, nxt_e)
    length = inside_u8.expand(n, 13, k)
    later = inside_next
    zero8 = torch.zeros(n, 13, 1, dtype=torch.uint8, device=dev)
    false = torch.zeros(n, 13, 1, dtype=torch.bool, device=dev)
    for _ in range(size - 1):
        length = inside_u8 + same_next * torch.cat([length, zero8], -1).gather(-1, nxt_e)
        later = inside_next | torch.cat([later, false], -1).gather(-1, nxt_e)
    # PyRadiomics (cmatrices.c, ``multiElement``) empties a direction in which no line holds
    # two kernel voxels; the direction is then NaN and left out of the mean.
    flat_dir = ~(inside[:, None, :] & later).any(-1)               # (n, 13)
    del same_next, later, inside_next

    # Run counts per (gray level, run length) cell: one scatter-add over the run starts.
    cell = rank[:, None, :] * size + (length.long() - 1).clamp_(min=0)
    cells = torch.zeros(n, 13, n_ranks * size, dtype=torch.float32, device=dev)
    cells.scatter_add_(-1, cell, start.float())                    # exact integer counts
    cells = cells.double().reshape(n, 13, n_ranks, size)           # P(i, j | theta)
    del cell, length, start
    runs = KernelRuns(cells, rank_level, inside.sum(-1).double())
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=dev)
    return {name: torch.nanmean(torch.where(flat_dir, nan, FEATURE_FUNCTIONS[name](runs)), -1) for name in names}


class KernelRuns(zones.CellCounts):
    """``zones.CellCounts`` of the kernels' run length matrices (torch, per kernel and direction:
    (n, 13)).

    Args:
        cells: P(i, j | theta) (n, 13, U, D) over the kernel's level ranks and run lengths 1..D.
        rank_level: int64 (n, U) the level of each rank (0 for unused ranks: i = 1 there).
        n_voxels: (n,) kernel voxels.
    """

    def __init__(self, cells, rank_level, n_voxels):
        import torch

        j = torch.arange(1, cells.shape[-1] + 1, device=cells.device, dtype=torch.float64)
        i = rank_level.double().clamp(min=1)[:, None, :]                  # (n, 1, U)
        n_runs = cells.reshape(cells.shape[:2] + (-1,)).sum(-1)          # N_r(theta)
        super().__init__(cells, i, j, n_runs, n_voxels[:, None])


# The ROI, as one kernel.

def roi_matrix(roi, n_levels: int, max_run: int):
    """Run-length counts of one ROI, shape (1, n_levels, max_run, n_angles), float64:
    [0, i-1, L-1, a] = number of runs (maximal chains along angle a of ROI voxels with the same
    rank) of rank i and length L, as PyRadiomics' ``_cmatrices.calculate_glrlm`` after it removes
    the absent gray levels.

    Every angle's flat offset o is positive, and the chain v, v+o, v+2o, ... of flat indices follows
    the angle until it reaches the zero padding; so reading the padded array in the order of the
    residues modulo o (``reshape(-1, o).T``) lays every line of the angle out contiguously, separated
    by zeros, and the runs are the runs of equal non-zero values of that 1D sequence.

    Args:
        roi: ``roi_engine.neighbours.RoiNeighbours`` of the ROI (ranks 1..n_levels, angles).
        n_levels: number of gray levels present in the ROI. max_run: the longest possible run
            (the largest edge of the ROI's bounding box).
    """
    import numpy as np

    out = np.zeros((n_levels, max_run, roi.n_angles), dtype=np.float64)
    flat = roi.flat
    for a, offset in enumerate(int(o) for o in roi.angle_offsets):
        tail = (-flat.size) % offset
        seq = np.concatenate([flat, np.zeros(tail, flat.dtype)]).reshape(-1, offset).T.reshape(-1)
        starts = np.concatenate([[0], np.flatnonzero(seq[1:] != seq[:-1]) + 1])
        lengths = np.diff(np.append(starts, seq.size))
        level = seq[starts]
        keep = level > 0
        code = (level[keep].astype(np.int64) - 1) * max_run + (lengths[keep] - 1)
        out[:, :, a] = np.bincount(code, minlength=n_levels * max_run).reshape(n_levels, max_run)
    return out[None]


def _mean_over_angles(values):
    """The mean of ``values`` over the angles (last axis), NaN angles skipped."""
    return xp(values).nanmean(values, -1)


#: Feature name -> its value for one ROI: the mean over the angles (NaN angles skipped).
ROI_FUNCTIONS = {name: (lambda m, f=f: _mean_over_angles(f(m))) for name, f in FEATURE_FUNCTIONS.items()}


def features(counts, gray_levels, names) -> dict:
    """GLRLM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, max run length, angles) from ``roi_matrix``; gray_levels: int (L,).
    """
    import numpy as np

    n_r = counts.sum((1, 2))
    if counts.shape[3] > 1:  # angles without a run are left out
        keep = n_r.sum(0) != 0
        counts, n_r = counts[..., keep], n_r[:, keep]
    n_r = np.where(n_r == 0, np.nan, n_r)
    lengths = np.arange(1, counts.shape[2] + 1)
    return evaluate(ROI_FUNCTIONS, zones.Matrix(counts, gray_levels, lengths, n_r), names)
