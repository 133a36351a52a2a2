"""The web app's server: trame-slicer's segmentation app plus RadSurv's panel.

trame-slicer (Kitware, Apache-2.0) gives the MRML scene, Slicer's slice and 3D views (four-up)
and the Segment Editor effects with undo; this module adds the RadSurv panel (drawer tool "RadSurv",
opened after a case is loaded): load PAT1 / a data-folder case / an upload, the scoring options
(``ScoreOptions`` fields), Score with a progress bar naming the stage, Cancel, the scores table,
the voxel-map / heatmap picker and the downloads (``scene.mrb``, ``result.json``,
``features.csv``, ``overview.png``). Scoring goes through ``control.session.ScoringSession``, i.e.
``control.task.SceneScoringTask`` and the worker, and the results are written into the scene by
``slicer.write`` as in the Slicer module.

One server process serves one scene (trame's model: start one per user, behind the hospital's
reverse proxy and authentication; see README "In a browser").
"""

from __future__ import annotations

import asyncio
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

from ..control.session import FORM_DEFAULTS, RADIOMICS_CHOICES, ScoringSession, message, options_from_form
from ..errors import InputError, RadSurvError
from . import inputs, scene as app_scene

log = logging.getLogger(__name__)

#: Seconds between two polls of the worker.
POLL_INTERVAL_S = 0.2

#: How the views' images travel to the browser: JPEG by Pillow (trame-slicer's default, TurboJPEG,
#: needs libturbojpeg, which a plain pip install lacks: the views then stay black).
RCA_ENCODER = "jpeg"

#: Name of the drawer tool of RadSurv's panel.
PANEL = "RadSurvPanel"


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
        self.logic = SegmentationAppLogic(self.server, self.slicer_app, rca_encoder=RCA_ENCODER)
        self.ui = SegmentationAppUI(self.server, self.logic.layout_manager)
        self.logic.set_ui(self.ui)
        self.scoring = ScoringSession(self.work_dir / "jobs", python_command=python_command)
        self.ct_node = None
        self._score_clicked_at = None
        self._init_state()
        self._route_uploads()
        self._build_panel()

    # -- state -------------------------------------------------------------------------------
    def _init_state(self):
        state = self.state
        state.trame__title = "RadSurv"
        state.update({
            "rs_case": "", "rs_error": "", "rs_info": "", "rs_running": False, "rs_stage": "",
            "rs_fraction": 0.0, "rs_message": "", "rs_scores": [], "rs_has_results": False,
            "rs_overlays": [], "rs_overlay": None, "rs_gtv_ml": None, "rs_heatmap_s": None,
            "rs_radiomics_items": [{"title": k, "value": v} for k, v in RADIOMICS_CHOICES.items()],
            "rs_data_enabled": self.data_dir is not None, "rs_data_path": "", "rs_data_entries": [],
            "rs_data_ct": "", "rs_data_gtv": "", "rs_data_roi": "", "rs_scene": [],
            **{f"rs_opt_{k}": v for k, v in FORM_DEFAULTS.items()},
        })
        if self.data_dir is not None:
            self._browse("")
        self.state.change("rs_overlay")(self._on_overlay_changed)

    def _set_error(self, error) -> None:
        self.state.rs_error = message(error) if isinstance(error, Exception) else str(error)

    # -- loading a case ----------------------------------------------------------------------
    def load_case(self, case: inputs.Case) -> None:
        """Replace the scene's contents by ``case``: CT shown in the four views, "GTV" segment (the
        case's mask or empty) active in the Segment Editor."""
        if self.scoring.running:
            raise InputError("A scoring run is in progress: cancel it before loading another case.")
        self.slicer_app.scene.Clear()
        self.ct_node = self._add_ct(case.ct)
        self.slicer_app.display_manager.show_volume(self.ct_node, do_reset_views=True)
        from ..slicer.display import style_ct

        style_ct(self.ct_node, force=True)
        # trame-slicer's own "volume loaded" signal: editor (new segmentation), volume properties, drawer.
        self.logic._load_files_logic.volume_loaded(self.ct_node)
        segmentation_node = self.segmentation_node
        if case.gtv is not None:
            app_scene.set_gtv_from_mask(segmentation_node, self.ct_node, case.gtv)
        segment_id = app_scene.ensure_gtv_segment(segmentation_node, self.ct_node)
        self.editor.set_active_segment_id(segment_id)
        self.editor.trigger_all_signals()
        self.scoring.out_dir = self.scoring.result = None
        self.state.update({"rs_case": case.name, "rs_error": "", "rs_scores": [], "rs_has_results": False,
                           "rs_overlays": [], "rs_overlay": None, "rs_heatmap_s": None,
                           })
        self.ui.data.active_tool = SegmentEditorUI.__name__
        self._update_gtv_volume()
        self._update_scene_summary()

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
            self.load_case(inputs.read_case(found["ct"], found["gtv"], found["rtstruct"], found["seg"],
                                            roi=self.state.rs_data_roi or None, name=Path(found["ct"]).name))
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
        self.slicer_app.display_manager.show_volume(self.ct_node, do_reset_views=True)
        self.logic._load_files_logic.volume_loaded(self.ct_node)
        segment_id = app_scene.ensure_gtv_segment(self.segmentation_node, self.ct_node)
        self.editor.set_active_segment_id(segment_id)
        self.editor.trigger_all_signals()
        self.state.update({"rs_case": Path(mrb_path).name, "rs_error": ""})
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
            with self.state:
                self.state.update({"rs_stage": task.stage or self.state.rs_stage, "rs_fraction": task.fraction,
                                   "rs_message": task.message, "rs_running": state == RUNNING})
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
        """Download buttons: ``scene.mrb`` (the whole scene) or a file of the last run."""
        try:
            if name == "scene.mrb":
                with tempfile.TemporaryDirectory(dir=self.work_dir) as tmp:
                    data = app_scene.write_scene_mrb(self.slicer_app.scene, Path(tmp) / name).read_bytes()
            else:
                data = self.scoring.output_file(name).read_bytes()
        except RadSurvError as exc:
            self._set_error(exc)
            return None
        return self.server.protocol.addAttachment(data)

    def _update_scene_summary(self) -> None:
        """``rs_scene``: the user's nodes and segments as sorted text (shown, and compared after a Cancel)."""
        snapshot = app_scene.scene_snapshot(self.slicer_app.scene)
        self.state.rs_scene = sorted(" / ".join(str(part) for part in entry) for entry in snapshot.values())

    def _update_gtv_volume(self) -> None:
        segment_id = app_scene.gtv_segment_id(self.segmentation_node) if self.ct_node else ""
        if not segment_id:
            self.state.rs_gtv_ml = None
            return
        mask = app_scene.segment_mask(self.segmentation_node, segment_id, self.ct_node)
        spacing = self.ct_node.GetSpacing()
        self.state.rs_gtv_ml = round(float(mask.sum()) * spacing[0] * spacing[1] * spacing[2] / 1000.0, 2)

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

    # -- UI ------------------------------------------------------------------------------------
    def _build_panel(self) -> None:
        layout = self.ui.layout
        layout.title.set_text("RadSurv")
        active, visible = self.ui.name.active_tool, self.ui.name.is_drawer_visible
        with layout.toolbar:
            v3.VBtn(icon="mdi-chart-bell-curve", id="rs-panel-button", variant="text", rounded=0, size="small",
                    classes="mt-1", click=f"{active} = '{PANEL}'; {visible} = true", disabled=("!rs_case",))
        with layout.appbar:
            v3.VBtn("Load PAT1", click=self.load_pat1, variant="tonal", classes="ml-2", id="rs-load-pat1")
            v3.VBtn("PAT1 CT only", click=(self.load_pat1, "[false]"), variant="tonal", classes="ml-2",
                    id="rs-load-pat1-ct")
            html.Div("{{ rs_case }}", classes="ml-3 text-caption", id="rs-case")
        with layout.drawer:
            with html.Div(v_if=(f"{active} === '{PANEL}'",), classes="pa-3", style="overflow-y: auto;",
                          id="rs-panel"):
                self._case_section()
                self._options_section()
                self._run_section()
                self._results_section()
        layout.flush_content()

    def _case_section(self):
        html.Div("Case: {{ rs_case || 'none' }} - GTV {{ rs_gtv_ml === null ? '-' : rs_gtv_ml + ' ml' }}",
                 classes="text-subtitle-2", id="rs-gtv-volume")
        with html.Div(v_if=("rs_data_enabled",), classes="my-2"):
            html.Div("Data folder: /{{ rs_data_path }}", classes="text-caption")
            with v3.VList(density="compact", max_height="200px", style="overflow-y: auto;"):
                v3.VListItem(title="..", click=(self.browse, "[rs_data_path.split('/').slice(0, -1).join('/')]"))
                with v3.VListItem(v_for="entry in rs_data_entries", key="entry.path", title=("entry.name",)):
                    with v3.Template(v_slot_append=True):
                        v3.VBtn("open", v_if=("entry.kind === 'folder'",), size="x-small", variant="text",
                                click=(self.browse, "[entry.path]"))
                        v3.VBtn("CT", size="x-small", variant="text", click="rs_data_ct = entry.path")
                        v3.VBtn("GTV", size="x-small", variant="text", v_if=("entry.kind !== 'folder'",),
                                click="rs_data_gtv = entry.path")
            html.Div("CT: {{ rs_data_ct || '-' }}  GTV: {{ rs_data_gtv || '-' }}", classes="text-caption")
            v3.VTextField(v_model=("rs_data_roi",), label="RTSTRUCT ROI / SEG segment", density="compact",
                          hide_details=True)
            v3.VBtn("Load from data folder", click=self.load_data_case, size="small", classes="mt-1")
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
        v3.VTextField(v_model=("rs_opt_signature",), label="Radiomics signature (server file)", **fields)

    def _run_section(self):
        with html.Div(classes="d-flex my-2"):
            v3.VBtn("Score", click=self.score, color="primary", disabled=("rs_running",), id="rs-score")
            v3.VBtn("Cancel", click=self.cancel, disabled=("!rs_running",), classes="ml-2", id="rs-cancel")
        v3.VProgressLinear(model_value=("rs_fraction * 100",), height=18, v_show=("rs_running",), color="primary",
                           id="rs-progress")
        html.Div("{{ rs_stage }}: {{ rs_message }}", v_show=("rs_running",), classes="text-caption", id="rs-stage")
        v3.VAlert(text=("rs_error",), v_if=("rs_error",), type="error", density="compact", closable=True,
                  id="rs-error", classes="my-1")
        v3.VAlert(text=("rs_info",), v_if=("rs_info",), type="info", density="compact", id="rs-info", classes="my-1")

    def _results_section(self):
        with html.Div(v_if=("rs_has_results",), id="rs-results"):
            html.Div("Heatmap on screen {{ rs_heatmap_s }} s after Score", classes="text-caption",
                     id="rs-heatmap-time")
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
                v3.VBtn(name, size="small", variant="outlined", classes="ma-1", id=f"rs-dl-{name.split('.')[0]}",
                        disabled=(f"{'!rs_case' if name == 'scene.mrb' else '!rs_has_results'}",),
                        click=f"utils.download('{name}', trigger('{self.server.controller.trigger_name(self.download)}',"
                              f" ['{name}']), 'application/octet-stream')")
            v3.VBtn("GTV mask", size="small", variant="outlined", classes="ma-1", id="rs-dl-gtv",
                    disabled=("!rs_case",),
                    click=f"utils.download('gtv.nii.gz', trigger('{self.server.controller.trigger_name(self.gtv_mask_download)}'),"
                          " 'application/octet-stream')")


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
