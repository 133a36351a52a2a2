"""The RadSurv pipeline: one function, ``score_case``, from a CT and its GTV to every output.

The ``radsurv score`` command, the Slicer module's logic and batch scripts all call
``score_case``; no front end re-implements a step. Its settings are one ``options.ScoreOptions``
(checked before the first stage); its progress is ``worker.protocol.ProgressEvent``s. Stages
(timed in ``result.json``):

1. validate    CT and GTV on one grid, GTV not empty, CT in HU
2. resample    the analysis box (GTV + outermost ring / model crop + filter support) of the CT to 1 mm
               isotropic (B-spline, on the whole-CT grid points), GTV with a volume-preserving threshold
3. rings       peritumoral rings (3/6/9 mm by default) on the 1 mm grid and on the CT grid
4. features    PyRadiomics ROI features (Liu et al. 2025 setting) for the GTV and each ring
5. voxel_maps  voxel radiomics maps inside the GTV, on the CT's own grid
6. model       the bundle's risk score (3D SE-ResNet by default; Vision-Mamba on CT + voxel maps;
               Deep-RadScore with the signature's RadScores) and Grad-CAM heatmap (in the CT's geometry)
7. outputs     rings.nrrd, voxelmap_*.nrrd, heatmap.nrrd, features.csv, result.json, overview.png
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import InputError
from .options import OptionError, ScoreOptions
from .worker.protocol import ProgressEvent, stage_fraction

#: Files of a finished run; their presence in an output folder marks an earlier run.
RESULT_FILE = "result.json"

#: Voxel size of the analysis grid (Liu et al. 2025), mm.
ANALYSIS_SPACING_MM = 1.0


def _load(source, what: str, reader=None):
    """(image, provenance) for a path or an in-memory SimpleITK image; ``reader(source, what)``
    reads it (default ``io.images.read_image``; an image passes through it too when given)."""
    import hashlib

    import SimpleITK as sitk

    from .io.images import read_image, sha256_file

    if isinstance(source, (str, os.PathLike)):
        return (reader or read_image)(source, what), {"path": str(Path(source).resolve()),
                                                      "sha256": sha256_file(source)}
    if isinstance(source, sitk.Image):
        digest = hashlib.sha256(sitk.GetArrayViewFromImage(source).tobytes()).hexdigest()
        return (reader(source, what) if reader else source), {"path": None, "sha256_voxels": digest}
    raise OptionError(what, f"expected a file path or a SimpleITK image, got {type(source).__name__}.")


def _prepare_out_dir(out_dir, overwrite: bool, field: str = "out_dir") -> tuple[Path, list]:
    """Create ``out_dir``; refuse to mix a new run into an earlier one unless ``overwrite``.

    Returns:
        (the folder, the folders this call created, outermost first: ``remove_created`` removes
        them again when the run fails).

    Raises:
        OptionError (``field``): a file in the way, an earlier run, or a folder that cannot be written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(field, f"{out_dir} exists and is not a folder; give a folder.")
    if (out_dir / RESULT_FILE).exists() and not overwrite:
        raise OptionError(field, f"{out_dir} already holds the results of an earlier run; they are kept. "
                                 "Choose another folder, or set [[overwrite]] to replace them.")
    created = [p for p in [out_dir, *out_dir.parents] if not p.exists()][::-1]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=".radsurv-write-test-", dir=out_dir))
        probe.rmdir()
    except OSError as exc:
        remove_created(created)
        raise OptionError(field, f"cannot write into {out_dir} ({exc.strerror or exc}); choose a folder you can "
                                 "write to.") from None
    return out_dir, created


#: Prefix of a run's staging folder inside ``out_dir``: ``.radsurv-partial-<pid>-<random>``.
STAGING_PREFIX = ".radsurv-partial-"


def _remove_stale_staging(out_dir: Path) -> None:
    """Remove staging folders left by killed runs (SIGKILL, the module's Cancel): those whose
    process is gone. A staging folder without a process id (older versions) is removed too."""
    for folder in out_dir.glob(STAGING_PREFIX + "*"):
        pid = folder.name[len(STAGING_PREFIX):].split("-")[0]
        if pid.isdigit() and _process_alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill would terminate the process: keep it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: keep it
    return True


def remove_created(created) -> None:
    """Remove the folders a failed run created (innermost first), each only if it is empty."""
    for folder in reversed(list(created)):
        try:
            folder.rmdir()
        except OSError:
            break


def _gtv_inradius_mm(mask) -> float:
    """The GTV's inradius, mm: the largest distance from a GTV voxel centre to the nearest non-GTV
    voxel centre (the ``rings`` module's "centre" distances), computed on the GTV's bounding box."""
    import numpy as np
    import SimpleITK as sitk

    from .rings import distance_to_gtv_mm

    inside = sitk.GetArrayViewFromImage(mask) != 0
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(inside))
    crop = np.pad(inside[box], 1).astype(np.uint8)
    image = sitk.GetImageFromArray(crop)
    image.SetSpacing(mask.GetSpacing())
    image.SetDirection(mask.GetDirection())
    depth = distance_to_gtv_mm(sitk.Equal(image, 0))
    return float(depth[crop != 0].max())


def _analysis_margin_mm(bands, model_bundle) -> float:
    """How far around the GTV the 1 mm analysis box reaches, mm: the outermost ring, and the model
    input's crop margin (the 2D patch's half width for a ``slice2d+radscores`` model)."""
    from .models.inputs import PATCH_SIZE

    pre = getattr(model_bundle, "preprocessing", None) or {}
    margin = float(pre.get("margin_mm", 5.0))
    if getattr(model_bundle, "input_kind", "ct3d") == "slice2d+radscores":
        margin = max(margin, 0.5 * float(pre.get("patch_size", PATCH_SIZE)) * ANALYSIS_SPACING_MM)
    return max([margin] + [outer for _, outer in bands])


def _normalised_like_whole_ct(ct_iso, ct_image, extractor):
    """The analysis box as PyRadiomics' ``normalize`` would leave the whole 1 mm CT (it uses the
    statistics of the whole image it is given): normalised here with the whole CT's statistics,
    and the extractor's own normalisation turned off. Unchanged when the setting does not normalise."""
    from .preprocessing import normalize_like_pyradiomics, resampled_statistics

    settings = extractor.settings
    if not settings.get("normalize"):
        return ct_iso
    stats = resampled_statistics(ct_image, spacing_mm=ANALYSIS_SPACING_MM)
    settings["normalize"] = False
    return normalize_like_pyradiomics(ct_iso, stats, scale=settings.get("normalizeScale", 1),
                                      outliers=settings.get("removeOutliers"))


def _check_inner_rim(inner_rim_mm, mask, grid: str) -> None:
    """Refuse an inner rim that would take the whole GTV (nothing left of it to score)."""
    if inner_rim_mm is None:
        return
    inradius = _gtv_inradius_mm(mask)
    if inner_rim_mm >= inradius:
        raise OptionError("inner_rim_mm", f"{inner_rim_mm:g} mm is not smaller than the GTV's inradius on the "
                                          f"{grid} ({inradius:.2f} mm, its largest depth): the rim would take the "
                                          f"whole GTV. Give a width below {inradius:.2f} mm.")


#: Warnings of RadSurv's own (``rings.RingClippedWarning``, ``preprocessing.GTVVolumeChangeWarning``,
#: ...) that a run records in ``result.json["warnings"]``: those from modules of this package.
def _is_radsurv_warning(caught) -> bool:
    return getattr(caught.category, "__module__", "").startswith("RadSurvLib")


def _json_safe(value):
    """``value`` with every NaN / infinity replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalars
        return _json_safe(value.item())
    return value


class _Stages:
    """Times the pipeline stages and reports them as ``ProgressEvent``s to an optional callback."""

    def __init__(self, progress=None):
        self.timings = {}
        self.progress = progress or (lambda event: None)
        self.finished = []

    def report(self, stage: str, message: str, done: bool = False) -> None:
        """Send one event; its fraction follows ``protocol.STAGE_WEIGHTS``."""
        fraction = stage_fraction(self.finished, stage, done)
        self.progress(ProgressEvent(stage, fraction, message, done))

    @contextmanager
    def stage(self, name: str, message: str):
        self.report(name, message)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)
        self.finished.append(name)
        self.report(name, f"done in {self.timings[name]:.1f} s", done=True)


def score_case(ct, gtv, out_dir, options: ScoreOptions | None = None, progress=None) -> dict:
    """Score one case: rings, radiomics, voxel maps, risk score and Grad-CAM, written to ``out_dir``.

    Args:
        ct: CT in HU: NRRD / NIfTI path or SimpleITK image (any spacing and direction).
        gtv: GTV mask on the CT's grid (0 = background; one non-zero label, or choose one with
            ``options.gtv_label``): path or SimpleITK image.
        out_dir: output folder (created). An earlier run there (``result.json``) is never touched
            unless ``options.overwrite``; outputs are written to a staging folder and moved in at
            the end, so a failed run leaves ``out_dir`` as it was.
        options: every other setting (``options.ScoreOptions``: bundle, rings, radiomics, voxel
            maps, device, scene file, ...); None = the defaults (Liu et al. 2025).
        progress: optional callable(``worker.protocol.ProgressEvent``): each stage's start (and
            messages within it, ``done`` False) and end (``done`` True).

    Returns:
        The content of ``result.json`` (risk score, risk group, model, volumes, rings, outputs,
        the options that change results, timings in seconds per stage, ``warnings``: RadSurv's
        warnings of this run as text, e.g. a ``RingClippedWarning`` or ``GTVVolumeChangeWarning``).
        Strict JSON: a value that is not a number (the mean distance of an empty ring) is None.

    Raises:
        InputError: bad CT / GTV / options (``OptionError`` names the parameter: an ``out_dir`` that
            holds an earlier run or cannot be written, an ``inner_rim_mm`` not smaller than the GTV's
            inradius, ...); BundleError: bad bundle. Every setting is checked in the validate stage,
            before the long ones. A failed or interrupted run removes its staging folder and the
            folders it created.
    """
    from .radiomics import roi as feats
    from . import preprocessing, rings
    from .radiomics import voxelmaps
    from .models.bundle import default_bundle_path, load_bundle
    from .io.images import geometry, read_mask, write_image
    from .models.inference import predict_case, resolve_device
    from .overview import write_overview

    options = ScoreOptions() if options is None else options
    if not isinstance(options, ScoreOptions):
        raise InputError(f"options: expected a RadSurvLib.options.ScoreOptions, got {type(options).__name__}.")
    stages = _Stages(progress)
    bands = options.rings_mm
    params_file = options.parameter_file()
    extract_kwargs = _engine_kwargs(feats.extract_features, options.radiomics_engine)
    extractor = feats.make_extractor(params_file, engine=options.radiomics_engine)  # checked before any stage
    scene_path = options.scene_path
    if scene_path and Path(scene_path).exists() and not options.overwrite:
        raise OptionError("scene_path", f"{scene_path} already exists and is kept. Choose another file name, "
                                        "or set [[overwrite]] to replace it.")
    out_dir, created = _prepare_out_dir(out_dir, options.overwrite)
    _remove_stale_staging(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out_dir))
    finished = False
    caught_warnings = warnings.catch_warnings()
    caught_warnings.__enter__()
    caught = _WarningLog()
    warnings.showwarning = caught.showwarning
    for category in (rings.RingClippedWarning, preprocessing.GTVVolumeChangeWarning):
        warnings.simplefilter("always", category)  # every run records its own, not only the first
    try:
        with stages.stage("validate", "reading and checking the CT and the GTV"):
            ct_image, ct_info = _load(ct, "ct")
            gtv_image, gtv_info = _load(gtv, "gtv", lambda source, what: read_mask(source, what,
                                                                                 label=options.gtv_label))
            preprocessing.validate_inputs(ct_image, gtv_image, "ct", "gtv")
            _check_inner_rim(options.inner_rim_mm, gtv_image, "CT's grid")
            lung_image = _load_lung_mask(options.lung_mask, ct_image)
            device_used = resolve_device(options.device)
            bundle = options.bundle
            model_bundle = bundle if hasattr(bundle, "model") else load_bundle(bundle or default_bundle_path())
            signature_bundle = _load_signature(options.signature)
            if not options.features_only:
                _check_model_needs(model_bundle, signature_bundle)

        with stages.stage("resample", f"resampling the analysis box to {ANALYSIS_SPACING_MM:g} mm isotropic"):
            # Only the box the GTV, its rings, the model's crop and the filters need, on the grid
            # points of the whole-CT resampling (preprocessing.analysis_crop): the same values.
            crop = preprocessing.analysis_crop(ct_image, gtv_image, _analysis_margin_mm(bands, model_bundle),
                                               spacing_mm=ANALYSIS_SPACING_MM)
            ct_iso = preprocessing.resample_crop(ct_image, crop)
            gtv_iso = preprocessing.resample_mask_preserving_volume(gtv_image, ct_iso)
            stages.report("resample", f"GTV volume {gtv_iso.volume_mm3_input:,.0f} mm^3 -> "
                                      f"{gtv_iso.volume_mm3_resampled:,.0f} mm^3 at 1 mm")
            _check_inner_rim(options.inner_rim_mm, gtv_iso.mask, f"{ANALYSIS_SPACING_MM:g} mm grid")

        with stages.stage("rings", "peritumoral rings " + ", ".join(f"{a:g}-{b:g}" for a, b in bands) + " mm"):
            ring_options = {"inner_rim_mm": options.inner_rim_mm, "air_hu": options.air_hu,
                            "convention": options.ring_convention}
            lung_iso = None if lung_image is None else preprocessing.resample_image(
                lung_image, interpolator="nearest", reference=ct_iso, default_value=0)
            labels_iso, rings_iso = rings.make_rings(gtv_iso.mask, bands, ct=ct_iso, mask=lung_iso, **ring_options)
            labels_ct, rings_ct = rings.make_rings(gtv_image, bands, ct=ct_image, mask=lung_image, **ring_options)

        with stages.stage("features", "ROI radiomics features (GTV and rings)"):
            table = feats.extract_features(_normalised_like_whole_ct(ct_iso, ct_image, extractor),
                                           rings.roi_masks(labels_iso, rings_iso), extractor,
                                           lambda message: stages.report("features", message), **extract_kwargs)

        maps, prediction = {}, None
        if not options.features_only:  # radsurv features: the ROI features are the result
            kernel_radius = options.kernel_radius
            with stages.stage("voxel_maps", "voxel radiomics maps inside the GTV"):
                maps = voxelmaps.compute_voxel_maps(
                    ct_image, sitk_binary(gtv_image),
                    features=_map_features(options.voxel_map_features or voxelmaps.DEFAULT_FEATURES, model_bundle,
                                           kernel_radius),
                    kernel_radius=kernel_radius, device=device_used)
                model_maps = _model_voxel_maps(model_bundle, maps, ct_image, gtv_image, kernel_radius, device_used)

            with stages.stage("model", f"{model_bundle.name} risk score and Grad-CAM on {device_used}"):
                prediction = predict_case(model_bundle, ct_iso, gtv_iso.mask, ct_image, device=device_used,
                                          voxel_maps=model_maps,
                                          radscores=_model_radscores(model_bundle, signature_bundle, table))

        with stages.stage("outputs", f"writing outputs to {out_dir}"):
            outputs = {"rings": "rings.nrrd", "features": "features.csv"}
            write_image(labels_ct, staging / outputs["rings"])
            feats.write_features_csv(table, staging / outputs["features"])
            result = {
                "radsurv_version": __version__,
                "case": {"ct": ct_info, "gtv": gtv_info, "ct_geometry": geometry(ct_image)},
                "risk_score": None, "risk_group": None, "risk_cutoff": None, "model": None,
                "gtv": {"volume_mm3_input": gtv_iso.volume_mm3_input,
                        "volume_mm3_resampled": gtv_iso.volume_mm3_resampled,
                        "resampling_threshold": gtv_iso.threshold,
                        "analysis_spacing_mm": ANALYSIS_SPACING_MM},
                "rings": [_ring_info(a, b) for a, b in zip(rings_iso, rings_ct)],
                "features": {"params_file": params_file.name, "engine": options.radiomics_engine,
                             "per_roi": {roi: len(values) for roi, values in table.items()}},
                "signature": _signature_result(signature_bundle, options.signature, table),
                "options": options.result_key_fields(),
                "outputs": outputs,
            }
            if prediction is not None:
                outputs.update({"heatmap": "heatmap.nrrd", "overview": "overview.png",
                                "voxel_maps": {name: f"voxelmap_{name}.nrrd" for name in maps}})
                write_image(prediction["heatmap"], staging / outputs["heatmap"])
                for name, image in maps.items():
                    write_image(image, staging / outputs["voxel_maps"][name])
                risk = float(prediction["risk_score"])
                result.update({
                    "risk_score": risk, "risk_group": "high" if risk > model_bundle.cutoff else "low",
                    "risk_cutoff": float(model_bundle.cutoff), "model": _model_info(model_bundle),
                    "device": prediction.get("device", device_used),
                    "voxel_maps": {"names": list(maps), "background_value": 0.0,
                                   "kernel_radius": kernel_radius, "grid": "CT"},
                    "gradcam_layer": prediction.get("gradcam_layer"),
                    "gradcam_method": prediction.get("gradcam_method")})
                write_overview(ct_image, labels_ct, prediction["heatmap"], staging / outputs["overview"],
                               title=_overview_title(result), ring_names=[r.name for r in rings_ct])
        result["timings_s"] = dict(stages.timings)
        result["warnings"] = _record_warnings(caught)
        result = _json_safe(result)
        _write_json(result, staging / RESULT_FILE)
        _move_into(staging, out_dir)
        finished = True
    finally:
        caught_warnings.__exit__(None, None, None)
        shutil.rmtree(staging, ignore_errors=True)
        if not finished:
            remove_created(created)
        for item in list(caught):  # shown once the recording has stopped (RadSurv's own: in result.json)
            if not finished or not _is_radsurv_warning(item):
                warnings.showwarning(item.message, item.category, item.filename, item.lineno)

    if scene_path:
        with stages.stage("scene", f"saving the Slicer scene {scene_path}"):
            from .slicer.mrb import save_scene_mrb

            ct_path, gtv_path = _paths_for_scene(ct, gtv, ct_image, gtv_image, out_dir)
            result["outputs"]["scene"] = str(save_scene_mrb(ct_path, gtv_path, out_dir, scene_path))
        result["timings_s"] = dict(stages.timings)
        _write_json(result, out_dir / RESULT_FILE)
    return result


def _engine_kwargs(extract_features, engine: str) -> dict:
    """``engine=`` for ``radiomics.roi.extract_features`` when it takes one; without it only the
    PyRadiomics engine is there."""
    import inspect

    if "engine" in inspect.signature(extract_features).parameters:
        return {"engine": engine}
    if engine != "pyradiomics":
        raise OptionError("radiomics_engine", f"{engine!r} is not available in this version; use pyradiomics.")
    return {}


def _load_signature(signature):
    """The signature bundle (dict) or None; read before the long stages so a bad path fails early."""
    if signature is None:
        return None
    from .survival.signature import load_signature

    return load_signature(signature)


def _check_model_needs(model_bundle, signature_bundle) -> None:
    """Fail early when the model bundle needs RadScores (Deep-RadScore) and no signature was given."""
    if getattr(model_bundle, "input_kind", "ct3d") == "slice2d+radscores" and signature_bundle is None:
        names = ", ".join(model_bundle.preprocessing.get("radscore_names") or [])
        raise OptionError("signature", f"the model bundle {model_bundle.name} (Deep-RadScore) fuses the RadScores "
                                       f"{names} of a radiomics signature; give the signature bundle it was "
                                       "trained with (radsurv signature fit), or use another model bundle.")


def _map_settings(model_bundle, kernel_radius: int):
    """(kernel_radius, bin_width) the bundle's voxel maps were computed with (default: this run's, 25 HU)."""
    pre = model_bundle.preprocessing
    return int(pre.get("kernel_radius", kernel_radius)), float(pre.get("bin_width", 25.0))


def _map_features(features, model_bundle, kernel_radius: int = 1) -> list:
    """The voxel maps to compute: the requested ones plus those a ``ct3d+maps`` model needs (when the
    bundle's map settings are this run's)."""
    features = [features] if isinstance(features, str) else list(features)
    if (getattr(model_bundle, "input_kind", "ct3d") == "ct3d+maps"
            and _map_settings(model_bundle, kernel_radius) == (int(kernel_radius), 25.0)):
        features += [n for n in model_bundle.preprocessing.get("voxel_maps") or [] if n not in features]
    return features


def _model_voxel_maps(model_bundle, maps, ct_image, gtv_image, kernel_radius, device):
    """The voxel maps a ``ct3d+maps`` model takes (None for other models): ``maps`` when the bundle's
    kernel radius / bin width are this run's, else computed again with the bundle's settings."""
    if getattr(model_bundle, "input_kind", "ct3d") != "ct3d+maps":
        return None
    radius, bin_width = _map_settings(model_bundle, kernel_radius)
    if (radius, bin_width) == (int(kernel_radius), 25.0):
        return maps
    from .radiomics import voxelmaps

    return voxelmaps.compute_voxel_maps(ct_image, sitk_binary(gtv_image),
                                        features=list(model_bundle.preprocessing["voxel_maps"]),
                                        kernel_radius=radius, bin_width=bin_width, device=device)


def _model_radscores(model_bundle, signature_bundle, table):
    """Per-ROI RadScores for a ``slice2d+radscores`` model (None for the other models)."""
    if getattr(model_bundle, "input_kind", "ct3d") != "slice2d+radscores":
        return None
    from .models.inputs import radscores_by_roi
    from .survival.signature import case_feature_row

    return radscores_by_roi(signature_bundle, case_feature_row(table),
                            model_bundle.preprocessing.get("radscore_names") or [])


def _signature_result(signature_bundle, signature_path, table):
    """``result.json["signature"]``: the signature applied to this case's features, or None."""
    if signature_bundle is None:
        return None
    from .survival.signature import score_case_with_signature

    return {"bundle": str(Path(signature_path).resolve()),
            **score_case_with_signature(signature_bundle, table)}


def _load_lung_mask(lung_mask, ct_image):
    """The lung / body mask (SimpleITK, on the CT's grid) or None."""
    from .io.images import check_same_geometry

    if lung_mask is None:
        return None
    image, _ = _load(lung_mask, "lung_mask")
    check_same_geometry(ct_image, image, "ct", "lung_mask")
    return image


def sitk_binary(mask):
    """A uint8 0/1 copy of a mask (non-zero = 1), keeping its geometry."""
    import SimpleITK as sitk

    return sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)


def _model_info(model_bundle) -> dict:
    config = model_bundle.config
    return {"name": model_bundle.name, "version": model_bundle.version,
            "demonstration": bool(model_bundle.demonstration),
            "disclaimer": config.get("disclaimer", ""),
            "architecture": config.get("architecture", {}).get("name"),
            "weights_sha256": config.get("weights", {}).get("sha256"),
            "bundle_path": str(model_bundle.path)}


def _ring_info(ring_iso, ring_ct) -> dict:
    """A ring's entry in result.json: its band, and its size on the 1 mm and on the CT grid."""
    return {"label": ring_ct.label, "name": ring_ct.name, "inner_mm": ring_ct.inner_mm,
            "outer_mm": ring_ct.outer_mm,
            "volume_mm3": ring_iso.volume_mm3, "mean_distance_mm": ring_iso.mean_distance_mm,
            "volume_mm3_ct_grid": ring_ct.volume_mm3, "mean_distance_mm_ct_grid": ring_ct.mean_distance_mm,
            "clipped_at_border": ring_iso.clipped_at_border or ring_ct.clipped_at_border}


def _overview_title(result: dict) -> str:
    model = result["model"]
    notice = "  DEMONSTRATION MODEL - not for clinical use" if model["demonstration"] else ""
    return (f"RadSurv {result['radsurv_version']}: risk score {result['risk_score']:.3f} "
            f"({result['risk_group']} risk, cut-off {result['risk_cutoff']:.3f}), "
            f"model {model['name']} {model['version']}{notice}")


class _WarningLog(list):
    """The warnings of a run, each distinct one once: a library warning raised in a loop (under a
    filter "always", as pytest sets for deprecations) must not pile up millions of records."""

    def __init__(self):
        super().__init__()
        self._seen = set()

    def showwarning(self, message, category, filename, lineno, file=None, line=None):
        """``warnings.showwarning`` while the run records."""
        key = (category, str(message), filename, lineno)
        if key not in self._seen:
            self._seen.add(key)
            self.append(warnings.WarningMessage(message, category, filename, lineno, file, line))


def _record_warnings(caught) -> list:
    """RadSurv's own warnings of this run as text (for ``result.json["warnings"]``); the others
    (libraries' deprecation notes, ...) are shown after the run as Python would have shown them."""
    own = []
    for item in list(caught):
        text = f"{item.category.__name__}: {item.message}"
        if _is_radsurv_warning(item) and text not in own:
            own.append(text)
    return own


def _write_json(data: dict, path: Path) -> None:
    """Write ``data`` as strict JSON: NaN and infinities become null (e.g. the mean distance of an empty ring)."""
    path.write_text(json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n")


def _move_into(staging: Path, out_dir: Path) -> None:
    """Move the finished outputs from the staging folder into ``out_dir`` (result.json last)."""
    names = sorted(p.name for p in staging.iterdir())
    for name in [n for n in names if n != RESULT_FILE] + [RESULT_FILE]:
        os.replace(staging / name, out_dir / name)


def _paths_for_scene(ct, gtv, ct_image, gtv_image, out_dir: Path):
    """File paths of the CT and GTV for the scene writer (in-memory inputs are saved as NRRD)."""
    from .io.images import write_image

    paths = []
    for source, image, name in ((ct, ct_image, "input_ct.nrrd"), (gtv, gtv_image, "input_gtv.nrrd")):
        paths.append(Path(source) if isinstance(source, (str, os.PathLike))
                     else write_image(image, out_dir / name))
    return paths
