"""``radsurv app`` end to end in a real browser (Debian's Chromium driven by Playwright).

One app server (``python -m RadSurvLib app`` under its own Xvfb) for the module; one page that goes
through a user's session, a screenshot per step under ``Testing/Screenshots/app/``:

1. load PAT1 (CT + its GTV) with one click: the four views show the CT and the GTV's red outline;
2. "PAT1 CT only": delineate a new GTV with the Segment Editor in the browser: Threshold (-500 HU
   and up) used as the paint mask, one click with a 90 mm sphere brush on the tumour, Islands
   "keep largest"; its Dice against PAT1's own GTV is printed;
3. Score with the quick radiomics setting; the heatmap appears over the CT in the axial view and
   its pixels lie inside the GTV; the time from the Score click to the heatmap on screen is printed;
4. a second Score cancelled: the scene's nodes and segments are those from before;
5. scene.mrb downloaded (its files checked) and opened again in the app.

Needs: the ``app`` extra (trame-slicer), ``playwright`` (pip), Debian's ``chromium`` and ``xvfb``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.slicer]

pytest.importorskip("trame_slicer", reason="needs the app extra (pip install -e '.[app]')")
playwright_sync = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists() or shutil.which("Xvfb") is None:
    pytest.skip("needs Debian's chromium and xvfb (apt-get install -y chromium xvfb)", allow_module_level=True)

from conftest import PAT1_GTV, REPO  # noqa: E402

SHOTS = REPO / "Testing" / "Screenshots" / "app"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}
#: Longest wait for a PAT1 run with the quick setting on a busy 2-core machine, s (a limit, not a timing).
SCORE_LIMIT_S = 2400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_xvfb():
    for number in range(140, 180):
        if os.path.exists(f"/tmp/.X11-unix/X{number}") or os.path.exists(f"/tmp/.X{number}-lock"):
            continue
        process = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1600x1200x24", "-nolisten", "tcp"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists(f"/tmp/.X11-unix/X{number}"):
                return process, f":{number}"
            time.sleep(0.1)
        process.kill()
    pytest.skip("could not start Xvfb")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """One ``radsurv app`` server for the module (its log under the test's temporary folder)."""
    xvfb, display = _start_xvfb()
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "server.log"
    env = dict(os.environ, DISPLAY=display, OMP_NUM_THREADS="1")
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "RadSurvLib", "app", "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
    url = f"http://127.0.0.1:{port}/index.html"
    try:
        for _ in range(240):
            if server.poll() is not None:
                pytest.fail(f"radsurv app exited: {log.read_text(errors='replace')[-3000:]}")
            try:
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(20)
        xvfb.terminate()
        xvfb.wait(10)


@pytest.fixture(scope="module")
def page(app_url):
    """One Chromium page on the app."""
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        pg = context.new_page()
        pg.goto(app_url)
        pg.wait_for_selector("#rs-load-pat1", timeout=120_000)
        yield pg
        browser.close()


# -- pictures --------------------------------------------------------------------------------
def _axial_view(pg):
    """The axial view's image element (the tallest view of the default four-up layout)."""
    images = pg.locator("img")
    boxes = [(images.nth(i).bounding_box() or {"height": 0}, i) for i in range(images.count())]
    return images.nth(max(boxes, key=lambda b: b[0]["height"])[1])


def _shot(pg, name: str) -> np.ndarray:
    """Screenshot of the axial view (saved as Testing/Screenshots/app/<name>) as an RGB array."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    _axial_view(pg).screenshot(path=str(path))
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _page_shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / name))


def _wait_for_picture(pg, name: str, ready, limit_s: float = 180.0) -> np.ndarray:
    """Screenshots of the axial view until ``ready(rgb)``; the last one is kept as ``name``."""
    end = time.monotonic() + limit_s
    while True:
        rgb = _shot(pg, name)
        if ready(rgb) or time.monotonic() > end:
            return rgb
        pg.wait_for_timeout(500)


def _grey_fraction(rgb) -> float:
    """Fraction of pixels that are CT grey (R = G = B within 8, not black)."""
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return float(((spread <= 8) & (rgb.max(axis=2) > 30)).mean())


def _red_outline(rgb) -> np.ndarray:
    """Pixels of the GTV's red outline (RadSurv's GTV colour)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (r - np.maximum(g, b) > 20) & (r > 60)  # thin, blended with the CT and JPEG-compressed


def _filled(outline) -> np.ndarray:
    """The region enclosed by an outline (closed by a 2-pixel dilation first)."""
    from scipy import ndimage

    closed = ndimage.binary_dilation(outline, iterations=2)
    return ndimage.binary_fill_holes(closed)


def _set_state(pg, values: dict) -> None:
    for key, value in values.items():
        pg.evaluate("([k, v]) => window.trame.state.set(k, v)", [key, value])
    pg.wait_for_timeout(300)


def _download(pg, selector: str, target: Path) -> Path:
    with pg.expect_download(timeout=120_000) as info:
        pg.click(selector)
    info.value.save_as(str(target))
    return target


def _click_effect(pg, icon: str, name: str) -> None:
    """Click a Segment Editor effect button of the drawer and wait until the server made it active."""
    pg.locator(f".v-navigation-drawer button:has(i.{icon})").first.click()
    pg.wait_for_function(
        f"() => (window.trame.state.get('SegmentEditorState__active_effect_name') || '').includes('{name}')",
        timeout=60_000)


def _state(pg, key: str):
    return pg.evaluate("(k) => window.trame.state.get(k)", key)


# -- the session -----------------------------------------------------------------------------
def test_delineate_score_cancel_download(page, tmp_path):
    import SimpleITK as sitk

    pg = page
    # 1. PAT1 with its GTV: CT grey over the view, the GTV's red outline.
    pg.click("#rs-load-pat1")
    reference = _wait_for_picture(pg, "01-pat1-loaded.png",
                                  lambda rgb: _grey_fraction(rgb) > 0.3 and _red_outline(rgb).sum() > 200)
    _page_shot(pg, "01-pat1-loaded-page.png")
    assert _grey_fraction(reference) > 0.3, "the CT is not drawn in the axial view"
    outline = _red_outline(reference)
    assert outline.sum() > 200, "PAT1's GTV outline is not drawn"
    rows, cols = np.nonzero(_filled(outline))
    box = _axial_view(pg).bounding_box()
    scale = box["width"] / reference.shape[1]
    click = (box["x"] + cols.mean() * scale, box["y"] + rows.mean() * scale)

    # 2. CT only; delineate with Threshold as mask + a sphere brush + Islands.
    pg.click("#rs-load-pat1-ct")
    _wait_for_picture(pg, "02-ct-only.png",
                      lambda rgb: _grey_fraction(rgb) > 0.3 and _red_outline(rgb).sum() < 20)
    effect = "SegmentEditorState__active_effect_name"
    _click_effect(pg, "mdi-auto-fix", "Threshold")
    _set_state(pg, {"ThresholdState__threshold_slider__RangeSliderState__value": [-500, 3000]})
    pg.wait_for_timeout(1000)
    pg.get_by_role("button", name="Use as mask").click()  # switches to Paint with that intensity mask
    pg.wait_for_function(f"() => (window.trame.state.get('{effect}') || '').includes('Paint')", timeout=60_000)
    _set_state(pg, {"VolumeIntensityRangeMaskState__is_visible": False,  # no hatching over the views
                    "PaintEffectState__brush_diameter_mode": 1,  # Absolute (mm)
                    "PaintEffectState__use_sphere_brush": True,
                    "PaintEffectState__brush_diameter_slider__SliderState__max_value": 200,
                    "PaintEffectState__brush_diameter_slider__SliderState__value": 90})
    pg.wait_for_timeout(1500)
    for _ in range(4):  # a busy server can miss a click's press / release pair: click again until it paints
        pg.mouse.move(click[0] - 5, click[1])
        pg.wait_for_timeout(500)
        pg.mouse.move(*click)
        pg.wait_for_timeout(1000)
        pg.mouse.down()
        pg.wait_for_timeout(300)
        pg.mouse.up()
        try:
            pg.wait_for_function("() => window.trame.state.get('SegmentEditorState__can_undo') === true",
                                 timeout=30_000)
            break
        except playwright_sync.TimeoutError:
            continue
    assert _state(pg, "SegmentEditorState__can_undo"), "the paint click did not paint"
    _click_effect(pg, "mdi-scatter-plot", "Islands")  # "Keep largest" is the default mode
    pg.get_by_role("button", name="Apply").click()
    pg.wait_for_timeout(3000)
    _click_effect(pg, "mdi-cursor-default", "NoTool")  # the brush outline leaves the views
    _wait_for_picture(pg, "03-delineated.png", lambda rgb: _red_outline(rgb).sum() > 200, limit_s=60)
    _page_shot(pg, "03-delineated-page.png")
    pg.click("#rs-panel-button")
    drawn = _download(pg, "#rs-dl-gtv", tmp_path / "gtv.nii.gz")
    mine = sitk.GetArrayFromImage(sitk.ReadImage(str(drawn))) > 0
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_GTV))) > 0
    dice = 2 * (mine & truth).sum() / (mine.sum() + truth.sum())
    print(f"\nDelineated GTV: {mine.sum()} voxels vs PAT1's {truth.sum()}; Dice {dice:.3f}")
    assert dice > 0.6, f"Dice {dice:.3f}"

    # 3. Score with the quick setting; the heatmap over the CT, inside the GTV.
    _set_state(pg, {"rs_opt_radiomics": "quick", "rs_opt_rings_mm": "3,6,9"})
    started = time.monotonic()
    pg.click("#rs-score")
    pg.wait_for_selector("#rs-progress", state="visible", timeout=60_000)
    _page_shot(pg, "04-scoring-progress.png")
    pg.wait_for_selector("#rs-results", timeout=SCORE_LIMIT_S * 1000)
    assert not pg.locator("#rs-error").count(), pg.locator("#rs-error").all_inner_texts()
    heatmap_id = _state(pg, "rs_overlay")
    assert heatmap_id, "no heatmap node after the run"
    with_heatmap = _wait_for_picture(pg, "05-heatmap.png", lambda rgb: _colourful(rgb).sum() > 500)
    seconds = time.monotonic() - started
    print(f"Score click to heatmap on screen (PAT1, quick): {seconds:.1f} s "
          f"(server: {_state(pg, 'rs_heatmap_s')} s to the scene)")
    _page_shot(pg, "05-heatmap-page.png")
    _set_state(pg, {"rs_overlay": ""})
    plain = _wait_for_picture(pg, "06-no-overlay.png", lambda rgb: _colourful(rgb).sum() < 500, limit_s=30)
    _set_state(pg, {"rs_overlay": heatmap_id})
    heat = (np.abs(with_heatmap - plain).sum(axis=2) > 60) & ~_red_outline(plain)
    gtv_region = _innermost_region(plain)
    inside = float((heat & gtv_region).sum() / max(heat.sum(), 1))
    print(f"Heatmap pixels in the axial view: {heat.sum()}, {100 * inside:.1f} % inside the GTV outline "
          f"({gtv_region.sum()} pixels)")
    assert heat.sum() > 500 and inside > 0.9
    rows_text = " ".join(pg.locator("#rs-scores").all_inner_texts())
    assert "risk" in rows_text.lower(), rows_text

    # 4. A second run, cancelled: the scene is as it was.
    before = _state(pg, "rs_scene")
    pg.click("#rs-score")
    pg.wait_for_selector("#rs-progress", state="visible", timeout=60_000)
    pg.wait_for_timeout(4000)
    pg.click("#rs-cancel")
    pg.wait_for_selector("#rs-info", timeout=60_000)
    assert "Cancelled" in pg.inner_text("#rs-info")
    _page_shot(pg, "07-cancelled-page.png")
    assert _state(pg, "rs_scene") == before

    # 5. scene.mrb: download, read with slicer-core, open in the app again.
    mrb = _download(pg, "#rs-dl-scene", tmp_path / "scene.mrb")
    import zipfile

    # The app's scene holds trame-slicer's nodes (views, volume rendering), which a bare slicer-core
    # scene (slicer.mrb.load_scene_mrb) does not read; the bundle's files and the app itself do.
    names = zipfile.ZipFile(mrb).namelist()
    assert any("heatmap" in n.lower() for n in names) and any(n.endswith(".mrml") for n in names), names
    pg.locator("input[type=file]").first.set_input_files(str(mrb))
    pg.wait_for_function("() => window.trame.state.get('rs_case') === 'scene.mrb'", timeout=120_000)
    assert any("heatmap" in entry for entry in _state(pg, "rs_scene"))
    _wait_for_picture(pg, "08-mrb-reloaded.png", lambda rgb: _grey_fraction(rgb) > 0.2, limit_s=60)
    _page_shot(pg, "08-mrb-reloaded-page.png")


def _colourful(rgb) -> np.ndarray:
    """Pixels of strong colour that are not the red GTV outline (heatmap colours)."""
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return (spread > 60) & ~_red_outline(rgb)


def _innermost_region(rgb) -> np.ndarray:
    """The GTV's interior in a view with the GTV and ring outlines drawn: the largest region enclosed by
    the coloured outlines (the bands between two ring outlines are thin; the GTV's interior is not)."""
    from scipy import ndimage

    outlines = ndimage.binary_dilation((rgb.max(axis=2) - rgb.min(axis=2)) > 40, iterations=1)
    holes = ndimage.binary_fill_holes(outlines) & ~outlines
    labels, count = ndimage.label(holes)
    if count == 0:
        return holes
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndimage.binary_dilation(labels == np.argmax(sizes), iterations=2)
