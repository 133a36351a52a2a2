"""The web app's server: trame-slicer's segmentation app plus RadSurv's panel.

trame-slicer (Kitware, Apache-2.0) gives the MRML scene, Slicer's slice and 3D views (four-up)
and the Segment Editor effects with undo; this module adds the RadSurv panel (drawer tool "RadSurv",
opened after a case is loaded): load PAT1 / a data-folder case / an upload, the scoring options
(``ScoreOptions`` fields), Score with a progress bar naming the stage, Cancel, the scores table,
the voxel-map / heatmap picker and the downloads (``scene.mrb``, ``result.json``,
``features.csv``, ``overview.png``, and ``dicom.zip`` after a run with "DICOM outputs": the RTSTRUCT,
SEG, Parametric Map and SR of ``OUT/dicom/``). "DICOM outputs" can be switched on when the CT was
loaded as a DICOM series (an uploaded folder or a data-folder series): the session keeps the
series' files and hands them to the worker (``control.session``).
Scoring goes through ``control.session.ScoringSession``, i.e.
``control.task.SceneScoringTask`` and the worker, and the results are written into the scene by
``slicer.write`` as in the Slicer module.

Around the views: every error in a banner at the top of the page (whatever panel is open, also
before a case is loaded), without server paths; the GTV's volume in the top bar after every edit;
W/L presets (mediastinum, lung, bone) with their numbers, the CT opening in the mediastinal window on
every load; orientation letters, slice position, W/L and the HU under the cursor drawn in each slice
view; Paint / Erase brushes in mm; a tooltip on each of RadSurv's buttons (``readouts`` makes the texts).

One server process serves one scene (trame's model: start one per user, behind the hospital's
reverse proxy and authentication; see README "In a browser").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from pathlib import Path

from trame.app import TrameApp
from trame.widgets import html
from trame.widgets import vuetify3 as v3
from trame_slicer import module as trame_slicer_module
from trame_slicer.app.logic import SegmentationAppLogic
from trame_slicer.app.ui import SegmentationAppUI, SegmentEditorUI
from trame_slicer.core import SlicerApp

from ..control.session import (DICOM_ARCHIVE, FORM_DEFAULTS, RADIOMICS_CHOICES, ScoringSession, message,
                               options_from_form)
from ..errors import InputError, RadSurvError
from ..options import shipped_signature_names
from ..slicer.write import register_color_legend_class
from . import inputs, scene as app_scene
from .readouts import (DEFAULT_WINDOW_PRESET, WINDOW_PRESETS_HU, ProgressClock, orientation_letters, probe_text,
                       public_message, public_result, sample_hu, slice_position_text, volume_text, window_text)

log = logging.getLogger(__name__)

#: Seconds between two polls of the worker.
POLL_INTERVAL_S = 0.2

#: How the views' images travel to the browser: JPEG by Pillow (trame-slicer's default, TurboJPEG,
#: needs libturbojpeg, which a plain pip install lacks: the views then stay black).
RCA_ENCODER = "jpeg"

#: Name of the drawer tool of RadSurv's panel.
PANEL = "RadSurvPanel"

#: Brush diameter of the Paint and Erase effects: always in mm on the CT (not relative to the
#: screen, whose size the user does not know); slider range and the diameter they start with, mm.
BRUSH_RANGE_MM = (1, 100)
BRUSH_DEFAULT_MM = 10

#: Colour of the texts drawn in the slice views (RGB 0-1): near-white with a shadow, as Slicer's corner
#: texts; not a colour, so it is never taken for an outline or for heatmap colour.
ANNOTATION_RGB = (0.95, 0.95, 0.95)

#: Height of the bottom orientation letter above the view's lower edge, pixels (above trame-slicer's slider).
BOTTOM_LETTER_PX = 34

#: trame-slicer's state prefix of its W/L range slider (see ``RadSurvApp._window_slider_kept_wide``).
WINDOW_SLIDER_STATE = "VolumePropertyState__window_level_slider__RangeSliderState"

#: trame-slicer's state key of the volume-rendering crop toggle (see ``RadSurvApp._no_volume_no_crop``).
CROP_STATE_KEY = "VolumePropertyState__volume_crop_active"

#: Tooltips of RadSurv's own tools (trame-slicer's carry their own).
TOOLTIPS = {
    "panel": "RadSurv: scoring options, Score, results and downloads (load a case first)",
    "pat1": "Load the PAT1 sample: its CT and its GTV",
    "pat1-ct": "Load PAT1's CT alone, with an empty GTV segment to delineate",
    "score": "Score the GTV segment: risk score, risk group and heatmap",
    "cancel": "Stop the scoring run; the scene stays as it was",
    "scene.mrb": "Download the whole scene as a Slicer scene bundle (.mrb)",
    "result.json": "Download the last run's result (risk score, group, settings) as JSON",
    "features.csv": "Download the last run's radiomics features (CSV)",
    "overview.png": "Download the last run's overview picture (PNG)",
    "gtv": "Download the GTV segment as a NIfTI mask on the CT's grid",
    "dicom_out": "Also write the results as DICOM objects (RTSTRUCT, SEG, Parametric Map, SR) referencing the "
                 "CT's study; download them as dicom.zip",
    "dicom_out_unavailable": "DICOM outputs need a CT loaded as a DICOM series (upload the folder of its slices, "
                             "or choose that folder in the data folder): this CT has no DICOM study to reference",
    DICOM_ARCHIVE: "Download the last run's DICOM objects (RTSTRUCT, SEG, Parametric Map, SR) as a ZIP archive",
}


class RadSurvApp(TrameApp):
    """The ``radsurv app`` server: one MRML scene, the segmentation app's views and editor, RadSurv's panel.

    Args:
        server: a trame server (default: a new one).
        data_dir: server-side folder offered in the data browser (None: no browser).
        work_dir: folder for uploads and scoring jobs (default: a new temporary folder).
        python_command: the worker's Python (default ``[sys.executable]``).
    """

    def __init__(self, server=None, data_dir=None, work_dir=None, python_command=None):
        super().__init__(server)
        self.server.enable_module(trame_slicer_module)
        self.data_dir = Path(data_dir).resolve() if data_dir else None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="radsurv-app-"))
        self.slicer_app = SlicerApp()
        register_color_legend_class(self.slicer_app.scene)  # RadSurv's result scenes hold colour legends
        self.logic = SegmentationAppLogic(self.server, self.slicer_app, rca_encoder=RCA_ENCODER)
        self.ui = SegmentationAppUI(self.server, self.logic.layout_manager)
        self.logic.set_ui(self.ui)
        self.scoring = ScoringSession(self.work_dir / "jobs", python_command=python_command)
        self.ct_node = None
        self._kept_dicom = None  # folder holding an uploaded DICOM CT's slices while that case is loaded
        self._score_clicked_at = None
        self._init_state()
        self._route_uploads()
        self._build_panel()
        self._annotate_views()
        self._brush_in_mm()
        self._no_volume_no_crop()

    # -- state -------------------------------------------------------------------------------
    def _init_state(self):
        state = self.state
        state.trame__title = "RadSurv"
        state.update({
            "rs_case": "", "rs_error": "", "rs_info": "", "rs_running": False, "rs_stage": "", "rs_progress_text": "",
            "rs_gtv_text": "", "rs_window_text": "", "rs_probe": "",
            "rs_window_presets": [{"name": name, "label": f"{name.capitalize()} W {w:.0f} L {lv:.0f}"}
                                  for name, (w, lv) in WINDOW_PRESETS_HU.items()],
            "rs_fraction": 0.0, "rs_message": "", "rs_scores": [], "rs_has_results": False,
            "rs_dicom_available": False, "rs_has_dicom": False,
            "rs_dicom_tooltip": TOOLTIPS["dicom_out_unavailable"],
            "rs_overlays": [], "rs_overlay": None, "rs_gtv_ml": None, "rs_heatmap_s": None,
            "rs_radiomics_items": [{"title": k, "value": v} for k, v in RADIOMICS_CHOICES.items()],
            "rs_signature_items": list(shipped_signature_names()),  # or a server file typed in
            "rs_data_enabled": self.data_dir is not None, "rs_data_path": "", "rs_data_entries": [],
            "rs_data_ct": "", "rs_data_gtv": "", "rs_data_roi": "", "rs_scene": [],
            **{f"rs_opt_{k}": v for k, v in FORM_DEFAULTS.items()},
        })
        if self.data_dir is not None:
            self._browse("")
        self.state.change("rs_overlay")(self._on_overlay_changed)

    def _set_error(self, error) -> None:
        """Show ``error`` in the error banner (over whatever panel is open), without server paths."""
        text = message(error) if isinstance(error, Exception) else str(error)
        self.state.rs_error = public_message(text)

    # -- loading a case ----------------------------------------------------------------------
    def load_case(self, case: inputs.Case) -> None:
        """Replace the scene's contents by ``case``: CT shown in the four views, "GTV" segment (the
        case's mask or empty) active in the Segment Editor."""
        if self.scoring.running:
            raise InputError("A scoring run is in progress: cancel it before loading another case.")
        self.slicer_app.scene.Clear()
        self.ct_node = self._add_ct(case.ct)
        self.slicer_app.display_manager.show_volume(self.ct_node, do_reset_views=True)
        # trame-slicer's own "volume loaded" signal: editor (new segmentation), volume properties, drawer.
        # Its volume properties give the CT an automatic window (percentiles); the preset is set after it,
        # so that the same CT opens with the same window on every load.
        with self._window_slider_kept_wide():
            self.logic._load_files_logic.volume_loaded(self.ct_node)
        self.set_window(DEFAULT_WINDOW_PRESET)
        self._watch_segmentation()
        segmentation_node = self.segmentation_node
        if case.gtv is not None:
            app_scene.set_gtv_from_mask(segmentation_node, self.ct_node, case.gtv)
        segment_id = app_scene.ensure_gtv_segment(segmentation_node, self.ct_node)
        self.editor.set_active_segment_id(segment_id)
        self.editor.trigger_all_signals()
        self.scoring.out_dir = self.scoring.result = None
        self._show_dicom_series(case.dicom_uids, case.dicom_files)
        self.state.update({"rs_case": case.name, "rs_error": "", "rs_info": "", "rs_scores": [], "rs_has_results": False,
                           "rs_overlays": [], "rs_overlay": None, "rs_heatmap_s": None, "rs_has_dicom": False,
                           })
        self.ui.data.active_tool = SegmentEditorUI.__name__
        self._update_gtv_volume()
        self._update_scene_summary()

    def _show_dicom_series(self, uids=(), files=()) -> None:
        """The CT node's DICOM series for "DICOM outputs" (none: the switch is off and disabled); an
        earlier upload's kept slices are removed once no case uses them."""
        available = self.scoring.register_dicom_series(self.ct_node, uids, files)
        folder = Path(files[0]).parent if files else None
        kept = folder if folder is not None and self.work_dir.resolve() in folder.resolve().parents else None
        if self._kept_dicom is not None and self._kept_dicom != kept:
            shutil.rmtree(self._kept_dicom, ignore_errors=True)
        self._kept_dicom = kept
        self.state.rs_dicom_available = available
        self.state.rs_dicom_tooltip = TOOLTIPS["dicom_out" if available else "dicom_out_unavailable"]
        if not available:
            self.state.rs_opt_dicom_out = False

    def _add_ct(self, ct_image):
        """The CT as a volume node, loaded by trame-slicer's volumes reader (as its own uploads)."""
        from ..io.images import write_image

        with tempfile.TemporaryDirectory(dir=self.work_dir) as tmp:
            nodes = self.slicer_app.io_manager.load_volumes([str(write_image(ct_image, Path(tmp) / "CT.nrrd",
                                                                              compress=False))])
        if not nodes:
            raise InputError("ct: the CT could not be loaded into the scene.")
        nodes[0].SetName(app_scene.CT_NODE_NAME)
        return nodes[0]

    @property
    def editor(self):
        """trame-slicer's ``SegmentationEditor``."""
        return self.slicer_app.segmentation_editor

    @property
    def segmentation_node(self):
        """The segmentation the Segment Editor edits."""
        return self.editor.active_segmentation_node

    def _guarded(self, action, *args) -> bool:
        try:
            action(*args)
        except RadSurvError as exc:
            self._set_error(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - the app must stay up; show what failed
            log.exception("RadSurv app action failed")
            self._set_error(f"{type(exc).__name__}: {exc}")
            return False
        return True

    def load_pat1(self, with_gtv: bool = True):
        """Buttons: the PAT1 sample with its GTV, or its CT alone (an empty "GTV" segment to delineate)."""
        def load():
            case = inputs.pat1_case()
            if not with_gtv:
                case = inputs.Case(ct=case.ct, gtv=None, name="PAT1 (CT only)")
            self.load_case(case)
        self._guarded(load)

    def _route_uploads(self):
        buttons = self.ui.load_volume_items_buttons
        for button in (buttons.load_volume_files_button, buttons.load_volume_dir_button):
            button.on_load_volume.disconnect_all()
        buttons.on_load_volume.disconnect_all()
        buttons.load_volume_files_button.on_load_volume.connect(self.on_upload)
        buttons.load_volume_dir_button.on_load_volume.connect(self.on_upload)

    def on_upload(self, files: list[dict]) -> None:
        """Upload (toolbar buttons): image files, a DICOM folder, or one ``.mrb`` scene."""
        self._guarded(self._load_upload, files)

    def _load_upload(self, files: list[dict]) -> None:
        from trame_slicer.utils.file_access import ClientFile

        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.work_dir))
        try:
            for file in files:
                helper = ClientFile(file)
                name = file.get("webkitRelativePath") or helper.name
                if inputs.suffix(name) == ".mrb" and len(files) == 1:
                    path = folder / "scene.mrb"
                    path.write_bytes(helper.content)
                    return self.load_scene(path)
                content = helper.content
                inputs.check_upload(name, len(content))
                target = inputs.safe_upload_path(folder, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            found = inputs.classify_upload(folder)
            case = inputs.read_case(found["ct"], found["gtv"], found["rtstruct"], found["seg"],
                                    roi=self.state.rs_data_roi or None, name=Path(found["ct"]).name)
            if not case.dicom_files:
                return self.load_case(case)
            # a DICOM CT's slices outlive the upload folder, for "DICOM outputs" (removed with the case)
            kept = Path(tempfile.mkdtemp(prefix="dicom-ct-", dir=self.work_dir))
            try:
                self.load_case(inputs.keep_dicom_files(case, kept))
            except BaseException:
                shutil.rmtree(kept, ignore_errors=True)
                raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def load_scene(self, mrb_path) -> None:
        """Open a ``.mrb`` (e.g. one downloaded from this app): its largest volume and its "GTV" segment."""
        self.slicer_app.scene.Clear()
        if not self.slicer_app.io_manager.load_scene(str(mrb_path)):
            raise InputError(f"{Path(mrb_path).name}: not a Slicer scene bundle (.mrb) this app can read.")
        scene = self.slicer_app.scene
        volumes = [n for n in scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
                   if n.GetImageData() is not None and not n.GetName().startswith("RadSurv")]
        if not volumes:
            raise InputError(f"{Path(mrb_path).name}: the scene holds no CT volume.")
        self.ct_node = volumes[0]
        self._show_dicom_series()  # a scene brings no DICOM files: no DICOM outputs
        self.slicer_app.display_manager.show_volume(self.ct_node, do_reset_views=True)
        with self._window_slider_kept_wide():
            self.logic._load_files_logic.volume_loaded(self.ct_node)
        self.set_window(DEFAULT_WINDOW_PRESET)
        self._watch_segmentation()
        segment_id = app_scene.ensure_gtv_segment(self.segmentation_node, self.ct_node)
        self.editor.set_active_segment_id(segment_id)
        self.editor.trigger_all_signals()
        self.state.update({"rs_case": Path(mrb_path).name, "rs_error": "", "rs_info": "", "rs_has_dicom": False})
        self.ui.data.active_tool = SegmentEditorUI.__name__
        self._refresh_overlays()
        self._update_gtv_volume()
        self._update_scene_summary()

    # -- data folder -------------------------------------------------------------------------
    def _browse(self, relative: str) -> None:
        self.state.rs_data_entries = inputs.list_data_folder(self.data_dir, relative)
        self.state.rs_data_path = relative

    def browse(self, relative: str) -> None:
        """Data browser: open a folder."""
        self._guarded(self._browse, relative)

    def load_data_case(self) -> None:
        """Data browser: load the chosen CT (file or DICOM folder) and GTV (mask, RTSTRUCT or SEG)."""
        def load():
            if not self.state.rs_data_ct:
                raise InputError("data: choose a CT (a file or a DICOM folder) first.")
            ct = inputs.resolve_in_data_folder(self.data_dir, self.state.rs_data_ct)
            gtv = inputs.resolve_in_data_folder(self.data_dir, self.state.rs_data_gtv) if self.state.rs_data_gtv else None
            kind = _dicom_object(gtv) if gtv is not None else ""
            self.load_case(inputs.read_case(ct, gtv if not kind else None,
                                            rtstruct=gtv if kind == "RTSTRUCT" else None,
                                            seg=gtv if kind == "SEG" else None,
                                            roi=self.state.rs_data_roi or None, name=ct.name))
        self._guarded(load)

    # -- scoring -----------------------------------------------------------------------------
    def score(self) -> None:
        """Score button: start the worker on the "GTV" segment with the form's options."""
        def start():
            if self.ct_node is None:
                raise InputError("Load a CT first (PAT1, the data folder or an upload).")
            segment_id = app_scene.gtv_segment_id(self.segmentation_node)
            if not segment_id:
                raise InputError("gtv: the scene has no segment named 'GTV'; add one and delineate the GTV.")
            options = options_from_form({k: self.state[f"rs_opt_{k}"] for k in FORM_DEFAULTS})
            self.editor.deactivate_effect()
            self._score_clicked_at = time.monotonic()
            self._update_scene_summary()
            self.scoring.start(self.ct_node, self.segmentation_node, segment_id, options)
            self.state.update({"rs_running": True, "rs_error": "", "rs_stage": "starting", "rs_fraction": 0.0,
                               "rs_message": "starting the RadSurv worker", "rs_heatmap_s": None})
            self._clock = ProgressClock(started=self._score_clicked_at)
            self.state.rs_progress_text = "0 % - estimating the time left"
            asyncio.ensure_future(self._poll_loop())
        self._guarded(start)

    def cancel(self) -> None:
        """Cancel button: stop the worker; the scene stays as it was."""
        self.scoring.cancel()

    async def _poll_loop(self) -> None:
        from ..worker.client import RUNNING, SKIPPED, SUCCEEDED

        state = RUNNING
        while state == RUNNING:
            await asyncio.sleep(POLL_INTERVAL_S)
            try:
                state = self.scoring.poll()
            except Exception as exc:  # noqa: BLE001
                state = "failed"
                with self.state:
                    self._set_error(exc)
            task = self.scoring.task
            shown, text = self._clock.text(task.stage or "starting", task.fraction)
            with self.state:
                self.state.update({"rs_stage": task.stage or self.state.rs_stage, "rs_fraction": shown,
                                   "rs_progress_text": text, "rs_message": public_message(task.message or ""),
                                   "rs_running": state == RUNNING})
        with self.state:
            self.state.rs_running = False
            self._update_scene_summary()
            if state == SUCCEEDED:
                self._show_results()
            elif state == SKIPPED:
                self.state.rs_info = "These inputs were scored already; their results are in the scene."
            elif self.scoring.task.error is not None:
                self._set_error(self.scoring.task.error)
            else:
                self.state.rs_info = "Cancelled: the scene is as it was."

    def _show_results(self) -> None:
        result = self.scoring.result or {}
        self.state.rs_scores = scores_rows(result)
        self.state.rs_has_results = True
        self.state.rs_has_dicom = bool((result.get("outputs") or {}).get("dicom"))
        self.state.rs_info = ""
        self._refresh_overlays()
        heatmap = (result.get("nodes") or {}).get("heatmap_volume")
        if heatmap:
            self.state.rs_overlay = heatmap
            self._on_overlay_changed(heatmap)
        if self._score_clicked_at is not None:
            self.state.rs_heatmap_s = round(time.monotonic() - self._score_clicked_at, 1)

    def _refresh_overlays(self) -> None:
        scene = self.slicer_app.scene
        items = [{"title": "none", "value": ""}]
        for node in scene.GetNodesByClass("vtkMRMLScalarVolumeNode"):
            if node.GetName().startswith("RadSurv"):
                items.append({"title": node.GetName().removeprefix("RadSurv "), "value": node.GetID()})
        self.state.rs_overlays = items

    def _on_overlay_changed(self, rs_overlay=None, **_):
        """Picker: show a heatmap / voxel map over the CT (foreground layer)."""
        node = self.slicer_app.scene.GetNodeByID(rs_overlay) if rs_overlay else None
        if self.ct_node is None:
            return
        if node is not None and "heatmap" in node.GetName():
            from ..slicer.display import show_results

            show_results(self.slicer_app.scene, self.ct_node, node, self.segmentation_node,
                         app_scene.gtv_segment_id(self.segmentation_node))
            self.slicer_app.display_manager.show_volume_in_slice_background(self.ct_node)
        else:
            self.slicer_app.display_manager.show_volume_in_slice_foreground(node)
        for view in self.slicer_app.view_manager.get_slice_views():
            view.schedule_render()

    # -- downloads ---------------------------------------------------------------------------
    def download(self, name: str):
        """Download buttons: ``scene.mrb`` (the whole scene), ``dicom.zip`` (the last run's DICOM objects)
        or a file of the last run."""
        try:
            if name == "scene.mrb":
                with tempfile.TemporaryDirectory(dir=self.work_dir) as tmp:
                    data = app_scene.write_scene_mrb(self.slicer_app.scene, Path(tmp) / name).read_bytes()
            elif name == DICOM_ARCHIVE:
                data = self.scoring.dicom_archive()
            else:
                data = public_file(name, self.scoring.output_file(name).read_bytes())
        except RadSurvError as exc:
            self._set_error(exc)
            return None
        return self.server.protocol.addAttachment(data)

    def _update_scene_summary(self) -> None:
        """``rs_scene``: the user's nodes and segments as sorted text (shown, and compared after a Cancel)."""
        snapshot = app_scene.scene_snapshot(self.slicer_app.scene)
        self.state.rs_scene = sorted(" / ".join(str(part) for part in entry) for entry in snapshot.values())

    def _update_gtv_volume(self) -> None:
        """``rs_gtv_ml`` / ``rs_gtv_text``: the "GTV" segment's volume as it is now (after every stroke)."""
        segmentation_node = self.segmentation_node if self.ct_node else None
        segment_id = app_scene.gtv_segment_id(segmentation_node) if segmentation_node is not None else ""
        ml = app_scene.segment_volume_ml(segmentation_node, segment_id) if segment_id else None
        self.state.rs_gtv_ml = None if ml is None else round(ml, 3)
        self.state.rs_gtv_text = volume_text(ml)

    def _watch_segmentation(self) -> None:
        """Recompute the GTV volume whenever the edited segmentation changes (a brush stroke, an
        effect, undo): trame-slicer's ``segmentation_modified`` and the segmentation's own events."""
        if not getattr(self, "_watching_editor", False):
            self.editor.segmentation_modified.connect(self._on_segmentation_modified)
            self._watching_editor = True
        node = self.segmentation_node
        if node is not None and node is not getattr(self, "_watched_node", None):
            import slicer

            segmentation = node.GetSegmentation()
            for event in ("SourceRepresentationModified", "SegmentModified", "SegmentAdded", "SegmentRemoved"):
                if hasattr(slicer.vtkSegmentation, event):
                    segmentation.AddObserver(getattr(slicer.vtkSegmentation, event), self._on_segmentation_modified)
            self._watched_node = node

    def _on_segmentation_modified(self, *_args) -> None:
        if self.ct_node is None or self.segmentation_node is None:
            return
        try:
            with self.state:
                self._update_gtv_volume()
        except Exception:  # noqa: BLE001 - a readout must never break an edit
            log.exception("GTV volume readout failed")

    # -- views: window/level, orientation letters, slice position, HU probe ---------------------------
    def set_window(self, preset: str) -> None:
        """W/L preset buttons: the CT's window (``WINDOW_PRESETS_HU``), in every view."""
        if self.ct_node is None:
            return
        window, level = WINDOW_PRESETS_HU[preset]
        display = self.ct_node.GetDisplayNode()
        if display is None:
            self.ct_node.CreateDefaultDisplayNodes()
            display = self.ct_node.GetDisplayNode()
        if getattr(self, "_observed_display", None) is not display:
            import vtk

            display.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda *_a: self._update_view_text())
            self._observed_display = display
        display.AutoWindowLevelOff()
        display.SetWindowLevel(window, level)
        self._update_view_text()

    @contextlib.contextmanager
    def _window_slider_kept_wide(self):
        """Keep trame-slicer's W/L range slider at least as wide as before and as every preset.

        On a load trame-slicer narrows the slider to the new CT's scalar range; the browser's slider
        then clamps the window it still shows (the previous one, e.g. the lung preset reaching
        -1350 HU on a CT starting at -1024 HU) and sends that back, which replaced the preset just
        set: the same CT opened with another window on a second load. A slider never narrower than
        before and than the presets has nothing to clamp."""
        low_key, high_key = (f"{WINDOW_SLIDER_STATE}__min_value", f"{WINDOW_SLIDER_STATE}__max_value")
        before = (self.state[low_key], self.state[high_key]) if self.state.has(low_key) else None
        yield
        if before is None or not self.state.has(low_key):
            return
        lows = [level - window / 2 for window, level in WINDOW_PRESETS_HU.values()]
        highs = [level + window / 2 for window, level in WINDOW_PRESETS_HU.values()]
        self.state[low_key] = min([self.state[low_key], before[0], *lows])
        self.state[high_key] = max([self.state[high_key], before[1], *highs])

    def _annotate_views(self) -> None:
        """Texts drawn in each slice view: orientation letters at the edges, and in the upper-right
        corner the view's orientation and slice position, the W/L and the HU probe under the cursor
        (the other corners and the bottom edge hold trame-slicer's buttons and slider; the bottom
        letter is drawn above the slider). Done once: the views live as long as the server."""
        import vtk

        self._annotations = {}
        for view in self.slicer_app.view_manager.get_slice_views():
            annotation = vtk.vtkCornerAnnotation()
            annotation.SetMaximumFontSize(16)
            annotation.SetMinimumFontSize(12)
            annotation.SetNonlinearFontScaleFactor(1)
            bottom = vtk.vtkTextActor()
            anchor = vtk.vtkCoordinate()
            anchor.SetCoordinateSystemToNormalizedViewport()
            anchor.SetValue(0.5, 0.0)
            bottom.GetPositionCoordinate().SetCoordinateSystemToDisplay()
            bottom.GetPositionCoordinate().SetReferenceCoordinate(anchor)
            bottom.GetPositionCoordinate().SetValue(0, BOTTOM_LETTER_PX)
            bottom.GetTextProperty().SetJustificationToCentered()
            bottom.GetTextProperty().SetFontSize(16)
            for prop in (annotation.GetTextProperty(), bottom.GetTextProperty()):
                prop.SetColor(*ANNOTATION_RGB)
                prop.BoldOn()
                prop.ShadowOn()
            view.first_renderer().AddViewProp(annotation)
            view.first_renderer().AddViewProp(bottom)
            self._annotations[view] = {"corner": annotation, "bottom": bottom, "probe": ""}
            view.get_view_node().AddObserver(vtk.vtkCommand.ModifiedEvent,
                                             lambda *_a, v=view: self._update_view_text(v))
            view.interactor().AddObserver(vtk.vtkCommand.MouseMoveEvent,
                                          lambda *_a, v=view: self._probe(v), 100.0)  # before the interactor style, which may abort the event
            self._update_view_text(view)

    def _update_view_text(self, only=None) -> None:
        """Texts of the slice views from their slice nodes, the CT's window and the last probe."""
        display = self.ct_node.GetDisplayNode() if self.ct_node is not None else None
        wl = window_text(display.GetWindow(), display.GetLevel()) if display is not None else ""
        if self.state.rs_window_text != wl:
            self.state.rs_window_text = wl
        for view, texts in getattr(self, "_annotations", {}).items():
            if only is not None and view is not only:
                continue
            node = view.get_view_node()
            matrix = node.GetSliceToRAS()
            m = [[matrix.GetElement(r, c) for c in range(4)] for r in range(4)]
            letters = orientation_letters(m)
            corner = texts["corner"]
            corner.SetText(6, letters["left"])   # left edge
            corner.SetText(5, letters["right"])  # right edge
            corner.SetText(7, letters["top"])    # upper edge
            texts["bottom"].SetInput(letters["bottom"])
            lines = [f"{node.GetOrientation()} {slice_position_text(m)}", wl, texts["probe"]] if self.ct_node else []
            corner.SetText(3, "\n".join(line for line in lines if line))
            view.schedule_render()

    def _probe(self, view) -> None:
        """HU of the CT voxel under the cursor, in the view's corner text and ``rs_probe``."""
        if self.ct_node is None or self.ct_node.GetImageData() is None:
            return
        import vtk

        x, y = view.interactor().GetEventPosition()
        ras = view.get_view_node().GetXYToRAS().MultiplyPoint((float(x), float(y), 0.0, 1.0))[:3]
        ras_to_ijk = vtk.vtkMatrix4x4()
        self.ct_node.GetRASToIJKMatrix(ras_to_ijk)
        m = [[ras_to_ijk.GetElement(r, c) for c in range(4)] for r in range(4)]
        image = self.ct_node.GetImageData()
        hu = sample_hu(m, image.GetDimensions(), lambda i, j, k: image.GetScalarComponentAsDouble(i, j, k, 0), ras)
        text = probe_text(hu, ras)
        texts = self._annotations.get(view)
        if texts is not None:
            texts["probe"] = text
            self._update_view_text(view)
        with self.state:
            self.state.rs_probe = text

    def gtv_mask_download(self):
        """Download the GTV segment as a NIfTI mask on the CT's grid (for checks outside the app)."""
        import SimpleITK as sitk

        try:
            if self.ct_node is None:
                raise InputError("Load a CT first.")
            segment_id = app_scene.gtv_segment_id(self.segmentation_node)
            mask = app_scene.segment_mask(self.segmentation_node, segment_id, self.ct_node)
            self._update_gtv_volume()
            with tempfile.TemporaryDirectory(dir=self.work_dir) as tmp:
                from ..slicer.export import export_case

                exported = export_case(self.ct_node, self.segmentation_node, segment_id, Path(tmp))
                image = sitk.ReadImage(str(exported["gtv"]))
                path = Path(tmp) / "gtv.nii.gz"
                sitk.WriteImage(image, str(path))
                data = path.read_bytes()
            del mask
        except RadSurvError as exc:
            self._set_error(exc)
            return None
        return self.server.protocol.addAttachment(data)

    def _no_volume_no_crop(self) -> None:
        """trame-slicer's volume-rendering crop toggle runs when the server starts, before any volume
        is loaded, and logs "'NoneType' object has no attribute 'GetROINode'" every start: its
        callback (the only one on that state key) is kept for when a CT is loaded."""
        callbacks = self.state._change_callbacks.get(CROP_STATE_KEY, [])
        for index, (callback, translator) in enumerate(callbacks):
            def guarded(*args, _callback=callback, **kwargs):
                if self.ct_node is not None:
                    return _callback(*args, **kwargs)
                return None
            callbacks[index] = (guarded, translator)

    def _brush_in_mm(self) -> None:
        """Paint / Erase brush (one state) sized in mm on the CT (``BRUSH_RANGE_MM``), not relative to the screen."""
        from trame_slicer.segmentation import BrushDiameterMode

        for prefix in ("PaintEffectState",):  # Paint and Erase share it
            if not self.state.has(f"{prefix}__brush_diameter_mode"):
                continue
            self.state.update({
                f"{prefix}__brush_diameter_mode": BrushDiameterMode.Absolute.value,
                f"{prefix}__brush_diameter_slider__SliderState__min_value": BRUSH_RANGE_MM[0],
                f"{prefix}__brush_diameter_slider__SliderState__max_value": BRUSH_RANGE_MM[1],
                f"{prefix}__brush_diameter_slider__SliderState__step": 1,
                f"{prefix}__brush_diameter_slider__SliderState__value": BRUSH_DEFAULT_MM,
            })

    # -- UI ------------------------------------------------------------------------------------
    def _build_panel(self) -> None:
        layout = self.ui.layout
        layout.title.set_text("RadSurv")
        active, visible = self.ui.name.active_tool, self.ui.name.is_drawer_visible
        with layout.toolbar:
            with html.Div(id="rs-panel-tool"):  # a disabled button shows no tooltip: the tooltip is on its box
                v3.VBtn(icon="mdi-chart-bell-curve", id="rs-panel-button", variant="text", rounded=0, size="small",
                        classes="mt-1", click=f"{active} = '{PANEL}'; {visible} = true", disabled=("!rs_case",))
                v3.VTooltip(text=TOOLTIPS["panel"], activator="parent", location="right")
        with layout.appbar:
            _button("Load PAT1", TOOLTIPS["pat1"], click=self.load_pat1, variant="tonal", classes="ml-2",
                    id="rs-load-pat1")
            _button("PAT1 CT only", TOOLTIPS["pat1-ct"], click=(self.load_pat1, "[false]"), variant="tonal",
                    classes="ml-2", id="rs-load-pat1-ct")
            html.Div("{{ rs_case }}", classes="ml-3 text-caption", style="white-space: nowrap;", id="rs-case")
            html.Div("GTV {{ rs_gtv_text }}", v_if=("rs_case",), classes="ml-3 text-subtitle-2",
                     style="white-space: nowrap;", id="rs-gtv-live")
            v3.VSpacer()
            with html.Div(v_if=("rs_case",), classes="d-flex align-center", id="rs-window-presets"):
                with v3.VBtn(v_for="preset in rs_window_presets", key="preset.name", size="small",
                             variant=("rs_window_text.endsWith('(' + preset.name + ')') ? 'tonal' : 'text'",),
                             classes="mx-1 text-none", id=("`rs-window-${preset.name}`",),
                             click=(self.set_window, "[preset.name]")):
                    html.Span("{{ preset.label }}")
                    v3.VTooltip(text=("`Window/level preset: ${preset.label} (HU)`",), activator="parent",
                                location="bottom")
                html.Div("{{ rs_probe }}", classes="mx-2 text-caption", id="rs-probe",
                         style="white-space: nowrap; min-width: 19em;")
            # Errors and notices over whatever panel is open (also before a case is loaded).
            with v3.VSnackbar(model_value=("!!rs_error",), timeout=-1, location="top", color="error",
                              multi_line=True, update_modelValue="rs_error = $event ? rs_error : ''"):
                html.Div("{{ rs_error }}", id="rs-error")
                with v3.Template(v_slot_actions=True):
                    v3.VBtn("Close", variant="text", click="rs_error = ''", id="rs-error-close")
            with v3.VSnackbar(model_value=("!!rs_info && !rs_error",), timeout=-1, location="top", color="info",
                              update_modelValue="rs_info = $event ? rs_info : ''"):
                html.Div("{{ rs_info }}", id="rs-info")
                with v3.Template(v_slot_actions=True):
                    v3.VBtn("Close", variant="text", click="rs_info = ''")
        with layout.drawer:
            with html.Div(v_if=(f"{active} === '{PANEL}'",), classes="pa-3", style="overflow-y: auto;",
                          id="rs-panel"):
                self._case_section()
                self._options_section()
                self._run_section()
                self._results_section()
            html.Div("Brush diameter {{ PaintEffectState__brush_diameter_slider__SliderState__value }} mm",
                     v_if=(f"{active} === 'SegmentEditorUI' && "
                           "['Paint', 'Erase'].some(n => (SegmentEditorState__active_effect_name || '').includes(n))",),
                     classes="px-3 text-caption", id="rs-brush-mm")
        layout.flush_content()

    def _case_section(self):
        html.Div("Case: {{ rs_case || 'none' }} - GTV {{ rs_gtv_text }}", classes="text-subtitle-2",
                 id="rs-gtv-volume")
        with html.Div(v_if=("rs_data_enabled",), classes="my-2"):
            html.Div("Data folder: /{{ rs_data_path }}", classes="text-caption")
            with v3.VList(density="compact", max_height="200px", style="overflow-y: auto;"):
                v3.VListItem(title="..", click=(self.browse, "[rs_data_path.split('/').slice(0, -1).join('/')]"))
                with v3.VListItem(v_for="entry in rs_data_entries", key="entry.path", title=("entry.name",)):
                    with v3.Template(v_slot_append=True):
                        _button("open", "Open this folder", v_if=("entry.kind === 'folder'",), size="x-small",
                                variant="text",
                                click=(self.browse, "[entry.path]"))
                        _button("CT", "Use as the CT (an image file or a DICOM series folder)", size="x-small",
                                variant="text", click="rs_data_ct = entry.path")
                        _button("GTV", "Use as the GTV (a mask, an RTSTRUCT or a DICOM SEG)", size="x-small",
                                variant="text", v_if=("entry.kind !== 'folder'",),
                                click="rs_data_gtv = entry.path")
            html.Div("CT: {{ rs_data_ct || '-' }}  GTV: {{ rs_data_gtv || '-' }}", classes="text-caption")
            v3.VTextField(v_model=("rs_data_roi",), label="RTSTRUCT ROI / SEG segment", density="compact",
                          hide_details=True)
            _button("Load from data folder", "Load the chosen CT and GTV", click=self.load_data_case, size="small",
                    classes="mt-1")
        v3.VDivider(classes="my-2")

    def _options_section(self):
        fields = dict(density="compact", hide_details=True, classes="mb-1")
        v3.VTextField(v_model=("rs_opt_rings_mm",), label="Rings (mm)", id="rs-rings", **fields)
        v3.VSelect(v_model=("rs_opt_radiomics",), items=("rs_radiomics_items",), label="Radiomics",
                   id="rs-radiomics", **fields)
        v3.VSelect(v_model=("rs_opt_device",), items=("['auto', 'cpu', 'cuda']",), label="Device", **fields)
        v3.VSelect(v_model=("rs_opt_ring_convention",), items=("['centre', 'surface']",), label="Ring distances",
                   **fields)
        v3.VTextField(v_model=("rs_opt_inner_rim_mm",), label="Inner rim (mm)", **fields)
        v3.VTextField(v_model=("rs_opt_air_hu",), label="Exclude air below (HU)", **fields)
        v3.VTextField(v_model=("rs_opt_bundle",), label="Model bundle (server folder; empty = demo)", **fields)
        v3.VCombobox(v_model=("rs_opt_signature",), items=("rs_signature_items",), clearable=True,
                     label="Radiomics signature (shipped, or a server file)", id="rs-signature", **fields)
        with html.Div(id="rs-dicom-out-box"):  # a disabled switch shows no tooltip: the tooltip is on its box
            v3.VSwitch(v_model=("rs_opt_dicom_out",), label="DICOM outputs", disabled=("!rs_dicom_available",),
                       color="primary", id="rs-dicom-out", **fields)
            v3.VTooltip(text=("rs_dicom_tooltip",), activator="parent", location="bottom")

    def _run_section(self):
        with html.Div(classes="d-flex my-2"):
            _button("Score", TOOLTIPS["score"], click=self.score, color="primary", disabled=("rs_running",),
                    id="rs-score")
            _button("Cancel", TOOLTIPS["cancel"], click=self.cancel, disabled=("!rs_running",), classes="ml-2",
                    id="rs-cancel")
        with v3.VProgressLinear(model_value=("rs_fraction * 100",), height=18, v_show=("rs_running",),
                                color="primary", id="rs-progress"):
            html.Span("{{ Math.round(rs_fraction * 100) }} %", classes="text-caption")
        html.Div("{{ rs_progress_text }}", v_show=("rs_running",), classes="text-caption", id="rs-eta")
        html.Div("{{ rs_stage }}: {{ rs_message }}", v_show=("rs_running",), classes="text-caption", id="rs-stage")

    def _results_section(self):
        with html.Div(v_if=("rs_has_results",), id="rs-results"):
            html.Div("Heatmap on screen {{ rs_heatmap_s }} s after Score", v_if=("rs_heatmap_s !== null",),
                     classes="text-caption", id="rs-heatmap-time")
            with v3.VTable(density="compact", id="rs-scores"):
                with html.Tbody():
                    with html.Tr(v_for="row in rs_scores", key="row[0]"):
                        html.Td("{{ row[0] }}")
                        html.Td("{{ row[1] }}")
                        html.Td("{{ row[2] }}", classes="text-caption")
            v3.VSelect(v_model=("rs_overlay",), items=("rs_overlays",), label="Overlay", density="compact",
                       hide_details=True, classes="my-2")
        with html.Div(classes="d-flex flex-wrap"):
            for name in ("scene.mrb", "result.json", "features.csv", "overview.png"):
                _button(name, TOOLTIPS[name], size="small", variant="outlined", classes="ma-1", id=f"rs-dl-{name.split('.')[0]}",
                        disabled=(f"{'!rs_case' if name == 'scene.mrb' else '!rs_has_results'}",),
                        click=f"utils.download('{name}', trigger('{self.server.controller.trigger_name(self.download)}',"
                              f" ['{name}']), 'application/octet-stream')")
            _button(DICOM_ARCHIVE, TOOLTIPS[DICOM_ARCHIVE], size="small", variant="outlined", classes="ma-1",
                    id="rs-dl-dicom", v_if=("rs_has_dicom",),
                    click=f"utils.download('{DICOM_ARCHIVE}', trigger("
                          f"'{self.server.controller.trigger_name(self.download)}', ['{DICOM_ARCHIVE}']), "
                          "'application/zip')")
            _button("GTV mask", TOOLTIPS["gtv"], size="small", variant="outlined", classes="ma-1", id="rs-dl-gtv",
                    disabled=("!rs_case",),
                    click=f"utils.download('gtv.nii.gz', trigger('{self.server.controller.trigger_name(self.gtv_mask_download)}'),"
                          " 'application/octet-stream')")


def _button(text: str, tooltip: str, **kwargs):
    """A ``VBtn`` with its tooltip (shown on hover, below the button)."""
    with v3.VBtn(text, **kwargs) as button:
        v3.VTooltip(text=tooltip, activator="parent", location="bottom")
    return button


def public_file(name: str, data: bytes) -> bytes:
    """A run's file as the browser receives it: ``result.json`` and ``features.csv`` with server paths
    reduced to file names (``readouts.public_result`` / ``public_message``), other files unchanged."""
    import json

    if name.endswith(".json"):
        return (json.dumps(public_result(json.loads(data.decode("utf-8"))), indent=2) + "\n").encode("utf-8")
    if name.endswith(".csv"):
        return public_message(data.decode("utf-8")).encode("utf-8")
    return data


def scores_rows(result: dict) -> list[list[str]]:
    """Rows (quantity, value, unit) of the scores table: those of the scene's ``RadSurv scores`` table."""
    from ..slicer.write import scores_rows

    return [[quantity, value, unit] for quantity, value, unit in scores_rows(result)]


def _dicom_object(path: Path) -> str:
    """"RTSTRUCT" / "SEG" for such a DICOM file, "" otherwise (a mask image)."""
    from ..io.dicom import is_dicom_file

    if path.is_dir() or not is_dicom_file(path):
        return ""
    import pydicom

    modality = str(getattr(pydicom.dcmread(path, stop_before_pixels=True), "Modality", ""))
    return modality if modality in ("RTSTRUCT", "SEG") else ""


def main(host: str = "127.0.0.1", port: int = 8080, data_dir=None, open_browser: bool = False) -> None:
    """Start the app's server (blocks until it stops)."""
    app = RadSurvApp(data_dir=data_dir)
    app.server.start(host=host, port=port, open_browser=open_browser)
