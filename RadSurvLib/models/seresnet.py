"""3D squeeze-and-excitation ResNet18 for survival (risk) prediction.

Source: Liu et al. 2025, "3D-SE-ResNet" (methods, Figure 2): a stem (3x3x3 convolution, stride 2,
batch norm, ReLU; 3x3x3 max pooling, stride 2), four stages of ResNet18 basic residual blocks
(filters 64, 128, 256, 512; stride 2 in the first block of stages 2-4), a squeeze-and-excitation
layer (reduction ratio 64) after every residual block, global average pooling (the 512-d "deep
feature" vector at full width), fully connected layers 512-512-256-128 with dropout 0.4 and a
one-unit tanh output, the risk score. Liu et al. use L2 regularisation lambda = 1e-4; RadSurv applies
it as ``weight_decay=1e-4`` of the optimiser (``RadSurvLib.training.train``), not in the model.

Differences from the paper, on purpose: the basic block is the standard post-activation ResNet
block (conv-BN-ReLU-conv-BN + identity/1x1 projection, ReLU) rather than the paper's mixed
pre-activation description; the widths are ``base_width * (1, 2, 4, 8)`` so that small demonstration
models can be trained on a CPU; the SE reduction ratio is clipped so that the bottleneck keeps at
least one unit (``C // r >= 1``). Liu et al.'s text describes "four sequential residual blocks"
(64, 128, 256, 512 filters), each of two convolutional units, while naming ResNet18 as the base;
RadSurv keeps ResNet18's two blocks per stage (``blocks_per_stage=(2, 2, 2, 2)``, an SE layer after
each of the 8 blocks); ``blocks_per_stage=(1, 1, 1, 1)`` gives the literal four-block reading.

Tensor shapes: input ``[B, 1, D, H, W]`` = ``[B, 1, z, y, x]``, 64^3 in RadSurv. Spatial sizes of the
stages at a 64^3 input: stem conv 32^3, after max pooling 16^3, ``layer1`` 16^3, ``layer2`` 8^3,
``layer3`` 4^3, ``layer4`` 2^3.
"""

from __future__ import annotations

import torch
from torch import nn

from .head import risk_head


def se_reduction(channels: int, r: int = 64) -> int:
    """SE reduction ratio for ``channels``: ``r`` (Liu et al.: 64), clipped so that ``channels // r >= 1``."""
    return max(1, min(int(r), int(channels)))


class BasicBlock3D(nn.Module):
    """ResNet basic residual block (two 3x3x3 convolutions) followed by a squeeze-and-excitation layer.

    Shapes: ``[B, C_in, D, H, W] -> [B, C_out, D/stride, H/stride, W/stride]``. The SE layer is MONAI's
    ``ChannelSELayer`` (Hu et al. 2018) with reduction ``se_reduction(C_out, se_ratio)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, se_ratio: int = 64):
        from monai.networks.blocks import ChannelSELayer

        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(out_channels)
        self.conv2 = nn.Conv3d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:  # projection so the skip matches shape
            self.shortcut = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm3d(out_channels))
        self.se = ChannelSELayer(spatial_dims=3, in_channels=out_channels,
                                 r=se_reduction(out_channels, se_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block then channel recalibration; shapes as in the class docstring."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.relu(out + self.shortcut(x))
        return self.se(out)


class SEResNet3D(nn.Module):
    """3D SE-ResNet18 risk model (Liu et al. 2025).

    Args:
        in_channels: input channels (1: the normalised CT crop).
        base_width: filters of stage 1; stages have ``base_width * (1, 2, 4, 8)`` (64 = the paper).
        blocks_per_stage: residual blocks per stage (ResNet18: ``(2, 2, 2, 2)``).
        head_units: hidden units of the fully connected head after global average pooling
            (paper: ``(512, 256, 128)``, i.e. 512-512-256-128 with the 512-d pooled features).
        dropout: dropout rate in the head (paper: 0.4).
        se_ratio: squeeze-and-excitation reduction ratio (paper: 64), clipped per layer.

    ``forward(x)``: ``x`` float ``[B, 1, z, y, x]`` -> risk ``[B]`` in (-1, 1) (tanh; higher = worse
    prognosis). ``features(x)``: ``[B, 8 * base_width]`` deep-feature vector from the pooling layer.
    ``radscores`` arguments are accepted and ignored (the common API of ``RadSurvLib.models.registry``;
    input kind, head and Grad-CAM layer: its ``SPECS["SEResNet3D"]``).
    """

    def __init__(self, in_channels: int = 1, base_width: int = 64,
                 blocks_per_stage=(2, 2, 2, 2), head_units=(512, 256, 128),
                 dropout: float = 0.4, se_ratio: int = 64):
        super().__init__()
        widths = [base_width * m for m in (1, 2, 4, 8)]
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, base_width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm3d(base_width), nn.ReLU(inplace=True),
            nn.MaxPool3d(3, stride=2, padding=1))
        channels = base_width
        for index, (width, n_blocks) in enumerate(zip(widths, blocks_per_stage)):
            stride = 1 if index == 0 else 2
            blocks = []
            for b in range(n_blocks):
                blocks.append(BasicBlock3D(channels, width, stride if b == 0 else 1, se_ratio))
                channels = width
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = channels
        self.head, self.out = risk_head(channels, head_units, dropout)

    def features(self, x: torch.Tensor, radscores=None) -> torch.Tensor:
        """Deep-feature vector ``[B, 8 * base_width]`` (global average pooling after ``layer4``)."""
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.pool(x), 1)

    def forward(self, x: torch.Tensor, radscores=None) -> torch.Tensor:
        """Risk score ``[B]`` in (-1, 1) for input ``[B, 1, z, y, x]``."""
        return torch.tanh(self.out(self.head(self.features(x)))).squeeze(1)

