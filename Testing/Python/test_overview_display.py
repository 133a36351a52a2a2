"""overview.png and ``radsurv score``'s summary as a reader sees them: the CT in the soft-tissue
window, the heatmap in Inferno with a colour bar, numbers rounded to what they mean.

overview.png is drawn from a synthetic case with a known answer: a 40 HU sphere (the tumour, the
GTV) in -800 HU lung, a heatmap rising from the GTV's edge to its centre."""

from __future__ import annotations

import numpy as np
import pytest


def _synthetic_case():
    import SimpleITK as sitk

    z, y, x = np.mgrid[:40, :80, :80]
    r = np.sqrt(((z - 20) * 2.0) ** 2 + (y - 40) ** 2 + (x - 40) ** 2)  # 2 mm slices, 1 mm pixels
    ct = np.where(r < 20, 40.0, -800.0).astype(np.float32)
    labels = np.zeros(ct.shape, np.uint8)
    labels[r < 26] = 2
    labels[r < 20] = 1
    heat = np.clip(1 - r / 20, 0, 1).astype(np.float32)
    images = []
    for array in (ct, labels, heat):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((1.0, 1.0, 2.0))
        images.append(image)
    return images, heat, labels


@pytest.fixture(scope="module")
def overview(tmp_path_factory):
    import matplotlib.image as mpimg

    from RadSurvLib.outputs.overview import write_overview

    (ct, labels, heatmap), heat, label_array = _synthetic_case()
    path = write_overview(ct, labels, heatmap, tmp_path_factory.mktemp("overview") / "overview.png",
                          title="risk score 0.992\nsurvival 1-year 83 %", ring_names=["ring 0-6 mm"])
    return (mpimg.imread(path)[..., :3] * 255).astype(int), heat, label_array


def test_ct_in_soft_tissue_window(overview):
    """The tumour (40 HU) is mid-grey (W 400 / L 40: 50 %), not the near-white of a lung window (79 %)."""
    from RadSurvLib.outputs.colours import LUNG_WINDOW_HU, SOFT_TISSUE_WINDOW_HU

    rgb, _heat, _labels = overview
    grey = np.ptp(rgb, axis=-1) <= 2
    level = rgb[..., 0]

    def share(hu, window):
        expected = (hu - window[0]) / (window[1] - window[0]) * 255
        return (grey & (np.abs(level - expected) <= 3)).mean()

    soft, lung = share(40.0, SOFT_TISSUE_WINDOW_HU), share(40.0, LUNG_WINDOW_HU)
    print(f"pixels at the tumour's soft-tissue grey {soft:.2%}, at its lung-window grey {lung:.2%}")
    assert soft > 0.01 and lung < 0.001


def test_heatmap_colour_bar(overview):
    """A colour bar of Inferno right of the views, from its dark to its bright end."""
    import matplotlib

    rgb, _heat, _labels = overview
    right = rgb[:, int(rgb.shape[1] * 0.93):].reshape(-1, 3).astype(float)
    table = matplotlib.colormaps["inferno"](np.linspace(0, 1, 256))[:, :3] * 255
    # the bar is drawn at the heatmap's opacity over white
    from RadSurvLib.outputs.colours import HEATMAP_OPACITY
    blended = HEATMAP_OPACITY * table + (1 - HEATMAP_OPACITY) * 255
    distance = np.abs(right[:, None, :] - blended[None]).max(-1)
    on_bar = distance.min(-1) <= 6
    positions = distance.argmin(-1)[on_bar & (np.ptp(right, axis=-1) > 20)]
    print(f"colour-bar pixels {on_bar.sum()}, table positions {positions.min()}-{positions.max()}")
    assert on_bar.sum() > 1000
    assert positions.min() < 40 and positions.max() > 215


def test_heatmap_over_the_gtv_above_its_median(overview):
    """Half the GTV's voxels (its median heat and above) are coloured, none outside the shown range."""
    from RadSurvLib.outputs.colours import heatmap_display_range

    _rgb, heat, labels = overview
    shown_from, top = heatmap_display_range(heat, labels == 1)
    inside = heat[labels == 1]
    assert shown_from == pytest.approx(np.median(inside)) and top == pytest.approx(np.percentile(inside, 99))
    assert (inside >= shown_from).mean() == pytest.approx(0.5, abs=0.01)
    assert heatmap_display_range(np.zeros((2, 2)), np.ones((2, 2))) == (1e-3, 1.0)
    with pytest.raises(ValueError, match="not on one grid"):
        heatmap_display_range(np.zeros((2, 2)), np.ones((3, 2)))


def test_summary_numbers_rounded():
    from RadSurvLib.cli.score import summary_lines

    result = {"model": {"name": "demo", "version": "1", "demonstration": True, "disclaimer": "not clinical"},
              "risk_score": 0.9919934868812561, "risk_group": "high", "risk_cutoff": 0.0006284710252657533,
              "gtv": {"volume_mm3_input": 310951.1839418908, "volume_mm3_resampled": 310902.0},
              "rings": [{"name": "ring_0-3mm", "volume_mm3": 65336.0, "volume_mm3_ct_grid": 53859.2}],
              "survival_1y": 0.8312, "survival_2y": 0.6449, "survival_3y": 0.5}
    text = "\n".join(summary_lines(result))
    print(text)
    assert "risk score: 0.992" in text and "cut-off 0.0006" in text and "0.99199" not in text
    assert "survival 1-year 83 %, 2-year 64 %, 3-year 50 % (demonstration model)" in text
    assert "GTV volume: 311.0 ml as delineated, 310.9 ml at 1 mm (analysed)" in text
    assert "ring_0-3mm: 65.3 ml analysed (1 mm grid), 53.9 ml on the CT grid" in text
    del result["survival_1y"], result["survival_2y"], result["survival_3y"]
    assert "survival" not in "\n".join(summary_lines(result))
    from RadSurvLib.outputs.overview import format_hu, format_volume

    assert format_volume(853.4) == "853 mm^3" and format_volume(1_234_567) == "1,234.6 ml"
    assert format_hu(-712.44) == "-712.4 HU"


def test_a_cut_off_below_a_thousandth_is_not_rounded_up():
    """The demonstration bundle's cut-off 0.00063: 3 decimals would print 0.001, a different cut-off."""
    from RadSurvLib.outputs.overview import format_risk

    assert format_risk(0.000628) == "0.0006" and format_risk(-0.00041) == "-0.0004"
    assert format_risk(0.98519) == "0.985" and format_risk(0.0) == "0.000" and format_risk(None) == "n/a"
