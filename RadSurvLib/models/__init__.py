"""Deep survival models of RadSurv (PyTorch).

- ``seresnet``: the 3D SE-ResNet of Liu et al. 2025 (``SEResNet3D``) and the architecture registry
  that bundles name (``ARCHITECTURES``).
- ``preprocess``: ``make_model_input``, the one crop / resize / normalise step used by training and
  inference.
- ``inference``: ``predict_case``, risk score + Grad-CAM heatmap for one case.

Importing this package imports no torch; the submodules do.
"""
