"""GLSZM features (PyRadiomics ``glszm``, gray level size zone matrix) of each voxel's kernel
(voxel maps, torch: ``compute``) and of an ROI (NumPy: ``roi_matrix``, ``features``).

Semantics are PyRadiomics' voxel-based ``glszm`` class (``radiomics/glszm.py`` with the C
kernel ``calculate_glszm`` of ``radiomics/src/cmatrices.c``):

* Zones are 26-connected sets of voxels *in the kernel* with the same gray level; connections
  run only through kernel voxels (a voxel not in the kernel, 0 in the cube, never joins or
  bridges a zone) and stop at the cube's faces.
* One matrix P(i, j) per kernel (rotation independent); Nz = number of zones (>= 1, the zone of
  the centre), Np = number of kernel voxels (the sum of the zone sizes).
* PyRadiomics deletes the gray levels absent from the ROI and the zone sizes absent from
  every kernel; features sum over the cells present with the true level i and size j, so
  this changes nothing and Ng (the highest level of the ROI) enters no GLSZM feature.
* A kernel of one voxel has one zone of size 1: every feature is defined (no NaN), e.g.
  ZonePercentage 1, GrayLevelVariance 0, ZoneEntropy -log2(1 + eps) ~ -3.2e-16.

How (vectorised, one code path for CPU and CUDA): each cube is flattened to K = D^3 positions.
Connected components are found by min-label propagation: every kernel position starts with its
own index as label (int16 for K < 32767); each sweep takes, along each of the 13 directions, the
smaller label at both ends of every same-level pair of kernel voxels (in place), then shortcuts
``label = label[label]`` (pointer jumping). Kernels whose labels no longer change leave the
working set; the loop ends when none changes (at most K steps, a few in practice). A zone's root is the position whose label is its
own index; zone sizes are counts of equal labels (scatter-add). Linear features are sums over
roots; the gray-level, zone-size and (level, size) cell histograms needed by GLN, SZN and ZE
come from sorting the codes ``level * (K + 1) + size`` of the roots of each kernel and counting
groups of equal codes, so no Ng x Ns matrix is built. The features are ``zones``' formulas
(shared with the GLRLM, the GLDM and the ROI engine) on the roots (``KernelZones``).

For 3 x 3 x 3 cubes the labelling instead gathers each position's 26 neighbours at every step
(``_zone_labels_gather``: fewer, larger torch ops, faster at that size).

Memory: see ``bytes_per_voxel``.

For an ROI (one kernel): P(i, j), the number of zones (26-connected voxels of one gray level) of
gray level i and j voxels; N_z = number of zones. The formulas are ``zones``' (SmallAreaEmphasis =
sum p_s(j) / j^2 / N_z, ZonePercentage = N_z / N_p, ...): the ROI is one kernel, its matrix the
``zones.Matrix`` they read.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

from . import zones
from .arrays import evaluate
from .kernel_cubes import directions_13

#: GLSZM features (PyRadiomics ``glszm``), name -> IBSI tag (IBSI 1, section 3.8).
FEATURES = {
    "SmallAreaEmphasis": "5QRC", "LargeAreaEmphasis": "48P8", "GrayLevelNonUniformity": "JNSA",
    "GrayLevelNonUniformityNormalized": "Y1RO", "SizeZoneNonUniformity": "4JP3",
    "SizeZoneNonUniformityNormalized": "VB3A", "ZonePercentage": "P30P",
    "GrayLevelVariance": "BYLV", "ZoneVariance": "3NSA", "ZoneEntropy": "GU8N",
    "LowGrayLevelZoneEmphasis": "XMSY", "HighGrayLevelZoneEmphasis": "5GN9",
    "SmallAreaLowGrayLevelEmphasis": "5RAI", "SmallAreaHighGrayLevelEmphasis": "HW1V",
    "LargeAreaLowGrayLevelEmphasis": "YH51", "LargeAreaHighGrayLevelEmphasis": "J17V",
}

#: Features off by default: none (the zone labelling, shared by all, dominates the cost).
COSTLY = frozenset()

#: PyRadiomics feature name -> its function (of a ``zones.Counts``).
FEATURE_FUNCTIONS = zones.functions("SmallArea", "LargeArea", "SizeZone", percentage="ZonePercentage",
                                    low_high=("LowGrayLevelZone", "HighGrayLevelZone"),
                                    variance="ZoneVariance", entropy="ZoneEntropy")


def bytes_per_voxel(D: int, n_levels: int = 0, names=()) -> int:
    """Estimated peak working-set bytes per kernel (cube) of ``compute``.

    Args:
        D: cube edge 2r+1 (voxels).
        n_levels, names: unused (the estimate covers all features), accepted for the engine's
            family interface.

    Returns:
        int bytes: D = 3 (gather labelling, (n, K, 26) int16 arrays and their int64 index):
        26 * K * 14 + 12 * K * 8 (~12 kB; measured 10.7 kB on PAT1 GTV kernels); larger D (sweep
        labelling: int16 labels and links): 13 * K * 2 + 24 * K * 8 (~27 kB at D = 5), with
        K = D^3 and ~24 int64 / float64 per-position arrays of the features; excludes the input
        cubes and the 8-byte-per-feature outputs. Chunk size: budget // this.
    """
    k = int(D) ** 3
    if D <= 3:
        return 26 * k * 14 + 12 * k * 8
    return 13 * k * 2 + 24 * k * 8


def zone_labels(cubes):
    """Label the 26-connected same-level zones of the kernel voxels of each cube.

    3 x 3 x 3 cubes (kernel radius 1): ``_zone_labels_gather``; larger cubes: the sweeps below.

    Min-label propagation along the 13 directions of ``kernel_cubes.directions_13``: every kernel
    position starts with its own flat index; a sweep takes, for each direction d and each
    same-level pair (q, q + d) of kernel voxels, the smaller label at both ends (in place, so a
    label travels several steps in one sweep), then shortcuts ``label = label[label]`` (pointer
    jumping). Kernels whose labels no longer change leave the working set; the loop ends when
    none changes (at most D^3 sweeps, a few in practice).

    Args:
        cubes: torch int64 (n, D, D, D), axis (z, y, x); levels >= 1 in the kernel, 0 outside.

    Returns:
        int64 (n, D^3) on the cubes' device, positions flattened in (z, y, x) order: for a kernel
        position, the smallest flat index of its zone (the zone's root); D^3 outside the kernel.
    """
    import torch

    n, size = cubes.shape[0], cubes.shape[1]
    if size <= 3:
        return _zone_labels_gather(cubes)
    k = size ** 3
    dev = cubes.device
    small = torch.int16 if k < 2**15 - 1 else torch.int32
    lev = cubes.to(small if int(cubes.max()) < 2**15 else torch.int64)
    inside = lev > 0
    ids = torch.arange(k, device=dev).to(small).view(1, size, size, size)
    label = torch.where(inside, ids, torch.full_like(ids, k)).contiguous()  # (n, D, D, D)
    # per direction: the two ends' slices and where the pair joins one zone (same level, in kernel)
    links = []
    for d in directions_13():
        a = (slice(None),) + tuple(slice(max(0, -o), size - max(0, o)) for o in d)
        b = (slice(None),) + tuple(slice(max(0, o), size + min(0, o)) for o in d)
        joined = inside[a] & (lev[a] == lev[b])
        if bool(joined.any()):
            links.append((a, b, joined))
    far = torch.tensor(k, dtype=small, device=dev)
    rows = torch.arange(n, device=dev)
    out = label.view(n, k).clone()
    current = label
    sentinel_cache = {}
    for _ in range(k):
        m = current.shape[0]
        new = current.clone()
        for a, b, joined in links:  # labels only decrease (the two slices overlap)
            lo = torch.where(joined, torch.minimum(new[a], new[b]), far)
            new[a] = torch.minimum(new[a], lo)
            new[b] = torch.minimum(new[b], lo)
        flat = new.view(m, k)
        if m not in sentinel_cache:
            sentinel_cache[m] = torch.full((m, 1), k, dtype=small, device=dev)
        flat = torch.cat([flat, sentinel_cache[m]], 1).gather(1, flat.long())  # pointer jumping
        changed = (flat != current.view(m, k)).any(1)
        out[rows] = flat
        n_changed = int(changed.sum())
        if n_changed == 0:
            break
        new = flat.view(m, size, size, size)
        if n_changed <= (3 * m) // 4:
            rows, new = rows[changed], new[changed]
            links = [(a, b, joined[changed]) for a, b, joined in links]
        current = new
    return out.long()


@lru_cache(maxsize=None)
def _neighbours_26(size: int):
    """Flat indices of the 26 neighbours of each position of a size^3 cube, CPU int64 (26, K).

    Neighbours outside the cube get the sentinel index K = size^3.
    """
    from .glrlm import neighbour_tables

    offsets = tuple((dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                    if (dz, dy, dx) != (0, 0, 0))
    return neighbour_tables(size, offsets)


def _zone_labels_gather(cubes):
    """``zone_labels`` by gathers: each step takes the minimum label over a position and its 26
    neighbours in the same zone (a precomputed (n, K, 26) penalty masks the others), then two
    pointer jumps. Fewer, larger torch ops than the sweeps: faster for 3 x 3 x 3 cubes. Arguments
    and result as ``zone_labels``.
    """
    import torch

    n, size = cubes.shape[0], cubes.shape[1]
    k = size ** 3
    dev = cubes.device
    nb = _neighbours_26(size).t().contiguous().to(dev)                 # (K, 26)
    lev = cubes.reshape(n, k)
    inside = lev > 0
    lev_pad = torch.cat([lev, lev.new_zeros(n, 1)], 1)
    # Gathers with the small neighbour table broadcast over kernels (cache-friendly indices).
    nb_e = nb[None].expand(n, k, 26)
    around_lev = lev_pad[:, None, :].expand(n, k, k + 1).gather(2, nb_e)
    small = torch.int16 if k < 2**15 - 1 else torch.int32
    # K where the neighbour is not in the same zone (other level, not in the kernel), else 0.
    apart = (~(inside[:, :, None] & (around_lev == lev[:, :, None]))).to(small) * k
    del around_lev, lev_pad
    ids = torch.arange(k, device=dev).to(small)
    label = torch.where(inside, ids, torch.full_like(ids, k))            # (n, K)
    # Iterate on the kernels whose labels still change; the working set (``rows``, ``apart``)
    # is compacted when it has shrunk by a quarter, so late iterations touch few kernels.
    rows = torch.arange(n, device=dev)
    current = label
    for _ in range(k):
        m = current.shape[0]
        sentinel = torch.full((m, 1), k, dtype=small, device=dev)
        padded = torch.cat([current, sentinel], 1)                       # (m, K + 1)
        around = padded[:, None, :].expand(m, k, k + 1).gather(2, nb_e[:m])
        new = torch.minimum(current, torch.maximum(around, apart).amin(-1))
        for _ in range(2):                                               # pointer jumping
            new = torch.cat([new, sentinel], 1).gather(1, new.long())
        changed = (new != current).any(1)
        label[rows] = new
        n_changed = int(changed.sum())
        if n_changed == 0:
            break
        if n_changed <= (3 * m) // 4:
            rows, apart, new = rows[changed], apart[changed], new[changed]
        current = new
    return label.long()


def compute(cubes, n_levels, names, **settings) -> dict:
    """GLSZM features of each kernel, PyRadiomics voxel-based semantics.

    Args:
        cubes: torch int64 (n, D, D, D), D = 2r+1, axis order (z, y, x): discretised gray level
            1..n_levels of each kernel voxel, 0 where the voxel is not in the kernel (outside
            the ROI for a masked kernel, outside the image). The centre cubes[:, r, r, r] is
            in the kernel (>= 1).
        n_levels: highest gray level of the ROI (PyRadiomics Ng); unused (no GLSZM feature
            depends on it), accepted for the common family interface.
        names: iterable of feature names from ``FEATURES`` (PyRadiomics names, e.g.
            "SmallAreaEmphasis"), without the "glszm_" prefix.
        **settings: ignored.

    Returns:
        dict name -> torch float64 (n,) on the cubes' device. Units: gray levels (squared) for
        the gray-level emphases/variance, voxels (squared) for zone-size ones, unitless
        otherwise. Never NaN (every kernel holds at least its centre).

    Raises:
        InputError: unknown feature name, or cubes not an int64 (n, D, D, D) tensor with odd D.

    Source: PyRadiomics ``radiomics.glszm.RadiomicsGLSZM`` (IBSI tags in ``FEATURES``).
    """
    import torch

    from .glrlm import check_cubes

    names = list(dict.fromkeys(names))
    check_cubes(cubes, names, FEATURES, "GLSZM")
    n = cubes.shape[0]
    if n == 0 or not names:
        return {nm: torch.zeros(n, dtype=torch.float64, device=cubes.device) for nm in names}
    counts = KernelZones(cubes)
    return {name: FEATURE_FUNCTIONS[name](counts) for name in names}


class KernelZones(zones.EntryCounts):
    """``zones.EntryCounts`` of the kernels' zones (torch, (n,) kernels): one entry per cube position,
    weight 1 at a zone's root (``zone_labels``), i its level, j its size."""

    def __init__(self, cubes):
        import torch

        n, size = cubes.shape[0], cubes.shape[1]
        k = self.k = size ** 3
        label = zone_labels(cubes)
        lev = cubes.reshape(n, k)
        inside = lev > 0
        self.root = inside & (label == torch.arange(k, device=cubes.device))  # one per zone
        sizes = torch.zeros(n, k + 1, dtype=torch.int64, device=cubes.device)
        sizes.scatter_add_(1, label, inside.long())
        self.sizes = sizes[:, :k]                                              # size at each root
        self.levels = lev
        self.w = self.root.double()
        self.total = self.w.sum(-1)                                            # N_z
        self.n_voxels = inside.sum(-1).double()                                # N_p
        self.i = torch.where(self.root, lev, 1).double()
        self.j = torch.where(self.root, self.sizes, 1).double()

    @cached_property
    def _codes(self):
        """The roots' codes level * (K + 1) + size, sorted (-1: not a root), and their validity."""
        import torch

        codes = torch.where(self.root, self.levels * (self.k + 1) + self.sizes, -1)
        ordered = codes.sort(-1).values
        return ordered, ordered >= 0

    @cached_property
    def per_cell(self):
        from .glrlm import counts_of_sorted

        return counts_of_sorted(*self._codes)

    @cached_property
    def per_level(self):
        from .glrlm import counts_of_sorted

        ordered, valid = self._codes
        return counts_of_sorted(ordered.div(self.k + 1, rounding_mode="floor"), valid)

    @cached_property
    def per_j(self):
        import torch

        per_size = torch.zeros(self.w.shape[0], self.k + 1, dtype=torch.float64, device=self.w.device)
        return per_size.scatter_add_(1, self.sizes * self.root, self.w)


# The ROI, as one kernel.

def roi_matrix(roi, n_levels: int, n_voxels: int):
    """Size-zone counts of one ROI, shape (1, n_levels, largest zone size), float64, as PyRadiomics'
    ``_cmatrices.calculate_glszm`` (at most ``n_voxels`` columns) after it removes the absent gray
    levels: [0, i-1, s-1] = number of zones (26-connected sets of ROI voxels with the same rank;
    8-connected within a slice with ``force2D``) of rank i and s voxels.

    Zones are the connected components (``scipy.sparse.csgraph``) of the graph joining each ROI voxel
    to its same-rank neighbours at the 13 angles (SimpleITK's ScalarConnectedComponent with a
    distance threshold of 0 was seen to split a zone at a corner contact).

    Args:
        roi: ``roi_engine.neighbours.RoiNeighbours`` of the ROI (ranks 1..n_levels).
        n_levels: number of gray levels present in the ROI. n_voxels: the ROI's voxel count.
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = roi.idx.size
    ordinal = np.zeros(roi.flat.shape, dtype=np.int32)
    ordinal[roi.idx] = np.arange(n, dtype=np.int32)
    src, dst = [], []
    for column in np.flatnonzero(roi.all_offsets > 0):  # one of each opposite pair
        same = np.flatnonzero(roi.nb26[column] == roi.lv)  # same rank implies in the ROI
        src.append(same)
        dst.append(ordinal[roi.idx[same] + roi.all_offsets[column]])
    src, dst = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src.astype(np.int32), dst)), shape=(n, n)).tocsr()
    n_zones, zone = connected_components(graph, directed=False)
    size = np.bincount(zone, minlength=n_zones)
    level = np.zeros(n_zones, dtype=np.int64)
    level[zone] = roi.lv
    width = int(size.max())
    code = (level - 1) * width + (size - 1)
    counts = np.bincount(code, minlength=n_levels * width)
    return counts.reshape(1, n_levels, width).astype(np.float64)


def features(counts, gray_levels, names) -> dict:
    """GLSZM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, largest zone) from ``roi_matrix``; gray_levels: int (L,).
    """
    import numpy as np

    sizes = np.arange(1, counts.shape[2] + 1)
    return evaluate(FEATURE_FUNCTIONS, zones.Matrix(counts, gray_levels, sizes, counts.sum((1, 2))), names)
