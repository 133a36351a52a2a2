"""Same patient, same answer (issue 22): one CT + GTV stored in another axis order or with axes
flipped (slices feet-to-head, rows and columns mirrored as NIfTI converters write them) is the same
physical image, and RadSurv gives the same GTV volume, features and risk score; its outputs on the
CT grid overlay the input as the user stored it. A sheared (non-orthonormal) direction is refused.

Real data: PAT1 (the bundled NIfTI) and lung1_001 (the full planning CT, read from DICOM + RTSTRUCT
with RadSurv's own reader). The storages are made here with NumPy (array transposed / flipped,
origin and direction computed from the geometry) and checked to be the same physical image at
every voxel before they are used.

Cost: the mechanism (``io.orientation``) for all 48 storages (6 axis orders x 8 flip combinations)
is checked on arrays in seconds; full ``score_case`` runs with a light setting that keeps what
depends on the array's orientation (the original image and its 8 wavelet decompositions with shape
and first-order features, the model, Grad-CAM, one voxel map): PAT1 in its 8 flip combinations plus
one axis order, and three storages of lung1_001.
"""

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import PAT1_CT, PAT1_GTV, REPO, stored

from RadSurvLib.cli import main
from RadSurvLib.errors import InputError
from RadSurvLib.io.images import geometry
from RadSurvLib.io.orientation import to_canonical, to_input_grid
from RadSurvLib.options import ScoreOptions
from RadSurvLib.pipeline import map_case, score_case

LUNG1_001 = REPO.parent / "shared" / "data" / "lung1_001"

FLIPS = list(itertools.product((False, True), repeat=3))
ORDERS = list(itertools.permutations(range(3)))

#: Tolerances: features relative with an absolute floor, risk score absolute.
FEATURE_REL, FEATURE_ABS, RISK_ABS = 1e-6, 1e-9, 1e-5

# small GTV pieces of lung1_001 gain volume at 1 mm; not what these tests check
pytestmark = pytest.mark.filterwarnings("ignore:GTV. resampling to the 1 mm")

#: A light radiomics setting that still runs the wavelet filters (array-orientation sensitive).
LIGHT_PARAMS = """\
imageType:
  Original: {}
  Wavelet: {}
featureClass:
  shape:
  firstorder:
setting:
  label: 1
  binWidth: 25
  normalize: true
  normalizeScale: 100
  voxelArrayShift: 1000
  resampledPixelSpacing:
  interpolator: sitkBSpline
  preCrop: true
  force2D: false
  geometryTolerance: 0.0001
"""


# ---------------------------------------------------------------------------------------------
# Storages of one physical image
# ---------------------------------------------------------------------------------------------

def _name(order, flips) -> str:
    return "order" + "".join(map(str, order)) + "_flip" + "".join("xyz"[a] for a in range(3) if flips[a])


def _assert_same_physical_image(image, reference, samples=200):
    """Every sampled voxel of ``image`` holds ``reference``'s value at the same physical point."""
    rng = np.random.default_rng(0)
    array, ref = sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(reference)
    for index in rng.integers(0, image.GetSize(), size=(samples, 3)):
        point = image.TransformIndexToPhysicalPoint([int(i) for i in index])
        other = reference.TransformPhysicalPointToIndex(point)
        assert array[tuple(index[::-1])] == ref[tuple(other[::-1])]


def _write(image, path) -> Path:
    sitk.WriteImage(image, str(path), False)  # uncompressed (quicker); .nii.gz is compressed by its name
    return Path(path)


def _file_geometry(path):
    """A file's image header (size, spacing, origin, direction) without its voxels."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def _features(out_dir) -> dict:
    """{(roi, feature): value} of a run's features.csv."""
    with open(Path(out_dir) / "features.csv", newline="") as handle:
        return {(row["roi"], key): float(value) for row in csv.DictReader(handle)
                for key, value in row.items() if key != "roi" and value != ""}


def _on_grid(image, reference):
    """``image``'s voxels at ``reference``'s voxel centres (nearest neighbour: the same physical points)."""
    return sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor,
                                                0.0, image.GetPixelID()))


def _assert_same_voxels(image, reference, what):
    """``image`` holds ``reference``'s values at the same physical points: compared on the bounding
    box of ``reference``'s non-zero voxels (resampling a whole planning CT across permuted axes is
    slow), with the same number of non-zero voxels and the same sum of |values| everywhere."""
    values, ref = sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(reference)
    assert np.count_nonzero(values) == np.count_nonzero(ref) > 0, what
    assert np.abs(values).sum(dtype=float) == pytest.approx(np.abs(ref).sum(dtype=float), rel=1e-6), what
    low = np.min(np.nonzero(ref), axis=1)[::-1]  # (x, y, z)
    high = np.max(np.nonzero(ref), axis=1)[::-1] + 1
    box = sitk.RegionOfInterest(reference, [int(v) for v in high - low], [int(v) for v in low])
    np.testing.assert_allclose(_on_grid(image, box), sitk.GetArrayViewFromImage(box), rtol=1e-6, atol=1e-9,
                               err_msg=what)


def _assert_same_run(run, reference, what):
    """The same GTV volume, features and risk score, and outputs on the CT grid that overlay the
    input as stored: the geometry of the input CT file exactly, the reference run's voxels at the
    same physical points."""
    (out, result, ct_path), (ref_out, ref_result, _) = run, reference
    assert result["gtv"]["volume_mm3_input"] == pytest.approx(ref_result["gtv"]["volume_mm3_input"], rel=1e-9), what
    assert result["gtv"]["volume_mm3_resampled"] == pytest.approx(ref_result["gtv"]["volume_mm3_resampled"],
                                                                  rel=1e-9), what
    features, ref_features = _features(out), _features(ref_out)
    assert features.keys() == ref_features.keys()
    moved = {k: (features[k], v) for k, v in ref_features.items()
             if abs(features[k] - v) > max(FEATURE_REL * abs(v), FEATURE_ABS)}
    assert not moved, f"{what}: {len(moved)} features moved, e.g. {list(moved.items())[:3]}"
    if ref_result["risk_score"] is not None:
        assert abs(result["risk_score"] - ref_result["risk_score"]) <= RISK_ABS, what
        assert result["risk_group"] == ref_result["risk_group"]
    ct = _file_geometry(ct_path)
    assert result["case"]["ct_geometry"] == geometry(ct)
    for name in ["rings.nrrd", "heatmap.nrrd"] + sorted(p.name for p in Path(ref_out).glob("voxelmap_*.nrrd")):
        if not (Path(ref_out) / name).exists():
            continue
        image, ref_image = sitk.ReadImage(str(Path(out) / name)), sitk.ReadImage(str(Path(ref_out) / name))
        # NRRD stores spacing x direction: the file gives the geometry back to ~1e-16
        assert image.GetSize() == ct.GetSize(), (what, name)
        for got, expected, tolerance in ((image.GetDirection(), ct.GetDirection(), 1e-12),
                                         (image.GetSpacing(), ct.GetSpacing(), 1e-12),
                                         (image.GetOrigin(), ct.GetOrigin(), 1e-9)):
            np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance, err_msg=f"{what}: {name}")
        _assert_same_voxels(image, ref_image, f"{what}: {name}")


# ---------------------------------------------------------------------------------------------
# The mechanism, for every storage (cheap)
# ---------------------------------------------------------------------------------------------

def test_every_storage_has_one_canonical_image_and_results_go_back_exactly(pat1_images):
    """All 48 storages of PAT1 (CT and GTV) give the same canonical image: identical arrays, the
    same size, spacing and direction, the same origin to 1e-9 mm; an image on that grid goes back
    onto each storage's own grid exactly (array and geometry)."""
    ct, gtv = pat1_images
    reference_ct, reference_gtv = to_canonical(ct), to_canonical(gtv)
    assert to_canonical(reference_ct) is reference_ct  # already canonical: no copy
    checked = 0
    for order in ORDERS:
        for flips in FLIPS:
            ct_stored, gtv_stored = stored(ct, order, flips), stored(gtv, order, flips)
            if checked % 7 == 0:
                _assert_same_physical_image(ct_stored, ct)
            for image, reference in ((ct_stored, reference_ct), (gtv_stored, reference_gtv)):
                canonical = to_canonical(image)
                assert np.array_equal(sitk.GetArrayViewFromImage(canonical), sitk.GetArrayViewFromImage(reference))
                assert canonical.GetSize() == reference.GetSize()
                assert canonical.GetSpacing() == reference.GetSpacing()
                assert canonical.GetDirection() == reference.GetDirection()
                np.testing.assert_allclose(canonical.GetOrigin(), reference.GetOrigin(), rtol=0, atol=1e-9)
            back = to_input_grid(reference_gtv, geometry(gtv_stored))
            assert geometry(back) == geometry(gtv_stored)
            assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(gtv_stored))
            checked += 1
    assert checked == 48


def test_an_oblique_image_keeps_its_rotation_and_goes_back_exactly(pat1_images):
    """An oblique GTV (axes rotated 20 degrees about z and 10 about x): every storage gives one
    canonical image, whose axes are the nearest to LPS (the rotation kept, nothing interpolated),
    and results on that grid go back onto each storage's grid exactly."""
    _, gtv = pat1_images
    oblique = sitk.Image(gtv)
    a, b = np.radians(20.0), np.radians(10.0)
    about_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    about_x = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    oblique.SetDirection((about_z @ about_x).ravel().tolist())
    reference = to_canonical(stored(oblique, (2, 0, 1), (True, False, True)))
    np.testing.assert_allclose(reference.GetDirection(), oblique.GetDirection(), rtol=0, atol=1e-12)
    for order in ORDERS:
        for flips in FLIPS:
            image = stored(oblique, order, flips)
            canonical = to_canonical(image)
            assert np.array_equal(sitk.GetArrayViewFromImage(canonical), sitk.GetArrayViewFromImage(reference))
            np.testing.assert_allclose(canonical.GetOrigin(), reference.GetOrigin(), rtol=0, atol=1e-9)
            back = to_input_grid(reference, geometry(image))
            assert geometry(back) == geometry(image)
            assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image))


def test_a_result_not_on_the_canonical_grid_is_not_put_back(pat1_images):
    """to_input_grid refuses an image of another grid (it would misplace the result)."""
    ct, _ = pat1_images
    shifted = sitk.Image(to_canonical(ct))
    shifted.SetOrigin([o + 5.0 for o in shifted.GetOrigin()])
    with pytest.raises(ValueError, match="canonical grid"):
        to_input_grid(shifted, geometry(stored(ct, (0, 1, 2), (False, False, True))))


# ---------------------------------------------------------------------------------------------
# Full runs: PAT1
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def light_options(tmp_path_factory):
    """A light setting that keeps what depends on the array's orientation: the wavelet filters,
    the model and Grad-CAM, one ring, one voxel map (3 x 3 x 3 kernel)."""
    params = tmp_path_factory.mktemp("params") / "light.yaml"
    params.write_text(LIGHT_PARAMS)
    return ScoreOptions(device="cpu", params_file=str(params), rings_mm=(3.0,),
                        voxel_map_features=("firstorder_Mean",))


#: PAT1 storages run in full: the 8 flip combinations (as NRRD, NIfTI and MetaImage files) and an
#: axis order with the slices as the array's fastest axis.
PAT1_STORAGES = [((0, 1, 2), flips) for flips in FLIPS] + [((2, 0, 1), (False, True, True))]
SUFFIXES = (".nrrd", ".nii.gz", ".mha")


@pytest.fixture(scope="session")
def pat1_storage_runs(tmp_path_factory, pat1_images, light_options):
    """{(order, flips): (out_dir, result, CT file)} of light runs on the PAT1 storages (the first
    one, the file as bundled, is the reference)."""
    ct, gtv = pat1_images
    folder = tmp_path_factory.mktemp("pat1_storages")
    runs = {}
    for i, (order, flips) in enumerate(PAT1_STORAGES):
        name, suffix = _name(order, flips), SUFFIXES[i % len(SUFFIXES)]
        ct_path = _write(stored(ct, order, flips), folder / f"{name}_ct{suffix}")
        gtv_path = _write(stored(gtv, order, flips), folder / f"{name}_gtv{suffix}")
        out = folder / name
        runs[order, flips] = (out, score_case(ct_path, gtv_path, out, light_options), ct_path)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("storage", PAT1_STORAGES[1:], ids=[_name(*s) for s in PAT1_STORAGES[1:]])
def test_pat1_every_storage_gives_the_same_answer(pat1_storage_runs, storage):
    """Each flip combination and axis order of PAT1: the same volume, features (wavelet included),
    risk score; rings, heatmap and voxel map overlay the stored CT and equal the reference run's."""
    _assert_same_run(pat1_storage_runs[storage], pat1_storage_runs[PAT1_STORAGES[0]], _name(*storage))


def test_voxelmaps_command_gives_the_same_maps_on_the_stored_grid(tmp_path, pat1_images):
    """``map_case`` (radsurv voxelmaps) on a RAS-stored PAT1 (x and y reversed, as NIfTI
    converters write it): its maps overlay that file and equal the bundled file's maps."""
    ct, gtv = pat1_images
    flips = (True, True, False)
    ct_path = _write(stored(ct, flips=flips), tmp_path / "ct.nii.gz")
    gtv_path = _write(stored(gtv, flips=flips), tmp_path / "gtv.nii.gz")
    options = ScoreOptions(device="cpu", voxel_map_features=("glcm_Contrast",))
    map_case(PAT1_CT, PAT1_GTV, tmp_path / "reference", options, bin_width=25.0)
    map_case(ct_path, gtv_path, tmp_path / "ras", options, bin_width=25.0)
    image = sitk.ReadImage(str(tmp_path / "ras" / "voxelmap_glcm_Contrast.nrrd"))
    reference = sitk.ReadImage(str(tmp_path / "reference" / "voxelmap_glcm_Contrast.nrrd"))
    stored_ct = _file_geometry(ct_path)
    assert image.GetSize() == stored_ct.GetSize()
    np.testing.assert_allclose(image.GetDirection(), stored_ct.GetDirection(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(image.GetOrigin(), stored_ct.GetOrigin(), rtol=0, atol=1e-9)
    assert np.count_nonzero(sitk.GetArrayViewFromImage(reference)) > 1000
    _assert_same_voxels(image, reference, "voxelmap_glcm_Contrast.nrrd")


# ---------------------------------------------------------------------------------------------
# Full runs: lung1_001 (a full planning CT from DICOM + RTSTRUCT)
# ---------------------------------------------------------------------------------------------

#: lung1_001 storages: as read from DICOM (the reference), RAS as NIfTI converters write it (x and
#: y reversed), and slices reversed in another axis order (MetaImage).
LUNG1_STORAGES = [((0, 1, 2), (False, False, False), ".nrrd"), ((0, 1, 2), (True, True, False), ".nii.gz"),
                  ((2, 1, 0), (True, False, True), ".mha")]


@pytest.fixture(scope="session")
def lung1_images():
    """(CT, GTV, lungs) of lung1_001 as RadSurv's DICOM + RTSTRUCT reader gives them."""
    from RadSurvLib.io.dicom import load_dicom_case, rasterise_rtstruct

    if not LUNG1_001.is_dir():
        pytest.skip("lung1_001 (shared data) not on this machine")
    rtstruct = LUNG1_001 / "rtstruct" / "RS.dcm"
    ct, gtv, series = load_dicom_case(LUNG1_001 / "image", rtstruct=rtstruct, roi="GTV-1")
    lungs = sitk.Or(*(rasterise_rtstruct(rtstruct, series, roi) for roi in ("Lung-Left", "Lung-Right")))
    return ct, gtv, lungs


@pytest.mark.slow
def test_lung1_001_every_flip_and_axis_order_has_one_canonical_image(lung1_images):
    """lung1_001 (512 x 512 x 134) in all 8 flip combinations and all 6 axis orders: the same
    canonical CT and GTV (identical arrays and grid), so the same analysis; three of these storages
    are scored in full below."""
    ct, gtv, _ = lung1_images
    reference_ct, reference_gtv = to_canonical(ct), to_canonical(gtv)
    storages = [((0, 1, 2), flips) for flips in FLIPS] + [(order, (False, False, False)) for order in ORDERS[1:]]
    for order, flips in storages:
        for image, reference in ((stored(ct, order, flips), reference_ct), (stored(gtv, order, flips), reference_gtv)):
            canonical = to_canonical(image)
            assert np.array_equal(sitk.GetArrayViewFromImage(canonical), sitk.GetArrayViewFromImage(reference))
            assert canonical.GetSize() == reference.GetSize() and canonical.GetSpacing() == reference.GetSpacing()
            assert canonical.GetDirection() == reference.GetDirection()
            np.testing.assert_allclose(canonical.GetOrigin(), reference.GetOrigin(), rtol=0, atol=1e-9)
    assert len(storages) == 13


@pytest.fixture(scope="session")
def lung1_storage_runs(tmp_path_factory, light_options, lung1_images):
    """[(out_dir, result, CT file)] of light runs on the lung1_001 storages, the rings kept inside
    the lungs (the RTSTRUCT's Lung-Left and Lung-Right as the lung mask, stored alike)."""
    ct, gtv, lungs = lung1_images
    folder = tmp_path_factory.mktemp("lung1_storages")
    runs = []
    for order, flips, suffix in LUNG1_STORAGES:
        name = _name(order, flips)
        ct_path = _write(stored(ct, order, flips), folder / f"{name}_ct{suffix}")
        gtv_path = _write(stored(gtv, order, flips), folder / f"{name}_gtv{suffix}")
        lung_path = _write(stored(lungs, order, flips), folder / f"{name}_lungs{suffix}")
        options = light_options.replace(lung_mask=str(lung_path))
        runs.append((folder / name, score_case(ct_path, gtv_path, folder / name, options), ct_path))
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("index", range(1, len(LUNG1_STORAGES)),
                         ids=[_name(o, f) for o, f, _ in LUNG1_STORAGES[1:]])
def test_lung1_001_every_storage_gives_the_same_answer(lung1_storage_runs, index):
    """lung1_001 as RAS and with permuted, reversed axes: the same answer as read from DICOM."""
    order, flips, _ = LUNG1_STORAGES[index]
    _assert_same_run(lung1_storage_runs[index], lung1_storage_runs[0], _name(order, flips))


# ---------------------------------------------------------------------------------------------
# A sheared direction is refused
# ---------------------------------------------------------------------------------------------

def _sheared(image, degrees=25.0):
    """``image`` with its z axis tilted by ``degrees`` towards y (columns of unit length, not perpendicular)."""
    sheared = sitk.Image(image)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    angle = np.radians(degrees)
    direction[:, 2] = direction[:, 2] * np.cos(angle) + direction[:, 1] * np.sin(angle)
    sheared.SetDirection(direction.ravel().tolist())
    return sheared


def _nifti_with_sheared_sform(image, path, keep_qform: bool) -> Path:
    """``image`` as a NIfTI-1 file whose sform tilts the slice axis by 25 degrees towards y (what a
    converter writes for a gantry tilt it does not correct); with ``keep_qform`` the qform stays
    (SimpleITK then reads the file without the shear, silently), else ``qform_code`` is 0."""
    import struct

    sitk.WriteImage(image, str(path))
    header = bytearray(Path(path).read_bytes())
    rows = list(struct.unpack("<12f", header[280:328]))
    rows[4 + 2] += np.tan(np.radians(25.0)) * rows[8 + 2]  # srow_y[2] += tan(25) x srow_z[2]
    header[280:328] = struct.pack("<12f", *rows)
    if not keep_qform:
        header[252:254] = struct.pack("<h", 0)
    Path(path).write_bytes(bytes(header))
    return Path(path)


def test_nifti_with_a_sheared_sform_is_refused(tmp_path, capsys, pat1_images):
    """A NIfTI whose sform is sheared: read with its qform by SimpleITK (a silently unsheared
    image) or not at all; radsurv score refuses it by name, in RadSurv's words."""
    ct, _ = pat1_images
    for keep_qform in (True, False):
        path = _nifti_with_sheared_sform(ct, tmp_path / f"ct_{keep_qform}.nii", keep_qform)
        status = main(["score", "--ct", str(path), "--gtv", str(PAT1_GTV), "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert status == 2 and "--ct: the file's NIfTI sform is not orthonormal" in err, err
        assert "Traceback" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_sheared_ct_file_is_refused_by_the_command(tmp_path, capsys, pat1_images, suffix):
    """A CT and its GTV whose axes are not perpendicular (a gantry tilt kept as a shear; scored
    before, with volumes 1 / cos(25 deg) = 10 % too large): radsurv score names --ct and the
    direction, exits 2, writes nothing; a sheared GTV on a good CT is named as --gtv."""
    ct, gtv = pat1_images
    ct_path = _write(_sheared(ct), tmp_path / f"ct{suffix}")
    gtv_path = _write(_sheared(gtv), tmp_path / f"gtv{suffix}")
    status = main(["score", "--ct", str(ct_path), "--gtv", str(gtv_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "--ct: the image's direction matrix is not orthonormal" in err and "25.00 degrees" in err, err
    assert not (tmp_path / "out").exists()
    status = main(["score", "--ct", str(PAT1_CT), "--gtv", str(gtv_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and "--gtv: " in err and "not orthonormal" in err


def test_sheared_images_handed_in_are_refused(tmp_path, pat1_images):
    """SimpleITK images handed to score_case (the Slicer module's and the worker's way) and the
    lung mask: each sheared input is refused by its name; a nearly orthonormal one (float32
    rounding of a NIfTI header) is accepted by the check."""
    from RadSurvLib.io.orientation import check_orthonormal_direction

    ct, gtv = pat1_images
    sheared, sheared_gtv = _sheared(ct), _sheared(gtv)
    with pytest.raises(InputError, match="^ct: .*not orthonormal"):
        score_case(sheared, sheared_gtv, tmp_path / "a", ScoreOptions(device="cpu"))
    with pytest.raises(InputError, match="^gtv: .*not orthonormal"):
        score_case(ct, _sheared(gtv), tmp_path / "b", ScoreOptions(device="cpu"))
    lung = _write(_sheared(gtv), tmp_path / "lung.nrrd")
    with pytest.raises(InputError, match="^lung_mask: .*not orthonormal"):
        score_case(ct, gtv, tmp_path / "c", ScoreOptions(device="cpu", lung_mask=str(lung)))
    with pytest.raises(InputError, match="^ct: .*not orthonormal"):
        map_case(sheared, sheared_gtv, tmp_path / "d", ScoreOptions(device="cpu"), bin_width=25.0)
    assert not any((tmp_path / name).exists() for name in "abcd")
    nearly = sitk.Image(ct)
    nearly.SetDirection([1.0, 3e-7, 0.0, -3e-7, 1.0, 0.0, 0.0, 0.0, 1.0])
    check_orthonormal_direction(nearly, "ct")
