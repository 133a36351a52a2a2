"""The RadSurv pipeline: from a CT and its GTV to every output of a run. It computes; it presents nothing.

``score_case`` is the one scoring pipeline: ``radsurv score``, ``radsurv batch`` / ``radsurv
features`` (``batch.process_cohort``), the worker (``worker.server``, which the Slicer module and
the web app start) all call it; ``map_case`` is ``radsurv voxelmaps``, the same validate stage and
output handling with the voxel maps alone. Settings are one ``options.ScoreOptions`` (checked when
it is made; what needs the images, in the validate stage); progress is ``progress.ProgressEvent``s.
Stages (timed in ``result.json``):

1. validate    CT and GTV on one grid, GTV not empty, CT in HU, orthonormal directions; CT, GTV and
               lung mask brought to one orientation (LPS, ``io.orientation``: the same answer for
               every storage of one image); the bundle (its files, checksum and settings) and the
               signature read; the device checked (nothing heavy imported: a bad input is refused at once)
2. resample    the analysis box (GTV + outermost ring / model crop + filter support) of the CT to 1 mm
               isotropic (B-spline, on the whole-CT grid points), GTV with a volume-preserving threshold
3. rings       peritumoral rings (3/6/9 mm by default) on the 1 mm grid and on the CT grid
4. features    ROI features (Liu et al. 2025 setting) for the GTV and each ring
5. voxel_maps  voxel radiomics maps inside the GTV, on the CT's own grid
6. model       the bundle's model built (torch, MONAI) and its risk score (3D SE-ResNet by default; Vision-Mamba on CT + voxel maps;
               Deep-RadScore with the signature's RadScores) and Grad-CAM heatmap (in the CT's geometry)
7. outputs     rings.nrrd, voxelmap_*.nrrd, heatmap.nrrd (back on the CT's grid as the user stored
               it, ``io.orientation.to_input_grid``), rings_1mm.nrrd (the GTV and rings on the 1 mm
               analysis grid the features used: the scene's segments), features.csv, overview.png, result.json,
               written through ``outputs.folder.staged`` (a failed run leaves the folder as it was);
               with ``dicom_out``, the DICOM objects in dicom/ (``outputs.dicom``)

A Slicer scene (``options.scene_path``) is not the pipeline's: the front end that asks for one
writes it from the finished folder after ``score_case`` returns (``slicer.mrb.save_case_scene``).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from . import __version__
from .errors import InputError, OptionError
from .options import ScoreOptions
from .outputs import folder
from .progress import ProgressEvent, stage_fraction

#: Voxel size of the analysis grid (Liu et al. 2025), mm.
ANALYSIS_SPACING_MM = 1.0


def score_case(ct, gtv, out_dir, options: ScoreOptions | None = None, progress=None) -> dict:
    """Score one case: rings, ROI features, voxel maps, risk score and Grad-CAM, written to ``out_dir``.

    Args:
        ct: CT in HU: NRRD / NIfTI / MetaImage path, SimpleITK image or ``io.dicom.CTSeries`` (a DICOM
            series, needed for ``options.dicom_out``) (any spacing; any
            orthonormal direction: the analysis runs in LPS, the outputs on the CT grid are
            written on the CT's own grid and direction).
        gtv: GTV mask on the CT's grid (0 = background; one non-zero label, or choose one with
            ``options.gtv_label``): path or SimpleITK image.
        out_dir: output folder (created). An earlier run there (``result.json``) is never touched
            unless ``options.overwrite``; outputs are written to a staging folder and moved in at
            the end (``outputs.folder.staged``), so a failed run leaves ``out_dir`` as it was.
        options: every other setting (``options.ScoreOptions``: bundle, rings, radiomics, voxel
            maps, device, ...); None = the defaults (Liu et al. 2025). ``scene_path`` is only
            checked here (an existing file is refused unless ``overwrite``): the front end that
            asked for the scene writes it after this returns.
        progress: optional callable(``progress.ProgressEvent``): each stage's start (and messages
            within it, ``done`` False) and end (``done`` True).

    Returns:
        The content of ``result.json`` (risk score, risk group, model, volumes, rings, outputs
        (file names in ``out_dir``), the options that change results, timings in seconds per stage,
        ``warnings``: RadSurv's warnings of this run as text, e.g. a ``RingClippedWarning`` or
        ``GTVVolumeChangeWarning``). Strict JSON: a value that is not a number (the mean distance of
        an empty ring) is None. With ``options.features_only`` the model entries are None.

    Raises:
        InputError: bad CT / GTV / options (``OptionError`` names the parameter: an ``out_dir`` that
            holds an earlier run or cannot be written, an ``inner_rim_mm`` not smaller than the GTV's
            inradius, ...); BundleError: bad bundle. Every setting is checked in the validate stage,
            before the long ones (only weights that do not match the bundle's architecture, found
            when the model is built, come in the model stage). A failed or interrupted run removes its staging folder and the
            folders it created.
    """
    from . import preprocessing, rings
    from .gtv_components import components_result, components_summary
    from .io.images import binary_mask, write_image
    from .io.orientation import to_input_grid
    from .models.inference import predict_case, resolve_device
    from .models.inputs import VOXEL_MAP_BIN_WIDTH_HU
    from .outputs.overview import write_overview
    from .radiomics import roi as feats
    from .radiomics import voxelmaps

    options = _checked(options)
    folder.check_new_file(options.scene_path, options.overwrite, "scene_path")
    if options.dicom_out:
        from .outputs.dicom import refuse_non_dicom_ct

        refuse_non_dicom_ct(ct)  # a NIfTI / NRRD CT has no study to reference: refused before anything is written
    stages = _Stages(progress)
    bands = options.rings_mm
    params_file = options.parameter_file()
    extractor = feats.make_extractor(params_file, engine=options.radiomics_engine)  # checked before any stage
    _check_device(options.device)
    with _recorded_warnings() as caught, folder.staged(out_dir, options.overwrite) as (out_dir, staging):
        with stages.stage("validate", "reading and checking the CT and the GTV"):
            case = _validated_case(ct, gtv, options)
            model = ModelNeeds.of(case.bundle, case.signature, options)
            components = case.gtv_components
            stages.report("validate", components_summary(components))

        with stages.stage("resample", f"resampling the analysis box to {ANALYSIS_SPACING_MM:g} mm isotropic"):
            # Only the box the GTV, its rings, the model's crop and the filters need, on the grid
            # points of the whole-CT resampling (preprocessing.analysis_crop): the same values.
            crop = preprocessing.analysis_crop(case.ct, case.gtv, max([model.margin_mm] + [b for _, b in bands]),
                                               spacing_mm=ANALYSIS_SPACING_MM)
            ct_iso = preprocessing.resample_crop(case.ct, crop)
            gtv_iso = preprocessing.resample_mask_preserving_volume(case.gtv, ct_iso)
            stages.report("resample", f"GTV volume {gtv_iso.volume_mm3_input:,.0f} mm^3 -> "
                                      f"{gtv_iso.volume_mm3_resampled:,.0f} mm^3 at 1 mm")
            _check_inner_rim(options.inner_rim_mm, gtv_iso.mask, f"{ANALYSIS_SPACING_MM:g} mm grid")

        with stages.stage("rings", "peritumoral rings " + ", ".join(f"{a:g}-{b:g}" for a, b in bands) + " mm"):
            ring_options = {"inner_rim_mm": options.inner_rim_mm, "air_hu": options.air_hu,
                            "convention": options.ring_convention}
            lung_iso = None if case.lung is None else preprocessing.resample_image(
                case.lung, interpolator="nearest", reference=ct_iso, default_value=0)
            labels_iso, rings_iso = rings.make_rings(gtv_iso.mask, bands, ct=ct_iso, mask=lung_iso, **ring_options)
            labels_ct, rings_ct = rings.make_rings(case.gtv, bands, ct=case.ct, mask=case.lung, **ring_options)

        engine_name = {"radsurv": "RadSurv's engine", "pyradiomics": "PyRadiomics"}.get(
            options.radiomics_engine, options.radiomics_engine)
        with stages.stage("features", f"ROI radiomics features (GTV and rings) with {engine_name}"):
            table = feats.extract_features(_normalised_like_whole_ct(ct_iso, case.ct, extractor),
                                           rings.roi_masks(labels_iso, rings_iso), extractor,
                                           lambda message: stages.report("features", message),
                                           engine=options.radiomics_engine)
        _release_freed_memory()

        maps, prediction = {}, None
        if not options.features_only:  # radsurv features: the ROI features are the result
            with stages.stage("voxel_maps", "voxel radiomics maps inside the GTV"):
                device = resolve_device(case.device)  # "auto" picked here: torch is first needed now
                maps = voxelmaps.compute_voxel_maps(
                    case.ct, binary_mask(case.gtv), features=model.run_maps(options.voxel_map_features),
                    kernel_radius=options.kernel_radius, bin_width=VOXEL_MAP_BIN_WIDTH_HU, device=device,
                    extent="roi")  # the GTV's box: whole-grid maps are put back one at a time when written
                model_maps = model.voxel_maps(maps, case.ct, case.gtv, device)
            _release_freed_memory()

            with stages.stage("model", f"{case.bundle.name} risk score and Grad-CAM on {device}"):
                prediction = predict_case(case.bundle, ct_iso, gtv_iso.mask, case.ct, device=device,
                                          voxel_maps=model_maps, radscores=model.radscores(table))

        with stages.stage("outputs", f"writing outputs to {out_dir}"):
            outputs = {"rings": folder.RINGS_FILE, "rings_1mm": folder.RINGS_1MM_FILE, "features": folder.FEATURES_FILE}
            on_ct_grid = partial(to_input_grid, geometry=case.ct_geometry)  # the CT's grid as the user stored it
            write_image(on_ct_grid(labels_ct), staging / outputs["rings"])  # DICOM outputs and TPS read it
            write_image(labels_iso, staging / outputs["rings_1mm"])  # the ROIs the features used (scene rings)
            feats.write_features_csv(table, staging / outputs["features"])
            result = {
                "radsurv_version": __version__,
                "case": {"ct": case.ct_info, "gtv": case.gtv_info, "ct_geometry": case.ct_geometry},
                "risk_score": None, "risk_group": None, "risk_cutoff": None, "model": None,
                "gtv": {"volume_mm3_input": gtv_iso.volume_mm3_input,
                        "volume_mm3_resampled": gtv_iso.volume_mm3_resampled,
                        "resampling_threshold": gtv_iso.threshold,
                        "analysis_spacing_mm": ANALYSIS_SPACING_MM, **components_result(components)},
                "rings": [_ring_info(a, b) for a, b in zip(rings_iso, rings_ct)],
                "features": {"params_file": params_file.name, "engine": options.radiomics_engine,
                             "per_roi": {roi: len(values) for roi, values in table.items()}},
                "signature": _signature_result(case.signature, options.signature, table),
                "options": options.result_key_fields(),
                "outputs": outputs,
            }
            if prediction is not None:
                outputs.update({"heatmap": folder.HEATMAP_FILE, "overview": folder.OVERVIEW_FILE,
                                "voxel_maps": {name: folder.voxel_map_file(name) for name in maps}})
                write_image(on_ct_grid(prediction["heatmap"]), staging / outputs["heatmap"])
                for name, image in maps.items():
                    write_image(on_ct_grid(voxelmaps.place_on_grid(image, case.ct)),
                                staging / outputs["voxel_maps"][name])
                result.update(_model_result(case.bundle, prediction, device, maps, options.kernel_radius))
                # drawn from the canonical images (LPS): the same picture for every storage
                write_overview(case.ct, labels_ct, prediction["heatmap"], staging / outputs["overview"],
                               title=_overview_title(result), ring_names=[r.name for r in rings_ct])
            if options.dicom_out:  # from rings.nrrd / heatmap.nrrd as written, on the CT series' slices
                from .outputs.dicom import write_dicom_outputs

                outputs["dicom"] = write_dicom_outputs(ct, staging, folder.json_safe(result))
        result["timings_s"] = dict(stages.timings)
        result["warnings"] = _record_warnings(caught)
        result = folder.json_safe(result)
        folder.write_json(result, staging / folder.RESULT_FILE)
    return result


def map_case(ct, gtv, out_dir, options: ScoreOptions | None = None, *, bin_width: float, ring_mm=None,
             masked: bool = True, background: float = 0.0, progress=None, map_progress=None) -> dict:
    """Voxel radiomics maps of one case (``radsurv voxelmaps``): the validate stage of ``score_case``,
    the maps inside the GTV (or GTV + a ring), written to ``out_dir`` through the same transaction.

    Args:
        ct, gtv: as for ``score_case``.
        out_dir: output folder. A ``radsurv score`` folder is refused (its ``result.json`` describes
            its own maps); an earlier ``voxelmaps`` run there is replaced only with
            ``options.overwrite``, and then the folder holds exactly the maps ``voxelmaps.json`` lists.
        options: ``options.voxel_map_features`` (None: ``voxelmaps.DEFAULT_FEATURES``),
            ``kernel_radius`` (voxels), ``device``, ``gtv_label``, ``overwrite``; the others are unused.
        bin_width: gray-level bin width, HU (> 0).
        ring_mm: also map a peritumoral ring of this width around the GTV (mm, > 0), or None.
        masked: PyRadiomics ``maskedKernel``; background: value outside the ROI.
        progress: optional callable(``progress.ProgressEvent``); map_progress: optional
            callable(fraction 0-1) within the maps (``radiomics.voxelmaps.compute_voxel_maps``).

    Returns:
        The content of ``voxelmaps.json``: inputs, ``ring_mm``, ``roi_voxels``, settings, ``maps``
        (name -> file name), ``seconds`` (the maps' computation time), ``warnings`` (RadSurv's own,
        e.g. a GTV of several parts, as text; shown as ``WARNING:`` lines by ``radsurv voxelmaps``).

    Raises:
        InputError / OptionError: as the validate stage of ``score_case``; ``out_dir`` as above;
            bin width or ring width not a finite number > 0.
    """
    import numpy as np
    import SimpleITK as sitk

    from .gtv_components import check_gtv_components
    from .io.images import binary_mask, write_image
    from .io.orientation import to_input_grid
    from .preprocessing import validate_inputs
    from .radiomics import voxelmaps

    options = _checked(options)
    names = list(options.voxel_map_features or voxelmaps.DEFAULT_FEATURES)
    _check_map_settings(bin_width, ring_mm)
    _check_maps_folder(out_dir)
    _check_device(options.device)
    stages = _Stages(progress)
    with _recorded_warnings() as caught, \
            folder.staged(out_dir, options.overwrite, last=folder.VOXELMAPS_FILE) as (out_dir, staging):
        with stages.stage("validate", "reading and checking the CT and the GTV"):
            ct_image, _ = _load(ct, "ct")
            gtv_image, _ = _load(gtv, "gtv", _mask_reader(options.gtv_label))
            validate_inputs(ct_image, gtv_image, "ct", "gtv")
            check_gtv_components(gtv_image)
            ct_geometry, ct_image, gtv_image = _canonical(ct_image, gtv_image)  # maps go back on ct_geometry
        roi = binary_mask(gtv_image)
        if ring_mm is not None:
            from .rings import make_rings

            roi = binary_mask(make_rings(roi, (ring_mm,), warn=False)[0])
        n_roi = int(np.count_nonzero(sitk.GetArrayViewFromImage(roi)))
        with stages.stage("voxel_maps", f"{len(names)} maps, ROI {n_roi:,} voxels"
                                        + (f" (GTV + {ring_mm:g} mm ring)" if ring_mm else "")
                                        + f", kernel radius {options.kernel_radius}, bin width {bin_width:g} HU, "
                                        + ("masked" if masked else "unmasked") + " kernel"):
            start = time.perf_counter()
            maps = voxelmaps.compute_voxel_maps(ct_image, roi, names, kernel_radius=options.kernel_radius,
                                                bin_width=bin_width, masked=masked, background=background,
                                                device=options.device, progress=map_progress, extent="roi")
            seconds = time.perf_counter() - start
        with stages.stage("outputs", f"writing outputs to {out_dir}"):
            for name, image in maps.items():
                write_image(to_input_grid(voxelmaps.place_on_grid(image, ct_image, background), ct_geometry),
                            staging / folder.voxel_map_file(name))
            info = {"ct": str(ct), "gtv": str(gtv), "ring_mm": ring_mm, "roi_voxels": n_roi,
                    "kernel_radius": options.kernel_radius, "bin_width_hu": bin_width, "masked_kernel": masked,
                    "background_value": background if np.isfinite(background) else None,
                    "maps": {n: folder.voxel_map_file(n) for n in maps}, "seconds": round(seconds, 3),
                    "warnings": _record_warnings(caught)}
            (staging / folder.VOXELMAPS_FILE).write_text(json.dumps(info, indent=2, allow_nan=False))
    return info


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------

def _release_freed_memory() -> None:
    """Give the memory freed by a stage back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    The engines' worker threads allocate and free many mid-sized arrays; glibc keeps the freed
    heap pages, so each stage would start from the previous one's high-water mark (PAT1: the model
    stage at 1.06 GiB instead of 0.75)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to give back this way
        pass


def _checked(options) -> ScoreOptions:
    options = ScoreOptions() if options is None else options
    if not isinstance(options, ScoreOptions):
        raise InputError(f"options: expected a RadSurvLib.options.ScoreOptions, got {type(options).__name__}.")
    return options


@dataclass(frozen=True)
class _Case:
    """What the validate stage read and checked: CT, GTV and lung mask (or None) as SimpleITK images
    in the canonical orientation (``io.orientation.to_canonical``), the geometry of the CT as the user
    stored it (``io.images.geometry``: the outputs on the CT grid go back onto it), the inputs'
    provenance, the device, the model bundle, the signature bundle (or None) and the GTV's connected
    components (``gtv_components.check_gtv_components``, found on the user's grid)."""

    ct: object
    gtv: object
    ct_geometry: dict
    ct_info: dict
    gtv_info: dict
    lung: object
    device: str
    bundle: object
    signature: object
    gtv_components: list


def _validated_case(ct, gtv, options: ScoreOptions) -> _Case:
    """The validate stage: read and check the inputs (on the user's grid, so messages speak of it),
    bring them to the canonical orientation, load the bundles (before the long stages)."""
    from .gtv_components import check_gtv_components
    from .models.bundle import Bundle, default_bundle_path, load_bundle
    from .models.inference import check_device
    from .preprocessing import validate_inputs

    ct_image, ct_info = _load(ct, "ct")
    gtv_image, gtv_info = _load(gtv, "gtv", _mask_reader(options.gtv_label))
    validate_inputs(ct_image, gtv_image, "ct", "gtv")
    # on the user's grid (voxel indices as the user stored it), named as the user gave the GTV
    components = check_gtv_components(gtv_image, getattr(ct, "gtv_input", "") or "gtv")
    lung_image = _load_lung_mask(options.lung_mask, ct_image)
    ct_geometry, ct_image, gtv_image, lung_image = _canonical(ct_image, gtv_image, lung_image)
    _check_inner_rim(options.inner_rim_mm, gtv_image, "CT's grid")
    device = check_device(options.device)
    bundle = options.bundle
    if not isinstance(bundle, Bundle):  # a folder (None: the demonstration bundle), not a loaded Bundle
        # the model is built (torch, MONAI) in the model stage: checking the inputs stays quick
        bundle = load_bundle(bundle or default_bundle_path(), build_model=False)
    return _Case(ct_image, gtv_image, ct_geometry, ct_info, gtv_info, lung_image, device, bundle,
                 _load_signature(options.signature), components)


def _canonical(ct_image, *masks) -> tuple:
    """(the CT's geometry as stored (``io.images.geometry``), the CT, each mask): the images in the
    canonical orientation (``io.orientation.to_canonical``; a None mask stays None)."""
    from .io.images import geometry
    from .io.orientation import to_canonical

    return (geometry(ct_image), to_canonical(ct_image), *(None if m is None else to_canonical(m) for m in masks))


def _mask_reader(label):
    """``_load``'s reader of the GTV: ``io.images.read_mask`` with the chosen label."""
    from .io.images import read_mask

    return lambda source, what: read_mask(source, what, label=label)


def _load(source, what: str, reader=None):
    """(image, provenance) for a path or an in-memory SimpleITK image; ``reader(source, what)``
    reads it (default ``io.images.read_image``, which refuses a non-orthonormal direction; an image
    passes through ``reader`` too when given, and is checked for its direction here)."""
    import hashlib

    import SimpleITK as sitk

    from .io.images import read_image, sha256_file
    from .io.orientation import check_orthonormal_direction

    from .io.dicom import CTSeries

    if isinstance(source, CTSeries):  # a DICOM CT series: its image, with the series as provenance
        image, info = _load(source.image, what, reader)
        return image, {**info, **source.provenance()}
    if isinstance(source, (str, os.PathLike)):
        return (reader or read_image)(source, what), {"path": str(Path(source).resolve()),
                                                      "sha256": sha256_file(source)}
    if isinstance(source, sitk.Image):
        if source.GetDimension() == 3:  # other dimensions: refused by the checks that follow
            check_orthonormal_direction(source, what)
        digest = hashlib.sha256(sitk.GetArrayViewFromImage(source).tobytes()).hexdigest()
        return (reader(source, what) if reader else source), {"path": None, "sha256_voxels": digest}
    raise OptionError(what, f"expected a file path or a SimpleITK image, got {type(source).__name__}.")


def _load_lung_mask(lung_mask, ct_image):
    """The lung / body mask (SimpleITK, on the CT's grid) or None."""
    from .io.images import check_same_geometry

    if lung_mask is None:
        return None
    image, _ = _load(lung_mask, "lung_mask")
    check_same_geometry(ct_image, image, "ct", "lung_mask")
    return image


def _load_signature(signature):
    """The signature bundle (dict) or None; read before the long stages so a bad path fails early."""
    if signature is None:
        return None
    from .survival.signature import load_signature

    return load_signature(signature)


def gtv_inradius_mm(mask) -> float:
    """The GTV's inradius, mm: the largest distance from a GTV voxel centre to the nearest non-GTV
    voxel centre (the ``rings`` module's "centre" distances), computed on the GTV's bounding box.

    Args:
        mask: SimpleITK mask (non-zero = GTV, not empty), any spacing.
    """
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


def _check_inner_rim(inner_rim_mm, mask, grid: str) -> None:
    """Refuse an inner rim that would take the whole GTV (nothing left of it to score)."""
    if inner_rim_mm is None:
        return
    inradius = gtv_inradius_mm(mask)
    if inner_rim_mm >= inradius:
        raise OptionError("inner_rim_mm", f"{inner_rim_mm:g} mm is not smaller than the GTV's inradius on the "
                                          f"{grid} ({inradius:.2f} mm, its largest depth): the rim would take the "
                                          f"whole GTV. Give a width below {inradius:.2f} mm.")


def _check_map_settings(bin_width, ring_mm) -> None:
    """``map_case``'s own settings: a bin width (HU) and a ring width (mm), finite and > 0."""
    import math

    if not (math.isfinite(bin_width) and bin_width > 0):
        raise InputError(f"bin_width: {bin_width:g} is not a bin width; give a number of HU greater than 0, e.g. 25.")
    if ring_mm is not None and not (math.isfinite(ring_mm) and ring_mm > 0):
        raise InputError(f"ring_mm: {ring_mm:g} is not a ring width; give a number of mm greater than 0, e.g. 3.")


def _check_maps_folder(out_dir) -> None:
    """Refuse a ``radsurv score`` folder for voxel maps, before any work (the rest of the folder's
    checks: ``outputs.folder.staged``)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OptionError("out_dir", f"{out} exists and is a file, not a folder; give a folder.")
    if (out / folder.RESULT_FILE).exists():
        raise OptionError("out_dir", f"{out} holds a radsurv score run, whose {folder.RESULT_FILE} describes its "
                                     "own voxel maps; they are kept. Write these maps into another folder.")


def _check_device(device) -> None:
    """Refuse a CUDA device on a computer without one before any stage (``models.inference.check_device``)."""
    from .models.inference import check_device

    check_device(device)


# --------------------------------------------------------------------------------------------
# What the model takes besides the CT crop (its input kind, read once)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelNeeds:
    """What the bundle's model needs from the run, by its input kind (``models.inputs``):

    - margin_mm: how far around the GTV its input reaches (the crop margin; for a
      ``slice2d+radscores`` model at least half its 2D patch), mm;
    - maps / map_settings: the voxel maps a ``ct3d+maps`` model takes and their (kernel radius,
      bin width), else () / None;
    - radscore_names: the RadScores a ``slice2d+radscores`` model fuses, else None; signature: the
      signature bundle that gives them.
    """

    margin_mm: float
    maps: tuple
    map_settings: tuple | None
    same_map_settings: bool
    radscore_names: tuple | None
    signature: object
    preprocessing: dict

    @classmethod
    def of(cls, bundle, signature, options: ScoreOptions) -> "ModelNeeds":
        """Read the bundle once; refuse a Deep-RadScore bundle without a signature (unless ``features_only``).

        Raises:
            OptionError (``signature``): the bundle needs RadScores and no signature was given.
        """
        from .models.inputs import PATCH_SIZE, voxel_map_settings

        pre = getattr(bundle, "preprocessing", None) or {}
        kind = getattr(bundle, "input_kind", "ct3d")
        margin = float(pre.get("margin_mm", 5.0))
        maps, settings, radscore_names = (), None, None
        if kind == "ct3d+maps":
            maps = tuple(pre.get("voxel_maps") or ())
            settings = voxel_map_settings(pre, options.kernel_radius)
        elif kind == "slice2d+radscores":
            margin = max(margin, 0.5 * float(pre.get("patch_size", PATCH_SIZE)) * ANALYSIS_SPACING_MM)
            radscore_names = tuple(pre.get("radscore_names") or ())
            if signature is None and not options.features_only:
                raise OptionError("signature", f"the model bundle {bundle.name} (Deep-RadScore) fuses the RadScores "
                                               f"{', '.join(radscore_names)} of a radiomics signature; give the "
                                               "signature bundle it was trained with (radsurv signature fit), or use "
                                               "another model bundle.")
        same = settings == voxel_map_settings({}, options.kernel_radius)
        return cls(margin, maps, settings, same, radscore_names, signature, pre)

    def run_maps(self, requested) -> list:
        """The voxel maps the run computes: the requested ones (None: ``voxelmaps.DEFAULT_FEATURES``)
        plus those the model takes when its map settings are the run's."""
        from .radiomics.voxelmaps import DEFAULT_FEATURES

        features = [requested] if isinstance(requested, str) else list(requested or DEFAULT_FEATURES)
        if self.same_map_settings:
            features += [n for n in self.maps if n not in features]
        return features

    def voxel_maps(self, maps, ct_image, gtv_image, device):
        """The voxel maps the model takes (None when it takes none): the run's ``maps`` when the
        bundle's settings are the run's, else computed again with the bundle's settings."""
        if self.map_settings is None:
            return None
        if self.same_map_settings:
            return maps
        from .models.inputs import model_voxel_maps

        return model_voxel_maps(ct_image, gtv_image, self.preprocessing, self.map_settings[0], device)

    def radscores(self, table):
        """Per-ROI RadScores for a ``slice2d+radscores`` model (None for the other models)."""
        if self.radscore_names is None:
            return None
        from .models.inputs import radscores_by_roi
        from .survival.signature import case_feature_row

        return radscores_by_roi(self.signature, case_feature_row(table), list(self.radscore_names))


# --------------------------------------------------------------------------------------------
# resample / features
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# result.json
# --------------------------------------------------------------------------------------------

def _signature_result(signature_bundle, signature_path, table):
    """``result.json["signature"]``: the signature applied to this case's features, or None."""
    if signature_bundle is None:
        return None
    from .survival.signature import score_case_with_signature

    return {"bundle": str(Path(signature_path).resolve()),
            **score_case_with_signature(signature_bundle, table)}


def _model_result(bundle, prediction, device, maps, kernel_radius) -> dict:
    """The model's entries of ``result.json``: risk score and group, survival probabilities at 1, 2 and 3
    years (``survival_1y`` .. ``survival_3y``, None when the bundle has no baseline survival) with their
    ``survival`` note (source bundle, demonstration flag, estimator, or why absent:
    ``Bundle.survival_at_years``), model, device, maps, Grad-CAM."""
    risk = float(prediction["risk_score"])
    config = bundle.config
    return {
        "risk_score": risk, "risk_group": "high" if risk > bundle.cutoff else "low",
        "risk_cutoff": float(bundle.cutoff), **bundle.survival_at_years(risk),
        "model": {"name": bundle.name, "version": bundle.version, "demonstration": bool(bundle.demonstration),
                  "disclaimer": config.get("disclaimer", ""),
                  "architecture": config.get("architecture", {}).get("name"),
                  "weights_sha256": config.get("weights", {}).get("sha256"), "bundle_path": str(bundle.path)},
        "device": prediction.get("device", device),
        "voxel_maps": {"names": list(maps), "background_value": 0.0, "kernel_radius": kernel_radius, "grid": "CT"},
        "gradcam_layer": prediction.get("gradcam_layer"),
        "gradcam_method": prediction.get("gradcam_method")}


def _ring_info(ring_iso, ring_ct) -> dict:
    """A ring's entry in result.json: its band, and its size on the 1 mm and on the CT grid."""
    return {"label": ring_ct.label, "name": ring_ct.name, "inner_mm": ring_ct.inner_mm,
            "outer_mm": ring_ct.outer_mm,
            "volume_mm3": ring_iso.volume_mm3, "mean_distance_mm": ring_iso.mean_distance_mm,
            "volume_mm3_ct_grid": ring_ct.volume_mm3, "mean_distance_mm_ct_grid": ring_ct.mean_distance_mm,
            "clipped_at_border": ring_iso.clipped_at_border or ring_ct.clipped_at_border}


def _overview_title(result: dict) -> str:
    """overview.png's title: risk score (3 decimals), group, model, survival when the result has it,
    and the GTV's volume."""
    from .outputs.overview import format_risk, format_survival, format_volume

    model = result["model"]
    notice = "  DEMONSTRATION MODEL - not for clinical use" if model["demonstration"] else ""
    survival = format_survival(result)
    return (f"RadSurv {result['radsurv_version']}: risk score {format_risk(result['risk_score'])} "
            f"({result['risk_group']} risk, cut-off {format_risk(result['risk_cutoff'])}), "
            f"model {model['name']} {model['version']}{notice}\n"
            + (f"{survival};  " if survival else "")
            + f"GTV {format_volume(result['gtv']['volume_mm3_input'])}")


# --------------------------------------------------------------------------------------------
# Stages and warnings
# --------------------------------------------------------------------------------------------

class _Stages:
    """Times the pipeline stages and reports them as ``ProgressEvent``s to an optional callback."""

    def __init__(self, progress=None):
        self.timings = {}
        self.progress = progress or (lambda event: None)
        self.finished = []

    def report(self, stage: str, message: str, done: bool = False) -> None:
        """Send one event; its fraction follows ``progress.STAGE_WEIGHTS``."""
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


def _is_radsurv_warning(caught) -> bool:
    """A warning of RadSurv's own (``rings.RingClippedWarning``, ``preprocessing.GTVVolumeChangeWarning``,
    ...): one whose category comes from a module of this package (recorded in ``result.json``)."""
    return getattr(caught.category, "__module__", "").startswith("RadSurvLib")


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


@contextmanager
def _recorded_warnings():
    """Record the warnings of a run (yields the ``_WarningLog``); every run records RadSurv's own
    again, not only the first. When the run ends they are shown as Python would have shown them,
    except RadSurv's own after a run that finished (those are in ``result.json``)."""
    from .gtv_components import GTVComponentsWarning
    from .preprocessing import GTVVolumeChangeWarning
    from .rings import RingClippedWarning

    caught, finished = _WarningLog(), False
    try:
        with warnings.catch_warnings():
            warnings.showwarning = caught.showwarning
            for category in (RingClippedWarning, GTVVolumeChangeWarning, GTVComponentsWarning):
                warnings.simplefilter("always", category)
            yield caught
        finished = True
    finally:
        for item in list(caught):
            if not finished or not _is_radsurv_warning(item):
                warnings.showwarning(item.message, item.category, item.filename, item.lineno)


def _record_warnings(caught) -> list:
    """RadSurv's own warnings of this run as text (for ``result.json["warnings"]``); the others
    (libraries' deprecation notes, ...) are shown after the run as Python would have shown them."""
    own = []
    for item in list(caught):
        text = f"{item.category.__name__}: {item.message}"
        if _is_radsurv_warning(item) and text not in own:
            own.append(text)
    return own
