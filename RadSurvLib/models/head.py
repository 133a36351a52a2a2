"""The risk head the 3D networks share: fully connected layers on the deep-feature vector, one output unit."""

from __future__ import annotations

from torch import nn


def risk_head(in_features: int, head_units, dropout: float) -> tuple[nn.Sequential, nn.Linear]:
    """(hidden layers, output layer) of a risk head on a ``[B, in_features]`` deep-feature vector.

    Each hidden layer is Linear -> ReLU -> Dropout(``dropout``), with ``head_units`` units in turn
    (Liu et al. 2025's SE-ResNet FC head; reused by the Vision-Mamba network); the output layer has
    one unit (the caller applies tanh for a risk score). Kept as two modules (``head``, ``out``) so
    that bundles' state-dict keys stay ``head.*`` and ``out.*``.
    """
    layers, previous = [], in_features
    for units in head_units:
        layers += [nn.Linear(previous, units), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        previous = units
    return nn.Sequential(*layers), nn.Linear(previous, 1)
