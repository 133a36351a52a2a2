"""``radsurv app`` end to end in a real browser (Debian's Chromium driven by Playwright).

One app server (``python -m RadSurvLib app`` under its own Xvfb) for the module, shared by its tests
(in file order): its start logs no error; a fresh page, before any case is loaded, uploads a file
that is not a CT and sees the message in the error banner, without a server path; then one page goes
through a user's session, a screenshot per step under ``Testing/Screenshots/app/``:

1. load PAT1 (CT + its GTV) with one click: the four views show the CT and the GTV's red outline;
2. "PAT1 CT only": delineate a new GTV with the Segment Editor in the browser, the same way every
   run: Threshold (-500 HU and up) used as the paint mask, one click with a 90 mm sphere brush on
   the tumour, Islands "keep largest", each setting waited for on the server; the GTV volume in the
   app bar is updated by the strokes themselves (before any download or run) and equals the
   downloaded GTV's; the downloaded GTV is checked to show each setting, and its Dice against PAT1's
   own GTV is printed;
3. Score with the quick radiomics setting; the heatmap appears over the CT in the axial view, over
   the GTV and where its values are shown: the GTV and the heatmap's support in the view are the
   scene's own (``scene.mrb``, downloaded), projected through the view's own slice geometry, not
   read from the picture's outlines; the time from the Score click to the heatmap on screen is printed;
4. a second Score cancelled: the scene's nodes and segments are those from before;
5. the scene.mrb of step 3 (its files checked) opened again in the app.

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

from conftest import PAT1_CT, PAT1_GTV, REPO  # noqa: E402

from RadSurvLib.app.server import PANEL  # noqa: E402

SHOTS = REPO / "Testing" / "Screenshots" / "app"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}
#: The delineation's settings: Threshold range used as the paint mask (HU), sphere brush diameter (mm).
THRESHOLD_HU = [-500, 3000]
BRUSH_MM = 90
#: Pixels the GTV outline may lie from the projected GTV's edge (outline width and linear interpolation).
GEOMETRY_MARGIN_PX = 3
#: Pixels around the heatmap's projected support in which heatmap pixels still count as on it (linear
#: interpolation spreads the heatmap over about one CT voxel, one to two pixels in this view).
HEAT_MARGIN_PX = 2
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
def app_server(tmp_path_factory):
    """One ``radsurv app`` server for the module: ``(url, log path)``."""
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
        yield url, log
    finally:
        server.terminate()
        server.wait(20)
        xvfb.terminate()
        xvfb.wait(10)


@pytest.fixture(scope="module")
def app_url(app_server):
    return app_server[0]


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module."""
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open_page(browser, url):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    pg = context.new_page()
    pg.goto(url)
    pg.wait_for_selector("#rs-load-pat1", timeout=120_000)
    pg.wait_for_function("() => window.trame && window.trame.state", timeout=60_000)
    return pg


@pytest.fixture(scope="module")
def page(browser, app_url):
    """One Chromium page on the app for the user's session."""
    pg = _open_page(browser, app_url)
    yield pg
    pg.context.close()


@pytest.fixture
def fresh_page(browser, app_url):
    """A page of its own (a new browser context), closed after the test."""
    pg = _open_page(browser, app_url)
    yield pg
    pg.context.close()


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
    """Screenshot of the whole page, the cursor first moved to the footer (no tooltip open) and banners
    given the time to fade in."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.mouse.move(5, VIEWPORT["height"] - 5)
    pg.wait_for_timeout(800)
    pg.screenshot(path=str(SHOTS / name))


def _view_rendered_for_its_size(pg) -> bool:
    """Whether the axial view shows a frame rendered for its present size. While the layout changes
    (the drawer opening after a load), the browser shows the previous frame scaled for several
    seconds, with another geometry: its natural size then differs from its box and its container's."""
    return pg.evaluate("""(img) => {
        const box = img.getBoundingClientRect(), parent = img.parentElement.getBoundingClientRect();
        const near = (a, b) => Math.abs(a - b) <= 1;
        return img.naturalWidth > 0 && near(img.naturalWidth, box.width) && near(img.naturalHeight, box.height)
            && near(box.width, parent.width) && near(box.height, parent.height);
    }""", _axial_view(pg).element_handle())


def _wait_for_picture(pg, name: str, ready, limit_s: float = 180.0) -> np.ndarray:
    """Screenshots of the axial view until it is rendered for its size and ``ready(rgb)``; the last one
    is kept as ``name``."""
    end = time.monotonic() + limit_s
    while True:
        before = _view_rendered_for_its_size(pg)
        rgb = _shot(pg, name)
        if (before and _view_rendered_for_its_size(pg) and ready(rgb)) or time.monotonic() > end:
            return rgb
        pg.wait_for_timeout(500)


def _same_view(rgb, reference) -> bool:
    """Whether two pictures of a view show the CT at the same place (same slice geometry, any window):
    away from coloured overlays (outlines, brush), their greys correlate above 0.9 (another window
    level keeps about 0.98; the same CT zoomed by a third gives about 0.55)."""
    from scipy import ndimage

    if rgb.shape != reference.shape:
        return False
    coloured = ((rgb.max(axis=2) - rgb.min(axis=2)) > 25) | ((reference.max(axis=2) - reference.min(axis=2)) > 25)
    away = ~ndimage.binary_dilation(coloured, iterations=2)
    return float(np.corrcoef(rgb.mean(axis=2)[away], reference.mean(axis=2)[away])[0, 1]) > 0.9


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


def _wait_state(pg, key: str, value, timeout_ms: int = 60_000) -> None:
    """Wait until the trame state ``key`` equals ``value`` (JSON-equal)."""
    pg.wait_for_function("([k, v]) => JSON.stringify(window.trame.state.get(k)) === JSON.stringify(v)",
                         arg=[key, value], timeout=timeout_ms)


# -- before a case ---------------------------------------------------------------------------
def test_start_logs_no_error(app_server, fresh_page):
    """The server's log from its start to a connected page holds no error (``GetROINode`` was one)."""
    fresh_page.wait_for_timeout(3000)
    text = app_server[1].read_text(errors="replace")
    bad = [line for line in text.splitlines()
           if any(word in line for word in ("Traceback", "ERROR", "Error", "GetROINode"))]
    assert not bad, "\n".join(bad[:20])


@pytest.mark.parametrize("name, content, expected", [
    ("notes.txt", b"a clinical note, not an image", "notes.txt is not an image"),
    ("ct.nii.gz", b"not a NIfTI file at all" * 10, "ct.nii.gz"),
])
def test_bad_upload_on_a_fresh_page_shows_its_message(fresh_page, tmp_path, name, content, expected):
    """Before any case is loaded (the RadSurv panel disabled), a bad upload's message shows in the
    error banner, naming the file as the user knows it and no server path."""
    from RadSurvLib.app.readouts import has_server_path

    pg = fresh_page
    assert _state(pg, "rs_case") == "", "a case is loaded already: the page is not fresh"
    bad = tmp_path / name
    bad.write_bytes(content)
    pg.locator("input[type=file]").first.set_input_files(str(bad))
    pg.wait_for_selector("#rs-error", state="visible", timeout=60_000)
    text = pg.inner_text("#rs-error")
    print(f"\nupload of {name}: {text!r}")
    assert expected in text, text
    assert not has_server_path(text) and "/tmp" not in text and "radsurv-app" not in text, text
    if name == "notes.txt":
        _page_shot(pg, "00-bad-upload-page.png")
    pg.click("#rs-error-close")
    pg.wait_for_selector("#rs-error", state="hidden", timeout=30_000)


def test_tooltips_on_radsurv_tools(fresh_page):
    """RadSurv's own tools show a tooltip on hover (the RadSurv drawer button included)."""
    from RadSurvLib.app.server import TOOLTIPS

    pg = fresh_page
    for selector, key in (("#rs-panel-tool", "panel"), ("#rs-load-pat1", "pat1"), ("#rs-load-pat1-ct", "pat1-ct")):
        pg.hover(selector)
        pg.get_by_text(TOOLTIPS[key]).wait_for(state="visible", timeout=10_000)
        pg.mouse.move(700, 880)
        pg.wait_for_timeout(300)


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
    assert _red_outline(reference).sum() > 200, "PAT1's GTV outline is not drawn"
    _check_view_readouts(pg, reference)

    # 2. CT only; delineate with Threshold as mask + a sphere brush + Islands, clicking on the tumour's
    # centre found through the view's own geometry (from the scene, downloaded).
    pg.click("#rs-load-pat1-ct")
    ct_only = _wait_for_picture(pg, "02-ct-only.png",
                                lambda rgb: _grey_fraction(rgb) > 0.3 and _red_outline(rgb).sum() < 20)
    pg.click("#rs-panel-button")
    ct_scene = _download(pg, "#rs-dl-scene", tmp_path / "ct-only.mrb")
    target = _tumour_centre_in_view(ct_scene, ct_only.shape[:2])
    _open_segment_editor(pg)
    _delineate(pg, target, ct_only)
    # The volume in the app bar follows the strokes (read before any download or run).
    pg.wait_for_function("() => window.trame.state.get('rs_gtv_ml') > 0", timeout=60_000)
    live_ml = _state(pg, "rs_gtv_ml")
    live_text = pg.inner_text("#rs-gtv-live")
    _wait_for_picture(pg, "03-delineated.png", lambda rgb: _red_outline(rgb).sum() > 200, limit_s=60)
    _page_shot(pg, "03-delineated-page.png")
    pg.click("#rs-panel-button")
    drawn = _download(pg, "#rs-dl-gtv", tmp_path / "gtv.nii.gz")
    drawn_image = sitk.ReadImage(str(drawn))
    mine = sitk.GetArrayFromImage(drawn_image) > 0
    _check_delineation(mine)
    drawn_ml = mine.sum() * np.prod(drawn_image.GetSpacing()) / 1000.0
    print(f"GTV volume shown while painting: {live_text!r} ({live_ml} ml); downloaded GTV {drawn_ml:.3f} ml")
    assert abs(live_ml - drawn_ml) < 0.01, (live_ml, drawn_ml)
    assert f"{drawn_ml:,.1f} ml" in live_text, live_text
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_GTV))) > 0
    dice = 2 * (mine & truth).sum() / (mine.sum() + truth.sum())
    print(f"\nDelineated GTV: {mine.sum()} voxels vs PAT1's {truth.sum()}; Dice {dice:.3f}")
    assert dice > 0.6, f"Dice {dice:.3f}"

    # 3. Score with the quick setting; the heatmap over the CT, inside the GTV.
    _set_state(pg, {"rs_opt_radiomics": "quick", "rs_opt_rings_mm": "3,6,9"})
    started = time.monotonic()
    pg.click("#rs-score")
    pg.wait_for_selector("#rs-progress", state="visible", timeout=60_000)
    # Progress as a percentage, then an estimate of the time left once a stage has ended.
    pg.wait_for_function("() => / about .* left$/.test(document.querySelector('#rs-eta')?.innerText || '')",
                         timeout=SCORE_LIMIT_S * 1000)
    eta = pg.inner_text("#rs-eta")
    print(f"Progress line: {eta!r}")
    import re

    assert re.fullmatch(r"\d{1,2} % - about (\d+ s|\d+ min \d\d s|\d+ h \d\d min) left", eta), eta
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
    heat = _heatmap_pixels(with_heatmap, plain)
    # The scene as it is now (views included), for the view's geometry; reopened in step 5.
    mrb = _download(pg, "#rs-dl-scene", tmp_path / "scene.mrb")
    gtv_view, shown = _result_in_axial_view(mrb, plain.shape[:2])
    outline = _red_outline(plain)
    on_edge = float((outline & _edge_band(gtv_view, GEOMETRY_MARGIN_PX)).sum() / max(outline.sum(), 1))
    print(f"GTV outline pixels within {GEOMETRY_MARGIN_PX} px of the projected GTV's edge: {100 * on_edge:.1f} %")
    assert on_edge > 0.9, "the projected GTV does not match the outline drawn in the view: view geometry differs"
    from scipy import ndimage

    # The heatmap is drawn where its values are shown (the model's crop may reach past the GTV) ...
    near_shown = ndimage.binary_dilation(shown, iterations=HEAT_MARGIN_PX)
    on_support = float((heat & near_shown).sum() / max(heat.sum(), 1))
    core = ndimage.binary_erosion(shown, iterations=HEAT_MARGIN_PX) & ~_edge_band(gtv_view, GEOMETRY_MARGIN_PX)
    core &= ~ndimage.binary_dilation((plain.max(axis=2) - plain.min(axis=2)) > 25, iterations=2)
    coloured = float((heat & core).sum() / max(core.sum(), 1))
    # ... and over the tumour.
    over_gtv = int((heat & gtv_view).sum())
    print(f"Heatmap pixels in the axial view: {heat.sum()}; {100 * on_support:.1f} % on the heatmap's shown "
          f"support ({shown.sum()} pixels, projected from the scene), {100 * coloured:.1f} % of that support "
          f"coloured; {over_gtv} ({100 * over_gtv / max(heat.sum(), 1):.1f} %) over the GTV ({gtv_view.sum()} pixels)")
    assert heat.sum() > 500 and on_support > 0.95 and coloured > 0.9, (heat.sum(), on_support, coloured)
    assert over_gtv > 500, f"only {over_gtv} heatmap pixels over the GTV"
    rows_text = " ".join(pg.locator("#rs-scores").all_inner_texts())
    assert "risk" in rows_text.lower(), rows_text
    # result.json as the browser receives it: the run's result, without the server's folders.
    import json

    from RadSurvLib.app.readouts import has_server_path

    served = _download(pg, "#rs-dl-result", tmp_path / "result.json").read_text()
    assert "risk_score" in json.loads(served) or "risk" in served, served[:500]
    paths = [line.strip() for line in served.splitlines() if has_server_path(line)]
    assert not paths and "radsurv-app" not in served, paths[:5]

    # 4. A second run, cancelled: the scene is as it was.
    before = _state(pg, "rs_scene")
    pg.click("#rs-score")
    pg.wait_for_selector("#rs-progress", state="visible", timeout=60_000)
    pg.wait_for_timeout(4000)
    pg.click("#rs-cancel")
    pg.wait_for_selector("#rs-info", timeout=60_000)
    assert "Cancelled" in pg.inner_text("#rs-info")
    assert not pg.locator("#rs-heatmap-time").count(), "a heatmap time shown after a cancel"
    _page_shot(pg, "07-cancelled-page.png")
    assert _state(pg, "rs_scene") == before

    # 5. scene.mrb (downloaded in step 3): its files, then opened in the app again.
    import zipfile

    # The app's scene holds trame-slicer's nodes (views, volume rendering), which a bare slicer-core
    # scene (slicer.mrb.load_scene_mrb) does not read; the bundle's files and the app itself do.
    names = zipfile.ZipFile(mrb).namelist()
    assert any("heatmap" in n.lower() for n in names) and any(n.endswith(".mrml") for n in names), names
    pg.locator("input[type=file]").first.set_input_files(str(mrb))
    pg.wait_for_function("() => window.trame.state.get('rs_case') === 'scene.mrb'", timeout=120_000)
    pg.wait_for_selector("#rs-info", state="hidden", timeout=30_000)  # the notice of the cancel is gone
    assert any("heatmap" in entry for entry in _state(pg, "rs_scene"))
    _wait_for_picture(pg, "08-mrb-reloaded.png", lambda rgb: _grey_fraction(rgb) > 0.2, limit_s=60)
    _page_shot(pg, "08-mrb-reloaded-page.png")


def _check_view_readouts(pg, reference) -> None:
    """PAT1 just loaded: the mediastinal window (and the same on a second load of the same CT), the
    W/L presets, and the HU probe under the cursor, drawn in the axial view's corner."""
    import re

    assert _state(pg, "rs_window_text") == "W 350 L 40 (mediastinum)", _state(pg, "rs_window_text")
    # The probe's text is drawn in the view's upper-right corner: moving the cursor onto the CT changes
    # the picture there and nowhere else.
    before = _shot(pg, "01-pat1-probe.png")
    box = _axial_view(pg).bounding_box()
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    pg.wait_for_function("() => / HU at /.test(window.trame.state.get('rs_probe') || '')", timeout=30_000)
    probe = pg.inner_text("#rs-probe")
    print(f"HU probe at the view's centre: {probe!r}")

    def probe_drawn(rgb) -> bool:
        changed = np.abs(rgb - before).sum(axis=2) > 60
        rows, columns = np.nonzero(changed)
        return changed.sum() > 50 and rows.max() < 0.15 * changed.shape[0] and columns.min() > 0.3 * changed.shape[1]

    # (while the cursor moves the view is sent at a lower JPEG quality: wait for the settled frame)
    after = _wait_for_picture(pg, "01-pat1-probe.png", probe_drawn, limit_s=30)
    changed = np.abs(after - before).sum(axis=2) > 60
    rows, columns = np.nonzero(changed)
    print(f"Pixels changed by the probe's text: {changed.sum()}, rows {rows.min()}-{rows.max()}, "
          f"columns {columns.min()}-{columns.max()} of {changed.shape}")
    assert probe_drawn(after), "the HU probe's text is not drawn in the view's upper-right corner (alone)"
    assert re.fullmatch(r"-?\d+\.\d HU at [RL] [\d.]+ [AP] [\d.]+ [SI] [\d.]+ mm", probe), probe
    pg.click("#rs-window-lung")
    _wait_state(pg, "rs_window_text", "W 1500 L -600 (lung)")
    lung = _wait_for_picture(pg, "01-pat1-lung-window.png", lambda rgb: _window_signature(rgb)[0] > 0.15, limit_s=30)
    assert _window_signature(lung)[0] > 0.15, f"the lung preset saturates no more than before: {_window_signature(lung)}"
    _page_shot(pg, "01-pat1-lung-window-page.png")
    pg.click("#rs-load-pat1")  # the same CT again: the same window as the first time
    _wait_state(pg, "rs_window_text", "W 350 L 40 (mediastinum)")

    # The view's zoom differs between the two pictures (the drawer's width changes): compare what a
    # window decides, not pixels: the share of saturated white among the CT's grey pixels (the
    # lung window saturates the tumour and the soft tissue: about 0.26 on PAT1; the mediastinal
    # window only bone: about 0.08) and the median grey. The view may show the previous frame for a
    # moment: wait for the new one (a wrong window never comes).
    first = _window_signature(reference)
    again = _wait_for_picture(pg, "01-pat1-second-load.png",
                              lambda rgb: _same_window(_window_signature(rgb), first), limit_s=30)
    second = _window_signature(again)
    print(f"Window signature (saturated share, median grey): first load {first}, second load {second}")
    assert first[0] < 0.15, f"{first[0]:.2f} of the CT saturated white: not a soft-tissue window"
    assert _same_window(second, first), f"two loads of the same CT show different windows: {first} vs {second}"
    pg.wait_for_timeout(3000)  # and it stays: nothing sends another window afterwards
    assert _state(pg, "rs_window_text") == "W 350 L 40 (mediastinum)", _state(pg, "rs_window_text")
    assert _same_window(_window_signature(_shot(pg, "01-pat1-second-load.png")), first)


def _window_signature(rgb) -> tuple[float, float]:
    """(share of saturated white, median grey) of a view's CT grey pixels (not black, not coloured)."""
    grey = ((rgb.max(axis=2) - rgb.min(axis=2)) <= 8) & (rgb.max(axis=2) > 30)
    values = rgb.mean(axis=2)[grey]
    return round(float((values > 240).mean()), 3), round(float(np.median(values)), 1)


def _same_window(a, b) -> bool:
    return abs(a[0] - b[0]) < 0.05 and abs(a[1] - b[1]) < 20


def _colourful(rgb) -> np.ndarray:
    """Pixels of strong colour that are not the red GTV outline (heatmap colours)."""
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return (spread > 60) & ~_red_outline(rgb)


def _heatmap_pixels(with_heatmap, plain) -> np.ndarray:
    """Pixels the heatmap colours: changed by more than 60 (sum over R, G, B) from the picture without it,
    not within 2 pixels of an outline of that picture (outlines are redrawn a pixel apart between two
    renders), and in a patch of at least 3 x 3 (a morphological opening drops single changed pixels)."""
    from scipy import ndimage

    spread = plain.max(axis=2) - plain.min(axis=2)
    near_outline = ndimage.binary_dilation(spread > 25, iterations=2)
    changed = np.abs(with_heatmap - plain).sum(axis=2) > 60
    return ndimage.binary_opening(changed & ~near_outline)


#: Views made in this process, kept to its end (see :func:`_gtv_in_axial_view`).
_KEPT_VIEWS = []


def _edge_band(region, width_px: int) -> np.ndarray:
    """Pixels within ``width_px`` of a region's edge (both sides)."""
    from scipy import ndimage

    edge = region ^ ndimage.binary_erosion(region)
    return ndimage.binary_dilation(edge, iterations=width_px)


def _axial_view_of_scene(mrb: Path, view_shape):
    """The app's axial view rebuilt from a downloaded ``scene.mrb``, which holds the app's own slice
    nodes (field of view, orientation, offset): opened with Slicer's slice logic
    (``render_helpers.SliceViews``, the Red view sized as the browser's axial view).

    Args:
        mrb: the app's ``scene.mrb``.
        view_shape: (rows, columns) of the axial view's picture.
    Returns:
        (ct, segmentation, ras, scene): the CT volume node, the segmentation node, the RAS position
        (mm) of every pixel centre, (rows, columns, 3), row 0 at the top, and the scene.
    """
    from render_helpers import SliceViews, start_xvfb

    start_xvfb()  # the test process's own X server (if it has no display); it ends with the process
    rows, columns = view_shape
    views = SliceViews(size=(columns, rows))
    views.load_mrb(mrb)
    _KEPT_VIEWS.append(views)  # an Xvfb started with -terminate ends when its last view is freed
    scene = views.scene
    cts = [n for n in scene.GetNodesByClass("vtkMRMLScalarVolumeNode") if not n.GetName().startswith("RadSurv")]
    segmentations = list(scene.GetNodesByClass("vtkMRMLSegmentationNode"))
    assert len(cts) == 1 and segmentations, ([n.GetName() for n in cts], len(segmentations))
    views.render("axial")  # sizes the slice node to the view, as the browser's view is sized
    return cts[0], segmentations[0], views.pixel_ras("axial"), scene


def _result_in_axial_view(mrb: Path, view_shape) -> tuple[np.ndarray, np.ndarray]:
    """The GTV segment and the heatmap's shown support (values at or above its display node's lower
    threshold, ``outputs.colours.heatmap_display_range``) of a downloaded
    result ``scene.mrb`` as the app's axial view shows them (see :func:`_axial_view_of_scene`).

    Returns:
        (gtv, shown): (rows, columns) bool each, row 0 at the top, True where the pixel's centre is in
        the GTV / where the heatmap's nearest voxel is shown.
    """
    from render_helpers import sample_volume, segment_array
    from vtk.util import numpy_support

    ct, segmentation, ras, scene = _axial_view_of_scene(mrb, view_shape)
    gtv_id = segmentation.GetSegmentation().GetSegmentIdBySegmentName("GTV")
    assert gtv_id, "no GTV segment in the downloaded scene"
    gtv = sample_volume(ct, ras, array=segment_array(segmentation, gtv_id, ct)).astype(bool)
    heatmaps = [n for n in scene.GetNodesByClass("vtkMRMLScalarVolumeNode") if "heatmap" in n.GetName().lower()]
    assert len(heatmaps) == 1, [n.GetName() for n in heatmaps]
    image = heatmaps[0].GetImageData()
    i, j, k = image.GetDimensions()
    heat = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)
    display = heatmaps[0].GetScalarVolumeDisplayNode()
    assert display.GetApplyThreshold(), "the heatmap shows its zeros: no display threshold"
    shown_from = display.GetLowerThreshold()
    shown = sample_volume(heatmaps[0], ras, array=(heat >= shown_from).astype(np.uint8)).astype(bool)
    return gtv, shown


def _tumour_centre_in_view(mrb: Path, view_shape) -> tuple[float, float]:
    """(column, row) pixel of the app's axial view deepest inside PAT1's own GTV (the mask file on the
    CT's grid), from a downloaded ``scene.mrb`` of the CT (see :func:`_axial_view_of_scene`)."""
    import SimpleITK as sitk
    from render_helpers import sample_volume
    from scipy import ndimage

    ct, _segmentation, ras, _scene = _axial_view_of_scene(mrb, view_shape)
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_GTV))).astype(np.uint8)  # (k, j, i)
    region = sample_volume(ct, ras, array=truth).astype(bool)
    assert region.sum() > 1000, f"PAT1's GTV covers {region.sum()} pixels of the axial view"
    row, column = np.unravel_index(np.argmax(ndimage.distance_transform_edt(region)), region.shape)
    return float(column), float(row)


def _open_segment_editor(pg) -> None:
    """Show the Segment Editor in the drawer again (as its toolbar button does)."""
    key = pg.evaluate("() => Object.keys(window.trame.state.state).find("
                      f"k => window.trame.state.get(k) === '{PANEL}')")
    assert key, "the RadSurv panel is not the drawer's tool"
    _set_state(pg, {key: "SegmentEditorUI"})
    pg.wait_for_selector(".v-navigation-drawer button:has(i.mdi-auto-fix)", timeout=60_000)


def _delineate(pg, target, reference) -> None:
    """Delineate a GTV in the Segment Editor, the same way every run: Threshold -500 to 3000 HU used
    as the paint mask, one click of a 90 mm sphere brush at ``target`` ((column, row) pixels of the
    axial view's picture ``reference``), Islands "keep largest". Each setting is waited for on the
    server's state before the next step, and the click waits until the view shows the CT as in
    ``reference``, so that it lands on the same anatomy every run."""
    effect = "SegmentEditorState__active_effect_name"
    mask = "VolumeIntensityRangeMaskState"
    _click_effect(pg, "mdi-auto-fix", "Threshold")
    # Activating Threshold runs its auto-threshold on the server; set the range once that has landed.
    pg.wait_for_function("() => Array.isArray(window.trame.state.get("
                         "'ThresholdState__threshold_slider__RangeSliderState__value'))", timeout=60_000)
    pg.wait_for_timeout(1000)
    _set_state(pg, {"ThresholdState__threshold_slider__RangeSliderState__value": THRESHOLD_HU})
    pg.wait_for_timeout(1000)
    pg.get_by_role("button", name="Use as mask").click()  # switches to Paint with that intensity mask
    pg.wait_for_function(f"() => (window.trame.state.get('{effect}') || '').includes('Paint')", timeout=60_000)
    # The mask range is the server's (it sends it back from the effect): make sure it is ours.
    _set_state(pg, {f"{mask}__is_enabled": True, f"{mask}__is_visible": False,  # no hatching over the views
                    f"{mask}__threshold_slider__RangeSliderState__value": THRESHOLD_HU})
    _wait_state(pg, f"{mask}__threshold_slider__RangeSliderState__value", THRESHOLD_HU)
    _wait_state(pg, f"{mask}__is_enabled", True)
    _set_state(pg, {"PaintEffectState__brush_diameter_mode": 1,  # Absolute (mm)
                    "PaintEffectState__use_sphere_brush": True,
                    "PaintEffectState__brush_diameter_slider__SliderState__max_value": 200})
    _set_state(pg, {"PaintEffectState__brush_diameter_slider__SliderState__value": BRUSH_MM})
    _wait_state(pg, "PaintEffectState__brush_diameter_slider__SliderState__value", BRUSH_MM)
    before_paint = _wait_for_picture(pg, "02-before-paint.png", lambda rgb: _same_view(rgb, reference), limit_s=60)
    assert _same_view(before_paint, reference), "the axial view moved since its scene was downloaded: the click would miss"
    box = _axial_view(pg).bounding_box()
    scale = box["width"] / reference.shape[1]
    click = (box["x"] + target[0] * scale, box["y"] + target[1] * scale)
    pg.mouse.move(*click)
    for _ in range(4):  # a busy server can miss a click's press / release pair: click again until it paints
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


def _check_delineation(mine: np.ndarray) -> None:
    """The delineated GTV (z, y, x) bool on PAT1's grid shows each setting of :func:`_delineate`:
    no voxel below the threshold, one island, no wider than the brush."""
    import SimpleITK as sitk
    from scipy import ndimage

    ct = sitk.ReadImage(str(PAT1_CT))
    hu = sitk.GetArrayFromImage(ct)
    assert mine.any(), "the delineated GTV is empty"
    assert hu[mine].min() >= THRESHOLD_HU[0], f"GTV voxels of {hu[mine].min()} HU: the threshold mask was not used"
    assert ndimage.label(mine, structure=np.ones((3, 3, 3)))[1] == 1, "Islands 'keep largest' left several islands"
    spacing = np.array(ct.GetSpacing()[::-1])
    extent_mm = [(idx.max() - idx.min() + 1) * sp for idx, sp in zip(np.nonzero(mine), spacing)]
    assert max(extent_mm) <= BRUSH_MM + 2 * spacing.max(), f"GTV {extent_mm} mm: wider than the {BRUSH_MM} mm brush"
