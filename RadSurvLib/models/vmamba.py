"""Dual-input 3D Vision-Mamba survival model: CT crop + voxel radiomics maps as channels.

Source: Wang et al. 2026 (Front. Immunol., "Cross-dataset adaptation of voxel-level deep radiomics ...
treated with immunotherapy"): a Vision-Mamba network trained on the CT inside the tumour region with
voxel-level radiomics feature maps as a second ("dual") input, a survival (risk) output and Grad-CAM.
The paper summary gives no layer sizes; RadSurv follows Vision Mamba (Zhu et al. 2024, "Vim") and
Mamba (Gu & Dao 2023) and keeps every size configurable so that demonstration models train on a CPU:

1. patch embedding: a 3D convolution with kernel = stride = ``patch_size`` over the ``[1 + M]``
   channels (CT crop + M voxel maps), giving a ``g^3`` token grid (``g = image_size / patch_size``),
   plus a learned position embedding; tokens are read in raster order (z, y, x).
2. ``depth`` bidirectional Mamba blocks (Vim): pre-norm (LayerNorm), one input projection to the
   ``x`` and gate ``z`` branches (``expand`` x wider), and for each direction (forward, and backward on
   the reversed sequence) its own causal depthwise 1D convolution, SiLU, input-dependent
   ``delta``/``B``/``C`` projections and selective scan with its own ``A``/``D``; the two directions
   are averaged, projected back and added to the residual stream.
3. final LayerNorm, the token grid reshaped to ``[B, C, g, g, g]`` (``token_grid``: Grad-CAM's default
   layer), global average pooling (the ``embed_dim`` deep-feature vector), and a risk head
   (``head_units`` fully connected layers with ReLU and dropout, one tanh output unit).

The selective scan ``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``, ``y_t = C_t h_t + D u_t``,
``y_t *= silu(z_t)`` (Gu & Dao 2023, Algorithm 2) runs either with ``mambapy``'s pure-PyTorch parallel
(Blelloch) scan (``mambapy.pscan.pscan``, MIT licence; any device) or with the fused CUDA kernel of
``mamba-ssm`` (``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``) when that package is
installed and the tensors are on a CUDA GPU. Both compute the same function (``selective_scan``
has exactly the signature and semantics of ``selective_scan_fn``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .head import risk_head
from torch.nn import functional as F

#: Scan back ends: "auto" (CUDA kernel when possible, else the pure-torch scan), "torch", "cuda".
SCAN_BACKENDS = ("auto", "torch", "cuda")


def cuda_scan_available() -> bool:
    """True when ``mamba_ssm``'s CUDA selective-scan kernel can be imported and a CUDA GPU is visible."""
    if not torch.cuda.is_available():
        return False
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401
    except Exception:  # ImportError, or a broken build (undefined symbol, CUDA mismatch)
        return False
    return True


def selective_scan_torch(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Selective scan in pure PyTorch with ``mambapy``'s parallel scan (differentiable; any device).

    Same signature and result as ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` (and its
    ``selective_scan_ref``), for time-varying ``B``/``C`` without groups.

    Args:
        u: input ``[batch, dim, L]``.
        delta: step sizes ``[batch, dim, L]`` (before ``delta_bias`` / softplus).
        A: state matrix (diagonal) ``[dim, N]``, negative real.
        B, C: input / output projections ``[batch, N, L]``.
        D: skip ``[dim]`` or None.
        z: gate ``[batch, dim, L]`` or None (output multiplied by ``silu(z)``).
        delta_bias: ``[dim]`` or None, added to ``delta``.
        delta_softplus: apply softplus to ``delta`` (after the bias).

    Returns:
        ``[batch, dim, L]`` in ``u``'s dtype (computed in float32 or wider).
    """
    from mambapy.pscan import pscan

    dtype = u.dtype
    work = torch.promote_types(dtype, torch.float32)
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    # mambapy's pscan layout: (batch, L, dim, N).
    delta_t = delta.transpose(1, 2)  # (b, L, d)
    deltaA = torch.exp(delta_t.unsqueeze(-1) * A)  # (b, L, d, N)
    deltaBu = (delta_t * u.transpose(1, 2)).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(2)  # (b, L, d, N)
    hs = pscan(deltaA, deltaBu)  # h_t = deltaA_t * h_{t-1} + deltaBu_t, h_0 = 0
    y = (hs @ C.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2)  # (b, d, L)
    if D is not None:
        y = y + u * D.to(work)[None, :, None]
    if z is not None:
        y = y * F.silu(z.to(work))
    return y.to(dtype)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   backend: str = "auto"):
    """Selective scan with the chosen back end (see ``selective_scan_torch`` for shapes).

    ``backend``: ``"torch"`` (mambapy parallel scan), ``"cuda"`` (``mamba_ssm`` kernel; tensors must be
    on a CUDA device) or ``"auto"`` (``"cuda"`` when ``u`` is on a GPU and ``mamba_ssm`` imports,
    else ``"torch"``).

    Raises:
        ValueError: unknown back end; RuntimeError: ``"cuda"`` requested without kernel / GPU tensors.
    """
    if backend not in SCAN_BACKENDS:
        raise ValueError(f"scan backend {backend!r}: use one of {', '.join(SCAN_BACKENDS)}.")
    use_cuda = backend == "cuda" or (backend == "auto" and u.is_cuda and cuda_scan_available())
    if not use_cuda:
        return selective_scan_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if not (u.is_cuda and cuda_scan_available()):
        raise RuntimeError("scan backend 'cuda' needs the mamba-ssm package and tensors on a CUDA GPU; "
                           "use backend 'torch' or 'auto'.")
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    args = [t.contiguous().float() for t in (u, delta, A, B, C)]
    return selective_scan_fn(*args, D=None if D is None else D.float(),
                             z=None if z is None else z.contiguous().float(),
                             delta_bias=None if delta_bias is None else delta_bias.float(),
                             delta_softplus=delta_softplus).to(u.dtype)


class _ScanDirection(nn.Module):
    """Per-direction Mamba parameters: causal depthwise conv, x/dt projections, A (log), D."""

    def __init__(self, d_inner: int, d_state: int, dt_rank: int, d_conv: int,
                 dt_min: float = 1e-3, dt_max: float = 0.1):
        super().__init__()
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        # Mamba initialisation: dt log-uniform in [dt_min, dt_max] through the inverse softplus bias,
        # S4D-real A = -(1..N) per channel, D = 1.
        nn.init.uniform_(self.dt_proj.weight, -dt_rank ** -0.5, dt_rank ** -0.5)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.dt_rank, self.d_state = dt_rank, d_state

    def forward(self, x, z, backend: str):
        """``x``, ``z``: ``[B, d_inner, L]`` -> ``[B, d_inner, L]`` (scan output gated by ``silu(z)``)."""
        length = x.shape[-1]
        x = F.silu(self.conv1d(x)[..., :length])  # causal: keep the first L outputs
        dbc = self.x_proj(x.transpose(1, 2))  # (B, L, dt_rank + 2N)
        dt, B, C = torch.split(dbc, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)  # (B, d_inner, L), bias added in the scan
        A = -torch.exp(self.A_log.float())
        return selective_scan(x, delta, A, B.transpose(1, 2), C.transpose(1, 2), self.D.float(), z,
                              delta_bias=self.dt_proj.bias.float(), delta_softplus=True, backend=backend)


class BiMambaBlock(nn.Module):
    """Bidirectional Mamba residual block (Vim, Zhu et al. 2024): ``x + out_proj(mean(fwd, bwd))``.

    Shapes: ``[B, L, embed_dim] -> [B, L, embed_dim]``.
    """

    def __init__(self, embed_dim: int, d_state: int = 16, expand: int = 2, d_conv: int = 4,
                 dt_rank=None, backend: str = "auto"):
        super().__init__()
        d_inner = expand * embed_dim
        dt_rank = int(dt_rank or math.ceil(embed_dim / 16))
        self.norm = nn.LayerNorm(embed_dim)
        self.in_proj = nn.Linear(embed_dim, 2 * d_inner, bias=False)
        self.forward_scan = _ScanDirection(d_inner, d_state, dt_rank, d_conv)
        self.backward_scan = _ScanDirection(d_inner, d_state, dt_rank, d_conv)
        self.out_proj = nn.Linear(d_inner, embed_dim, bias=False)
        self.backend = backend

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, L, C]`` -> ``[B, L, C]``."""
        x, z = self.in_proj(self.norm(tokens)).transpose(1, 2).chunk(2, dim=1)  # (B, d_inner, L) each
        y_fwd = self.forward_scan(x, z, self.backend)
        y_bwd = self.backward_scan(x.flip(-1), z.flip(-1), self.backend).flip(-1)
        return tokens + self.out_proj(((y_fwd + y_bwd) / 2).transpose(1, 2))


class TokenGrid(nn.Module):
    """Reshape tokens ``[B, g^3, C]`` (raster order z, y, x) to a feature volume ``[B, C, g, g, g]``.

    An identity in value: it exists so that Grad-CAM can hook the token grid as a 3D layer.
    """

    def __init__(self, grid: int):
        super().__init__()
        self.grid = int(grid)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, g^3, C] -> [B, C, g, g, g]``."""
        b, _, c = tokens.shape
        return tokens.transpose(1, 2).reshape(b, c, self.grid, self.grid, self.grid)


class VisionMamba3D(nn.Module):
    """Dual-input 3D Vision-Mamba risk model (Wang et al. 2026; architecture after Vim).

    Args:
        in_channels: 1 + number of voxel maps (channel 0 = the normalised CT crop).
        image_size: voxels per axis of the input cube (the bundle's ``crop_size``).
        patch_size: voxels per axis of a patch; ``image_size`` must be a multiple of it.
        embed_dim: token width C (= the deep-feature vector length).
        depth: number of bidirectional Mamba blocks.
        d_state: SSM state size N; expand: inner width factor; d_conv: causal conv width.
        head_units: hidden units of the risk head; dropout: its dropout rate.
        endpoint: ``"survival"`` (tanh risk) or ``"binary"`` (logit).
        scan_backend: ``"auto"``, ``"torch"`` or ``"cuda"`` (see ``selective_scan``).

    ``forward(x)``: ``x`` float ``[B, in_channels, z, y, x]`` -> ``[B]`` (risk in (-1, 1), or logit).
    ``features(x)``: ``[B, embed_dim]`` (global average of the final token grid).

    Raises:
        ValueError: ``image_size`` not a multiple of ``patch_size``, bad endpoint or scan back end.
    """

    def __init__(self, in_channels: int = 4, image_size: int = 32, patch_size: int = 4,
                 embed_dim: int = 32, depth: int = 2, d_state: int = 8, expand: int = 2, d_conv: int = 4,
                 head_units=(32,), dropout: float = 0.2, endpoint: str = "survival",
                 scan_backend: str = "auto"):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"VisionMamba3D: image_size {image_size} is not a multiple of patch_size {patch_size}.")
        if endpoint not in ("survival", "binary"):
            raise ValueError(f"VisionMamba3D: endpoint {endpoint!r}; use 'survival' or 'binary'.")
        if scan_backend not in SCAN_BACKENDS:
            raise ValueError(f"VisionMamba3D: scan_backend {scan_backend!r}; use one of {SCAN_BACKENDS}.")
        self.in_channels, self.image_size, self.patch_size = int(in_channels), int(image_size), int(patch_size)
        self.grid = image_size // patch_size
        self.endpoint = endpoint
        self.patch_embed = nn.Conv3d(in_channels, embed_dim, patch_size, stride=patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid ** 3, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(BiMambaBlock(embed_dim, d_state, expand, d_conv, backend=scan_backend)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        self.token_grid = TokenGrid(self.grid)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = embed_dim
        self.head, self.out = risk_head(embed_dim, head_units, dropout)

    @property
    def scan_backend(self) -> str:
        """The scan back end of every block (settable: ``model.scan_backend = "torch"``)."""
        return self.blocks[0].backend if len(self.blocks) else "torch"

    @scan_backend.setter
    def scan_backend(self, value: str) -> None:
        if value not in SCAN_BACKENDS:
            raise ValueError(f"scan_backend {value!r}; use one of {SCAN_BACKENDS}.")
        for block in self.blocks:
            block.backend = value

    def _check(self, x):
        expected = (self.in_channels,) + (self.image_size,) * 3
        if x.ndim != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"VisionMamba3D: input shape {tuple(x.shape)}; expected [B, {self.in_channels}, "
                             f"{self.image_size}, {self.image_size}, {self.image_size}] (CT + voxel maps).")

    def features(self, x: torch.Tensor, radscores=None) -> torch.Tensor:
        """Deep-feature vector ``[B, embed_dim]``; ``radscores`` is ignored (kept for the common API)."""
        self._check(x)
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed  # (B, g^3, C), raster z,y,x
        for block in self.blocks:
            tokens = block(tokens)
        return torch.flatten(self.pool(self.token_grid(self.norm(tokens))), 1)

    def forward(self, x: torch.Tensor, radscores=None) -> torch.Tensor:
        """Risk ``[B]`` (tanh, survival) or logit ``[B]`` (binary endpoint)."""
        out = self.out(self.head(self.features(x))).squeeze(1)
        return torch.tanh(out) if self.endpoint == "survival" else out
