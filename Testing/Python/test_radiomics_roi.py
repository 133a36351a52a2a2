"""ROI features with Liu et al.'s parameter file on PAT1 (from the pipeline run, RadSurv's engine: the default)."""

import csv

import pytest
from conftest import PAT1_IBSI_VOLUME_MM3

from RadSurvLib.errors import InputError
from RadSurvLib.radiomics.roi import make_extractor


def _read_features(out_dir):
    with open(out_dir / "features.csv") as handle:
        rows = list(csv.DictReader(handle))
    return {row.pop("roi"): {k: float(v) for k, v in row.items() if v != ""} for row in rows}


def test_liu_parameter_file_gives_1316_features_per_roi(pat1_outputs):
    table = _read_features(pat1_outputs)
    assert list(table) == ["GTV", "ring_0-3mm", "ring_3-6mm", "ring_6-9mm"]
    for roi, values in table.items():
        assert len(values) == 1316, roi
        by_kind = {
            "shape": sum(k.startswith("original_shape_") for k in values),
            "original": sum(k.startswith("original_") and "_shape_" not in k for k in values),
            "wavelet": sum(k.startswith("wavelet-") for k in values),
            "log": sum(k.startswith("log-sigma-") for k in values),
        }
        # Liu et al. 2025: 14 shape, 18 first order + 75 texture, 744 wavelet, 465 LoG.
        assert by_kind == {"shape": 14, "original": 93, "wavelet": 744, "log": 465}


def test_gtv_shape_features_match_the_ibsi_volume(pat1_outputs, pat1_run):
    gtv = _read_features(pat1_outputs)["GTV"]
    mesh = gtv["original_shape_MeshVolume"]
    assert abs(mesh - PAT1_IBSI_VOLUME_MM3) / PAT1_IBSI_VOLUME_MM3 < 0.02
    # VoxelVolume is the GTV volume on the 1 mm grid that result.json reports.
    assert gtv["original_shape_VoxelVolume"] == pytest.approx(pat1_run[1]["gtv"]["volume_mm3_resampled"])


def test_ring_features_describe_the_rings(pat1_outputs, pat1_run):
    table = _read_features(pat1_outputs)
    for ring in pat1_run[1]["rings"]:
        assert table[ring["name"]]["original_shape_VoxelVolume"] == pytest.approx(ring["volume_mm3"])


def test_missing_parameter_file_is_reported(tmp_path):
    with pytest.raises(InputError, match="not found"):
        make_extractor(tmp_path / "nope.yaml")


def test_complex_feature_values_from_newer_numpy_become_real():
    import math

    import numpy as np

    from RadSurvLib.radiomics.roi import _real

    assert _real(np.complex128(0.8163 + 0j)) == 0.8163  # PyRadiomics shape on Python 3.12 / NumPy 2.5
    assert math.isnan(_real(np.complex128(0.8 + 0.3j)))
    assert _real(np.float64(2.5)) == 2.5
