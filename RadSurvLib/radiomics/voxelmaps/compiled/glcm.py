"""GLCM voxel maps, compiled (Numba): every kernel's 13 direction matrices in one pass over its cube.

Same values as the torch path ``radiomics.families.glcm.compute`` (its docstring and its feature
functions, one per feature with formula and IBSI tag, are the specification; PyRadiomics ``glcm``,
``symmetricalGLCM=True``, no ``weightingNorm``, distance 1):

* per kernel and direction d, the pairs (p, p + d) with both voxels in the kernel (level > 0); a
  direction without a pair gives NaN for every feature and is skipped by the average over the
  directions (``nanmean``), except ``JointAverage``: a plain mean over ``directions_present``
  (the directions not empty for every ROI voxel), so NaN where one of them is empty here;
* p(i, j) = count / (2 N_d) (the matrix is symmetric, N_d pairs); the features of |i - j| and
  i + j are sums over the histograms p_{x-y} and p_{x+y} (i + j relative to twice the kernel's
  lowest level, as the torch path, for the same rounding); Autocorrelation, SumSquares,
  Correlation and JointAverage follow from them as in ``families.glcm``; JointEnergy,
  JointEntropy, MaximumProbability and HXY1 (Imc1) are sums over the matrix cells present,
  HX and HXY2 (Imc1, Imc2) over the marginal p_x of the kernel's levels.

How: the loops run serially over the chunk's kernels (the engine's threads run chunks side by
side; ``nogil``). The scratch arrays (histograms, a level -> rank table, an L x L cell table over
the kernel's level ranks, L <= D^3) are allocated once per chunk; each direction resets only the
entries it touched. ``MCC`` (an eigenvalue problem per kernel and direction, off by default) is
not here: the engine computes it with torch.
"""

from __future__ import annotations

import itertools

import numpy as np

from ...families.arrays import EPS
from ...families.glcm import FEATURES
from ...families.kernel_cubes import directions_13
from ...numba_jit import jit

#: Features computed here (every GLCM feature but MCC), in the order of the kernel's value rows.
NAMES = tuple(name for name in FEATURES if name != "MCC")
_INDEX = {name: k for k, name in enumerate(NAMES)}
_JOINT_AVERAGE = _INDEX["JointAverage"]
_N_FEATURES = len(NAMES)
#: Features that read the cell table (JointEnergy, JointEntropy, MaximumProbability, Imc1, Imc2).
_CELL_NAMES = frozenset({"JointEnergy", "JointEntropy", "MaximumProbability", "Imc1", "Imc2"})

_LN2 = 0.6931471805599453
_PAIRS = {}
_TERMS = {}


def pair_lists(D: int):
    """Flat indices into a (D, D, D) cube (z, y, x raster order) of the pairs (p, p + d) that lie
    in the cube, for each d of ``kernel_cubes.directions_13``.

    Returns:
        (starts, ends, lengths): int64 (13, P) each, P = D^2 (D - 1) the longest list (a direction's
        row is valid up to ``lengths[d]``, padded with 0), and int64 (13,).
    """
    if D not in _PAIRS:
        r = (D - 1) // 2
        lists = []
        for d in directions_13():
            ranges = [range(max(-r, -r - a), min(r, r - a) + 1) for a in d]
            lists.append([(p, tuple(pi + di for pi, di in zip(p, d))) for p in itertools.product(*ranges)])
        width = max(len(x) for x in lists)
        flat = lambda q: ((q[0] + r) * D + (q[1] + r)) * D + (q[2] + r)  # noqa: E731
        starts = np.zeros((13, width), np.int64)
        ends = np.zeros((13, width), np.int64)
        lengths = np.array([len(x) for x in lists], np.int64)
        for k, pairs in enumerate(lists):
            starts[k, :len(pairs)] = [flat(p) for p, _ in pairs]
            ends[k, :len(pairs)] = [flat(q) for _, q in pairs]
        _PAIRS[D] = (starts, ends, lengths)
    return _PAIRS[D]


def entropy_terms(P: int):
    """The entropy terms of every probability a direction's GLCM can hold, so that the kernels look
    them up instead of taking a logarithm: a probability is m / (2 N) (a cell count c or 2 c, a
    histogram count 2 h, a marginal count), N = 1..P the direction's pairs, m = 0..2P.

    Returns:
        (with_eps, plain): float64 (P + 1, 2P + 1) each: [N, m] = q log2(q + eps) and q log2(q)
        (0 for m = 0), q = m * ((1 / N) / 2), the value the formulas compute (``families.glcm``).
    """
    if P not in _TERMS:
        n = np.arange(P + 1, dtype=np.float64)[:, None]
        m = np.arange(2 * P + 1, dtype=np.float64)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = m * ((1 / n) / 2)
            with_eps = np.where(m > 0, q * np.log2(q + EPS), 0.0)
            plain = np.where(m > 0, q * np.log2(q), 0.0)
        with_eps[0] = plain[0] = 0.0  # N = 0: no pair (never read)
        _TERMS[P] = (with_eps, plain)
    return _TERMS[P]


def compute(cubes, n_levels, names, directions_present=None, **_):
    """GLCM features of each kernel, averaged over the directions as PyRadiomics.

    Args:
        cubes: int (n, D, D, D) numpy array, axis order (kernel, z, y, x), gray levels 1..n_levels,
            0 = not in the kernel (layout: ``radiomics.families``' package docstring).
        n_levels: N_g, the highest gray level of the support (Idn, Idmn).
        names: feature names from ``NAMES``.
        directions_present: numpy bool (13,), the directions of ``directions_13`` not empty for
            every ROI voxel (``JointAverage``); default: all.

    Returns:
        dict name -> numpy float64 (n,), NaN where the torch path (and PyRadiomics) gives NaN.

    Raises:
        KeyError: a name not in ``NAMES``.
    """
    cubes = np.ascontiguousarray(cubes, dtype=np.int64)
    n, D = cubes.shape[0], cubes.shape[1]
    rows = np.array([_INDEX[f] for f in names], np.int64)
    present = (np.ones(13, np.bool_) if directions_present is None
               else np.asarray(directions_present, np.bool_).reshape(13))
    starts, ends, lengths = pair_lists(D)
    want_cells = bool(_CELL_NAMES & set(names))
    terms, terms_plain = entropy_terms(starts.shape[1])
    out = _kernels(cubes.reshape(n, D ** 3), starts, ends, lengths, terms, terms_plain, present,
                   int(n_levels), rows,
                   want_cells, "DifferenceEntropy" in names, "SumEntropy" in names, "Imc1" in names)
    return {f: out[k] for k, f in enumerate(names)}


@jit
def _kernels(flat, starts, ends, lengths, terms, terms_plain, present, n_levels, rows, want_cells,
             want_de, want_se, want_imc1):
    """(len(rows), n) float64: row k = feature ``NAMES[rows[k]]`` of each kernel (flat (n, D^3))."""
    n, K = flat.shape
    n_feat = _N_FEATURES
    out = np.empty((rows.size, n), np.float64)
    # scratch, once per chunk: per-kernel level ranks, per-direction histograms and cell counts
    rank_of = np.full(n_levels + 1, -1, np.int64)
    level_of_rank = np.zeros(K, np.int64)
    rank = np.zeros(K, np.int64)
    h_diff = np.zeros(n_levels + 1, np.int64)
    h_sum = np.zeros(2 * n_levels + 1, np.int64)
    cell = np.zeros(K * K, np.int64)
    margin = np.zeros(K, np.int64)
    px = np.zeros(K, np.float64)
    P = starts.shape[1]
    t_diff = np.zeros(P, np.int64)
    t_sum = np.zeros(P, np.int64)
    t_cell = np.zeros(P, np.int64)
    vals = np.empty(n_feat, np.float64)
    acc = np.empty(n_feat, np.float64)
    cnt = np.empty(n_feat, np.int64)
    ng = float(n_levels)
    # the weights of k = |i - j| in Idm, Idmn, Id, Idn, InverseVariance (one row each)
    weights = np.zeros((5, n_levels + 1), np.float64)
    for k in range(n_levels + 1):
        kf = float(k)
        weights[0, k] = 1 / (1 + kf * kf)
        weights[1, k] = 1 / (1 + kf * kf / (ng * ng))
        weights[2, k] = 1 / (1 + kf)
        weights[3, k] = 1 / (1 + kf / ng)
        weights[4, k] = 1 / kf ** 2 if k >= 1 else 0.0
    for v in range(n):
        cube = flat[v]
        # the kernel's distinct levels, ranked in order of first appearance (the features do not
        # depend on the order), and its lowest level (the origin of i + j)
        L = 0
        lo = n_levels + 1
        for q in range(K):
            g = cube[q]
            if g > 0:
                if rank_of[g] < 0:
                    rank_of[g] = L
                    level_of_rank[L] = g
                    L += 1
                rank[q] = rank_of[g]
                if g < lo:
                    lo = g
        acc[:] = 0.0
        cnt[:] = 0
        ja_sum = 0.0
        ja_n = 0
        for d in range(13):
            n_pairs = _direction(cube, starts[d], ends[d], lengths[d], rank, L, lo, want_cells,
                                 h_diff, h_sum, cell, margin, t_diff, t_sum, t_cell)
            if n_pairs == 0:
                vals[:] = np.nan
            else:
                _features(n_pairs, terms[n_pairs], terms_plain[n_pairs], weights, L, lo, want_cells,
                          want_de, want_se, want_imc1, h_diff,
                          h_sum, cell, margin, px, t_diff, t_sum, t_cell, vals)
            if present[d]:
                ja_sum += vals[_JOINT_AVERAGE]
                ja_n += 1
            for f in range(n_feat):
                if not np.isnan(vals[f]):
                    acc[f] += vals[f]
                    cnt[f] += 1
        for k in range(rows.size):
            f = rows[k]
            if f == _JOINT_AVERAGE:
                out[k, v] = ja_sum / ja_n if ja_n > 0 else np.nan
            else:
                out[k, v] = acc[f] / cnt[f] if cnt[f] > 0 else np.nan
        for r in range(L):
            rank_of[level_of_rank[r]] = -1
    return out


@jit
def _direction(cube, starts, ends, length, rank, L, lo, want_cells, h_diff, h_sum, cell, margin,
               t_diff, t_sum, t_cell):
    """Count one direction's pairs into the histograms of |i - j| and i + j - 2 lo, the cell table
    (unordered rank pairs, code min * L + max) and the rank marginal, recording the touched
    histogram bins and cells (t_*, ended by the counts' zero entries). Returns N_d, the pairs."""
    n_pairs = 0
    n_diff = 0
    n_sum = 0
    n_cell = 0
    for k in range(length):
        p = starts[k]
        q = ends[k]
        a = cube[p]
        b = cube[q]
        if a <= 0 or b <= 0:
            continue
        n_pairs += 1
        dk = a - b if a > b else b - a
        if h_diff[dk] == 0:
            t_diff[n_diff] = dk
            n_diff += 1
        h_diff[dk] += 1
        sk = a + b - 2 * lo
        if h_sum[sk] == 0:
            t_sum[n_sum] = sk
            n_sum += 1
        h_sum[sk] += 1
        if want_cells:
            ra = rank[p]
            rb = rank[q]
            code = ra * L + rb if ra <= rb else rb * L + ra
            if cell[code] == 0:
                t_cell[n_cell] = code
                n_cell += 1
            cell[code] += 1
            margin[ra] += 1
            margin[rb] += 1
    # lengths of the touched lists, passed on in the free tail of each list
    if n_diff < t_diff.size:
        t_diff[n_diff] = -1
    if n_sum < t_sum.size:
        t_sum[n_sum] = -1
    if n_cell < t_cell.size:
        t_cell[n_cell] = -1
    return n_pairs


@jit
def _features(n_pairs, term, term_plain, weights, L, lo, want_cells, want_de, want_se, want_imc1,
              h_diff, h_sum, cell, margin, px, t_diff, t_sum, t_cell, vals):
    """The per-direction value of every feature (``NAMES`` order) into ``vals``, from the counts of
    ``_direction``, whose touched entries it resets to 0 (formulas: ``families.glcm``; entropy
    terms from the rows ``term``, ``term_plain`` of ``entropy_terms`` for this direction's N, the
    weights of k in ``weights``)."""
    norm = 1.0 / n_pairs
    half = norm / 2
    # features of k = |i - j|: p_{x-y}(k) = count * norm
    contrast = 0.0
    diff_avg = 0.0
    diff_ent = 0.0
    idm = 0.0
    idmn = 0.0
    id_ = 0.0
    idn = 0.0
    inv_var = 0.0
    for t in range(t_diff.size):
        k = t_diff[t]
        if k < 0:
            break
        pk = h_diff[k] * norm
        kf = float(k)
        contrast += pk * (kf * kf)
        diff_avg += pk * kf
        if want_de:
            diff_ent -= term[2 * h_diff[k]]  # pk log2(pk + eps), pk = 2 h / (2 N)
        idm += pk * weights[0, k]
        idmn += pk * weights[1, k]
        id_ += pk * weights[2, k]
        idn += pk * weights[3, k]
        inv_var += pk * weights[4, k]
    diff_var = 0.0
    for t in range(t_diff.size):
        k = t_diff[t]
        if k < 0:
            break
        e = float(k) - diff_avg
        diff_var += h_diff[k] * norm * (e * e)
        h_diff[k] = 0
    # features of s = i + j - 2 lo: p_{x+y}(s) = count * norm
    s_rel = 0.0
    sum_ent = 0.0
    for t in range(t_sum.size):
        s = t_sum[t]
        if s < 0:
            break
        ps = h_sum[s] * norm
        s_rel += ps * float(s)
        if want_se:
            sum_ent -= term[2 * h_sum[s]]
    tendency = 0.0
    shade = 0.0
    prominence = 0.0
    for t in range(t_sum.size):
        s = t_sum[t]
        if s < 0:
            break
        ps = h_sum[s] * norm
        e = float(s) - s_rel
        e2 = e * e
        tendency += ps * e2
        shade += ps * (e2 * e)
        prominence += ps * (e2 * e2)
        h_sum[s] = 0
    sum_avg = s_rel + 2.0 * lo
    sum_squares = (tendency + contrast) / 4
    covariance = (tendency - contrast) / 4
    vals[_INDEX_AUTOCORRELATION] = (tendency + sum_avg ** 2 - contrast) / 4
    vals[_JOINT_AVERAGE] = sum_avg / 2
    vals[_INDEX_PROMINENCE] = prominence
    vals[_INDEX_SHADE] = shade
    vals[_INDEX_TENDENCY] = tendency
    vals[_INDEX_CONTRAST] = contrast
    vals[_INDEX_CORRELATION] = 1.0 if sum_squares == 0 else covariance / (sum_squares + EPS)
    vals[_INDEX_DIFF_AVG] = diff_avg
    vals[_INDEX_DIFF_ENT] = diff_ent
    vals[_INDEX_DIFF_VAR] = diff_var
    vals[_INDEX_IDM] = idm
    vals[_INDEX_IDMN] = idmn
    vals[_INDEX_ID] = id_
    vals[_INDEX_IDN] = idn
    vals[_INDEX_INV_VAR] = inv_var
    vals[_INDEX_SUM_AVG] = sum_avg
    vals[_INDEX_SUM_ENT] = sum_ent
    vals[_INDEX_SUM_SQUARES] = sum_squares
    if want_cells:
        _cell_features(L, half, term, term_plain, want_imc1, cell, margin, px, t_cell, vals)


@jit
def _cell_features(L, half, term, term_plain, want_imc1, cell, margin, px, t_cell, vals):
    """JointEnergy, JointEntropy, MaximumProbability, Imc1, Imc2 of one direction from its cell
    table (c pairs of the unordered cell {i, j}: p(i, j) = p(j, i) = c / (2 N_d) off the diagonal,
    p(i, i) = 2 c / (2 N_d)) and rank marginal; resets both."""
    # marginal p_x over the kernel's levels; HX (Imc1) with eps, HXY2's H(p_x) (Imc2) without
    hx = 0.0
    hx0 = 0.0
    n_levels_present = 0
    for r in range(L):
        pr = margin[r] * half
        px[r] = pr
        if margin[r] > 0:
            hx -= term[margin[r]]
            hx0 -= term_plain[margin[r]]
            n_levels_present += 1
        margin[r] = 0
    energy = 0.0
    entropy = 0.0
    maximum = 0.0
    hxy1 = 0.0
    for t in range(t_cell.size):
        code = t_cell[t]
        if code < 0:
            break
        i = code // L
        j = code - i * L
        c = cell[code]
        cell[code] = 0
        mult = 1.0 if i == j else 2.0  # the ordered cells (i, j) and (j, i)
        m = 2 * c if i == j else c
        p = m * half
        energy += mult * (p * p)
        entropy -= mult * term[m]
        if p > maximum:
            maximum = p
        if want_imc1:
            # HXY1 = -sum over the pairs of log2(p_x(i) p_x(j) + eps), divided by N_d
            hxy1 += c * np.log2(px[i] * px[j] + EPS)
    hxy1 = -hxy1 * (2 * half)
    vals[_INDEX_ENERGY] = energy
    vals[_INDEX_ENTROPY] = entropy
    vals[_INDEX_MAX_PROB] = maximum
    vals[_INDEX_IMC1] = 0.0 if hx == 0 else (entropy - hxy1) / hx
    hxy2 = 2 * hx0 - float(n_levels_present) ** 2 * (EPS / _LN2)
    mi = hxy2 - entropy  # mutual information, >= 0 up to rounding; below 1e-14 the tie (Imc2 = 0)
    vals[_INDEX_IMC2] = 0.0 if abs(mi) < 1e-14 else np.sqrt(1 - np.exp(-2 * mi))


_INDEX_AUTOCORRELATION = _INDEX["Autocorrelation"]
_INDEX_PROMINENCE = _INDEX["ClusterProminence"]
_INDEX_SHADE = _INDEX["ClusterShade"]
_INDEX_TENDENCY = _INDEX["ClusterTendency"]
_INDEX_CONTRAST = _INDEX["Contrast"]
_INDEX_CORRELATION = _INDEX["Correlation"]
_INDEX_DIFF_AVG = _INDEX["DifferenceAverage"]
_INDEX_DIFF_ENT = _INDEX["DifferenceEntropy"]
_INDEX_DIFF_VAR = _INDEX["DifferenceVariance"]
_INDEX_ENERGY = _INDEX["JointEnergy"]
_INDEX_ENTROPY = _INDEX["JointEntropy"]
_INDEX_IMC1 = _INDEX["Imc1"]
_INDEX_IMC2 = _INDEX["Imc2"]
_INDEX_IDM = _INDEX["Idm"]
_INDEX_IDMN = _INDEX["Idmn"]
_INDEX_ID = _INDEX["Id"]
_INDEX_IDN = _INDEX["Idn"]
_INDEX_INV_VAR = _INDEX["InverseVariance"]
_INDEX_MAX_PROB = _INDEX["MaximumProbability"]
_INDEX_SUM_AVG = _INDEX["SumAverage"]
_INDEX_SUM_ENT = _INDEX["SumEntropy"]
_INDEX_SUM_SQUARES = _INDEX["SumSquares"]
