"""Peritumoral rings: exact physical distances, bands, exclusivity; on PAT1 and on a sphere."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from RadSurvLib.errors import InputError
from RadSurvLib.rings import FIRST_RING_LABEL, GTV_LABEL, make_rings, parse_rings


def _independent_distance(mask_image):
    """Distance (mm) of each outside voxel centre to the nearest GTV voxel centre (scipy EDT)."""
    inside = sitk.GetArrayFromImage(mask_image) > 0
    return ndimage.distance_transform_edt(~inside, sampling=mask_image.GetSpacing()[::-1])


@pytest.mark.parametrize("grid", ["ct", "1mm"])
def test_pat1_rings_match_an_independent_distance_map(pat1_images, grid):
    from RadSurvLib.preprocessing import resample_image, resample_mask_preserving_volume

    ct, gtv = pat1_images
    if grid == "1mm":
        gtv = resample_mask_preserving_volume(gtv, resample_image(ct, 1.0)).mask
    labelmap, rings = make_rings(gtv, (3, 6, 9))
    labels = sitk.GetArrayFromImage(labelmap)
    assert labelmap.GetSpacing() == gtv.GetSpacing() and labelmap.GetOrigin() == gtv.GetOrigin()
    assert np.array_equal(labels == GTV_LABEL, sitk.GetArrayFromImage(gtv) > 0)
    distance = _independent_distance(gtv)
    inner = 0.0
    for k, ring in enumerate(rings):
        members = labels == FIRST_RING_LABEL + k
        expected = (distance > inner) & (distance <= ring.outer_mm)
        # Maurer and scipy's EDT agree up to float rounding exactly at a band edge.
        assert (members != expected).sum() <= 1e-3 * expected.sum()
        assert inner < ring.mean_distance_mm <= ring.outer_mm
        assert inner < distance[members].mean() <= ring.outer_mm
        assert ring.voxels == members.sum() > 0
        inner = ring.outer_mm
    assert [r.name for r in rings] == ["ring_0-3mm", "ring_3-6mm", "ring_6-9mm"]


def test_sphere_ring_volumes_follow_the_analytic_shells():
    radius, spacing, size = 15.0, 1.0, 64
    grid = (np.arange(size) - (size - 1) / 2) * spacing
    z, y, x = np.meshgrid(grid, grid, grid, indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    mask = sitk.GetImageFromArray((r <= radius).astype(np.uint8))
    _, rings = make_rings(mask, (3, 6, 9))
    # Voxel centres at distance <= d from the GTV's outermost voxel centres: the shell reaches
    # radius + d measured from those centres (about radius - 0.5 mm) plus half a voxel.
    for ring in rings:
        shell = 4 / 3 * np.pi * ((radius + ring.outer_mm) ** 3 - (radius + ring.inner_mm) ** 3)
        assert abs(ring.volume_mm3 - shell) / shell < 0.08


def test_ring_distance_parsing_and_errors():
    assert parse_rings("3,6,9") == (3.0, 6.0, 9.0)
    assert parse_rings([2, 5]) == (2.0, 5.0)
    for bad in ("3,x", "6,3", "0,3", ""):
        with pytest.raises(InputError):
            parse_rings(bad)
    with pytest.raises(InputError, match="empty"):
        make_rings(sitk.Image(8, 8, 8, sitk.sitkUInt8))
