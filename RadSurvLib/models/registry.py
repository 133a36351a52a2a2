"""The architectures a model bundle may name: one ``ModelSpec`` per model, the only home of its settings.

``bundle.json["architecture"] = {"name": <key of SPECS>, "params": {constructor kwargs}}``. Every
architecture is a ``torch.nn.Module`` with:

- ``forward(x, radscores=None) -> [B]``: tanh risk (survival) or logit (binary endpoint);
- ``features(x, radscores=None) -> [B, F]``: the deep-feature vector (``model.feature_dim`` = F).

What the code around a model needs to know about it (its input kind, default preprocessing, small
CPU parameters, prediction-head parameter prefixes and Grad-CAM layer) lives in its ``ModelSpec``.
Input kinds: ``"ct3d"`` (x ``[B, 1, D, D, D]``, z, y, x), ``"ct3d+maps"`` (x ``[B, 1 + M, D, D, D]``:
CT crop + M voxel radiomics maps) or ``"slice2d+radscores"`` (x ``[B, 1, P, P]``, y, x, and radscores
``[B, R]``); ``RadSurvLib.models.inputs`` builds each.

Importing this module imports no torch; ``ModelSpec.model_class`` / ``build_model`` import the model
module (torch, MONAI; ``mambapy`` / ``mamba_ssm`` only when a Vision-Mamba model runs its scan).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from ..errors import InputError

#: The input kinds of ``RadSurvLib.models.inputs``.
INPUT_KINDS = ("ct3d", "ct3d+maps", "slice2d+radscores")

_CT = {"hu_clip": [-1000.0, 400.0], "spacing_mm": [1.0, 1.0, 1.0]}


@dataclass(frozen=True)
class ModelSpec:
    """Everything RadSurv knows about one architecture besides its code.

    Attributes:
        name: architecture name, as in ``bundle.json`` and ``radsurv train``'s model choice.
        class_path: ``"module:Class"`` of the ``torch.nn.Module`` (imported on use).
        input_kind: one of ``INPUT_KINDS``.
        preprocessing: default ``preprocessing`` dict of a new model (training adds ``norm_mean`` /
            ``norm_std`` (HU) and, for ``ct3d+maps``, ``map_norm`` from the training set).
        small_params: constructor arguments of the small CPU configuration (the defaults of
            ``radsurv train``; the class defaults are the papers' sizes).
        head_prefixes: parameter-name prefixes of the prediction head (head-only fine-tuning trains
            exactly these; the last one holds the output layer).
        cam_layer: default Grad-CAM layer (module name); ``cam_layer_for`` adapts it to the parameters.
        endpoints: the endpoints the architecture can be built for (``"binary"`` models take
            ``endpoint="binary"``).
    """

    name: str
    class_path: str
    input_kind: str
    preprocessing: dict = field(default_factory=dict)
    small_params: dict = field(default_factory=dict)
    head_prefixes: tuple = ("head", "out")
    cam_layer: str = "layer2"
    endpoints: tuple = ("survival",)

    @property
    def model_class(self):
        """The model class (imports its module, hence torch)."""
        module, _, name = self.class_path.partition(":")
        return getattr(importlib.import_module(module), name)

    def cam_layer_for(self, params: dict | None = None) -> str:
        """Grad-CAM layer of a model built with ``params``: DeepRadScore2D's third dense block, or its last
        one when a demonstration net has fewer blocks; ``cam_layer`` for the others."""
        if self.name == "DeepRadScore2D":
            blocks = (params or {}).get("block_config") or (6, 12, 24, 16)
            return f"backbone.denseblock{min(3, len(tuple(blocks)))}"
        return self.cam_layer


SPECS = {spec.name: spec for spec in (
    # Liu et al. 2025: 64^3 crop of the GTV box + 5 mm, HU window [-1000, 400]; layer2 = 8^3 cells at 64^3.
    ModelSpec("SEResNet3D", "RadSurvLib.models.seresnet:SEResNet3D", "ct3d",
              preprocessing={"crop_size": 64, "margin_mm": 5.0, **_CT},
              small_params={"in_channels": 1, "base_width": 8, "blocks_per_stage": [2, 2, 2, 2],
                            "head_units": [64, 32, 16], "dropout": 0.4, "se_ratio": 64},
              head_prefixes=("head", "out"), cam_layer="layer2"),
    # Wang et al. 2026, CPU-sized: 32^3 crop and three first-order maps (kernel radius 1, bin width 25 HU).
    ModelSpec("VisionMamba3D", "RadSurvLib.models.vmamba:VisionMamba3D", "ct3d+maps",
              preprocessing={"crop_size": 32, "margin_mm": 5.0, **_CT,
                             "voxel_maps": ["firstorder_Mean", "firstorder_Variance", "firstorder_Entropy"],
                             "kernel_radius": 1, "bin_width": 25.0},
              small_params={"in_channels": 4, "image_size": 32, "patch_size": 4, "embed_dim": 32, "depth": 2,
                            "d_state": 8, "head_units": [32], "dropout": 0.2},
              head_prefixes=("head", "out"), cam_layer="token_grid", endpoints=("survival", "binary")),
    # Zhang et al. 2024 use a 160 x 160 patch; the CPU default is 64 x 64 and image-only (no RadScores).
    ModelSpec("DeepRadScore2D", "RadSurvLib.models.deepradscore:DeepRadScore2D", "slice2d+radscores",
              preprocessing={"patch_size": 64, **_CT, "radscore_names": []},
              small_params={"in_channels": 1, "n_radscores": 0, "hidden_units": 64, "dropout": 0.2,
                            "init_features": 16, "growth_rate": 8, "block_config": [2, 2, 2, 2], "bn_size": 2},
              head_prefixes=("fc_penultimate", "fc_out"), cam_layer="backbone.denseblock3",
              endpoints=("survival", "binary")),
)}


def model_spec(name: str) -> ModelSpec:
    """The ``ModelSpec`` of architecture ``name``.

    Raises:
        InputError: unknown ``name`` (the message lists the known ones).
    """
    if name not in SPECS:
        raise InputError(f"architecture: unknown name {name!r}; known: {', '.join(SPECS)}.")
    return SPECS[name]


def spec_of(model) -> ModelSpec:
    """The ``ModelSpec`` of a model instance (by its class).

    Raises:
        InputError: the model's class is not a registered architecture.
    """
    for spec in SPECS.values():
        if spec.class_path == f"{type(model).__module__}:{type(model).__name__}":
            return spec
    raise InputError(f"model: {type(model).__name__} is not a registered architecture ({', '.join(SPECS)}).")


def build_model(name: str, params: dict | None = None):
    """Instantiate ``model_spec(name).model_class(**params)`` (training mode, CPU, random weights).

    Raises:
        InputError: unknown ``name``.
        TypeError / ValueError: bad ``params`` for that architecture.
    """
    return model_spec(name).model_class(**dict(params or {}))
