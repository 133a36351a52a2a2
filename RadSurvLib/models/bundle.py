"""Model bundles: a folder with ``bundle.json`` (configuration, provenance) and ``model.safetensors``.

A bundle is loaded without running any code from it: weights are read with ``safetensors`` (never
pickle), their SHA-256 is checked against ``bundle.json``, and the architecture is looked up by name
in ``RadSurvLib.models.registry.SPECS`` (SEResNet3D, VisionMamba3D, DeepRadScore2D).

``bundle.json`` keys: ``format`` ("radsurv-bundle"), ``format_version`` (1), ``name``, ``version``,
``demonstration`` (bool), ``disclaimer``, ``architecture`` {``name``, ``params``},
``preprocessing`` (see ``RadSurvLib.models.inputs``; the keys required depend on the architecture's
input kind: ``ct3d`` {``crop_size``, ``margin_mm``, ``hu_clip``, ``norm_mean``, ``norm_std``,
``spacing_mm``}; ``ct3d+maps`` the same plus ``voxel_maps`` [names] and optional ``map_norm``
{name: [mean, std]}; ``slice2d+radscores`` {``patch_size``, ``hu_clip``, ``norm_mean``, ``norm_std``,
``radscore_names``}), ``gradcam_layer``, ``risk_cutoff`` (median training risk), optional ``endpoint``
("survival" | "binary"), ``weights`` {``file``, ``sha256``}, ``provenance`` {command, seed, data,
sizes, held-out C-index, date, radsurv version}, optional ``baseline_survival`` (below).

``baseline_survival`` (survival models; bundles made before it existed load as before and report no
survival probabilities, saying why): the Breslow (1972) baseline survival of the training data,
``{"estimator": "breslow", "time_unit": "days", "time_days": [K event times, increasing],
"survival": [K values of S0(t), decreasing, in (0, 1]], "linear_predictor": "risk_score", "formula",
"fitted_on", "n_cases", "n_events", "max_time_days", ...}``. The linear predictor is the model's output
itself, the tanh risk score ``r`` in (-1, 1), uncentred: the Cox loss the model is trained with
(``training.losses``) takes ``r`` as the log hazard ratio, so ``S(t | x) = S0(t) ** exp(r)`` with
``S0(t) = exp(-H0(t))`` and ``H0(t) = sum_{event times u <= t} d(u) / sum_{j: t_j >= u} exp(r_j)``
over the training cases (``survival.cox.breslow_cumulative_hazard``, the code the signature bundles use).
``S0`` is a step function: 0 hazard before the first event time, constant after the last; a horizon past
the longest training follow-up (``max_time_days``) gets no probability.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BundleError
from .inputs import CROP_KEYS

BUNDLE_FORMAT = "radsurv-bundle"
BUNDLE_FORMAT_VERSION = 1
CONFIG_FILE = "bundle.json"
WEIGHTS_FILE = "model.safetensors"
#: Suffixes of pickle-based weight files; loading them could run arbitrary code, so they are refused.
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle")
#: Horizons of the survival probabilities reported beside the risk score (years of 365.25 days).
SURVIVAL_HORIZONS_YEARS = (1, 2, 3)
#: The only linear predictor a ``baseline_survival`` applies to: the model's tanh output, uncentred.
LINEAR_PREDICTOR = "risk_score"
REQUIRED_KEYS = ("name", "version", "demonstration", "architecture", "preprocessing",
                 "gradcam_layer", "risk_cutoff", "weights")
#: Preprocessing keys required per model input kind (``RadSurvLib.models.inputs``).
PREPROCESSING_KEYS_BY_KIND = {
    "ct3d": CROP_KEYS,
    "ct3d+maps": CROP_KEYS + ("voxel_maps",),
    "slice2d+radscores": ("hu_clip", "norm_mean", "norm_std", "radscore_names"),
}


@dataclass
class Bundle:
    """A loaded model bundle.

    Attributes:
        path: the bundle folder.
        config: the parsed ``bundle.json``.
        name, version: from ``bundle.json``.
        demonstration: True for demonstration (non-clinical) models.
        cutoff: risk cutoff between the "low" and "high" risk groups (median training risk).
        weights_path: the bundle's ``model.safetensors`` (its SHA-256 checked at load).
        model: the ``torch.nn.Module`` in eval mode on the CPU, built with its weights at load or, for
            ``load_bundle(..., build_model=False)``, on first use (raising ``BundleError`` then for a
            ``gradcam_layer`` the model lacks or weights that do not match the architecture).
    """

    path: Path
    config: dict
    name: str
    version: str
    demonstration: bool
    cutoff: float
    weights_path: Path
    _model: object = field(default=None, repr=False)

    @property
    def model(self):
        """The model with its weights, in eval mode on the CPU (built once, on first use)."""
        if self._model is None:
            model = _build_model(self.path, self.config)
            _check_gradcam_layer(self.path, self.config, model)
            _load_weights(self.path, model, self.weights_path)
            self._model = model
        return self._model

    @property
    def disclaimer(self) -> str:
        """Free-text disclaimer of the bundle ("" if none)."""
        return str(self.config.get("disclaimer", ""))

    @property
    def input_kind(self) -> str:
        """The model's input kind: ``"ct3d"``, ``"ct3d+maps"`` or ``"slice2d+radscores"`` (its ``ModelSpec``)."""
        return _input_kind(self.config)

    @property
    def endpoint(self) -> str:
        """``"survival"`` (tanh risk) or ``"binary"`` (logit; probability = sigmoid)."""
        return str(getattr(self.model, "endpoint", self.config.get("endpoint", "survival")))

    @property
    def preprocessing(self) -> dict:
        """The preprocessing settings of ``RadSurvLib.models.inputs`` for this bundle's input kind.

        For ``"ct3d"`` exactly the keyword arguments of ``make_model_input`` (crop_size, margin_mm,
        hu_clip, norm_mean, norm_std); for the other kinds the whole dict. ``hu_clip`` is a tuple.
        """
        pre = self.config["preprocessing"]
        if self.input_kind == "ct3d":
            return {key: (tuple(pre[key]) if key == "hu_clip" else pre[key]) for key in CROP_KEYS}
        return {key: (tuple(value) if key == "hu_clip" else value) for key, value in pre.items()}

    @property
    def gradcam_layer(self) -> str:
        """Name of the layer that Grad-CAM explains (e.g. ``"layer2"``)."""
        return str(self.config["gradcam_layer"])

    @property
    def baseline_survival(self) -> dict | None:
        """The ``baseline_survival`` entry of ``bundle.json`` (checked at load), or None when the bundle has none."""
        return self.config.get("baseline_survival")

    def survival_at_years(self, risk_score: float, years=SURVIVAL_HORIZONS_YEARS) -> dict:
        """Predicted survival probabilities of one case, for ``result.json``.

        ``S(t | x) = S0(t) ** exp(risk_score)`` with the bundle's Breslow baseline ``S0`` (see the module
        docstring); ``t = years * 365.25`` days.

        Args:
            risk_score: the model's tanh risk score of the case (``predict_case(...)["risk_score"]``).
            years: horizons in years.

        Returns:
            ``{"survival_{k}y": probability in [0, 1] or None for each k in years, "survival": note}``;
            the note holds ``available`` (bool), ``source`` (bundle name and version, or None),
            ``demonstration`` (bool), the estimator, time unit, linear predictor and training data
            when available, and ``reason`` when a probability is missing (no baseline in the bundle, a
            binary endpoint, a horizon past the longest training follow-up).
        """
        from ..survival.cox import survival_probability
        from ..survival.data import DAYS_PER_YEAR

        out = {f"survival_{k}y": None for k in years}
        note = {"available": False, "source": None, "demonstration": bool(self.demonstration)}
        base = self.baseline_survival
        endpoint = str(self.config.get("endpoint", "survival"))
        if endpoint != "survival":
            note["reason"] = (f"the model bundle {self.name} predicts a {endpoint} endpoint, not survival: "
                              "no survival probabilities")
            return {**out, "survival": note}
        if base is None:
            note["reason"] = (f"the model bundle {self.name} {self.version} has no baseline survival "
                              "(bundle.json lacks baseline_survival; it was made before RadSurv stored one): "
                              "no survival probabilities. Re-train or fine-tune it with radsurv train / "
                              "finetune to get them.")
            return {**out, "survival": note}
        import numpy as np

        times = np.asarray(base["time_days"], float)
        h0 = -np.log(np.asarray(base["survival"], float))
        horizons = np.asarray([k * DAYS_PER_YEAR for k in years], float)
        probabilities = survival_probability(horizons, times, h0, float(risk_score))
        beyond = [k for k, t in zip(years, horizons) if t > float(base["max_time_days"])]
        for k, p in zip(years, probabilities):
            out[f"survival_{k}y"] = None if k in beyond else float(p)
        note.update({"available": len(beyond) < len(years), "source": f"model bundle {self.name} {self.version}",
                     "estimator": base["estimator"], "time_unit": base["time_unit"], "days_per_year": DAYS_PER_YEAR,
                     "linear_predictor": base["linear_predictor"], "formula": base.get("formula"),
                     "fitted_on": base.get("fitted_on"), "n_cases": base.get("n_cases"),
                     "n_events": base.get("n_events")})
        if self.demonstration:
            note["note"] = ("from a DEMONSTRATION model (synthetic training data): these are not survival "
                            "probabilities of real patients")
        if beyond:
            note["reason"] = (f"no probability at {', '.join(f'{k} y' for k in beyond)}: past the longest "
                              f"follow-up of the training data ({float(base['max_time_days']):.0f} days)")
        return {**out, "survival": note}


def default_bundle_path() -> Path:
    """Folder of the demonstration bundle shipped with RadSurv (``resources/bundles/demo-seresnet3d``)."""
    from ..resources import demo_bundle_path

    return demo_bundle_path()


def _fail(path, problem: str, fix: str) -> BundleError:
    return BundleError(f"model bundle {path}: {problem}. {fix}")


def _read_config(folder: Path) -> dict:
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise _fail(folder, f"{CONFIG_FILE} is missing", "A bundle folder needs bundle.json and model.safetensors.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(folder, f"{CONFIG_FILE} is not valid JSON ({exc})", "Restore the file from the bundle's source.") from None
    if not isinstance(config, dict):
        raise _fail(folder, f"{CONFIG_FILE} is not a JSON object", "Restore the file from the bundle's source.")
    if config.get("format") != BUNDLE_FORMAT or config.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise _fail(folder, f"unknown format {config.get('format')!r} version {config.get('format_version')!r} "
                    f"(expected {BUNDLE_FORMAT!r} version {BUNDLE_FORMAT_VERSION})",
                    "Use a bundle written by this RadSurv version (RadSurvLib.models.bundle.save_bundle).")
    missing = [key for key in REQUIRED_KEYS if key not in config]
    missing += [f"preprocessing.{key}" for key in PREPROCESSING_KEYS_BY_KIND.get(_input_kind(config), ())
                if key not in (config.get("preprocessing") or {})]
    if missing:
        raise _fail(folder, f"{CONFIG_FILE} lacks {', '.join(missing)}", "Re-create the bundle with save_bundle.")
    return config


def _input_kind(config: dict) -> str:
    """Input kind of the architecture a config names (``"ct3d"`` when unknown: checked later)."""
    from .registry import SPECS

    arch = config.get("architecture")
    name = arch.get("name") if isinstance(arch, dict) else None
    return SPECS[name].input_kind if name in SPECS else "ct3d"


def _weights_path(folder: Path, config: dict) -> Path:
    weights = config["weights"]
    name = str(weights.get("file", "")) if isinstance(weights, dict) else ""
    if name.lower().endswith(PICKLE_SUFFIXES):
        raise _fail(folder, f"weights file {name!r} is a pickle file, which RadSurv never loads (it can run code)",
                    "Convert the weights to safetensors (safetensors.torch.save_file(model.state_dict(), ...)).")
    if not name.endswith(".safetensors") or Path(name).name != name:
        raise _fail(folder, f"weights.file {name!r} must be a .safetensors file inside the bundle folder",
                    "Re-create the bundle with save_bundle.")
    path = folder / name
    if not path.is_file():
        raise _fail(folder, f"weights file {name} is missing", "Copy the complete bundle folder.")
    return path


def _architecture(folder: Path, config: dict):
    """The ``registry.ModelSpec`` that ``architecture.name`` names (no torch import)."""
    from .registry import SPECS

    arch = config["architecture"]
    name = arch.get("name") if isinstance(arch, dict) else None
    if name not in SPECS:
        raise _fail(folder, f"unknown architecture {name!r} (known: {', '.join(sorted(SPECS))})",
                    "Use a bundle made for this RadSurv version.")
    return SPECS[name]


def _build_model(folder: Path, config: dict):
    spec, arch = _architecture(folder, config), config["architecture"]
    try:
        return spec.model_class(**dict(arch.get("params") or {}))
    except (TypeError, ValueError) as exc:
        raise _fail(folder, f"bad architecture.params for {arch['name']}: {exc}", "Re-create the bundle with save_bundle.") from None


def estimate_baseline_survival(risk_score, time_days, event, fitted_on: str) -> dict:
    """The ``baseline_survival`` entry of ``bundle.json``: Breslow baseline survival of training data.

    Args:
        risk_score: ``[N]`` the model's tanh risk scores of the training cases (eval mode, the bundle's
            final weights, no augmentation), the linear predictor ``r`` of ``S(t | x) = S0(t) ** exp(r)``.
        time_days: ``[N]`` follow-up times (days, > 0); event: ``[N]`` 1 = death observed, 0 = censored.
        fitted_on: which predictions these are (stored as told, e.g. "training predictions of the
            final model on the 256 training cases").

    Returns:
        dict (JSON-ready): ``estimator`` "breslow", ``time_unit`` "days", ``time_days`` [K event times],
        ``survival`` [K values of S0], ``linear_predictor`` "risk_score", ``formula``, ``fitted_on``,
        ``n_cases``, ``n_events``, ``max_time_days``.

    Raises:
        InputError: lengths differ, a non-finite value, a time <= 0, or no event.
    """
    import numpy as np

    from ..errors import InputError
    from ..survival.cox import breslow_cumulative_hazard

    risk = np.asarray(risk_score, float).reshape(-1)
    time = np.asarray(time_days, float).reshape(-1)
    died = np.asarray(event, float).reshape(-1)
    if not (risk.size == time.size == died.size):
        raise InputError(f"baseline survival: {risk.size} risk scores, {time.size} times and {died.size} event "
                         "flags; give one of each per training case.")
    if not (np.isfinite(risk).all() and np.isfinite(time).all() and (time > 0).all() and np.isin(died, (0, 1)).all()):
        raise InputError("baseline survival: risk scores must be finite, times finite and > 0 days, events 0 or 1.")
    if not died.any():
        raise InputError("baseline survival: the training data has no event; the baseline hazard cannot be estimated.")
    times, h0 = breslow_cumulative_hazard(risk, time, died.astype(bool))
    return {"estimator": "breslow", "time_unit": "days",
            "time_days": [float(t) for t in times], "survival": [float(v) for v in np.exp(-h0)],
            "linear_predictor": LINEAR_PREDICTOR,
            "formula": "S(t | x) = S0(t) ** exp(risk_score); risk_score = the model's tanh output in (-1, 1), "
                       "uncentred, the log hazard ratio of its Cox training loss; S0(t) = exp(-H0(t)), "
                       "H0 Breslow (1972) on the training cases",
            "fitted_on": str(fitted_on), "n_cases": int(risk.size), "n_events": int(died.sum()),
            "max_time_days": float(time.max())}


def load_bundle(path=None, build_model: bool = True) -> Bundle:
    """Load and verify a model bundle folder.

    Args:
        path: bundle folder (``None``: ``default_bundle_path()``).
        build_model: build the model and load its weights now (True), or on first use of
            ``Bundle.model`` (False: the files, checksum, values and architecture name are checked here
            without importing torch or MONAI; the pipeline's validate stage does so).

    Returns:
        ``Bundle`` (its model in eval mode on the CPU).

    Raises:
        BundleError: missing folder or file, pickle weights (``.pt``/``.pth``/``.ckpt``/``.bin``), malformed or
            incomplete ``bundle.json``, a value out of bounds (``_check_values``: risk_cutoff not a finite
            number, crop_size < 8, ...), a ``gradcam_layer`` the model does not have, unknown format or
            architecture, SHA-256 mismatch, unreadable
            weights, or weights that do not match the architecture (missing / unexpected / mis-shaped keys).
    """
    from ..io.images import sha256_file

    folder = Path(path) if path is not None else default_bundle_path()
    if folder.is_file() and folder.name.lower().endswith(PICKLE_SUFFIXES):
        raise _fail(folder, "is a pickle weights file; RadSurv loads only bundle folders with safetensors weights",
                    "Convert it into a bundle folder with RadSurvLib.models.bundle.save_bundle.")
    if not folder.is_dir():
        raise _fail(folder, "folder not found", "Give the path of a bundle folder (bundle.json + model.safetensors).")
    config = _read_config(folder)
    weights_path = _weights_path(folder, config)
    expected = str(config["weights"].get("sha256", "")).lower()
    actual = sha256_file(weights_path)
    if actual != expected:
        raise _fail(folder, f"checksum mismatch for {weights_path.name} (sha256 {actual}, bundle.json says "
                    f"{expected or 'nothing'})", "The weights are damaged or were changed; restore the bundle.")
    _check_values(folder, config)
    _architecture(folder, config)
    bundle = Bundle(path=folder, config=config, name=str(config["name"]), version=str(config["version"]),
                    demonstration=bool(config["demonstration"]), cutoff=float(config["risk_cutoff"]),
                    weights_path=weights_path)
    if build_model:
        bundle.model  # noqa: B018 - builds the model and checks its weights now
    return bundle


#: Smallest model-input crop / patch, voxels per axis (the SE-ResNet halves it four times).
MIN_CROP_SIZE = 8


def _number(value) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_values(folder: Path, config: dict) -> None:
    """Every value the model stage uses, checked at load (not when the model stage reaches it)."""
    fix = "Correct bundle.json (or re-create the bundle with save_bundle)."
    cutoff = config["risk_cutoff"]
    if not _number(cutoff):
        raise _fail(folder, f"risk_cutoff is {json.dumps(cutoff)}, not a number (the median training risk "
                    "score, e.g. 0.12)", fix)
    if not isinstance(config["demonstration"], bool):
        raise _fail(folder, f"demonstration is {json.dumps(config['demonstration'])}, not true or false", fix)
    pre = config["preprocessing"]
    if not isinstance(pre, dict):
        raise _fail(folder, "preprocessing is not a JSON object", fix)
    for key in ("crop_size", "patch_size"):
        if key in pre and (not isinstance(pre[key], int) or isinstance(pre[key], bool) or pre[key] < MIN_CROP_SIZE):
            raise _fail(folder, f"preprocessing.{key} is {json.dumps(pre[key])}; it must be an integer of at "
                        f"least {MIN_CROP_SIZE} voxels (64 in Liu et al. 2025)", fix)
    if "margin_mm" in pre and not (_number(pre["margin_mm"]) and pre["margin_mm"] >= 0):
        raise _fail(folder, f"preprocessing.margin_mm is {json.dumps(pre['margin_mm'])}; give a margin >= 0 mm", fix)
    clip = pre.get("hu_clip")
    if clip is not None and not (isinstance(clip, list) and len(clip) == 2 and all(map(_number, clip))
                                 and clip[0] < clip[1]):
        raise _fail(folder, f"preprocessing.hu_clip is {json.dumps(clip)}; give [low, high] in HU with low < high, "
                    "e.g. [-1000, 400]", fix)
    if "norm_mean" in pre and not _number(pre["norm_mean"]):
        raise _fail(folder, f"preprocessing.norm_mean is {json.dumps(pre['norm_mean'])}, not a number (HU)", fix)
    if "norm_std" in pre and not (_number(pre["norm_std"]) and pre["norm_std"] > 0):
        raise _fail(folder, f"preprocessing.norm_std is {json.dumps(pre['norm_std'])}; it must be a number "
                    "greater than 0 (HU)", fix)
    if not isinstance(config["gradcam_layer"], str) or not config["gradcam_layer"]:
        raise _fail(folder, f"gradcam_layer is {json.dumps(config['gradcam_layer'])}, not a layer name", fix)
    if "baseline_survival" in config:
        _check_baseline_survival(folder, config["baseline_survival"], fix)


def _check_baseline_survival(folder: Path, base, fix: str) -> None:
    """A ``baseline_survival`` entry that ``Bundle.survival_at_years`` can use (see the module docstring)."""
    if not isinstance(base, dict):
        raise _fail(folder, "baseline_survival is not a JSON object", fix)
    expected = {"estimator": "breslow", "time_unit": "days", "linear_predictor": LINEAR_PREDICTOR}
    for key, value in expected.items():
        if base.get(key) != value:
            raise _fail(folder, f"baseline_survival.{key} is {json.dumps(base.get(key))}; this RadSurv reads "
                        f"{json.dumps(value)} only", fix)
    times, surv = base.get("time_days"), base.get("survival")
    if not (isinstance(times, list) and isinstance(surv, list) and times and len(times) == len(surv)
            and all(map(_number, times)) and all(map(_number, surv))):
        raise _fail(folder, "baseline_survival.time_days and .survival must be two lists of numbers of the same "
                    "non-zero length", fix)
    if any(b <= a for a, b in zip(times, times[1:])) or times[0] < 0:
        raise _fail(folder, "baseline_survival.time_days must increase strictly from >= 0 days", fix)
    if any(not 0 < v <= 1 for v in surv) or any(b > a for a, b in zip(surv, surv[1:])):
        raise _fail(folder, "baseline_survival.survival must be in (0, 1] and never increase", fix)
    if not (_number(base.get("max_time_days")) and base["max_time_days"] >= times[-1]):
        raise _fail(folder, f"baseline_survival.max_time_days is {json.dumps(base.get('max_time_days'))}; give "
                    "the longest training follow-up in days (>= the last event time)", fix)


def _check_gradcam_layer(folder: Path, config: dict, model) -> None:
    layers = [name for name, _ in model.named_modules() if name and "." not in name]
    if config["gradcam_layer"] not in dict(model.named_modules()):
        raise _fail(folder, f"gradcam_layer {config['gradcam_layer']!r} is not a layer of {config['architecture']['name']} "
                    f"(its top-level layers: {', '.join(layers)})", "Correct gradcam_layer in bundle.json.")


def _load_weights(folder: Path, model, weights_path: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise _fail(folder, f"cannot read {weights_path.name} as safetensors ({exc})", "Restore the bundle.") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        details = "; ".join(part for part in (
            f"missing keys {missing[:5]}" if missing else "",
            f"unexpected keys {unexpected[:5]}" if unexpected else "",
            f"mis-shaped keys {sorted(shapes)[:5]}" if shapes else "") if part)
        raise _fail(folder, f"weights do not match architecture.params ({details})",
                    "bundle.json and model.safetensors must come from the same save_bundle call.")
    model.load_state_dict(state, strict=True)
    model.eval()


def save_bundle(model, config: dict, folder) -> Path:
    """Write a bundle folder: ``model.safetensors`` (the model's state dict) and ``bundle.json``.

    Args:
        model: the ``torch.nn.Module`` (its state dict is saved from the CPU).
        config: ``bundle.json`` content without ``format``, ``format_version`` and ``weights``
            (they are filled in here, the latter with the SHA-256 of the written weights).
        folder: output folder (created; existing bundle files are overwritten).

    Returns:
        The folder path.
    """
    from safetensors.torch import save_file

    from ..io.images import sha256_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": BUNDLE_FORMAT})
    full = {"format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION,
            **{k: v for k, v in config.items() if k not in ("format", "format_version", "weights")},
            "weights": {"file": WEIGHTS_FILE, "sha256": sha256_file(folder / WEIGHTS_FILE)}}
    (folder / CONFIG_FILE).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return folder
