"""The RadSurv pipeline: one function, ``score_case``, from a CT and its GTV to every output.

The ``radsurv score`` command, the Slicer module's logic and batch scripts all call
``score_case``; no front end re-implements a step. Stages (timed in ``result.json``):

1. validate    CT and GTV on one grid, GTV not empty, CT in HU
2. resample    CT to 1 mm isotropic (B-spline), GTV with a volume-preserving threshold
3. rings       peritumoral rings (3/6/9 mm by default) on the 1 mm grid and on the CT grid
4. features    PyRadiomics ROI features (Liu et al. 2025 setting) for the GTV and each ring
5. voxel_maps  voxel radiomics maps inside the GTV, on the CT's own grid
6. model       the bundle's risk score (3D SE-ResNet by default; Vision-Mamba on CT + voxel maps;
               Deep-RadScore with the signature's RadScores) and Grad-CAM heatmap (in the CT's geometry)
7. outputs     rings.nrrd, voxelmap_*.nrrd, heatmap.nrrd, features.csv, result.json, overview.png
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import InputError
from .rings import DEFAULT_RINGS_MM

#: Files of a finished run; their presence in an output folder marks an earlier run.
RESULT_FILE = "result.json"

#: Voxel size of the analysis grid (Liu et al. 2025), mm.
ANALYSIS_SPACING_MM = 1.0


def _load(source, what: str):
    """(image, provenance) for a path or an in-memory SimpleITK image."""
    import hashlib

    import SimpleITK as sitk

    from .io.images import read_image, sha256_file

    if isinstance(source, (str, os.PathLike)):
        return read_image(source, what), {"path": str(Path(source).resolve()),
                                          "sha256": sha256_file(source)}
    if isinstance(source, sitk.Image):
        digest = hashlib.sha256(sitk.GetArrayViewFromImage(source).tobytes()).hexdigest()
        return source, {"path": None, "sha256_voxels": digest}
    raise InputError(f"{what}: expected a file path or a SimpleITK image, got {type(source).__name__}.")


def _prepare_out_dir(out_dir, overwrite: bool) -> Path:
    """Create ``out_dir``; refuse to mix a new run into an earlier one unless ``overwrite``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out: {out_dir} exists and is not a folder.")
    if (out_dir / RESULT_FILE).exists() and not overwrite:
        raise InputError(f"--out: {out_dir} already holds the results of an earlier run; they are kept. "
                         "Choose another folder, or pass --overwrite to replace them.")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


class _Stages:
    """Times the pipeline stages and reports them to an optional progress callback."""

    def __init__(self, progress=None):
        self.timings = {}
        self.progress = progress or (lambda stage, message: None)

    @contextmanager
    def stage(self, name: str, message: str):
        self.progress(name, message)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)
        self.progress(name, f"done in {self.timings[name]:.1f} s")


def score_case(ct, gtv, out_dir, bundle=None, rings_mm=DEFAULT_RINGS_MM, device: str = "auto",
               overwrite: bool = False, progress=None, scene_path=None,
               voxel_map_features=None, kernel_radius: int = 1, params_file=None,
               inner_rim_mm=None, air_hu=None, lung_mask=None, ring_convention: str = "centre",
               signature=None) -> dict:
    """Score one case: rings, radiomics, voxel maps, risk score and Grad-CAM, written to ``out_dir``.

    Args:
        ct: CT in HU: NRRD / NIfTI path or SimpleITK image (any spacing and direction).
        gtv: GTV mask on the CT's grid (non-zero = GTV): path or SimpleITK image.
        out_dir: output folder (created). An earlier run there (``result.json``) is never touched
            unless ``overwrite``; outputs are written to a staging folder and moved in at the end,
            so a failed run leaves ``out_dir`` as it was.
        bundle: model bundle folder or a loaded ``bundle.Bundle`` (default: the shipped
            demonstration bundle).
        rings_mm: outer ring distances from the GTV surface (default 3, 6, 9: bands 0-3, 3-6,
            6-9 mm) or bands such as ``"3-6,6-9"``, mm (``rings.parse_bands``).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        progress: optional callable(stage: str, message: str).
        scene_path: optional ``.mrb`` path: also save the results as a 3D Slicer scene (needs the
            ``slicer-core`` package outside Slicer).
        voxel_map_features: voxel-map feature names (default ``voxelmaps.DEFAULT_FEATURES``).
        kernel_radius: voxel-map kernel radius, voxels.
        params_file: PyRadiomics YAML (default: Liu et al. 2025's setting).
        inner_rim_mm: also an inner rim of this width inside the GTV surface, mm.
        air_hu: remove ring voxels below this HU (e.g. -950 for air).
        lung_mask: lung / body mask on the CT's grid (path or SimpleITK image): ring voxels outside
            it are removed.
        ring_convention: ``"centre"`` or ``"surface"`` distances (``rings`` module docstring).
        signature: optional radiomics signature bundle (``radsurv signature fit``): its RadScore,
            risk group and survival at 1/2/3 years are added to ``result.json`` under ``signature``.
            Required by a Deep-RadScore bundle (its per-ROI RadScores are taken from it).

    Returns:
        The content of ``result.json`` (risk score, risk group, model, volumes, rings, outputs,
        timings in seconds per stage).

    Raises:
        InputError: bad CT / GTV / options (message names the input); BundleError: bad bundle.
    """
    from .radiomics import roi as feats
    from . import preprocessing, rings
    from .radiomics import voxelmaps
    from .models.bundle import default_bundle_path, load_bundle
    from .io.images import geometry, write_image
    from .models.inference import predict_case, resolve_device
    from .overview import write_overview

    stages = _Stages(progress)
    bands = rings.parse_bands(rings_mm)
    out_dir = _prepare_out_dir(out_dir, overwrite)
    if scene_path and Path(scene_path).exists() and not overwrite:
        raise InputError(f"--scene: {scene_path} already exists and is kept. Choose another file name, "
                         "or pass --overwrite to replace it.")
    staging = Path(tempfile.mkdtemp(prefix=".radsurv-partial-", dir=out_dir))
    try:
        with stages.stage("validate", "reading and checking the CT and the GTV"):
            ct_image, ct_info = _load(ct, "--ct")
            gtv_image, gtv_info = _load(gtv, "--gtv")
            preprocessing.validate_inputs(ct_image, gtv_image, "--ct", "--gtv")
            lung_image = _load_lung_mask(lung_mask, ct_image)
            device_used = resolve_device(device)
            model_bundle = bundle if hasattr(bundle, "model") else load_bundle(bundle or default_bundle_path())
            signature_bundle = _load_signature(signature)
            _check_model_needs(model_bundle, signature_bundle)

        with stages.stage("resample", f"resampling to {ANALYSIS_SPACING_MM:g} mm isotropic"):
            ct_iso = preprocessing.resample_image(ct_image, ANALYSIS_SPACING_MM, "bspline")
            gtv_iso = preprocessing.resample_mask_preserving_volume(gtv_image, ct_iso)
            stages.progress("resample", f"GTV volume {gtv_iso.volume_mm3_input:,.0f} mm^3 -> "
                                        f"{gtv_iso.volume_mm3_resampled:,.0f} mm^3 at 1 mm")

        with stages.stage("rings", "peritumoral rings " + ", ".join(f"{a:g}-{b:g}" for a, b in bands) + " mm"):
            options = {"inner_rim_mm": inner_rim_mm, "air_hu": air_hu, "convention": ring_convention}
            lung_iso = None if lung_image is None else preprocessing.resample_image(
                lung_image, interpolator="nearest", reference=ct_iso, default_value=0)
            labels_iso, rings_iso = rings.make_rings(gtv_iso.mask, bands, ct=ct_iso, mask=lung_iso, **options)
            labels_ct, rings_ct = rings.make_rings(gtv_image, bands, ct=ct_image, mask=lung_image, **options)

        with stages.stage("features", "PyRadiomics ROI features (GTV and rings)"):
            extractor = feats.make_extractor(params_file or feats.LIU2025_PARAMS)
            table = feats.extract_features(ct_iso, rings.roi_masks(labels_iso, rings_iso), extractor,
                                           lambda message: stages.progress("features", message))

        with stages.stage("voxel_maps", "voxel radiomics maps inside the GTV"):
            maps = voxelmaps.compute_voxel_maps(
                ct_image, sitk_binary(gtv_image),
                features=_map_features(voxel_map_features or voxelmaps.DEFAULT_FEATURES, model_bundle, kernel_radius),
                kernel_radius=kernel_radius, device=device_used)
            model_maps = _model_voxel_maps(model_bundle, maps, ct_image, gtv_image, kernel_radius, device_used)

        with stages.stage("model", f"{model_bundle.name} risk score and Grad-CAM on {device_used}"):
            prediction = predict_case(model_bundle, ct_iso, gtv_iso.mask, ct_image, device=device_used,
                                      voxel_maps=model_maps,
                                      radscores=_model_radscores(model_bundle, signature_bundle, table))

        with stages.stage("outputs", f"writing outputs to {out_dir}"):
            outputs = {"rings": "rings.nrrd", "heatmap": "heatmap.nrrd", "features": "features.csv",
                       "overview": "overview.png",
                       "voxel_maps": {name: f"voxelmap_{name}.nrrd" for name in maps}}
            write_image(labels_ct, staging / outputs["rings"])
            write_image(prediction["heatmap"], staging / outputs["heatmap"])
            for name, image in maps.items():
                write_image(image, staging / outputs["voxel_maps"][name])
            feats.write_features_csv(table, staging / outputs["features"])
            risk = float(prediction["risk_score"])
            group = "high" if risk > model_bundle.cutoff else "low"
            result = {
                "radsurv_version": __version__,
                "case": {"ct": ct_info, "gtv": gtv_info, "ct_geometry": geometry(ct_image)},
                "risk_score": risk, "risk_group": group, "risk_cutoff": float(model_bundle.cutoff),
                "model": _model_info(model_bundle),
                "device": prediction.get("device", device_used),
                "gtv": {"volume_mm3_input": gtv_iso.volume_mm3_input,
                        "volume_mm3_resampled": gtv_iso.volume_mm3_resampled,
                        "resampling_threshold": gtv_iso.threshold,
                        "analysis_spacing_mm": ANALYSIS_SPACING_MM},
                "rings": [_ring_info(a, b) for a, b in zip(rings_iso, rings_ct)],
                "features": {"params_file": str(Path(params_file or feats.LIU2025_PARAMS).name),
                             "per_roi": {roi: len(values) for roi, values in table.items()}},
                "voxel_maps": {"names": list(maps), "background_value": 0.0,
                               "kernel_radius": kernel_radius, "grid": "CT"},
                "gradcam_layer": prediction.get("gradcam_layer"),
                "gradcam_method": prediction.get("gradcam_method"),
                "signature": _signature_result(signature_bundle, signature, table),
                "outputs": outputs,
            }
            write_overview(ct_image, labels_ct, prediction["heatmap"], staging / outputs["overview"],
                           title=_overview_title(result), ring_names=[r.name for r in rings_ct])
        result["timings_s"] = dict(stages.timings)
        _write_json(result, staging / RESULT_FILE)
        _move_into(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    if scene_path:
        with stages.stage("scene", f"saving the Slicer scene {scene_path}"):
            from .slicer.mrb import save_scene_mrb

            ct_path, gtv_path = _paths_for_scene(ct, gtv, ct_image, gtv_image, out_dir)
            result["outputs"]["scene"] = str(save_scene_mrb(ct_path, gtv_path, out_dir, scene_path))
        result["timings_s"] = dict(stages.timings)
        _write_json(result, out_dir / RESULT_FILE)
    return result


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
        raise InputError(f"--signature: the model bundle {model_bundle.name} (Deep-RadScore) fuses the RadScores "
                         f"{names} of a radiomics signature; pass --signature with the signature bundle it was "
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
    image, _ = _load(lung_mask, "--lung-mask")
    check_same_geometry(ct_image, image, "--ct", "--lung-mask")
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


def _write_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n")


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
