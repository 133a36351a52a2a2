"""The architectures a model bundle may name, and what each needs as input.

``bundle.json["architecture"] = {"name": <key of ARCHITECTURES>, "params": {constructor kwargs}}``.
Every architecture is a ``torch.nn.Module`` with:

- ``input_kind`` (class attribute): ``"ct3d"`` (x ``[B, 1, 64, 64, 64]``), ``"ct3d+maps"`` (x
  ``[B, 1 + M, D, D, D]``: CT crop + M voxel radiomics maps) or ``"slice2d+radscores"`` (x
  ``[B, 1, 160, 160]`` and radscores ``[B, R]``); ``RadSurvLib.models.inputs`` builds each;
- ``forward(x, radscores=None) -> [B]``: tanh risk (survival) or logit (binary endpoint);
- ``features(x, radscores=None) -> [B, F]``: the deep-feature vector (``model.feature_dim`` = F);
- ``gradcam_layer``: default Grad-CAM layer name (a bundle's ``gradcam_layer`` may override it).

Importing this module imports torch and MONAI (the model modules); ``mambapy`` / ``mamba_ssm`` are
imported only when a Vision-Mamba model runs its scan.
"""

from __future__ import annotations

from .deepradscore import DeepRadScore2D
from .seresnet import SEResNet3D
from .vmamba import VisionMamba3D

#: Architecture name (as in ``bundle.json``) -> model class.
ARCHITECTURES = {"SEResNet3D": SEResNet3D, "VisionMamba3D": VisionMamba3D, "DeepRadScore2D": DeepRadScore2D}

#: Small configurations for CPU demonstrations (``architecture.params``); the class defaults are the
#: papers' sizes for SEResNet3D / DeepRadScore2D (VisionMamba3D's defaults are already small).
SMALL_PARAMS = {
    "SEResNet3D": {"base_width": 8, "head_units": [64, 32, 16]},
    "VisionMamba3D": {"in_channels": 4, "image_size": 32, "patch_size": 4, "embed_dim": 32, "depth": 2,
                      "d_state": 8, "head_units": [32]},
    "DeepRadScore2D": {"n_radscores": 2, "hidden_units": 32, "init_features": 16, "growth_rate": 8,
                       "block_config": [2, 4, 6, 4]},
}

#: The input kinds, in the order above.
INPUT_KINDS = ("ct3d", "ct3d+maps", "slice2d+radscores")


def build_model(name: str, params: dict | None = None):
    """Instantiate ``ARCHITECTURES[name](**params)`` (training mode, CPU, random weights).

    Raises:
        KeyError: unknown ``name`` (the message lists the known ones).
        TypeError / ValueError: bad ``params`` for that architecture.
    """
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {name!r} (known: {', '.join(sorted(ARCHITECTURES))})")
    return ARCHITECTURES[name](**dict(params or {}))


def input_kind(name: str) -> str:
    """The ``input_kind`` of architecture ``name`` (KeyError if unknown)."""
    return ARCHITECTURES[name].input_kind
