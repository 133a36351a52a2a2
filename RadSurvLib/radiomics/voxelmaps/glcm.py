"""GLCM voxel maps (PyRadiomics ``glcm``), from the kernel cubes of the engine.

For each kernel and each of the 13 directions d of distance 1, the pairs (p, p + d) with both
voxels in the kernel are gathered from the cube (the C extension's ``calculate_glcm`` on the
kernel mask). The GLCM is symmetric (each pair counted as (i, j) and (j, i)), normalised per
direction; a direction without pairs is NaN and skipped by ``numpy.nanmean`` over directions,
exactly as PyRadiomics (``symmetricalGLCM=True``, ``weightingNorm=None``). Gray-level vectors
hold the actual levels (PyRadiomics deletes the rows of levels absent from the ROI, which keeps
the level numbers); ``Ng`` in Idn / Idmn is the highest level of the ROI.

How (no Ng x Ng matrix is built): kernels are grouped by their gray-level range R (max - min + 1
level of the kernel) and number L of distinct levels; per group and direction the engine scatters
the valid pairs into the histograms p_{x-y}(k) (k = |i - j| < R) and p_{x+y} (relative to twice
the kernel's lowest level, 2R - 1 bins) and into the symmetric GLCM over the kernel's level ranks
(L x L). Features of k (contrast, difference *, Id*, inverse variance) and of i + j (sum *,
cluster *, joint average) are dot products with these small histograms; autocorrelation, sum of
squares and correlation follow exactly from them (i j = ((i + j)^2 - (i - j)^2) / 4); joint
energy / entropy and maximum probability use the L x L matrix when L is small (L^2 <= 2P, P pairs
per direction), else the sorted codes of the P pairs; IMC1 / IMC2 use the marginal over the L
levels (HXY1 as a mean over pairs, HXY2 = 2 H(p_x) up to an exact eps term); MCC the L x L matrix.
Most kernels have a small range (PAT1 GTV + 3 mm ring, r = 1: median R = 5, L = 5).

PyRadiomics details kept for parity:

* ``JointAverage`` is a plain mean of mu_x over the directions that are not empty for every voxel
  of the ROI (PyRadiomics drops those), so it is NaN at a voxel where one of them has no pair in
  its kernel (other features skip such a direction).
* ``Correlation`` is 1 for a direction with sigma = 0; ``Imc1`` is 0 when HX = HY = 0; ``Imc2`` is
  0 when HXY2 = HXY (here: when they differ by less than 1e-14, the rounding noise of the two sums;
  PyRadiomics then gives 0, NaN or ~1e-8 depending on its rounding).
* ``MCC`` (costly: small eigenvalue problems per voxel and direction, off by default) is the
  square root of the second-largest eigenvalue of Q (sorted as complex numbers, real part kept).
  Deliberate difference: PyRadiomics' eigen solver fails on the whole batch when one voxel has an
  empty direction (its MCC map is then 0 everywhere); ours skips that direction like the others.
"""

from __future__ import annotations

from .engine import EPS, directions_13

_EPS = EPS

#: GLCM features (PyRadiomics ``glcm``, the 24 not deprecated), name -> IBSI tag (None: not in IBSI).
FEATURES = {
    "Autocorrelation": "QWB0", "JointAverage": "60VM", "ClusterProminence": "AE86",
    "ClusterShade": "7NFM", "ClusterTendency": "DG8W", "Contrast": "ACUI", "Correlation": "NI2N",
    "DifferenceAverage": "TF7R", "DifferenceEntropy": "NTRS", "DifferenceVariance": "D3YU",
    "JointEnergy": "8ZQL", "JointEntropy": "TU9B", "Imc1": "R8DG", "Imc2": "JN9H",
    "Idm": "WF0Z", "MCC": None, "Idmn": "1QCO", "Id": "IB1Z", "Idn": "NDRX",
    "InverseVariance": "E8JP", "MaximumProbability": "GYBY", "SumAverage": "ZGXS",
    "SumEntropy": "P6QZ", "SumSquares": "UR99",
}

#: Off unless asked: MCC solves an eigenvalue problem per voxel and direction.
COSTLY = frozenset({"MCC"})

_PAIRS = {}


def bytes_per_voxel(D, n_levels, names) -> int:
    """Working-set estimate per ROI voxel for sizing chunks (bytes): ~10 int64/float64 arrays of
    13 x P pair slots. The per-range groups are split further so that their histograms and
    L x L matrices stay within ``engine.CHUNK_BYTES`` (see ``compute``)."""
    P = D * D * (D - 1)
    return 10 * 8 * 13 * P + 1024


#: Group bounds on the kernel's gray-level range R (kernels are processed by group).
_RANGE_BOUNDS = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def compute(cubes, n_levels, names, directions_present=None, **_):
    """GLCM features of each kernel, averaged over directions as PyRadiomics.

    Args:
        cubes: torch.int64 (n, D, D, D), gray levels, 0 = not in the kernel (engine layout).
        n_levels: Ng, the highest gray level of the ROI (Idn, Idmn).
        names: feature names from ``FEATURES``.
        directions_present: torch.bool (13,), directions not empty for every ROI voxel
            (default: all).

    Returns:
        dict name -> torch.float64 (n,).
    """
    import torch

    from . import engine

    n, D = cubes.shape[0], cubes.shape[1]
    dev = cubes.device
    flat = cubes.reshape(n, -1)
    if directions_present is None:
        directions_present = torch.ones(13, dtype=torch.bool, device=dev)
    inside = flat > 0
    lo = torch.where(inside, flat, torch.iinfo(torch.int64).max).amin(-1)
    rng = flat.amax(-1) - lo + 1
    order = rng.argsort()
    r_sorted = rng[order]
    bounds = [b for b in _RANGE_BOUNDS if b < int(r_sorted[-1])] + [int(r_sorted[-1])]
    cuts = torch.searchsorted(r_sorted, torch.tensor(bounds, device=dev), right=True).tolist()
    out = {f: torch.empty(n, dtype=torch.float64, device=dev) for f in names}
    P = D * D * (D - 1)
    begin = 0
    for end in cuts:
        if end <= begin:
            continue
        sel = order[begin:end]
        R = int(r_sorted[end - 1])
        dense = bool(set(names) & _DENSE_FEATURES)
        cells = bool(set(names) & _CELL_FEATURES)
        ranks, L = engine.kernel_ranks(flat[sel]) if dense or cells else (None, 0)
        # cell features: a dense L x L GLCM when small, else sorted cell codes (P per direction)
        use_dense = cells and L * L <= 2 * P
        per = 8 * 13 * (10 * P + 8 * R + (8 * L * L if use_dense or dense else 0))
        step = max(1, engine.CHUNK_BYTES // per)
        for s0 in range(0, sel.numel(), step):
            sub = sel[s0:s0 + step]
            res = _group(flat[sub], lo[sub], R, None if ranks is None else ranks[s0:s0 + step], L,
                         n_levels, names, directions_present, use_dense)
            for f in names:
                out[f][sub] = res[f]
        begin = end
    return out


_K_KEYS = {"Contrast", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "Id", "Idm",
           "Idn", "Idmn", "InverseVariance"}
_S_KEYS = {"_srel", "SumEntropy", "ClusterTendency", "ClusterShade", "ClusterProminence"}
_CELL_FEATURES = {"JointEnergy", "JointEntropy", "MaximumProbability"}
_DENSE_FEATURES = {"Imc1", "Imc2", "MCC"}


def _group(flat, lo, R, ranks, L, n_levels, names, present, use_dense=True):
    """Features of kernels whose gray-level range is <= R and distinct-level count <= L."""
    import torch

    m, K = flat.shape
    D = round(K ** (1 / 3))
    dev = flat.device
    starts, ends, valid = pair_indices(D, dev)
    a, b = flat[:, starts], flat[:, ends]  # (m, 13, P)
    ok = (a > 0) & (b > 0) & valid[None]
    okd = ok.double()
    npairs = okd.sum(-1)  # (m, 13)
    empty = npairs == 0
    norm = torch.where(empty, torch.full_like(npairs, float("nan")), 1 / npairs.clamp(min=1))
    lazy = {}

    def hist(which):  # p_{x-y}(k), k = 0..R-1, or p_{x+y} relative to 2 * the lowest level
        if which not in lazy:
            if which == "k":
                codes, bins = torch.where(ok, (a - b).abs(), 0), R
            else:
                codes, bins = torch.where(ok, a + b - 2 * lo[:, None, None], 0), 2 * R - 1
            h = torch.zeros(m, 13, bins, dtype=torch.float64, device=dev).scatter_add_(-1, codes, okd)
            lazy[which] = h * norm[..., None]  # NaN rows for empty directions
        return lazy[which]
    kv = torch.arange(R, dtype=torch.float64, device=dev)
    sv = torch.arange(2 * R - 1, dtype=torch.float64, device=dev)
    ng = float(n_levels)
    cache = {}

    def dot(h, v):
        return h @ v

    def get(key):
        if key in cache:
            return cache[key]
        hk = hist("k") if key in _K_KEYS else None
        hs = hist("s") if key in _S_KEYS else None
        if key == "Contrast":
            v = dot(hk, kv * kv)
        elif key == "DifferenceAverage":
            v = dot(hk, kv)
        elif key == "DifferenceEntropy":
            v = _entropy(hk)
        elif key == "DifferenceVariance":
            v = (hk * (kv - get("DifferenceAverage")[..., None]) ** 2).sum(-1)
        elif key == "Id":
            v = dot(hk, 1 / (1 + kv))
        elif key == "Idm":
            v = dot(hk, 1 / (1 + kv * kv))
        elif key == "Idn":
            v = dot(hk, 1 / (1 + kv / ng))
        elif key == "Idmn":
            v = dot(hk, 1 / (1 + kv * kv / (ng * ng)))
        elif key == "InverseVariance":
            v = dot(hk[..., 1:], 1 / kv[1:] ** 2) if R > 1 else hk[..., 0] * 0
        elif key == "_srel":
            v = dot(hs, sv)
        elif key == "SumAverage":
            v = get("_srel") + 2 * lo[:, None].double()
        elif key == "JointAverage":
            v = get("SumAverage") / 2
        elif key == "SumEntropy":
            v = _entropy(hs)
        elif key in ("ClusterTendency", "ClusterShade", "ClusterProminence"):
            power = {"ClusterTendency": 2, "ClusterShade": 3, "ClusterProminence": 4}[key]
            v = (hs * (sv - get("_srel")[..., None]) ** power).sum(-1)
        elif key == "Autocorrelation":  # E[ij] = (E[(i+j)^2] - E[(i-j)^2]) / 4
            v = (get("ClusterTendency") + get("SumAverage") ** 2 - get("Contrast")) / 4
        elif key == "SumSquares":  # sigma^2 = (E[(i+j-2ux)^2] + E[(i-j)^2]) / 4
            v = (get("ClusterTendency") + get("Contrast")) / 4
        elif key == "Correlation":
            sigma2 = get("SumSquares")
            cov = (get("ClusterTendency") - get("Contrast")) / 4
            v = torch.where(sigma2 == 0, torch.ones_like(sigma2), cov / (sigma2 + _EPS))
        elif key == "_p":
            ra, rb = get("_ranks")
            counts = torch.zeros(m, 13, L * L, dtype=torch.float64, device=dev)
            counts.scatter_add_(-1, ra * L + rb, okd)
            counts.scatter_add_(-1, rb * L + ra, okd)
            v = counts.view(m, 13, L, L) * (norm / 2)[..., None, None]
        elif key == "_ranks":
            v = (torch.where(ok, ranks[:, starts], 0), torch.where(ok, ranks[:, ends], 0))
        elif key == "_px":  # marginal p_x(i) = p_y(i) over the kernel's level ranks, (m, 13, L)
            ra, rb = get("_ranks")
            v = torch.zeros(m, 13, L, dtype=torch.float64, device=dev)
            v.scatter_add_(-1, ra, okd).scatter_add_(-1, rb, okd)
            v = v * (norm / 2)[..., None]
        elif key == "_cells":
            # one slot per unordered cell {i, j} present: its p (per cell) and multiplicity
            lo_ab, hi_ab = torch.minimum(a, b), torch.maximum(a, b)
            counts, diagonal = _run_counts(lo_ab * (n_levels + 1) + hi_ab, ok, extra=a == b)
            pc = counts * (norm / 2)[..., None] * torch.where(diagonal, 2.0, 1.0)
            v = (pc, torch.where(diagonal, 1.0, 2.0))
        elif key == "JointEnergy":
            if use_dense:
                v = (get("_p") ** 2).sum((-1, -2))
            else:
                pc, mult = get("_cells")
                v = (mult * pc ** 2).sum(-1)
        elif key == "JointEntropy":
            if use_dense:
                p = get("_p")
                v = -(p * torch.log2(p + _EPS)).sum((-1, -2))
            else:
                pc, mult = get("_cells")
                v = -(mult * pc * torch.log2(pc + _EPS)).sum(-1)
        elif key == "MaximumProbability":
            v = get("_p").amax((-1, -2)) if use_dense else get("_cells")[0].amax(-1)
        elif key == "Imc1":
            px = get("_px")
            hx = _entropy(px)  # HY = HX (symmetric GLCM)
            # HXY1 = -sum p(i, j) log2(px(i) px(j) + eps): a mean over the pairs (both orders
            # of a pair give the same term)
            ra, rb = get("_ranks")
            pa, pb = px.gather(-1, ra), px.gather(-1, rb)
            hxy1 = -(torch.log2(pa * pb + _EPS) * okd).sum(-1) * norm
            v = torch.where(hx == 0, torch.zeros_like(hx), (get("JointEntropy") - hxy1) / hx)
            v = torch.where(empty, torch.full_like(v, float("nan")), v)
        elif key == "Imc2":
            # HXY2 = -sum_ij px_i px_j log2(px_i px_j + eps) = 2 H(px) - n_cells eps / ln 2
            # (q = px_i px_j >= 1 / (2 N)^2 >> eps, so log2(q + eps) = log2 q + eps / (q ln 2)
            # up to eps^2 / q^2), n_cells = (number of levels with px > 0)^2: O(L), not O(L^2).
            px = get("_px")
            present_px = px > 0
            hx0 = -(torch.where(present_px, px * torch.log2(px), 0.0)).sum(-1)
            n_cells = present_px.sum(-1).double() ** 2
            hxy2 = 2 * hx0 - n_cells * (_EPS / 0.6931471805599453)
            mi = hxy2 - get("JointEntropy")  # mutual information, >= 0 up to rounding
            # PyRadiomics returns 0 where HXY2 == HXY exactly; rounding noise (|mi| < 1e-14 bits)
            # is taken as that tie here
            v = torch.where(mi.abs() < 1e-14, torch.zeros_like(mi), (1 - torch.exp(-2 * mi)).sqrt())
        elif key == "MCC":
            p, px = get("_p"), get("_px")
            p0 = torch.nan_to_num(p)
            w = p0 / (px[..., :, None] * px[..., None, :] + _EPS).nan_to_num(1.0)
            ev = torch.linalg.eigvals(w @ p0.transpose(-1, -2))  # Q[i, j] = sum_k W[i, k] p(j, k)
            idx = ev.real.argsort(-1)[..., -2:-1]
            v = ev.gather(-1, idx)[..., 0].sqrt().real
            v = torch.where(empty, torch.full_like(v, float("nan")), v)
        else:
            raise KeyError(key)
        cache[key] = v
        return v

    out = {}
    for f in names:
        per_dir = get(f)
        if f == "JointAverage":
            out[f] = per_dir[:, present].mean(-1)  # plain mean (PyRadiomics): NaN if one is empty
        else:
            out[f] = torch.nanmean(per_dir, -1)
    return out


def _entropy(p):
    """-sum p log2(p + eps) over the last axis (PyRadiomics' entropy; empty slots add 0)."""
    import torch

    return -(p * torch.log2(p + _EPS)).sum(-1)


def pair_indices(D: int, device):
    """Flat indices into the D^3 cube of the pairs (p, p + d), d in ``engine.directions_13``.

    Returns starts, ends (int64) and valid (bool), each (13, P), P = D^2 (D - 1) (the largest
    pair count of a direction); shorter directions are padded with invalid entries.
    """
    import itertools

    import torch

    key = (D, str(device))
    if key not in _PAIRS:
        r = (D - 1) // 2
        per_dir = []
        for d in directions_13():
            ranges = [range(max(-r, -r - a), min(r, r - a) + 1) for a in d]
            per_dir.append([(p, tuple(pi + di for pi, di in zip(p, d)))
                            for p in itertools.product(*ranges)])
        width = max(len(p) for p in per_dir)
        flat = lambda q: ((q[0] + r) * D + (q[1] + r)) * D + (q[2] + r)  # noqa: E731
        starts = torch.zeros(13, width, dtype=torch.int64)
        ends = torch.zeros(13, width, dtype=torch.int64)
        valid = torch.zeros(13, width, dtype=torch.bool)
        for k, plist in enumerate(per_dir):
            starts[k, :len(plist)] = torch.tensor([flat(p) for p, _ in plist])
            ends[k, :len(plist)] = torch.tensor([flat(q) for _, q in plist])
            valid[k, :len(plist)] = True
        _PAIRS[key] = (starts.to(device), ends.to(device), valid.to(device))
    return _PAIRS[key]


def _run_counts(codes, ok, extra=None):
    """Per row (last axis): how many valid entries hold each distinct code, one slot per run of
    equal sorted codes (zeros in the unused slots); with ``extra`` (bool, same shape) also per slot
    whether its code's entries have ``extra`` set (a property of the code, e.g. "diagonal cell")."""
    import torch

    codes = torch.where(ok, codes, -1)  # valid codes are >= 0; invalid ones form a 0-weight run
    ordered, order = codes.sort(-1)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    run = starts.long().cumsum(-1) - 1
    valid = (ordered >= 0).double()
    counts = torch.zeros_like(valid).scatter_add_(-1, run, valid)
    if extra is None:
        return counts
    flagged = torch.zeros_like(valid).scatter_add_(-1, run, valid * extra.gather(-1, order))
    return counts, flagged > 0
