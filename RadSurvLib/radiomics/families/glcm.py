"""GLCM features (PyRadiomics ``glcm``) of each voxel's kernel (voxel maps, ``compute``) and of an
ROI (``roi_matrix``, ``features``).

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

For an ROI (one kernel): P(i, j) per angle, the symmetric co-occurrence matrix at distance 1,
normalised to sum 1 per angle (angles without a pair removed); rows and columns are the gray levels
present in the ROI, i and j their values. Each feature is computed per angle and averaged over the
angles (NaN angles skipped), as PyRadiomics (``symmetricalGLCM`` true, no ``weightingNorm``). Ng in
Idmn / Idn is the highest gray level. ``Matrix`` gives the feature functions the statistics they
read (``Statistics``) as NumPy arrays with a kernel axis of length 1.
"""

from __future__ import annotations

from .arrays import EPS, evaluate, nan_like, take, to_float64, xp
from .kernel_cubes import CHUNK_BYTES, directions_13, kernel_ranks

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
    L x L matrices stay within ``kernel_cubes.CHUNK_BYTES`` (see ``compute``)."""
    P = D * D * (D - 1)
    return 10 * 8 * 13 * P + 1024


#: Group bounds on the kernel's gray-level range R (kernels are processed by group).
_RANGE_BOUNDS = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def compute(cubes, n_levels, names, directions_present=None, **_):
    """GLCM features of each kernel, averaged over directions as PyRadiomics.

    Args:
        cubes: torch.int64 (n, D, D, D), gray levels, 0 = not in the kernel (layout: package docstring).
        n_levels: Ng, the highest gray level of the ROI (Idn, Idmn).
        names: feature names from ``FEATURES``.
        directions_present: torch.bool (13,), directions not empty for every ROI voxel
            (default: all).

    Returns:
        dict name -> torch.float64 (n,).
    """
    import torch

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
        ranks, L = kernel_ranks(flat[sel]) if dense or cells else (None, 0)
        # cell features: a dense L x L GLCM when small, else sorted cell codes (P per direction)
        use_dense = cells and L * L <= 2 * P
        per = 8 * 13 * (10 * P + 8 * R + (8 * L * L if use_dense or dense else 0))
        step = max(1, CHUNK_BYTES // per)
        for s0 in range(0, sel.numel(), step):
            sub = sel[s0:s0 + step]
            res = _group(flat[sub], lo[sub], R, None if ranks is None else ranks[s0:s0 + step], L,
                         n_levels, names, directions_present, use_dense)
            for f in names:
                out[f][sub] = res[f]
        begin = end
    return out


_CELL_FEATURES = {"JointEnergy", "JointEntropy", "MaximumProbability"}
_DENSE_FEATURES = {"Imc1", "Imc2", "MCC"}


class Statistics:
    """What the GLCM feature functions read, for m kernels (voxel maps: torch, ``Glcm``; an ROI:
    NumPy, m = 1, ``Matrix``) and A directions.

    Notation (PyRadiomics ``glcm``): p(i, j) the normalised symmetric GLCM of one direction,
    p_x(i) = sum_j p(i, j) (= p_y, symmetric), p_{x-y}(k) = sum_{|i-j|=k} p(i, j),
    p_{x+y}(k) = sum_{i+j=k} p(i, j), mu_x = sum_i i p_x(i), N_g the highest gray level of the ROI,
    eps = ``arrays.EPS``. A subclass provides, float64 throughout:

    * ``p_diff`` (m, A, R): p_{x-y}(k), k = ``k`` (R,) = 0..R-1, R the gray-level range (max - min + 1);
    * ``p_sum`` (m, A, 2R-1): p_{x+y}(k) with k = ``s`` (2R-1,) = i + j - 2 lo, lo the lowest level;
      ``offset`` (m, 1): 2 lo;
    * ``p`` (m, A, L, L): p(i, j) over the L levels present (ascending); ``px`` (m, A, L): p_x;
      ``use_dense``: JointEnergy / JointEntropy / MaximumProbability from ``p`` (else from
      ``cells``: (p of each unordered cell present, its multiplicity), (m, A, C) each);
    * ``hxy1`` (m, A): -sum_ij p(i, j) log2(p_x(i) p_y(j) + eps);
    * ``empty`` (m, A) bool: a direction without pairs (its features NaN); ``ng``: N_g; ``R``.

    Each feature function gives the per-direction values (m, A); ``average`` averages them.
    """

    def __init__(self):
        self._memo = {}

    def memo(self, key, fn):
        """``fn(self)`` computed once (features share their intermediate statistics)."""
        if key not in self._memo:
            self._memo[key] = fn(self)
        return self._memo[key]

    def feature(self, name):
        """Per-direction value of the feature ``name`` (m, A)."""
        return self.memo(name, FEATURE_FUNCTIONS[name])

    @property
    def sum_relative(self):
        """sum_k k p_{x+y}(k) with k relative to 2 lo (= 2 mu_x - 2 lo)."""
        return self.memo("_srel", lambda g: g.p_sum @ g.s)


def average(per_direction, name, present=None):
    """A feature's value per kernel (m,) from its per-direction values (m, A), as PyRadiomics:
    ``JointAverage`` a plain mean over the directions ``present`` (bool (A,), default all: those
    not empty for every voxel of the ROI, so it is NaN at a voxel where one of them is empty), the
    others the mean over the directions with pairs (``nanmean``)."""
    if name == "JointAverage":
        return (per_direction if present is None else per_direction[:, present]).mean(-1)
    return xp(per_direction).nanmean(per_direction, -1)


class Glcm(Statistics):
    """The per-direction GLCM statistics (``Statistics``, A = 13) of a group of kernels, computed
    when first asked, as torch tensors (m, 13, ...).

    Args:
        flat: torch.int64 (m, D^3) kernel cubes, 0 = not in the kernel.
        lo: torch.int64 (m,) lowest gray level of each kernel.
        R: bound on the kernels' gray-level range (max - min + 1).
        ranks, L: ``kernel_cubes.kernel_ranks`` of ``flat`` (ranks of the levels among the kernel's L
            distinct levels) or (None, 0) when no L x L statistic is asked.
        n_levels: N_g. use_dense: joint energy / entropy / maximum from the L x L matrix (else
            from the sorted cell codes of the pairs).
    """

    def __init__(self, flat, lo, R, ranks, L, n_levels, use_dense=True):
        import torch

        super().__init__()
        self.m, K = flat.shape
        D = round(K ** (1 / 3))
        self.dev = flat.device
        self.R, self.L, self.ng, self.use_dense, self.n_levels = R, L, float(n_levels), use_dense, n_levels
        self.lo, self.rank_table = lo, ranks
        self.offset = 2 * lo[:, None].double()
        starts, ends, valid = pair_indices(D, self.dev)
        self.starts, self.ends = starts, ends
        self.a, self.b = flat[:, starts], flat[:, ends]  # (m, 13, P) levels of each pair's two ends
        self.ok = (self.a > 0) & (self.b > 0) & valid[None]
        self.okd = self.ok.double()
        npairs = self.okd.sum(-1)
        self.empty = npairs == 0  # (m, 13): direction without pairs in the kernel
        self.norm = torch.where(self.empty, torch.full_like(npairs, float("nan")), 1 / npairs.clamp(min=1))
        self.k = torch.arange(R, dtype=torch.float64, device=self.dev)  # |i - j|
        self.s = torch.arange(2 * R - 1, dtype=torch.float64, device=self.dev)  # i + j - 2 lo

    @property
    def p_diff(self):
        """p_{x-y}(k), k = 0..R-1: (m, 13, R)."""
        import torch

        def build(g):
            codes = torch.where(g.ok, (g.a - g.b).abs(), 0)
            h = torch.zeros(g.m, 13, g.R, dtype=torch.float64, device=g.dev).scatter_add_(-1, codes, g.okd)
            return h * g.norm[..., None]
        return self.memo("_p_diff", build)

    @property
    def p_sum(self):
        """p_{x+y}(k) relative to twice the kernel's lowest level, k = 0..2R-2: (m, 13, 2R-1)."""
        import torch

        def build(g):
            codes = torch.where(g.ok, g.a + g.b - 2 * g.lo[:, None, None], 0)
            h = torch.zeros(g.m, 13, 2 * g.R - 1, dtype=torch.float64, device=g.dev)
            return h.scatter_add_(-1, codes, g.okd) * g.norm[..., None]
        return self.memo("_p_sum", build)

    @property
    def pair_ranks(self):
        """Ranks (0..L-1) of the two ends of every pair, 0 for invalid pairs: two (m, 13, P)."""
        import torch

        return self.memo("_ranks", lambda g: (torch.where(g.ok, g.rank_table[:, g.starts], 0),
                                               torch.where(g.ok, g.rank_table[:, g.ends], 0)))

    @property
    def p(self):
        """The symmetric GLCM over the kernel's level ranks, p(i, j): (m, 13, L, L)."""
        import torch

        def build(g):
            ra, rb = g.pair_ranks
            counts = torch.zeros(g.m, 13, g.L * g.L, dtype=torch.float64, device=g.dev)
            counts.scatter_add_(-1, ra * g.L + rb, g.okd)
            counts.scatter_add_(-1, rb * g.L + ra, g.okd)
            return counts.view(g.m, 13, g.L, g.L) * (g.norm / 2)[..., None, None]
        return self.memo("_p", build)

    @property
    def px(self):
        """Marginal p_x(i) = p_y(i) over the kernel's level ranks: (m, 13, L)."""
        import torch

        def build(g):
            ra, rb = g.pair_ranks
            v = torch.zeros(g.m, 13, g.L, dtype=torch.float64, device=g.dev)
            v.scatter_add_(-1, ra, g.okd).scatter_add_(-1, rb, g.okd)
            return v * (g.norm / 2)[..., None]
        return self.memo("_px", build)

    @property
    def hxy1(self):
        """HXY1 as a mean over the pairs (both orders of a pair give the same term)."""
        import torch

        def build(g):
            ra, rb = g.pair_ranks
            return -(torch.log2(g.px.gather(-1, ra) * g.px.gather(-1, rb) + EPS) * g.okd).sum(-1) * g.norm
        return self.memo("_hxy1", build)

    @property
    def cells(self):
        """One slot per unordered GLCM cell {i, j} present: (its p(i, j), its multiplicity 1 or 2)."""
        import torch

        def build(g):
            lo_ab, hi_ab = torch.minimum(g.a, g.b), torch.maximum(g.a, g.b)
            counts, diagonal = _run_counts(lo_ab * (g.n_levels + 1) + hi_ab, g.ok, extra=g.a == g.b)
            pc = counts * (g.norm / 2)[..., None] * torch.where(diagonal, 2.0, 1.0)
            return pc, torch.where(diagonal, 1.0, 2.0)
        return self.memo("_cells", build)


def _entropy(p):
    """-sum p log2(p + eps) over the last axis (PyRadiomics' entropy; empty slots add 0)."""
    return -(p * xp(p).log2(p + EPS)).sum(-1)


# One function per feature (PyRadiomics ``radiomics.glcm``, its formulas), each of a ``Statistics``
# (NumPy or torch: see ``arrays``), giving the per-direction values (m, A).

def autocorrelation(g):
    """Autocorrelation = sum_ij p(i, j) i j, from i j = ((i + j)^2 - (i - j)^2) / 4:
    (ClusterTendency + SumAverage^2 - Contrast) / 4. IBSI QWB0."""
    return (g.feature("ClusterTendency") + g.feature("SumAverage") ** 2 - g.feature("Contrast")) / 4


def joint_average(g):
    """JointAverage mu_x = sum_ij p(i, j) i = SumAverage / 2. IBSI 60VM."""
    return g.feature("SumAverage") / 2


def _cluster_moment(g, power):
    return (g.p_sum * (g.s - g.sum_relative[..., None]) ** power).sum(-1)


def cluster_prominence(g):
    """ClusterProminence = sum_ij (i + j - mu_x - mu_y)^4 p(i, j). IBSI AE86."""
    return _cluster_moment(g, 4)


def cluster_shade(g):
    """ClusterShade = sum_ij (i + j - mu_x - mu_y)^3 p(i, j). IBSI 7NFM."""
    return _cluster_moment(g, 3)


def cluster_tendency(g):
    """ClusterTendency = sum_ij (i + j - mu_x - mu_y)^2 p(i, j). IBSI DG8W."""
    return _cluster_moment(g, 2)


def contrast(g):
    """Contrast = sum_ij (i - j)^2 p(i, j) = sum_k k^2 p_{x-y}(k). IBSI ACUI."""
    return g.p_diff @ (g.k * g.k)


def correlation(g):
    """Correlation = (sum_ij p(i, j) i j - mu_x mu_y) / (sigma_x sigma_y + eps), 1 where
    sigma_x = 0 (PyRadiomics); covariance = (ClusterTendency - Contrast) / 4. IBSI NI2N."""
    sigma2 = g.feature("SumSquares")
    cov = (g.feature("ClusterTendency") - g.feature("Contrast")) / 4
    X = xp(sigma2)
    return X.where(sigma2 == 0, X.ones_like(sigma2), cov / (sigma2 + EPS))


def difference_average(g):
    """DifferenceAverage = sum_k k p_{x-y}(k). IBSI TF7R."""
    return g.p_diff @ g.k


def difference_entropy(g):
    """DifferenceEntropy = -sum_k p_{x-y}(k) log2(p_{x-y}(k) + eps). IBSI NTRS."""
    return _entropy(g.p_diff)


def difference_variance(g):
    """DifferenceVariance = sum_k (k - DifferenceAverage)^2 p_{x-y}(k). IBSI D3YU."""
    return (g.p_diff * (g.k - g.feature("DifferenceAverage")[..., None]) ** 2).sum(-1)


def joint_energy(g):
    """JointEnergy = sum_ij p(i, j)^2. IBSI 8ZQL."""
    if g.use_dense:
        return (g.p ** 2).sum((-1, -2))
    pc, mult = g.cells
    return (mult * pc ** 2).sum(-1)


def joint_entropy(g):
    """JointEntropy HXY = -sum_ij p(i, j) log2(p(i, j) + eps). IBSI TU9B."""
    if g.use_dense:
        p = g.p
        return -(p * xp(p).log2(p + EPS)).sum((-1, -2))
    pc, mult = g.cells
    return -(mult * pc * xp(pc).log2(pc + EPS)).sum(-1)


def imc1(g):
    """Imc1 = (HXY - HXY1) / max(HX, HY), 0 where HX = HY = 0 (PyRadiomics), with
    HX = -sum_i p_x(i) log2(p_x(i) + eps) (= HY) and
    HXY1 = -sum_ij p(i, j) log2(p_x(i) p_y(j) + eps): a mean over the pairs (both orders of a pair
    give the same term). IBSI R8DG."""
    hx = _entropy(g.px)
    X = xp(hx)
    v = X.where(hx == 0, X.zeros_like(hx), (g.feature("JointEntropy") - g.hxy1) / hx)
    return X.where(g.empty, nan_like(v), v)


def imc2(g):
    """Imc2 = sqrt(1 - exp(-2 (HXY2 - HXY))), 0 where HXY2 = HXY (PyRadiomics), with
    HXY2 = -sum_ij p_x(i) p_y(j) log2(p_x(i) p_y(j) + eps) = 2 H(p_x) - n_cells eps / ln 2
    (q = p_x(i) p_y(j) >= 1 / (2 N)^2 >> eps, so log2(q + eps) = log2 q + eps / (q ln 2) up to
    eps^2 / q^2; n_cells = (levels with p_x > 0)^2): O(L), not O(L^2). A difference below 1e-14
    bits (the rounding noise of the two sums) counts as the tie. IBSI JN9H."""
    px = g.px
    X = xp(px)
    present = px > 0
    hx0 = -(X.where(present, px * X.log2(X.where(present, px, 1.0)), 0.0)).sum(-1)
    n_cells = to_float64(present.sum(-1)) ** 2
    hxy2 = 2 * hx0 - n_cells * (EPS / 0.6931471805599453)
    mi = hxy2 - g.feature("JointEntropy")  # mutual information, >= 0 up to rounding
    return X.where(X.abs(mi) < 1e-14, X.zeros_like(mi), X.sqrt(1 - X.exp(-2 * mi)))


def idm(g):
    """Idm (inverse difference moment) = sum_k p_{x-y}(k) / (1 + k^2). IBSI WF0Z."""
    return g.p_diff @ (1 / (1 + g.k * g.k))


def mcc(g):
    """MCC = sqrt(second largest eigenvalue of Q), Q(i, j) = sum_k p(i, k) p(j, k) /
    (p_x(i) p_y(k) + eps); eigenvalues sorted as complex numbers, real part kept (PyRadiomics).
    1 with one gray level (PyRadiomics). Costly (an L x L eigenproblem per kernel and direction);
    not in IBSI."""
    p, px = g.p, g.px
    X = xp(p)
    if p.shape[-1] == 1:
        return X.where(g.empty, nan_like(p[..., 0, 0]), X.ones_like(p[..., 0, 0]))
    p0 = X.nan_to_num(p)
    w = p0 / X.nan_to_num(px[..., :, None] * px[..., None, :] + EPS, nan=1.0)
    ev = X.linalg.eigvals(w @ X.swapaxes(p0, -1, -2))
    second = take(ev, X.argsort(ev.real, -1)[..., -2:-1])[..., 0]
    v = X.sqrt(second).real
    return X.where(g.empty, nan_like(v), v)


def idmn(g):
    """Idmn (inverse difference moment normalised) = sum_k p_{x-y}(k) / (1 + k^2 / N_g^2). IBSI 1QCO."""
    return g.p_diff @ (1 / (1 + g.k * g.k / (g.ng * g.ng)))


def id_(g):
    """Id (inverse difference) = sum_k p_{x-y}(k) / (1 + k). IBSI IB1Z."""
    return g.p_diff @ (1 / (1 + g.k))


def idn(g):
    """Idn (inverse difference normalised) = sum_k p_{x-y}(k) / (1 + k / N_g). IBSI NDRX."""
    return g.p_diff @ (1 / (1 + g.k / g.ng))


def inverse_variance(g):
    """InverseVariance = sum_{k >= 1} p_{x-y}(k) / k^2. IBSI E8JP."""
    if g.R == 1:
        return g.p_diff[..., 0] * 0
    return g.p_diff[..., 1:] @ (1 / g.k[1:] ** 2)


def maximum_probability(g):
    """MaximumProbability = max_ij p(i, j). IBSI GYBY."""
    if g.use_dense:
        return xp(g.p).amax(g.p, (-1, -2))
    return xp(g.cells[0]).amax(g.cells[0], -1)


def sum_average(g):
    """SumAverage = sum_k k p_{x+y}(k) (= 2 mu_x). IBSI ZGXS."""
    return g.sum_relative + g.offset


def sum_entropy(g):
    """SumEntropy = -sum_k p_{x+y}(k) log2(p_{x+y}(k) + eps). IBSI P6QZ."""
    return _entropy(g.p_sum)


def sum_squares(g):
    """SumSquares = sum_ij (i - mu_x)^2 p(i, j) = (ClusterTendency + Contrast) / 4, from
    sigma^2 = (E[(i + j - 2 mu_x)^2] + E[(i - j)^2]) / 4. IBSI UR99."""
    return (g.feature("ClusterTendency") + g.feature("Contrast")) / 4


#: PyRadiomics feature name -> its function (of a ``Statistics``; per-direction values (m, A)).
FEATURE_FUNCTIONS = {
    "Autocorrelation": autocorrelation, "JointAverage": joint_average,
    "ClusterProminence": cluster_prominence, "ClusterShade": cluster_shade,
    "ClusterTendency": cluster_tendency, "Contrast": contrast, "Correlation": correlation,
    "DifferenceAverage": difference_average, "DifferenceEntropy": difference_entropy,
    "DifferenceVariance": difference_variance, "JointEnergy": joint_energy,
    "JointEntropy": joint_entropy, "Imc1": imc1, "Imc2": imc2, "Idm": idm, "MCC": mcc,
    "Idmn": idmn, "Id": id_, "Idn": idn, "InverseVariance": inverse_variance,
    "MaximumProbability": maximum_probability, "SumAverage": sum_average,
    "SumEntropy": sum_entropy, "SumSquares": sum_squares,
}


def _group(flat, lo, R, ranks, L, n_levels, names, present, use_dense=True):
    """Features of kernels whose gray-level range is <= R and distinct-level count <= L, averaged
    over directions as PyRadiomics (``JointAverage``: plain mean over ``present``, see the module
    docstring; the others: ``nanmean`` over the directions with pairs)."""
    g = Glcm(flat, lo, R, ranks, L, n_levels, use_dense)
    return {f: average(g.feature(f), f, present) for f in names}


def pair_indices(D: int, device):
    """Flat indices into the D^3 cube of the pairs (p, p + d), d in ``kernel_cubes.directions_13``.

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


# The ROI, as one kernel.

def roi_matrix(roi, n_levels: int):
    """Co-occurrence counts of one ROI, shape (1, n_levels, n_levels, n_angles), float64:
    [0, i-1, j-1, a] = number of ROI voxels of rank i whose neighbour at angle a is in the ROI with
    rank j (not symmetrised), as PyRadiomics' ``_cmatrices.calculate_glcm`` after it removes the
    absent gray levels.

    Args:
        roi: ``roi_engine.neighbours.RoiNeighbours`` of the ROI (ranks 1..n_levels, angles).
        n_levels: number of gray levels present in the ROI.
    """
    import numpy as np

    g = n_levels + 1
    nb = roi.nb26[roi.angle_columns]
    code = (roi.lv[None, :] * g + nb) * roi.n_angles + np.arange(roi.n_angles, dtype=nb.dtype)[:, None]
    counts = np.bincount(code.reshape(-1), minlength=g * g * roi.n_angles)
    counts = counts.reshape(g, g, roi.n_angles)[1:, 1:, :]
    return counts[None].astype(np.float64)


class Matrix(Statistics):
    """The ROI's normalised GLCM and the histograms the formulas read (``Statistics``), NumPy
    float64 with m = 1 kernel and A angles.

    Args:
        counts: (1, L, L, angles) co-occurrence counts over the L gray levels present (not symmetrised).
        gray_levels: int (L,) the gray levels present, ascending.
    """

    def __init__(self, counts, gray_levels):
        import numpy as np

        super().__init__()
        p = counts + np.transpose(counts, (0, 2, 1, 3))
        total = p.sum((1, 2))
        if p.shape[3] > 1:  # angles without a pair are left out
            keep = total.sum(0) != 0
            p, total = p[..., keep], total[:, keep]
        self.empty = total == 0
        total = np.where(self.empty, np.nan, total)
        self.p = np.moveaxis(p / total[:, None, None, :], 3, 1)  # (1, A, L, L)
        levels = np.asarray(gray_levels, np.int64)
        lo = int(levels[0])
        self.R = int(levels[-1]) - lo + 1
        self.ng = float(levels[-1])
        self.offset = np.array([[2.0 * lo]])
        self.k = np.arange(self.R, dtype=np.float64)
        self.s = np.arange(2 * self.R - 1, dtype=np.float64)
        self.p_diff = self._histogram(np.abs(levels[:, None] - levels[None, :]), self.R)
        self.p_sum = self._histogram(levels[:, None] + levels[None, :] - 2 * lo, 2 * self.R - 1)
        self.px = self.p.sum(-1)
        self.hxy1 = -(self.p * np.log2(self.px[..., :, None] * self.px[..., None, :] + EPS)).sum((-1, -2))
        self.use_dense = True

    def _histogram(self, bins, size):
        """sum of p(i, j) over the cells with bins(i, j) = b, b = 0..size-1: (1, A, size)."""
        import numpy as np

        angles = self.p.shape[1]
        index = np.arange(angles)[:, None, None] * size + bins[None]
        return np.bincount(index.ravel(), self.p[0].ravel(), angles * size).reshape(1, angles, size)


#: Feature name -> its value for one ROI: the mean over the angles (``average``).
ROI_FUNCTIONS = {name: (lambda m, name=name: average(m.feature(name), name)) for name in FEATURE_FUNCTIONS}


def features(counts, gray_levels, names) -> dict:
    """GLCM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, L, angles) counts from ``roi_matrix`` (not symmetrised).
        gray_levels: int (L,) gray levels present in the ROI.
    """

    return evaluate(ROI_FUNCTIONS, Matrix(counts, gray_levels), names)
