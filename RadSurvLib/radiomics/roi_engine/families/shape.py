"""Shape features (PyRadiomics ``shape``, 3D) of one ROI.

From the ROI's marching-cubes mesh (``roi_engine.shape.mesh_coefficients``: surface area A, volume V,
maximum diameters) and the principal component analysis of its voxel centres (eigenvalues
lambda_least <= lambda_minor <= lambda_major of their covariance, mm^2). Definitions: PyRadiomics'
documentation of ``shape`` and the IBSI manual (tags in ``FEATURES``).
"""

from __future__ import annotations

import numpy as np

from .evaluation import evaluate

#: Shape features (PyRadiomics ``shape``, the 14 not deprecated), name -> IBSI tag (None: not in IBSI).
FEATURES = {
    "Elongation": "Q3CK", "Flatness": "N17B", "LeastAxisLength": "7J51", "MajorAxisLength": "TDIC",
    "Maximum2DDiameterColumn": None, "Maximum2DDiameterRow": None, "Maximum2DDiameterSlice": None,
    "Maximum3DDiameter": "L0JK", "MeshVolume": "RNU0", "MinorAxisLength": "P9VJ", "Sphericity": "QCFX",
    "SurfaceArea": "C0JK", "SurfaceVolumeRatio": "2PR5", "VoxelVolume": "YEKZ",
}


class Shape:
    """Mesh and PCA quantities of one ROI (see ``features``)."""

    def __init__(self, mask_box, spacing_zyx, area, volume, diameters):
        self.voxel_volume = float(np.count_nonzero(mask_box) * np.prod(spacing_zyx))
        self.area, self.volume, self.diameters = area, volume, diameters
        self.eig = eigenvalues(mask_box, spacing_zyx)


def eigenvalues(mask_box, spacing_zyx) -> np.ndarray:
    """Eigenvalues (ascending, mm^2) of the covariance (1/n normalisation) of the ROI's voxel centres
    in mm; tiny negatives of rounding (> -1e-10) set to 0 (PyRadiomics' convention)."""
    coords = np.array(np.nonzero(mask_box), dtype=np.float64).T * np.asarray(spacing_zyx, float)[None, :]
    centred = (coords - coords.mean(0)) / np.sqrt(len(coords))
    eig = np.linalg.eigvals(centred.T @ centred)
    eig = np.real_if_close(eig, tol=1e6)
    eig[(eig < 0) & (eig > -1e-10)] = 0
    eig.sort()
    return eig


def _sqrt(x):
    return np.sqrt(x) if x >= 0 else np.nan


def elongation(s):
    """sqrt(lambda_minor / lambda_major) (IBSI Q3CK)."""
    return _sqrt(s.eig[1] / s.eig[2]) if s.eig[1] >= 0 and s.eig[2] > 0 else np.nan


def flatness(s):
    """sqrt(lambda_least / lambda_major) (IBSI N17B)."""
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


FUNCTIONS = {
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
    from ..shape import mesh_coefficients

    area, volume, diameters = mesh_coefficients(mask_box, spacing_zyx)
    return evaluate(FUNCTIONS, Shape(mask_box, spacing_zyx, area, volume, diameters), names)
