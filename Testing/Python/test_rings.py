"""Peritumoral rings: exact physical distances, bands, exclusivity; on PAT1 and on a sphere."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from RadSurvLib.errors import InputError
from RadSurvLib.rings import (FIRST_RING_LABEL, GTV_LABEL, RingClippedWarning, make_rings,
                              make_rings_per_component, parse_bands, parse_rings, roi_masks)


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


def _sphere(radius, spacing_zyx, extent=30.0, offset=(0.13, 0.31, 0.07), centre=(0.0, 0.0, 0.0)):
    """A ball of ``radius`` mm on a (z, y, x) grid of ``spacing_zyx`` mm covering +-extent mm; the
    grid is shifted by ``offset`` mm so that the ball is not symmetric on the grid."""
    axes = [(np.arange(int(2 * extent / s) + 1) - int(extent / s)) * s + o
            for s, o in zip(spacing_zyx, offset)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    r = np.sqrt((x - centre[2]) ** 2 + (y - centre[1]) ** 2 + (z - centre[0]) ** 2)
    image = sitk.GetImageFromArray((r <= radius).astype(np.uint8))
    image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    return image


def _shell_mm3(radius, inner, outer):
    return 4 / 3 * np.pi * ((radius + outer) ** 3 - (radius + inner) ** 3)


def test_surface_convention_rings_match_analytic_shells_on_an_anisotropic_grid():
    # CT-like grid: 3 mm slices, 0.977 mm in-plane (PAT1's spacing).
    radius = 15.0
    labelmap, rings = make_rings(_sphere(radius, (3.0, 0.977, 0.977)), (3, 6, 9), convention="surface",
                                 inner_rim_mm=3.0)
    assert [r.name for r in rings] == ["ring_0-3mm", "ring_3-6mm", "ring_6-9mm", "rim_0-3mm"]
    for ring in rings[:3]:
        error = ring.volume_mm3 / _shell_mm3(radius, ring.inner_mm, ring.outer_mm) - 1
        assert abs(error) < 0.03, (ring.name, error)
        assert ring.inner_mm < ring.mean_distance_mm <= ring.outer_mm
    rim = rings[3]
    assert rim.inside and rim.inner_mm == -3.0 and rim.outer_mm == 0.0
    assert abs(rim.volume_mm3 / _shell_mm3(radius, -3.0, 0.0) - 1) < 0.06
    assert -3.0 <= rim.mean_distance_mm < 0
    # The rim stays part of the GTV ROI.
    masks = roi_masks(labelmap, rings)
    assert sitk.GetArrayViewFromImage(masks["GTV"]).sum() == sitk.GetArrayViewFromImage(
        _sphere(radius, (3.0, 0.977, 0.977))).sum()


def test_centre_convention_is_the_default_and_documents_its_first_ring_bias():
    radius, grid = 15.0, (3.0, 0.977, 0.977)
    _, default = make_rings(_sphere(radius, grid), (3, 6, 9))
    _, centre = make_rings(_sphere(radius, grid), (3, 6, 9), convention="centre")
    assert [r.voxels for r in default] == [r.voxels for r in centre]
    error = default[0].volume_mm3 / _shell_mm3(radius, 0, 3) - 1
    assert -0.25 < error < -0.10  # the first outside voxel is >= one voxel step away


def test_bands_with_gaps_and_parsing():
    assert parse_bands("3,6,9") == ((0, 3), (3, 6), (6, 9))
    assert parse_bands("3-6,6-9") == ((3, 6), (6, 9))
    assert parse_bands([(2, 4), 7]) == ((2, 4), (4, 7))
    for bad in ("3-2", "0-3,2-5", "x", "", "-1-2"):
        with pytest.raises(InputError):
            parse_bands(bad)
    image = _sphere(8.0, (1.0, 1.0, 1.0), extent=22)
    labels_a, bands = make_rings(image, "3-6,6-9")
    labels_b, contiguous = make_rings(image, (3, 6, 9))
    a, b = sitk.GetArrayFromImage(labels_a), sitk.GetArrayFromImage(labels_b)
    assert [r.name for r in bands] == ["ring_3-6mm", "ring_6-9mm"]
    # The 3-6 and 6-9 bands are exactly the second and third contiguous rings; 0-3 is left empty.
    assert np.array_equal(a == FIRST_RING_LABEL, b == FIRST_RING_LABEL + 1)
    assert np.array_equal(a == FIRST_RING_LABEL + 1, b == FIRST_RING_LABEL + 2)
    assert (a[b == FIRST_RING_LABEL] == 0).all()


def test_air_threshold_and_lung_mask_remove_ring_voxels():
    gtv = _sphere(6.0, (1.0, 1.0, 1.0), extent=16)
    ct_array = np.zeros(sitk.GetArrayViewFromImage(gtv).shape, dtype=np.int16)
    ct_array[:, :, : ct_array.shape[2] // 2] = -1000  # left half is air
    ct = sitk.GetImageFromArray(ct_array)
    ct.CopyInformation(gtv)
    _, free = make_rings(gtv, (3,))
    _, no_air = make_rings(gtv, (3,), ct=ct, air_hu=-950)
    assert no_air[0].excluded_air_voxels > 0
    assert no_air[0].voxels + no_air[0].excluded_air_voxels == free[0].voxels
    lung = sitk.GetImageFromArray((ct_array == -1000).astype(np.uint8))
    lung.CopyInformation(gtv)
    labels, in_lung = make_rings(gtv, (3,), mask=lung)
    ring = sitk.GetArrayFromImage(labels) == FIRST_RING_LABEL
    assert ring.any() and not ring[:, :, ct_array.shape[2] // 2:].any()
    assert in_lung[0].voxels + in_lung[0].excluded_mask_voxels == free[0].voxels
    with pytest.raises(InputError, match="CT"):
        make_rings(gtv, (3,), air_hu=-950)
    shifted = sitk.Image(ct)
    shifted.SetOrigin((5.0, 0.0, 0.0))
    with pytest.raises(InputError, match="grid"):
        make_rings(gtv, (3,), ct=shifted, air_hu=-950)


def test_gtv_touching_the_border_warns_with_the_lost_fraction():
    # Ball of radius 8 mm centred 2 mm from the x = 0 face of a 1 mm grid.
    spacing = (1.0, 1.0, 1.0)
    image = _sphere(8.0, spacing, extent=20, offset=(0, 0, 0), centre=(0.0, 0.0, -18.0))
    assert sitk.GetArrayViewFromImage(image)[:, :, 0].any()
    with pytest.warns(RingClippedWarning, match=r"ring_\d-\dmm: \d+\.\d % of the ring") as caught:
        _, rings = make_rings(image, (3, 6, 9))
    assert len(caught) == 3
    # The same ball far from the border gives the unclipped ring; the lost fraction is what is missing.
    centred = _sphere(8.0, spacing, extent=20, offset=(0, 0, 0))
    _, full = make_rings(centred, (3, 6, 9), warn=False)
    for clipped, whole in zip(rings, full):
        assert clipped.clipped_at_border and not whole.clipped_at_border
        assert whole.lost_fraction == 0.0
        # The ball itself is cut by the border, so compare with a tolerance.
        expected = 1 - clipped.voxels / whole.voxels
        assert abs(clipped.lost_fraction - expected) < 0.1
        assert 0.2 < clipped.lost_fraction < 0.7
    # Farther rings stick out farther beyond the x = 0 face.
    assert rings[0].lost_fraction < rings[1].lost_fraction < rings[2].lost_fraction


def test_components_per_component_or_union():
    spacing = (1.0, 1.0, 1.0)
    a = sitk.GetArrayFromImage(_sphere(5.0, spacing, extent=25, offset=(0, 0, 0), centre=(0, 0, -10)))
    b = sitk.GetArrayFromImage(_sphere(3.0, spacing, extent=25, offset=(0, 0, 0), centre=(0, 0, 4)))
    gtv = sitk.GetImageFromArray((a | b).astype(np.uint8))
    parts = make_rings_per_component(gtv, (3, 6))
    assert [p.component for p in parts] == [1, 2]
    assert parts[0].voxels == a.sum() and parts[1].voxels == b.sum()
    union_labels, union = make_rings(gtv, (3, 6))
    for part in parts:
        labels = sitk.GetArrayFromImage(part.labelmap)
        assert labels.shape == a.shape
        assert not ((labels >= FIRST_RING_LABEL) & ((a | b) > 0)).any()  # never on another component
        assert all(r.component == part.component for r in part.rings)
    # The 3-6 mm ring of the small node overlaps the primary's 0-3 mm ring (7 mm gap), which a
    # single union labelmap cannot express: the per-component rings together exceed the union's.
    first = [sitk.GetArrayFromImage(p.labelmap) == FIRST_RING_LABEL + 1 for p in parts]
    assert (first[0] & first[1]).sum() > 0
    assert sum(p.rings[0].voxels for p in parts) > union[0].voxels


def test_pat1_rim_air_and_no_border_loss(pat1_images):
    import warnings

    ct, gtv = pat1_images
    with warnings.catch_warnings():
        warnings.simplefilter("error", RingClippedWarning)
        labelmap, rings = make_rings(gtv, (3, 6, 9), ct=ct, air_hu=-950, inner_rim_mm=2.0)
    labels = sitk.GetArrayFromImage(labelmap)
    hu = sitk.GetArrayFromImage(ct)
    *outside, rim = rings
    for ring in outside:
        assert ring.lost_fraction == 0.0 and not ring.clipped_at_border
        assert ring.excluded_air_voxels > 0  # PAT1's GTV borders lung parenchyma
        assert (hu[labels == ring.label] >= -950).all()
        assert ring.inner_mm < ring.mean_distance_mm <= ring.outer_mm
    assert rim.name == "rim_0-2mm" and -2.0 <= rim.mean_distance_mm < 0
    inside = sitk.GetArrayFromImage(gtv) > 0
    assert inside[labels == rim.label].all()
    assert np.array_equal(sitk.GetArrayFromImage(roi_masks(labelmap, rings)["GTV"]) > 0, inside)
