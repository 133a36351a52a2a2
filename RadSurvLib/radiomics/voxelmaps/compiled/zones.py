"""The zone-matrix formulas of the GLSZM, GLRLM and GLDM (``radiomics.families.zones``), compiled:
the features of one kernel's (gray level x second index) count matrix (``cell_features``), and the
three families' per-chunk loops that build the matrices (``glszm_chunk``, ``glrlm_chunk``,
``gldm_chunk``; their modules ``compiled.glszm``, ``compiled.glrlm``, ``compiled.gldm`` check the
inputs and call them). All the compiled functions are in this one file: Numba's cache of a function
is not refreshed when a function of another file that it calls changes.

A kernel's matrix P (rows: the kernel's distinct gray levels, ranked in the order the kernel meets
them; columns: the second index j - 1, j = zone size, run length or dependence size) lives in a
scratch array allocated once per chunk; only its non-zero cells are listed (``rows``, ``cols``,
``n_cells``), so a kernel costs its own number of cells, not L x Nj. ``cell_features`` reads them,
writes the 16 formulas of ``zones`` (the ``FORMULAS`` order) and sets the cells back to 0 for the
next kernel. The loops add cells inline, not through a helper: a Numba call that takes arrays
costs several times the addition, even inlined.

Cubes of at most 128 positions (kernel radius 1 and 2) are handled as 128-bit position sets (two
uint64 words, bit p = flat position p): a GLSZM zone grows by set dilations, GLRLM runs are counted
per direction and gray level by shifting sets; larger cubes use a flood fill and a walk per line.

Formulas (N = sum P, p_g / p_j the row / column sums, i the row's gray level, j the column + 1):
exactly ``radiomics.families.zones``' (IBSI tags there and in each family's ``FEATURES``); the sums
run over the same terms in another order, so values agree with the torch path to a few ulps.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ....errors import InputError
from ...families import zones
from ...families.arrays import EPS
from ...numba_jit import jit


def _jit(function):
    """``numba_jit.jit`` with error_model "numpy": Numba's default Python error model checks every
    division for zero, which made these loops up to 1.8 times slower."""
    return jit(function, error_model="numpy")


#: The formulas of ``families.zones``, in the order of ``cell_features``' output slots.
FORMULAS = (zones.small_j_emphasis, zones.large_j_emphasis, zones.gray_level_non_uniformity,
            zones.gray_level_non_uniformity_normalized, zones.j_non_uniformity,
            zones.j_non_uniformity_normalized, zones.j_percentage, zones.gray_level_variance,
            zones.j_variance, zones.j_entropy, zones.low_gray_level_emphasis,
            zones.high_gray_level_emphasis, zones.small_j_low_gray_level_emphasis,
            zones.small_j_high_gray_level_emphasis, zones.large_j_low_gray_level_emphasis,
            zones.large_j_high_gray_level_emphasis)
N_FORMULAS = len(FORMULAS)
_GRAY_VARIANCE, _J_VARIANCE, _ENTROPY = 7, 8, 9


def formula_slots(feature_functions: dict, names) -> np.ndarray:
    """int64 (len(names),): the ``cell_features`` slot of each name's formula.

    Args:
        feature_functions: a family's ``FEATURE_FUNCTIONS`` (name -> ``zones`` function).
        names: feature names of that family (checked by ``check_inputs``).
    """
    slot = {f: s for s, f in enumerate(FORMULAS)}
    return np.array([slot[feature_functions[name]] for name in names], dtype=np.int64)


def wanted_flags(slots: np.ndarray) -> np.ndarray:
    """bool (N_FORMULAS,): True for the slots asked (entropy and variances cost an extra pass)."""
    wanted = np.zeros(N_FORMULAS, dtype=np.bool_)
    wanted[slots] = True
    return wanted


def check_inputs(cubes, names, features, family: str):
    """Validate a compiled ``compute``'s inputs; returns the names (duplicates dropped, in order)
    and the cubes as int64 (n, K), K = D^3, positions flattened in (z, y, x) order.

    Args:
        cubes: numpy int64 (n, D, D, D), D odd (layout: ``radiomics.families``).
        names: feature names; each must be in ``features``.
        features: the names the compiled family computes (its ``NAMES``).
        family: "GLSZM", "GLRLM" or "GLDM", for the message.

    Raises:
        InputError: an unknown name (the message lists the available ones), or cubes that are not
            an int64 (n, D, D, D) array with odd D.
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in features]
    if unknown:
        raise InputError(f"{family} voxel maps (compiled): unknown feature(s) {unknown}; "
                         f"available: {', '.join(features)}.")
    shape = tuple(getattr(cubes, "shape", ()))
    if (not isinstance(cubes, np.ndarray) or cubes.dtype != np.int64 or len(shape) != 4
            or not shape[1] == shape[2] == shape[3] or shape[1] % 2 != 1):
        got = getattr(cubes, "dtype", type(cubes))
        raise InputError(f"{family} voxel maps (compiled): cubes must be a NumPy int64 array "
                         f"(n, D, D, D) with odd D = 2r+1 (got {got} {shape}). Build them with the "
                         "voxel-map engine.")
    n, size = shape[0], shape[1]
    return names, np.ascontiguousarray(cubes).reshape(n, size ** 3)


@lru_cache(maxsize=None)
def neighbour_table(size: int) -> np.ndarray:
    """int64 (K, 26): the flat indices of the 26 neighbours of each position of a size^3 cube,
    (z, y, x) order, the neighbours inside the cube first and -1 after them (built once per size;
    callers must not write to it)."""
    k = size ** 3
    table = np.full((k, 26), -1, dtype=np.int64)
    for p in range(k):
        z, y, x = p // (size * size), (p // size) % size, p % size
        m = 0
        for dz in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    q = (z + dz, y + dy, x + dx)
                    if (dz, dy, dx) != (0, 0, 0) and all(0 <= c < size for c in q):
                        table[p, m] = (q[0] * size + q[1]) * size + q[2]
                        m += 1
    return table


@_jit
def new_scratch(k, n_cols, top_level):
    """Per-chunk scratch of one kernel's matrix, allocated once per chunk.

    Args:
        k: positions per cube (D^3), a bound on the kernel's levels, cells and counts.
        n_cols: columns of P (largest second index).
        top_level: largest gray level in the chunk's cubes.

    Returns:
        (P float64 (k, n_cols) zeros, rows int64 (k,), cols int64 (k,), row_sum float64 (k, 3)
        zeros, col_sum float64 (n_cols,) zeros, level_of_row float64 (k, 3), rank_of_level int64
        (top_level + 1,), stamp_of_level int64 (top_level + 1,) -1, ranks int64 (k,),
        col_powers float64 (n_cols, 3) the j, j^2, 1 / j^2 of each column, log2_int float64
        (k + 1,) log2 of the integers 0..k (log2 0 unused)): the arguments of ``rank_kernel``
        and ``cell_features``.
    """
    col_powers = np.empty((n_cols, 3))
    for c in range(n_cols):
        j = c + 1.0
        col_powers[c, 0], col_powers[c, 1], col_powers[c, 2] = j, j * j, 1.0 / (j * j)
    log2_int = np.zeros(k + 1)
    for c in range(1, k + 1):
        log2_int[c] = np.log2(np.float64(c))
    return (np.zeros((k, n_cols)), np.zeros(k, np.int64), np.zeros(k, np.int64),
            np.zeros((k, 3)), np.zeros(n_cols), np.zeros((k, 3)), np.zeros(top_level + 1, np.int64),
            np.full(top_level + 1, -1, np.int64), np.zeros(k, np.int64), col_powers, log2_int)


@_jit
def rank_kernel(cube, stamp, rank_of_level, stamp_of_level, level_of_row, ranks):
    """Rank the gray levels of one kernel in the order its positions meet them (the rows of its
    matrix): ranks[p] the row of position p's level, -1 where p is not in the kernel (level 0);
    level_of_row[row] that row's level i, i^2 and 1 / i^2 (float64). Kernel ``stamp`` (unique per kernel of a chunk)
    marks the entries of rank_of_level that are valid, so nothing is reset between kernels.

    Returns:
        (rows, voxels): the kernel's number of distinct levels and of voxels.
    """
    n_rows = n_voxels = 0
    for p in range(cube.size):
        level = cube[p]
        if level == 0:
            ranks[p] = -1
            continue
        n_voxels += 1
        if stamp_of_level[level] != stamp:
            stamp_of_level[level] = stamp
            rank_of_level[level] = n_rows
            i = np.float64(level)
            level_of_row[n_rows, 0], level_of_row[n_rows, 1] = i, i * i
            level_of_row[n_rows, 2] = 1.0 / (i * i)
            n_rows += 1
        ranks[p] = rank_of_level[level]
    return n_rows, n_voxels


@_jit
def clear_cells(P, rows, cols, n_cells):
    """Set the listed cells of P back to 0."""
    for c in range(n_cells):
        P[rows[c], cols[c]] = 0.0


@_jit
def cell_features(P, rows, cols, n_cells, level_of_row, row_sum, col_powers, col_sum, log2_int,
                  n_voxels, wanted, values):
    """The 16 ``zones`` formulas of one count matrix, then its cells cleared.

    Args:
        P: float64 (L, Nj) counts (integers); only the ``n_cells`` cells (``rows[c]``,
            ``cols[c]``) are non-zero (n_cells >= 1). Row r is gray level i = ``level_of_row[r, 0]``
            (``[r, 1]`` i^2, ``[r, 2]`` 1 / i^2), column c is j = c + 1 (``col_powers[c]``: j,
            j^2, 1 / j^2).
        row_sum, col_sum: float64 (L, 3), (Nj,) zeros; left zero.
        log2_int: log2 of the integers up to the largest count and N (``new_scratch``).
        n_voxels: N_p, the kernel's voxel count (the percentage's denominator).
        wanted: bool (16,): the slots to fill; the gray-level variance, j variance and entropy are
            only computed when wanted (others are cheap and always filled).
        values: float64 (16,) output, ``FORMULAS`` order.

    The sums go by rows and columns (the gray-level and j emphases from the marginals, the joint
    ones from per-row sums over j); the entropy reads log2 p = log2 count - log2 N from the table,
    and log2(p + eps) = log2 p + eps / (p ln 2) to first order (the torch path's value to ~1e-14
    relative).
    """
    total = 0.0
    for c in range(n_cells):  # marginals; per row also sum_j P / j^2 and sum_j P j^2
        r, k = rows[c], cols[c]
        count = P[r, k]
        total += count
        row_sum[r, 0] += count
        row_sum[r, 1] += count * col_powers[k, 2]
        row_sum[r, 2] += count * col_powers[k, 1]
        col_sum[k] += count
    s_small = s_large = s_low = s_high = 0.0
    s_small_low = s_small_high = s_large_low = s_large_high = 0.0
    s_i = s_j = gln = jn = 0.0
    for c in range(n_cells):  # each row and column once (at its first cell), then reset
        r, k = rows[c], cols[c]
        if row_sum[r, 0] != 0.0:
            n_r, small, large = row_sum[r, 0], row_sum[r, 1], row_sum[r, 2]
            i, i2, inv_i2 = level_of_row[r, 0], level_of_row[r, 1], level_of_row[r, 2]
            gln += n_r * n_r
            s_i += n_r * i
            s_low += n_r * inv_i2
            s_high += n_r * i2
            s_small += small
            s_large += large
            s_small_low += small * inv_i2
            s_small_high += small * i2
            s_large_low += large * inv_i2
            s_large_high += large * i2
            row_sum[r, 0] = row_sum[r, 1] = row_sum[r, 2] = 0.0
        if col_sum[k] != 0.0:
            jn += col_sum[k] * col_sum[k]
            s_j += col_sum[k] * col_powers[k, 0]
            col_sum[k] = 0.0
    var_i = var_j = entropy = 0.0
    mu_i, mu_j = s_i / total, s_j / total
    log2_total = log2_int[np.int64(total)]
    for c in range(n_cells):  # the moments and the entropy when asked; cells cleared
        r, k = rows[c], cols[c]
        count = P[r, k]
        if wanted[_GRAY_VARIANCE]:
            d = level_of_row[r, 0] - mu_i
            var_i += count * (d * d)
        if wanted[_J_VARIANCE]:
            d = col_powers[k, 0] - mu_j
            var_j += count * (d * d)
        if wanted[_ENTROPY]:
            entropy -= count * (log2_int[np.int64(count)] - log2_total)
        P[r, k] = 0.0
    if n_cells == 1:  # p = 1: -log2(1 + eps) exactly as the torch path
        entropy = -np.log2(1.0 + EPS)
    else:
        entropy = entropy / total - n_cells * (EPS / np.log(2.0))
    values[0] = s_small / total
    values[1] = s_large / total
    values[2] = gln / total
    values[3] = gln / (total * total)
    values[4] = jn / total
    values[5] = jn / (total * total)
    values[6] = total / n_voxels
    values[7] = var_i / total
    values[8] = var_j / total
    values[9] = entropy
    values[10] = s_low / total
    values[11] = s_high / total
    values[12] = s_small_low / total
    values[13] = s_small_high / total
    values[14] = s_large_low / total
    values[15] = s_large_high / total


def as_dict(names, out) -> dict:
    """{name: float64 (n,)} from the (len(names), n) output of a compiled loop."""
    return {name: out[f] for f, name in enumerate(names)}


def run_family(cubes, names, features, family: str, feature_functions: dict, loop) -> dict:
    """The ``compute`` of a compiled zone family: checks the inputs, runs its chunk loop, returns
    the named rows.

    Args:
        cubes, names: as the family's ``compute`` (numpy int64 (n, D, D, D); feature names).
        features: the family's ``NAMES``; family: its name in messages ("GLSZM", ...).
        feature_functions: the torch path's ``FEATURE_FUNCTIONS`` (they map names to formula slots).
        loop: ``loop(flat, D, slots, wanted, max_level, out)`` fills ``out`` (len(names), n).

    Returns:
        {name: numpy float64 (n,)}.

    Raises:
        InputError: as ``check_inputs``.
    """
    names, flat = check_inputs(cubes, names, features, family)
    out = np.zeros((len(names), flat.shape[0]))
    if flat.shape[0] and names:
        slots = formula_slots(feature_functions, names)
        loop(flat, cubes.shape[1], slots, wanted_flags(slots), int(flat.max()), out)
    return as_dict(names, out)


# The families' loops (here with the helpers they call: Numba's cache of a function does not see
# changes to another file's functions it calls).

@_jit
def _shift_up(lo, hi, s):
    """The 128-bit set (lo, hi) shifted by s (0 < s < 64) toward higher positions."""
    return lo << s, (hi << s) | (lo >> (np.uint64(64) - s))


@_jit
def _shift_down(lo, hi, s):
    """The 128-bit set (lo, hi) shifted by s (0 < s < 64) toward lower positions."""
    return (lo >> s) | (hi << (np.uint64(64) - s)), hi >> s


@_jit
def _popcount(x):
    """Number of set bits of the uint64 x."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


def bit_masks(size: int) -> np.ndarray:
    """uint64 (6, 2): the position sets (lo, hi words; bit p = flat position p of a size^3 cube,
    size^3 <= 128) that ``glszm_chunk``'s dilation needs: positions with x < size - 1, x > 0,
    y < size - 1, y > 0 (those that may move one step up / down along x, y), the whole cube, and
    in row 5 the shifts of one step along x, y, z (1, size, size^2) in word 0."""
    out = np.zeros((6, 2), np.uint64)
    rows = [lambda z, y, x: x < size - 1, lambda z, y, x: x > 0, lambda z, y, x: y < size - 1,
            lambda z, y, x: y > 0, lambda z, y, x: True]
    for p in range(size ** 3):
        z, y, x = p // (size * size), (p // size) % size, p % size
        for m, keep in enumerate(rows):
            if keep(z, y, x):
                out[m, p // 64] |= np.uint64(1) << np.uint64(p % 64)
    out[5] = (1, size)
    return out


def direction_masks(size: int, directions) -> np.ndarray:
    """uint64 (len(directions), 3): per direction d (dz, dy, dx) with a positive flat step
    s = (dz size + dy) size + dx, the positions of a size^3 cube (size^3 <= 128) whose next
    position along d is in the cube (lo, hi words: bit p = flat position p), and s."""
    out = np.zeros((len(directions), 3), np.uint64)
    for a, (dz, dy, dx) in enumerate(directions):
        out[a, 2] = (dz * size + dy) * size + dx
        for p in range(size ** 3):
            z, y, x = p // (size * size) + dz, (p // size) % size + dy, p % size + dx
            if all(0 <= c < size for c in (z, y, x)):
                out[a, p // 64] |= np.uint64(1) << np.uint64(p % 64)
    return out


@_jit
def _dilate(lo, hi, masks, z_step):
    """The 26-neighbourhood dilation of the position set (lo, hi) within the cube: one step along
    x, then y, then z (the 3 x 3 x 3 box is the product of three 1D steps)."""
    for axis in range(2):  # x (step 1), y (step size): only positions not on the face move
        s = masks[5, axis]
        up_lo, up_hi = _shift_up(lo & masks[2 * axis, 0], hi & masks[2 * axis, 1], s)
        dn_lo, dn_hi = _shift_down(lo & masks[2 * axis + 1, 0], hi & masks[2 * axis + 1, 1], s)
        lo, hi = lo | up_lo | dn_lo, hi | up_hi | dn_hi
    up_lo, up_hi = _shift_up(lo, hi, z_step)
    dn_lo, dn_hi = _shift_down(lo, hi, z_step)
    return (lo | up_lo | dn_lo) & masks[4, 0], (hi | up_hi | dn_hi) & masks[4, 1]


@_jit
def glszm_chunk(flat, neighbours, masks, slots, wanted, top_level, out):
    """Fill ``out`` (F, n) with the asked formulas of each kernel's GLSZM.

    Zones of cubes of at most 128 positions (kernel radius 1, 2): per gray level, the set of its
    positions as a 128-bit set; a zone grows from its first position by dilations (``_dilate``)
    intersected with the level's set until it stops changing. Larger cubes: a flood fill over
    the ``neighbours`` table.

    Args:
        flat: int64 (n, K) gray levels, 0 not in the kernel, positions in (z, y, x) order.
        neighbours: int64 (K, 26) from ``neighbour_table`` (-1 after the last neighbour).
        masks: uint64 (6, 2) from ``bit_masks`` (used when K <= 128).
        slots: int64 (F,) the ``cell_features`` slot of each output row; wanted: bool (16,).
        top_level: the largest gray level in ``flat``.
    """
    n, k = flat.shape
    (P, rows, cols, row_sum, col_sum, level_of_row, rank_of_level, stamp_of_level, ranks,
     col_powers, log2_int) = new_scratch(k, k, top_level)
    seen = np.full(k, -1, np.int64)       # kernel index of the last fill that reached a position
    stack = np.empty(k, np.int64)
    level_lo = np.zeros(k, np.uint64)     # per row (level): its positions, bits 0-63 / 64-127
    level_hi = np.zeros(k, np.uint64)
    z_step = masks[5, 1] * masks[5, 1]
    one, zero = np.uint64(1), np.uint64(0)
    values = np.empty(N_FORMULAS)
    for v in range(n):
        n_rows, n_voxels = rank_kernel(flat[v], v, rank_of_level, stamp_of_level,
                                       level_of_row, ranks)
        n_cells = 0
        if k <= 128:
            for p in range(k):
                if ranks[p] >= 0:
                    if p < 64:
                        level_lo[ranks[p]] |= one << np.uint64(p)
                    else:
                        level_hi[ranks[p]] |= one << np.uint64(p - 64)
            for row in range(n_rows):
                m_lo, m_hi = level_lo[row], level_hi[row]
                level_lo[row] = level_hi[row] = zero
                while m_lo | m_hi:
                    # the zone of the lowest remaining position of the level
                    if m_lo:
                        z_lo, z_hi = m_lo & (~m_lo + one), zero
                    else:
                        z_lo, z_hi = zero, m_hi & (~m_hi + one)
                    while True:
                        d_lo, d_hi = _dilate(z_lo, z_hi, masks, z_step)
                        d_lo, d_hi = d_lo & m_lo, d_hi & m_hi
                        if d_lo == z_lo and d_hi == z_hi:
                            break
                        z_lo, z_hi = d_lo, d_hi
                    m_lo, m_hi = m_lo & ~z_lo, m_hi & ~z_hi
                    size = np.int64(_popcount(z_lo) + _popcount(z_hi))
                    if P[row, size - 1] == 0.0:  # a new cell: list it
                        rows[n_cells] = row
                        cols[n_cells] = size - 1
                        n_cells += 1
                    P[row, size - 1] += 1.0
        else:
            for p in range(k):
                row = ranks[p]
                if row < 0 or seen[p] == v:
                    continue
                # flood fill of p's zone: same level, through kernel voxels, 26-connected
                seen[p] = v
                stack[0] = p
                top, size = 1, 0
                while top > 0:
                    top -= 1
                    q = stack[top]
                    size += 1
                    for m in range(26):
                        r = neighbours[q, m]
                        if r < 0:
                            break
                        if ranks[r] == row and seen[r] != v:
                            seen[r] = v
                            stack[top] = r
                            top += 1
                if P[row, size - 1] == 0.0:  # a new cell: list it
                    rows[n_cells] = row
                    cols[n_cells] = size - 1
                    n_cells += 1
                P[row, size - 1] += 1.0
        cell_features(P, rows, cols, n_cells, level_of_row, row_sum, col_powers, col_sum,
                      log2_int, float(n_voxels), wanted, values)
        for f in range(slots.size):
            out[f, v] = values[slots[f]]


@_jit
def glrlm_chunk(flat, start, length, n_lines, step, masks, slots, wanted, top_level, out):
    """Fill ``out`` (F, n) with the asked formulas of each kernel's GLRLM, averaged over the kept
    directions (NaN where none is kept).

    Runs of cubes of at most 128 positions (kernel radius 1, 2), per direction d and gray level
    with the position set M (128-bit sets): S = the run starts (in M, the previous position along
    d not), T_L = the positions followed by L - 1 more of M along d (T_1 = M, T_(L+1) = M and
    T_L one step on); the runs of length >= L are the starts in T_L. Larger cubes: each line of
    the cube walked (``start``, ``length``).

    Args:
        flat: int64 (n, K) gray levels, 0 not in the kernel, positions in (z, y, x) order.
        start, length, n_lines, step: ``compiled.glrlm.line_tables`` of the cube size.
        masks: uint64 (13, 3) from ``direction_masks`` (used when K <= 128).
        slots: int64 (F,) the ``cell_features`` slot of each output row; wanted: bool (16,).
        top_level: the largest gray level in ``flat``.
    """
    n, k = flat.shape
    size = 0
    for a in range(n_lines.size):
        for l in range(n_lines[a]):
            size = max(size, length[a, l])
    (P, rows, cols, row_sum, col_sum, level_of_row, rank_of_level, stamp_of_level, ranks,
     col_powers, log2_int) = new_scratch(k, size, top_level)
    max_run = size
    values = np.empty(N_FORMULAS)
    mean = np.empty(slots.size)
    level_lo = np.zeros(k, np.uint64)     # per row (level): its positions, bits 0-63 / 64-127
    level_hi = np.zeros(k, np.uint64)
    one, zero = np.uint64(1), np.uint64(0)
    for v in range(n):
        n_rows, n_voxels = rank_kernel(flat[v], v, rank_of_level, stamp_of_level,
                                       level_of_row, ranks)
        mean[:] = 0.0
        kept = 0
        if k <= 128:
            all_lo = all_hi = zero
            for p in range(k):
                if ranks[p] >= 0:
                    if p < 64:
                        level_lo[ranks[p]] |= one << np.uint64(p)
                        all_lo |= one << np.uint64(p)
                    else:
                        level_hi[ranks[p]] |= one << np.uint64(p - 64)
                        all_hi |= one << np.uint64(p - 64)
        for a in range(n_lines.size):
            n_cells = 0
            if k <= 128:
                s, step_lo, step_hi = masks[a, 2], masks[a, 0], masks[a, 1]
                # PyRadiomics' multiElement: two kernel voxels on one line (usually adjacent)
                nx_lo, nx_hi = _shift_down(all_lo, all_hi, s)
                several = ((all_lo & nx_lo & step_lo) | (all_hi & nx_hi & step_hi)) != zero
                if not several:  # any kernel voxel further along d than another one?
                    later_lo, later_hi = zero, zero
                    for _ in range(max_run - 1):
                        later_lo, later_hi = _shift_down(all_lo | later_lo, all_hi | later_hi, s)
                        later_lo, later_hi = later_lo & step_lo, later_hi & step_hi
                    several = ((all_lo & later_lo) | (all_hi & later_hi)) != zero
                for row in range(n_rows if several else 0):
                    m_lo, m_hi = level_lo[row], level_hi[row]
                    pv_lo, pv_hi = _shift_up(m_lo & step_lo, m_hi & step_hi, s)
                    st_lo, st_hi = m_lo & ~pv_lo, m_hi & ~pv_hi            # run starts
                    t_lo, t_hi = m_lo, m_hi
                    runs = _popcount(st_lo) + _popcount(st_hi)             # runs of length >= 1
                    for run in range(1, max_run + 1):
                        nx_lo, nx_hi = _shift_down(t_lo, t_hi, s)
                        t_lo, t_hi = m_lo & nx_lo & step_lo, m_hi & nx_hi & step_hi
                        longer = _popcount(st_lo & t_lo) + _popcount(st_hi & t_hi)
                        if runs > longer:  # runs of exactly this length
                            rows[n_cells] = row
                            cols[n_cells] = run - 1
                            n_cells += 1
                            P[row, run - 1] = np.float64(runs - longer)
                        if longer == 0:
                            break
                        runs = longer
            else:
                several = False  # some line holds two kernel voxels (PyRadiomics' multiElement)
                for l in range(n_lines[a]):
                    pos, end = start[a, l], length[a, l] - 1
                    run = in_line = 0
                    for t in range(end + 1):
                        row = ranks[pos]
                        pos += step[a]
                        if row < 0:  # not in the kernel: ends a run, starts none
                            continue
                        in_line += 1
                        run += 1
                        if t < end and ranks[pos] == row:
                            continue  # the run goes on
                        if P[row, run - 1] == 0.0:  # a new cell: list it
                            rows[n_cells] = row
                            cols[n_cells] = run - 1
                            n_cells += 1
                        P[row, run - 1] += 1.0
                        run = 0
                    if in_line > 1:
                        several = True
            if not several:  # direction emptied by PyRadiomics: left out of the mean
                clear_cells(P, rows, cols, n_cells)
                continue
            cell_features(P, rows, cols, n_cells, level_of_row, row_sum, col_powers, col_sum,
                          log2_int, float(n_voxels), wanted, values)
            kept += 1
            for f in range(slots.size):
                mean[f] += values[slots[f]]
        for f in range(slots.size):
            out[f, v] = mean[f] / kept if kept else np.nan
        level_lo[:n_rows] = zero  # empty level sets for the next kernel
        level_hi[:n_rows] = zero


@_jit
def gldm_chunk(flat, neighbours, slots, wanted, top_level, out):
    """Fill ``out`` (F, n) with the asked formulas of each kernel's GLDM.

    Args:
        flat: int64 (n, K) gray levels, 0 not in the kernel, positions in (z, y, x) order.
        neighbours: int64 (K, 26) from ``neighbour_table`` (-1 after the last neighbour).
        slots: int64 (F,) the ``cell_features`` slot of each output row; wanted: bool (16,).
        top_level: the largest gray level in ``flat``.
    """
    n, k = flat.shape
    (P, rows, cols, row_sum, col_sum, level_of_row, rank_of_level, stamp_of_level, ranks,
     col_powers, log2_int) = new_scratch(k, 27, top_level)
    values = np.empty(N_FORMULAS)
    for v in range(n):
        n_rows, n_voxels = rank_kernel(flat[v], v, rank_of_level, stamp_of_level,
                                       level_of_row, ranks)
        n_cells = 0
        for p in range(k):
            row = ranks[p]
            if row < 0:
                continue
            dependent = 0
            for m in range(26):
                q = neighbours[p, m]
                if q < 0:
                    break
                if ranks[q] == row:
                    dependent += 1
            if P[row, dependent] == 0.0:  # a new cell: list it
                rows[n_cells] = row
                cols[n_cells] = dependent
                n_cells += 1
            P[row, dependent] += 1.0
        cell_features(P, rows, cols, n_cells, level_of_row, row_sum, col_powers, col_sum,
                      log2_int, float(n_voxels), wanted, values)
        for f in range(slots.size):
            out[f, v] = values[slots[f]]
