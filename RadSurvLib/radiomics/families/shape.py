"""Shape features (PyRadiomics ``shape``, 3D) of one ROI, and the mesh they are computed from.

Shape is ROI only: no voxel maps. The features (``features``; one function per feature, with its
formula, IBSI tag and PyRadiomics name) come from the ROI's marching-cubes mesh
(``mesh_coefficients``: surface area A, volume V, maximum diameters) and the principal component
analysis of its voxel centres (eigenvalues lambda_least <= lambda_minor <= lambda_major of their
covariance, mm^2). Definitions: PyRadiomics' documentation of ``shape`` and the IBSI manual (tags
in ``FEATURES``).

The mesh, as PyRadiomics' ``shape`` class: PyRadiomics (its documentation of ``shape``; C extension
``_cshape``) builds a marching-cubes mesh of the mask padded by one voxel (vertices at edge
midpoints) and returns its surface area, its volume (divergence theorem) and the largest
vertex-to-vertex distances: over all vertex pairs, and over the pairs in one axial plane (slice),
one coronal plane (same row index y: "column") and one sagittal plane (same x: "row"). The C code
compares every pair of vertices, which is what makes it slow on large ROIs.

Here:
* Surface area and volume are sums over the 2 x 2 x 2 cubes of per-configuration contributions
  (``cube_tables``): the triangles of the classic marching-cubes table, from scikit-image, for
  each of the 256 corner configurations (bit k: corner ``_CORNERS[k]`` in the ROI); a cube's volume
  term (signed tetrahedra from the origin) is linear in the cube's position.
* The vertex set is the same (midpoints of the edges between a voxel in the mask and one outside);
  the largest distances are taken over a subset that holds every convex-hull vertex (the two ends of
  each grid line; in 3D then the hull's vertices from scipy / Qhull), in 3D and in each plane, with
  the squared distance summed in PyRadiomics' order (z, y, x): a farthest pair is always a pair of
  hull vertices.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from .arrays import evaluate

if TYPE_CHECKING:  # annotations only: NumPy is imported where it runs (see ``arrays``)
    import numpy as np

#: Shape features (PyRadiomics ``shape``, the 14 not deprecated), name -> IBSI tag (None: not in IBSI).
FEATURES = {
    "Elongation": "Q3CK", "Flatness": "N17B", "LeastAxisLength": "7J51", "MajorAxisLength": "TDIC",
    "Maximum2DDiameterColumn": None, "Maximum2DDiameterRow": None, "Maximum2DDiameterSlice": None,
    "Maximum3DDiameter": "L0JK", "MeshVolume": "RNU0", "MinorAxisLength": "P9VJ", "Sphericity": "QCFX",
    "SurfaceArea": "C0JK", "SurfaceVolumeRatio": "2PR5", "VoxelVolume": "YEKZ",
}

#: Corners of a marching cube, (dz, dy, dx), in the classic table's order (Lorensen and Cline's
#: vertex numbering with x, y, z = dx, dy, dz).
_CORNERS = ((0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0))


@lru_cache(maxsize=8)
def cube_tables(spacing: tuple) -> tuple:
    """Per-configuration mesh contributions for voxel ``spacing`` (z, y, x) in mm.

    The triangles of a configuration are those of the classic marching-cubes table (Lorensen and
    Cline 1987; vertices at edge midpoints), as scikit-image's ``marching_cubes(method="lorensen")``
    gives them for the cube alone; a configuration with corner 7 set takes the triangles of its
    complement, turned over (PyRadiomics' rule, which keeps the mesh closed and consistently
    oriented).

    Returns (area, volume, shift): float64 (256,), (256,), (3, 256). A cube of configuration c at
    cube index (iz, iy, ix) adds ``area[c]`` mm^2 to the surface area and
    ``volume[c] + iz * shift[0, c] + iy * shift[1, c] + ix * shift[2, c]`` mm^3 to the volume
    (signed tetrahedra from the origin, divergence theorem: linear in the cube's position, since
    det(p + a, p + b, p + c) = det(a, b, c) + p . (b x c + c x a + a x b)).
    """
    import numpy as np

    spacing = np.asarray(spacing, float)
    area = np.zeros(256)
    volume = np.zeros(256)
    shift = np.zeros((3, 256))
    for config in range(1, 255):
        a, b, c = _triangles(config, spacing)
        area[config] = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum()
        volume[config] = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
        slope = (np.cross(b, c) + np.cross(c, a) + np.cross(a, b)).sum(0) / 6
        shift[:, config] = slope * spacing
    one_voxel = np.zeros((3, 3, 3), dtype=bool)
    one_voxel[1, 1, 1] = True
    if _mesh_volume(one_voxel, volume, shift) < 0:  # orient the mesh outwards
        volume, shift = -volume, -shift
    return area, volume, shift


def _triangles(config: int, spacing) -> tuple:
    """(a, b, c): the vertices (n, 3) in mm, cube-relative, of the triangles of one configuration."""
    import numpy as np
    from skimage.measure import marching_cubes

    flip = config >= 128
    cube = _cube(255 - config if flip else config).astype(np.float64)
    vertices, faces, _, _ = marching_cubes(cube, 0.5, spacing=tuple(spacing), method="lorensen")
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return (a, c, b) if flip else (a, b, c)


def _mesh_volume(padded, volume, shift) -> float:
    import numpy as np

    config = cube_configurations(padded)
    surface = np.flatnonzero((config != 0) & (config != 255))
    kinds = config.reshape(-1)[surface]
    position = np.unravel_index(surface, config.shape)
    total = np.bincount(kinds, minlength=256) @ volume
    for axis in range(3):
        total += np.bincount(kinds, weights=position[axis], minlength=256) @ shift[axis]
    return float(total)


def _cube(config: int) -> np.ndarray:
    import numpy as np

    cube = np.zeros((2, 2, 2), dtype=bool)
    for bit, corner in enumerate(_CORNERS):
        cube[corner] = bool(config >> bit & 1)
    return cube


def _config_of(cube: np.ndarray) -> int:
    return sum(int(cube[corner]) << bit for bit, corner in enumerate(_CORNERS))


def cube_configurations(padded: np.ndarray) -> np.ndarray:
    """Marching-cube configuration (uint8, shape = padded.shape - 1) of each cube of a padded mask."""
    import numpy as np

    s = padded.shape
    config = np.zeros((s[0] - 1, s[1] - 1, s[2] - 1), dtype=np.uint8)
    for bit, (dz, dy, dx) in enumerate(_CORNERS):
        corner = padded[dz:s[0] - 1 + dz, dy:s[1] - 1 + dy, dx:s[2] - 1 + dx]
        config |= corner.astype(np.uint8) << bit
    return config


def mesh_vertices(padded: np.ndarray, spacing) -> np.ndarray:
    """Vertices (n, 3) of PyRadiomics' mesh, (z, y, x) in mm in the padded array's index space:
    midpoints of the edges between 6-adjacent voxels of which exactly one is in the mask."""
    import numpy as np

    out = []
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        pts = np.argwhere(padded[tuple(lo)] != padded[tuple(hi)]).astype(np.float64)
        pts[:, axis] += 0.5
        out.append(pts)
    return np.concatenate(out) * np.asarray(spacing, float)


def _largest_distance(points: np.ndarray) -> float:
    """Largest squared distance between any two rows of ``points`` (n, d), summed over the columns
    in order (as ``_cshape``), over the candidates of ``_extremes``."""
    if len(points) < 2:
        return 0.0
    points = _extremes(points)
    best = 0.0
    for start in range(0, len(points), 1024):  # bounded memory for large candidate sets
        block = points[start:start + 1024]
        d = block[:, None, :] - points[None, :, :]
        d *= d
        total = d[..., 0]
        for k in range(1, points.shape[1]):
            total = total + d[..., k]
        best = max(best, float(total.max()))
    return best


def _line_ends(points: np.ndarray, axis: int) -> np.ndarray:
    """Boolean mask of the rows of ``points`` (n, d) that are the first or the last along ``axis``
    among the rows with the same other coordinates (the two ends of each grid line)."""
    import numpy as np

    others = [points[:, k] for k in range(points.shape[1]) if k != axis]
    order = np.lexsort([points[:, axis]] + others[::-1])
    key = np.stack(others, axis=1)[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.any(key[1:] != key[:-1], axis=1)
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(order) - 1)
    mask = np.zeros(len(points), dtype=bool)
    mask[order[first]] = True
    mask[order[last]] = True
    return mask


def _extremes(points: np.ndarray) -> np.ndarray:
    """A subset of ``points`` (n, d) holding every vertex of their convex hull: a hull vertex is an
    end of its grid line along every axis; for many 3D candidates, then the hull's vertices (Qhull)."""
    import numpy as np

    if len(points) <= 64:
        return points
    keep = np.ones(len(points), dtype=bool)
    for axis in range(points.shape[1]):
        keep &= _line_ends(points, axis)
    candidates = points[keep]
    if candidates.shape[1] < 3 or len(candidates) <= 2048:
        return candidates
    from scipy.spatial import ConvexHull, QhullError

    try:
        return candidates[ConvexHull(candidates).vertices]
    except (QhullError, ValueError):  # flat point sets: every candidate stays
        return candidates


def diameters(padded: np.ndarray, spacing) -> tuple:
    """(slice, column, row, 3D) maximum diameters in mm, as ``_cshape``: largest distance between
    vertices with the same z, the same y, the same x, and any vertices.

    With Numba (a default dependency) the per-plane maxima and the 3D maximum over the hull's
    vertices run compiled (``_compiled_diameters``); ``_diameters_numpy`` otherwise (the reference of
    the tests): same squared distances, summed in the same order.
    """
    import importlib.util

    if importlib.util.find_spec("numba") is not None:
        return _compiled_diameters(padded, spacing)
    return _diameters_numpy(padded, spacing)


def _plane_order(vertices: np.ndarray, axis: int) -> tuple:
    """(plane, u, v): the vertices' coordinate along ``axis`` and the two others (in z, y, x order),
    sorted by plane, then u, then v (float64, C-contiguous)."""
    import numpy as np

    other = [a for a in range(3) if a != axis]
    plane, u, v = vertices[:, axis], vertices[:, other[0]], vertices[:, other[1]]
    order = np.lexsort((v, u, plane))
    return (np.ascontiguousarray(plane[order]), np.ascontiguousarray(u[order]),
            np.ascontiguousarray(v[order]))


def _compiled_diameters(padded: np.ndarray, spacing) -> tuple:
    """``diameters`` with the compiled loops (``_plane_maxima``, ``_max_squared_distance``)."""
    import numpy as np

    vertices = mesh_vertices(padded, spacing)
    result = [np.sqrt(_plane_maxima(*_plane_order(vertices, axis))) for axis in range(3)]
    if len(vertices) < 2:
        return tuple(result) + (0.0,)
    result.append(np.sqrt(_max_squared_distance(np.ascontiguousarray(_extremes(vertices)))))
    return tuple(result)


def _plane_maxima_py(plane, u, v):
    """Largest squared in-plane distance (u then v terms summed) between vertices of one plane;
    ``plane``, ``u``, ``v`` (n,) sorted by plane, u, v (``_plane_order``). Only the two ends of each
    (plane, u) line can be a plane's hull vertex; the planes are visited by the diagonal of their
    bounding box, largest first, and the visit stops at a diagonal not longer than the best
    distance found (no pair of that plane can be farther apart)."""
    n = plane.size
    ends = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        first = i == 0 or plane[i] != plane[i - 1] or u[i] != u[i - 1]
        last = i == n - 1 or plane[i] != plane[i + 1] or u[i] != u[i + 1]
        if first or last:
            ends[m] = i
            m += 1
    starts = np.empty(m + 1, dtype=np.int64)
    g = 0
    for k in range(m):
        if k == 0 or plane[ends[k]] != plane[ends[k - 1]]:
            starts[g] = k
            g += 1
    starts[g] = m
    reach = np.empty(g, dtype=np.float64)
    for p in range(g):
        u_lo = u_hi = u[ends[starts[p]]]
        v_lo = v_hi = v[ends[starts[p]]]
        for k in range(starts[p], starts[p + 1]):
            i = ends[k]
            u_lo = min(u_lo, u[i])
            u_hi = max(u_hi, u[i])
            v_lo = min(v_lo, v[i])
            v_hi = max(v_hi, v[i])
        reach[p] = (u_hi - u_lo) ** 2 + (v_hi - v_lo) ** 2
    best = 0.0
    for p in np.argsort(-reach):
        if reach[p] <= best:
            break
        for a in range(starts[p], starts[p + 1]):
            i = ends[a]
            for b in range(a + 1, starts[p + 1]):
                j = ends[b]
                du = u[i] - u[j]
                dv = v[i] - v[j]
                d = du * du + dv * dv
                if d > best:
                    best = d
    return best


def _max_squared_distance_py(points):
    """Largest squared distance between two rows of ``points`` (n, d) float64, the d terms summed in
    column order (as ``_cshape``); 0 for fewer than 2 rows."""
    n, dims = points.shape
    best = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            d = 0.0
            for k in range(dims):
                t = points[i, k] - points[j, k]
                d += t * t
            if d > best:
                best = d
    return best


def _diameters_numpy(padded: np.ndarray, spacing) -> tuple:
    """``diameters`` in NumPy (no Numba)."""
    import numpy as np

    vertices = mesh_vertices(padded, spacing)
    result = []
    for axis in range(3):
        other = [a for a in range(3) if a != axis]
        # ends of each grid line (plane, u) along v: a superset of every plane's hull vertices
        plane, u, v = vertices[:, axis], vertices[:, other[0]], vertices[:, other[1]]
        order = np.lexsort((v, u, plane))
        key = np.stack([plane[order], u[order]], axis=1)
        new = np.ones(len(order), dtype=bool)
        new[1:] = np.any(key[1:] != key[:-1], axis=1)
        first = np.flatnonzero(new)
        last = np.append(first[1:] - 1, len(order) - 1)
        ends = order[np.unique(np.concatenate([first, last]))]
        ends = ends[np.argsort(plane[ends], kind="stable")]
        bounds = np.flatnonzero(np.diff(plane[ends])) + 1
        groups = [g for g in np.split(ends, bounds) if len(g) > 1]
        # planes by the diagonal of their bounding box, largest first: a plane whose diagonal is
        # not longer than the best distance so far cannot hold a longer one
        points = [vertices[g][:, other] for g in groups]
        reach = [float(np.sum((p.max(0) - p.min(0)) ** 2)) for p in points]
        best = 0.0
        for k in np.argsort(reach)[::-1]:
            if reach[k] <= best:
                break
            best = max(best, _largest_distance(points[k]))
        result.append(np.sqrt(best))
    result.append(np.sqrt(_largest_distance(vertices)))
    return tuple(result)


def mesh_coefficients(mask: np.ndarray, spacing) -> tuple:
    """(surface area mm^2, mesh volume mm^3, diameters) of a boolean ROI mask (z, y, x), as
    ``_cshape.calculate_coefficients`` on the mask padded by one voxel (PyRadiomics' shape class)."""
    import numpy as np

    padded = np.pad(mask.astype(bool), 1)
    area, volume, shift = cube_tables(tuple(float(s) for s in spacing))
    config = cube_configurations(padded)
    kinds = config[(config != 0) & (config != 255)]
    total_area = np.bincount(kinds, minlength=256) @ area
    return float(total_area), _mesh_volume(padded, volume, shift), diameters(padded, spacing)


# The features.

class Shape:
    """Mesh and PCA quantities of one ROI (see ``features``)."""

    def __init__(self, mask_box, spacing_zyx, area, volume, diameters):
        import numpy as np

        self.voxel_volume = float(np.count_nonzero(mask_box) * np.prod(spacing_zyx))
        self.area, self.volume, self.diameters = area, volume, diameters
        self.eig = eigenvalues(mask_box, spacing_zyx)


def eigenvalues(mask_box, spacing_zyx) -> np.ndarray:
    """Eigenvalues (ascending, mm^2) of the covariance (1/n normalisation) of the ROI's voxel centres
    in mm; tiny negatives of rounding (> -1e-10) set to 0 (PyRadiomics' convention)."""
    import numpy as np

    coords = np.array(np.nonzero(mask_box), dtype=np.float64).T * np.asarray(spacing_zyx, float)[None, :]
    centred = (coords - coords.mean(0)) / np.sqrt(len(coords))
    eig = np.linalg.eigvals(centred.T @ centred)
    eig = np.real_if_close(eig, tol=1e6)
    eig[(eig < 0) & (eig > -1e-10)] = 0
    eig.sort()
    return eig


def _sqrt(x):
    import numpy as np

    return np.sqrt(x) if x >= 0 else np.nan


def elongation(s):
    """sqrt(lambda_minor / lambda_major) (IBSI Q3CK)."""
    import numpy as np

    return _sqrt(s.eig[1] / s.eig[2]) if s.eig[1] >= 0 and s.eig[2] > 0 else np.nan


def flatness(s):
    """sqrt(lambda_least / lambda_major) (IBSI N17B)."""
    import numpy as np

    return _sqrt(s.eig[0] / s.eig[2]) if s.eig[0] >= 0 and s.eig[2] > 0 else np.nan


def least_axis_length(s):
    """4 sqrt(lambda_least) (IBSI 7J51)."""
    return 4 * _sqrt(s.eig[0])


def major_axis_length(s):
    """4 sqrt(lambda_major) (IBSI TDIC)."""
    return 4 * _sqrt(s.eig[2])


def minor_axis_length(s):
    """4 sqrt(lambda_minor) (IBSI P9VJ)."""
    return 4 * _sqrt(s.eig[1])


def maximum_2d_diameter_slice(s):
    """Largest distance between mesh vertices in one axial plane (same z), mm."""
    return s.diameters[0]


def maximum_2d_diameter_column(s):
    """Largest distance between mesh vertices in one coronal plane (same y), mm."""
    return s.diameters[1]


def maximum_2d_diameter_row(s):
    """Largest distance between mesh vertices in one sagittal plane (same x), mm."""
    return s.diameters[2]


def maximum_3d_diameter(s):
    """Largest distance between mesh vertices, mm (IBSI L0JK)."""
    return s.diameters[3]


def mesh_volume(s):
    """Volume enclosed by the mesh, mm^3 (IBSI RNU0)."""
    return s.volume


def sphericity(s):
    """(36 pi V^2)^(1/3) / A (IBSI QCFX)."""
    import numpy as np

    return (36 * np.pi * s.volume ** 2) ** (1.0 / 3.0) / s.area


def surface_area(s):
    """Mesh surface area, mm^2 (IBSI C0JK)."""
    return s.area


def surface_volume_ratio(s):
    """A / V, 1/mm (IBSI 2PR5)."""
    return s.area / s.volume


def voxel_volume(s):
    """Number of voxels x voxel volume, mm^3 (IBSI YEKZ)."""
    return s.voxel_volume


#: PyRadiomics feature name -> its function (of a ``Shape``).
FEATURE_FUNCTIONS = {
    "Elongation": elongation, "Flatness": flatness, "LeastAxisLength": least_axis_length,
    "MajorAxisLength": major_axis_length, "Maximum2DDiameterColumn": maximum_2d_diameter_column,
    "Maximum2DDiameterRow": maximum_2d_diameter_row, "Maximum2DDiameterSlice": maximum_2d_diameter_slice,
    "Maximum3DDiameter": maximum_3d_diameter, "MeshVolume": mesh_volume, "MinorAxisLength": minor_axis_length,
    "Sphericity": sphericity, "SurfaceArea": surface_area, "SurfaceVolumeRatio": surface_volume_ratio,
    "VoxelVolume": voxel_volume,
}


def features(mask_box, spacing_zyx, names) -> dict:
    """Shape features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        mask_box: bool (z, y, x), the ROI's bounding box. spacing_zyx: voxel spacing (3,), mm.
    """
    area, volume, diameters = mesh_coefficients(mask_box, spacing_zyx)
    return evaluate(FEATURE_FUNCTIONS, Shape(mask_box, spacing_zyx, area, volume, diameters), names)


@lru_cache(maxsize=1)
def _numba_loops() -> tuple:
    """(``_plane_maxima_py``, ``_max_squared_distance_py``) compiled with Numba, on first use (this
    module imports neither NumPy nor Numba at import: see ``arrays``)."""
    import numpy

    from ..numba_jit import jit

    globals()["np"] = numpy  # the loops' global NumPy, resolved when Numba compiles them
    return jit(_plane_maxima_py), jit(_max_squared_distance_py)


def _plane_maxima(plane, u, v) -> float:
    """``_plane_maxima_py`` compiled."""
    return _numba_loops()[0](plane, u, v)


def _max_squared_distance(points) -> float:
    """``_max_squared_distance_py`` compiled."""
    return _numba_loops()[1](points)
