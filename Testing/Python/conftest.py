"""Shared fixtures: the PAT1 sample (IBSI-1 CT phantom, a real lung-cancer CT with its GTV) and
one full ``score_case`` run on it, reused by the tests of every stage."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAT1_DIR = REPO / "RadSurvLib" / "resources" / "PAT1"
PAT1_CT = PAT1_DIR / "image.nii.gz"
PAT1_GTV = PAT1_DIR / "mask.nii.gz"

#: IBSI reference mesh volume of PAT1's GTV (configuration A, morph_volume), mm^3, and its tolerance.
PAT1_IBSI_VOLUME_MM3 = 358_000.0
PAT1_IBSI_VOLUME_TOL_MM3 = 5_000.0


@pytest.fixture(scope="session")
def pat1_images():
    """(CT, GTV) of PAT1 as SimpleITK images on the original 0.977 x 0.977 x 3 mm grid."""
    import SimpleITK as sitk

    return sitk.ReadImage(str(PAT1_CT)), sitk.ReadImage(str(PAT1_GTV))


@pytest.fixture(scope="session")
def pat1_run(tmp_path_factory):
    """One full pipeline run on PAT1 with the shipped demonstration bundle.

    Returns:
        (out_dir, result dict, list of (stage, message) progress events).
    """
    from RadSurvLib.pipeline import score_case

    out_dir = tmp_path_factory.mktemp("pat1") / "out"
    events = []
    result = score_case(PAT1_CT, PAT1_GTV, out_dir, rings_mm=(3, 6, 9), device="cpu",
                        progress=lambda stage, message: events.append((stage, message)))
    return out_dir, result, events


@pytest.fixture(scope="session")
def pat1_outputs(pat1_run):
    """Path of the output folder of the PAT1 pipeline run."""
    return pat1_run[0]
