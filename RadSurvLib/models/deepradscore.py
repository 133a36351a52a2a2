"""Deep-RadScore: a 2D DenseNet121 on the largest GTV slice with GTV and ring RadScores fused in.

Source: Zhang et al. 2024 (Biomarker Research 12, "Exploring non-invasive precision treatment in NSCLC
... Deep-RadScore"): a DenseNet121 backbone on a 160x160 pixel patch of the slice with the largest
tumour ROI, centred on the ROI's centroid; the 1000-unit classifier replaced by two fully connected
layers with Xavier-initialised weights, the output of the penultimate FC layer being the deep network
features; the tumour and 3 mm peritumoral RadScores (linear combinations of selected radiomics
features) are "directly input into the penultimate FC layer" for fusion.

RadSurv's layout: MONAI ``DenseNet`` feature extractor (DenseNet121: ``init_features`` 64,
``growth_rate`` 32, ``block_config`` (6, 12, 24, 16); 1024 channels at 5x5 for a 160x160 input) ->
ReLU -> global average pooling (1024) -> concatenation with the R RadScores -> penultimate FC layer
(``1024 + R -> hidden_units``, ReLU, dropout: the deep-feature vector) -> last FC layer
(``hidden_units -> 1``). Output: tanh risk (``endpoint="survival"``) or a logit (``"binary"``, e.g.
PD-L1 status, EGFR mutation, responder; probability = sigmoid(logit)). Differences from the paper:
one input channel (CT in HU, normalised) and no ImageNet pre-training (no download at run time);
the paper's final "combined classifier" of seven classical learners is not part of the network.
"""

from __future__ import annotations

import torch
from torch import nn

#: DenseNet121 block configuration (Huang et al. 2017).
DENSENET121_BLOCKS = (6, 12, 24, 16)


class DeepRadScore2D(nn.Module):
    """2D DenseNet121 + RadScore fusion model (Zhang et al. 2024).

    Args:
        in_channels: image channels (1: the normalised CT patch).
        n_radscores: number R of RadScores fused into the penultimate FC layer (GTV + rings; 0 = the
            image-only "Deep-CT" model).
        hidden_units: width of the penultimate FC layer (the deep-feature vector length).
        endpoint: ``"survival"`` (tanh risk) or ``"binary"`` (logit).
        dropout: dropout after the penultimate FC layer.
        init_features, growth_rate, block_config, bn_size: DenseNet sizes (default DenseNet121);
            smaller values give CPU demonstration models.

    ``forward(x, radscores)``: ``x`` float ``[B, 1, y, x]`` (160x160 in RadSurv), ``radscores`` float
    ``[B, R]`` -> ``[B]``. ``features(x, radscores)``: ``[B, hidden_units]``.

    Raises:
        ValueError: bad endpoint; missing or mis-shaped ``radscores`` when ``n_radscores > 0``.
    """

    def __init__(self, in_channels: int = 1, n_radscores: int = 2, hidden_units: int = 128,
                 endpoint: str = "survival", dropout: float = 0.2, init_features: int = 64,
                 growth_rate: int = 32, block_config=DENSENET121_BLOCKS, bn_size: int = 4):
        from monai.networks.nets import DenseNet

        super().__init__()
        if endpoint not in ("survival", "binary"):
            raise ValueError(f"DeepRadScore2D: endpoint {endpoint!r}; use 'survival' or 'binary'.")
        self.endpoint = endpoint
        self.n_radscores = int(n_radscores)
        densenet = DenseNet(spatial_dims=2, in_channels=in_channels, out_channels=1,
                            init_features=init_features, growth_rate=growth_rate,
                            block_config=tuple(block_config), bn_size=bn_size)
        self.backbone = densenet.features  # conv0 ... denseblock4, norm5
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.backbone_dim = int(densenet.class_layers.out.in_features)
        self.fc_penultimate = nn.Linear(self.backbone_dim + self.n_radscores, hidden_units)
        self.dropout = nn.Dropout(dropout)
        self.fc_out = nn.Linear(hidden_units, 1)
        for layer in (self.fc_penultimate, self.fc_out):  # Zhang et al.: Xavier-initialised FC layers
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.feature_dim = int(hidden_units)

    def _fused(self, x, radscores):
        pooled = torch.flatten(self.pool(self.relu(self.backbone(x))), 1)  # (B, 1024)
        if self.n_radscores == 0:
            return pooled
        if radscores is None:
            raise ValueError(f"DeepRadScore2D: radscores [B, {self.n_radscores}] are required "
                             "(GTV and ring RadScores of a radiomics signature).")
        radscores = torch.as_tensor(radscores, dtype=pooled.dtype, device=pooled.device).reshape(len(pooled), -1)
        if radscores.shape[1] != self.n_radscores:
            raise ValueError(f"DeepRadScore2D: got {radscores.shape[1]} RadScores per case; "
                             f"the model takes {self.n_radscores}.")
        return torch.cat([pooled, radscores], dim=1)

    def features(self, x: torch.Tensor, radscores=None) -> torch.Tensor:
        """Deep-feature vector ``[B, hidden_units]``: the penultimate FC layer's output (after ReLU)."""
        return self.relu(self.fc_penultimate(self._fused(x, radscores)))

    def forward(self, x: torch.Tensor, radscores=None) -> torch.Tensor:
        """Risk ``[B]`` in (-1, 1) (survival) or logit ``[B]`` (binary)."""
        out = self.fc_out(self.dropout(self.features(x, radscores))).squeeze(1)
        return torch.tanh(out) if self.endpoint == "survival" else out
