"""Preprocessing of manifest cases into model inputs, with an on-disk cache.

Per case: read CT and GTV, bring them to the canonical orientation, resample to 1 mm isotropic (CT cubic B-spline, GTV volume-preserving, as
``RadSurvLib.pipeline`` does), then the model input of the architecture's ``input_kind``:

- ``"ct3d"`` (SEResNet3D): the GTV bounding-box crop + margin resized to ``crop_size``^3, clipped HU
  (``RadSurvLib.models.crop.make_model_input`` with ``norm_mean=0, norm_std=1``; the training-set
  z-score is applied later, in memory, so cached crops do not depend on the training set);
- other kinds: the builders of ``RadSurvLib.models.inputs``, which also compute the voxel
  maps (``ct3d+maps``) or the largest-slice patch and radiomics scores (``slice2d+radscores``).

Cache: one ``<key>.npz`` per case in the cache folder; ``key`` = SHA-256 of the CT and GTV file
contents (SHA-256), the input kind, the preprocessing settings and ``CACHE_VERSION``. A second pass
(another epoch, a rerun, a fine-tuning run with the same preprocessing) reads the ``.npz`` instead of
recomputing; ``CaseCache.hits`` / ``misses`` count both. ``load_training_set`` gathers the cases of a
manifest into a ``TrainingSet`` (inputs, survival data, RadScores) held in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

#: 2: inputs in the canonical orientation (``read_canonical_case``); version-1 entries are not read.
CACHE_VERSION = 2
#: Preprocessing keys filled from the training set (not part of a cached input, nor of its key).
NORM_KEYS = ("norm_mean", "norm_std", "map_norm")


def default_cache_dir() -> Path:
    """Default preprocessing cache folder: ``~/.cache/radsurv/preprocessing``."""
    return Path.home() / ".cache" / "radsurv" / "preprocessing"


def read_canonical_case(ct_path, gtv_path):
    """Read and check a CT and its GTV and bring both to the canonical orientation, as the pipeline
    does before it analyses a case (``io.orientation.to_canonical``): a case stored in another axis
    order or with flipped axes gives the same model input in training as in scoring.

    Returns:
        ``(ct, gtv)`` SimpleITK images on the CT's own spacing, canonical (LPS) axis order.

    Raises:
        InputError: unreadable file, non-orthonormal direction, grid mismatch, empty GTV.
    """
    from ..io.images import read_image
    from ..io.orientation import to_canonical
    from ..preprocessing import validate_inputs

    ct = read_image(ct_path, "CT")
    gtv = read_image(gtv_path, "GTV")
    validate_inputs(ct, gtv, str(ct_path), str(gtv_path))
    return to_canonical(ct), to_canonical(gtv)


def resample_case(ct_path, gtv_path, images=None):
    """Read a CT and GTV (``read_canonical_case``, or ``images`` already read) and resample both to
    1 mm isotropic (the pipeline's step 2).

    Returns:
        ``(ct_1mm, gtv_1mm)`` SimpleITK images (float HU; uint8 0/1), canonical orientation.

    Raises:
        InputError: as ``read_canonical_case``.
    """
    from ..preprocessing import resample_image, resample_mask_preserving_volume

    ct, gtv = images or read_canonical_case(ct_path, gtv_path)
    ct_1mm = resample_image(ct, 1.0, "bspline")
    return ct_1mm, resample_mask_preserving_volume(gtv, ct_1mm).mask


def build_case_arrays(ct_path, gtv_path, kind: str, settings: dict) -> dict:
    """Model input of one case before the training-set normalisation (``norm_mean`` 0, ``norm_std`` 1,
    ``map_norm`` 0 / 1), built with ``RadSurvLib.models.inputs.build_model_input`` as inference does.

    ``ct3d+maps``: the voxel maps ``settings["voxel_maps"]`` are computed on the CT's own grid inside the
    GTV (``RadSurvLib.radiomics.voxelmaps.compute_voxel_maps`` with ``kernel_radius`` / ``bin_width`` of
    ``settings``, as the pipeline does) and resampled onto the crop.

    Returns:
        ``{"x": float32 NumPy [C, *spatial]}``: ``[1, 64, 64, 64]`` (z, y, x) for ``ct3d`` (clipped HU),
        ``[1 + M, D, D, D]`` for ``ct3d+maps``, ``[1, P, P]`` (y, x) for ``slice2d+radscores`` (the RadScores
        come from the manifest, not from the cache).

    Raises:
        InputError: bad image, empty GTV, unknown input kind.
    """
    import numpy as np

    from ..models.inputs import build_model_input

    raw = {k: v for k, v in settings.items() if k not in NORM_KEYS}
    raw.update({"norm_mean": 0.0, "norm_std": 1.0})
    images = read_canonical_case(ct_path, gtv_path)
    ct_1mm, gtv_1mm = resample_case(ct_path, gtv_path, images)
    voxel_maps = None
    if kind == "ct3d+maps":
        from ..models.inputs import model_voxel_maps

        voxel_maps = model_voxel_maps(*images, settings)
    built = build_model_input(kind, ct_1mm, gtv_1mm, raw, voxel_maps=voxel_maps,
                              radscores=[0.0] * len(settings.get("radscore_names") or []))
    return {"x": built.x[0].numpy().astype(np.float32)}


def case_key(ct_path, gtv_path, kind: str, settings: dict) -> str:
    """Cache key: SHA-256 over the input files' SHA-256, the input kind, the settings and ``CACHE_VERSION``."""
    from ..io.images import sha256_file

    payload = json.dumps({"ct": sha256_file(ct_path), "gtv": sha256_file(gtv_path), "kind": kind,
                          "settings": settings, "version": CACHE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class CaseCache:
    """On-disk cache of preprocessed cases (see module docstring).

    Args:
        folder: cache folder (created); ``None`` disables the cache (every call recomputes).
        kind: model input kind.
        settings: preprocessing settings (JSON-serialisable dict), part of the key.
        builder: function ``(ct_path, gtv_path, kind, settings) -> dict of arrays`` (default
            ``build_case_arrays``; tests substitute a counting one).

    Attributes:
        hits, misses: number of cases read from / written to the cache.
    """

    def __init__(self, folder, kind: str, settings: dict, builder=None):
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.kind, self.settings = kind, dict(settings)
        self.builder = builder or build_case_arrays
        self.hits = self.misses = 0

    def get(self, ct_path, gtv_path) -> dict:
        """The arrays of one case, from the cache when present (written there otherwise)."""
        import numpy as np

        if self.folder is None:
            self.misses += 1
            return self.builder(ct_path, gtv_path, self.kind, self.settings)
        path = self.folder / f"{case_key(ct_path, gtv_path, self.kind, self.settings)}.npz"
        if path.is_file():
            try:
                with np.load(path) as data:
                    arrays = {k: data[k] for k in data.files}
                self.hits += 1
                return arrays
            except (OSError, ValueError):  # damaged entry: rebuild it
                pass
        arrays = self.builder(ct_path, gtv_path, self.kind, self.settings)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # atomic: a stopped run never leaves a half-written entry
        self.misses += 1
        return arrays


@dataclass
class TrainingSet:
    """Preprocessed training (or validation / test) cases held in memory.

    Attributes:
        case_ids: list of str ``[N]``.
        x: float32 tensor ``[N, C, *spatial]`` (z, y, x order for 3D).
        radscores: float32 tensor ``[N, R]`` or None.
        time_days: float32 tensor ``[N]`` (days); event: float32 tensor ``[N]`` (1 = death);
        endpoint: float32 tensor ``[N]`` (binary endpoint) or None.
        log_hazard: float tensor ``[N]`` of the true log hazard (synthetic data) or None.
    """

    case_ids: list
    x: object
    radscores: object
    time_days: object
    event: object
    endpoint: object
    log_hazard: object = None

    def __len__(self) -> int:
        return len(self.case_ids)

    def subset(self, index) -> "TrainingSet":
        """The cases at positions ``index`` (list or tensor of ints)."""
        import torch

        index = torch.as_tensor(index, dtype=torch.long)
        pick = (lambda t: None if t is None else t[index])
        return TrainingSet([self.case_ids[i] for i in index.tolist()], self.x[index], pick(self.radscores),
                           self.time_days[index], self.event[index], pick(self.endpoint), pick(self.log_hazard))


def load_training_set(cases, cache: CaseCache, progress=None) -> TrainingSet:
    """Preprocess (or read from ``cache``) every ``ManifestCase`` of ``cases``.

    Args:
        cases: list of ``RadSurvLib.training.manifest.ManifestCase``.
        cache: ``CaseCache``.
        progress: optional iterable wrapper (e.g. ``tqdm``) for a progress bar.

    Raises:
        InputError: a case fails preprocessing (its case id is named).
    """
    import numpy as np
    import torch

    xs = []
    iterator = progress(cases) if progress else cases
    for case in iterator:
        try:
            arrays = cache.get(case.ct, case.gtv)
        except InputError as exc:
            raise InputError(f"case {case.case_id} (manifest line {case.line}): {exc}") from None
        xs.append(torch.from_numpy(np.ascontiguousarray(arrays["x"], dtype=np.float32)))
    endpoint = None
    if all(c.endpoint is not None for c in cases):
        endpoint = torch.tensor([float(c.endpoint) for c in cases])
    return TrainingSet(case_ids=[c.case_id for c in cases], x=torch.stack(xs), radscores=None,
                       time_days=torch.tensor([c.time_days for c in cases], dtype=torch.float32),
                       event=torch.tensor([float(c.event) for c in cases]), endpoint=endpoint)


def radscores_from_manifest(cases, columns) -> object:
    """RadScores ``[N, R]`` (float32 tensor) from the manifest columns ``columns`` of each case.

    Raises:
        InputError: a case lacks a column or its value is not a number (names ``radscore_columns``).
    """
    import torch

    try:
        return torch.tensor([[float(case.extra[name]) for name in columns] for case in cases])
    except KeyError as exc:
        raise InputError(f"radscore_columns: the manifest lacks the column {exc}.") from None
    except ValueError as exc:
        raise InputError(f"radscore_columns: a RadScore is not a number ({exc}).") from None
