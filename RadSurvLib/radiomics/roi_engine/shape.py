"""Mesh surface area, mesh volume and maximum diameters of an ROI, as PyRadiomics' ``shape`` class.

PyRadiomics (its documentation of ``shape``; C extension ``_cshape``) builds a marching-cubes mesh of the mask
padded by one voxel (vertices at edge midpoints) and returns its surface area, its volume (divergence
theorem) and the largest vertex-to-vertex distances: over all vertex pairs, and over the pairs in one
axial plane (slice), one coronal plane (same row index y: "column") and one sagittal plane (same x:
"row"). The C code compares every pair of vertices, which is what makes it slow on large ROIs.

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

import numpy as np

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
    from skimage.measure import marching_cubes

    flip = config >= 128
    cube = _cube(255 - config if flip else config).astype(np.float64)
    vertices, faces, _, _ = marching_cubes(cube, 0.5, spacing=tuple(spacing), method="lorensen")
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return (a, c, b) if flip else (a, b, c)


def _mesh_volume(padded, volume, shift) -> float:
    config = cube_configurations(padded)
    surface = np.flatnonzero((config != 0) & (config != 255))
    kinds = config.reshape(-1)[surface]
    position = np.unravel_index(surface, config.shape)
    total = np.bincount(kinds, minlength=256) @ volume
    for axis in range(3):
        total += np.bincount(kinds, weights=position[axis], minlength=256) @ shift[axis]
    return float(total)


def _cube(config: int) -> np.ndarray:
    cube = np.zeros((2, 2, 2), dtype=bool)
    for bit, corner in enumerate(_CORNERS):
        cube[corner] = bool(config >> bit & 1)
    return cube


def _config_of(cube: np.ndarray) -> int:
    return sum(int(cube[corner]) << bit for bit, corner in enumerate(_CORNERS))


def cube_configurations(padded: np.ndarray) -> np.ndarray:
    """Marching-cube configuration (uint8, shape = padded.shape - 1) of each cube of a padded mask."""
    s = padded.shape
    config = np.zeros((s[0] - 1, s[1] - 1, s[2] - 1), dtype=np.uint8)
    for bit, (dz, dy, dx) in enumerate(_CORNERS):
        corner = padded[dz:s[0] - 1 + dz, dy:s[1] - 1 + dy, dx:s[2] - 1 + dx]
        config |= corner.astype(np.uint8) << bit
    return config


def mesh_vertices(padded: np.ndarray, spacing) -> np.ndarray:
    """Vertices (n, 3) of PyRadiomics' mesh, (z, y, x) in mm in the padded array's index space:
    midpoints of the edges between 6-adjacent voxels of which exactly one is in the mask."""
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
    vertices with the same z, the same y, the same x, and any vertices."""
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
    padded = np.pad(mask.astype(bool), 1)
    area, volume, shift = cube_tables(tuple(float(s) for s in spacing))
    config = cube_configurations(padded)
    kinds = config[(config != 0) & (config != 255)]
    total_area = np.bincount(kinds, minlength=256) @ area
    return float(total_area), _mesh_volume(padded, volume, shift), diameters(padded, spacing)
