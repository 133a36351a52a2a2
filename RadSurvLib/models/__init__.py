"""Deep survival models of RadSurv (PyTorch).

- ``registry``: ``SPECS`` (one ``ModelSpec`` per architecture: class, input kind, default
  preprocessing, small CPU parameters, head prefixes, Grad-CAM layer) and ``build_model``.
- ``seresnet``: the 3D SE-ResNet of Liu et al. 2025 (``SEResNet3D``, input kind ``"ct3d"``).
- ``vmamba``: the dual-input 3D Vision-Mamba of Wang et al. 2026 (``VisionMamba3D``, ``"ct3d+maps"``).
- ``deepradscore``: Zhang et al. 2024's DenseNet121 + RadScores (``DeepRadScore2D``,
  ``"slice2d+radscores"``).
- ``inputs``: one input builder per input kind, used by training and inference.
- ``crop``: ``make_model_input``, the 3D crop / resize / normalise step.
- ``bundle``: model bundles (``bundle.json`` + ``model.safetensors``); ``inference``: ``predict_case``,
  risk score + Grad-CAM heatmap for one case.

Importing this package (or ``registry``) imports no torch; the model modules do.
"""
