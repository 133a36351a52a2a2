"""Data augmentation of Liu et al. 2025, Table 1 ("Technical details of 3D data augmentation"), in torch.

=====================================  =================================  ===========
Transform                              Parameter (drawn uniformly)        Probability
=====================================  =================================  ===========
contrast adjustment                    multiplier 1.0-1.75                15 %
brightness multiplicative adjustment   scaling factor 0.7-1.5             15 %
gamma correction                       gamma 0.5-2.0                      15 %
Gaussian noise                         variance 0-0.05                    15 %
Gaussian blur                          sigma 0.5-1.5 (voxels)             15 %
3D mirroring                           flip along x / y / z               30 %
3D spatial rotation                    0-360 degrees about the z axis     30 %
=====================================  =================================  ===========

Implementation choices (the paper gives only the table): each transform is decided independently per
case; intensity transforms act on the intensity channels only (default channel 0, the normalised CT;
voxel-map channels of the Vision-Mamba input are moved only by the spatial transforms); contrast
scales deviations from the channel mean (mean kept); brightness multiplies the values; gamma acts on
the values min-max scaled to [0, 1] and scaled back (minimum and maximum kept); mirroring flips each
spatial axis with probability 1/2 (at least one); rotation turns the (y, x) plane about the crop
centre with bilinear interpolation, values outside the input taken from the nearest border voxel.

Besides Table 1, ``rotate_z90`` turns the (y, x) plane by k * 90 degrees (k uniform in 0-3, exact: no
interpolation), and the ``"flip-rot90"`` preset (mirroring of each axis with probability 1/2, then a
k * 90 degree turn) is the augmentation of the demonstration bundle: it leaves the intensity texture,
which carries the synthetic hazard, untouched.
Inputs are per case ``[C, z, y, x]`` (3D) or ``[C, y, x]`` (2D), batches ``[B, C, ...]``; the (y, x)
plane must be square for the rotation to be exact.
"""

from __future__ import annotations

import math

#: name -> (parameter range, probability), Liu et al. 2025 Table 1.
LIU_TABLE1 = {
    "contrast": ((1.0, 1.75), 0.15),
    "brightness": ((0.7, 1.5), 0.15),
    "gamma": ((0.5, 2.0), 0.15),
    "noise": ((0.0, 0.05), 0.15),
    "blur": ((0.5, 1.5), 0.15),
    "mirror": (None, 0.30),
    "rotate_z": ((0.0, 360.0), 0.30),
}
#: Transforms beyond Table 1: name -> (parameter range, default probability).
EXTRA_TRANSFORMS = {"rotate_z90": ((0, 3), 1.0)}
TRANSFORMS = {**LIU_TABLE1, **EXTRA_TRANSFORMS}
SPATIAL = ("mirror", "rotate_z")
#: Named augmentations (``TrainSettings.augment``): preset -> {transform: probability}. "flip-rot90":
#: mirroring is applied with probability 7/8 and then flips a non-empty set of axes uniformly, which is
#: exactly "flip each axis independently with probability 1/2".
PRESETS = {
    "liu": {name: p for name, (_, p) in LIU_TABLE1.items()},
    "spatial": {name: LIU_TABLE1[name][1] for name in SPATIAL},
    "flip-rot90": {"mirror": 7.0 / 8.0, "rotate_z90": 1.0},
    "none": {},
}


def augmenter_for(preset: str) -> "Augmenter":
    """The ``Augmenter`` of a named preset (a key of ``PRESETS``).

    Raises:
        ValueError: unknown preset.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; known: {', '.join(PRESETS)}")
    return Augmenter(tuple(PRESETS[preset]), probabilities=PRESETS[preset])


def contrast(x, multiplier: float):
    """Scale deviations from the mean: ``(x - mean) * multiplier + mean`` (tensor of any shape)."""
    mean = x.mean()
    return (x - mean) * multiplier + mean


def brightness(x, factor: float):
    """Multiplicative brightness: ``x * factor``."""
    return x * factor


def gamma(x, value: float):
    """Gamma correction on the min-max range: ``lo + (hi - lo) * ((x - lo) / (hi - lo)) ** value``.

    Keeps the minimum and maximum; a constant tensor is returned unchanged."""
    lo, hi = x.min(), x.max()
    span = hi - lo
    if float(span) <= 0:
        return x.clone()
    return lo + span * ((x - lo) / span).clamp(0.0, 1.0) ** value


def noise(x, variance: float, generator=None):
    """Add zero-mean Gaussian noise of the given variance (in the units of ``x`` squared)."""
    import torch

    return x + math.sqrt(max(variance, 0.0)) * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def gaussian_kernel1d(sigma: float):
    """Normalised 1D Gaussian kernel, radius ``ceil(3 sigma)`` voxels (float32 tensor)."""
    import torch

    radius = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def blur(x, sigma: float):
    """Separable Gaussian blur of one channel ``[*spatial]`` (2 or 3 axes) with ``sigma`` voxels; borders
    replicated (so a constant image stays constant and the mean is nearly kept)."""
    import torch.nn.functional as F

    kernel = gaussian_kernel1d(sigma).to(x.dtype)
    r = (len(kernel) - 1) // 2
    out = x[None, None]
    dims = x.dim()
    for axis in range(dims):
        shape = [1, 1] + [1] * dims
        shape[2 + axis] = len(kernel)
        pad = [0, 0] * dims
        pad[2 * (dims - 1 - axis)] = r
        pad[2 * (dims - 1 - axis) + 1] = r
        conv = F.conv3d if dims == 3 else F.conv2d
        out = conv(F.pad(out, pad, mode="replicate"), kernel.reshape(shape))
    return out[0, 0]


def mirror(x, axes):
    """Flip ``x`` (``[C, *spatial]``) along the given spatial axes (0 = first spatial axis)."""
    import torch

    return torch.flip(x, [1 + a for a in axes]) if axes else x


def rotate_z(x, degrees: float):
    """Rotate ``[C, z, y, x]`` or ``[C, y, x]`` by ``degrees`` in the (y, x) plane about the centre
    (bilinear; border values extended)."""
    import torch
    import torch.nn.functional as F

    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    if x.dim() == 4:
        theta = torch.tensor([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0]], dtype=x.dtype)[None]
    else:
        theta = torch.tensor([[c, -s, 0], [s, c, 0]], dtype=x.dtype)[None]
    grid = F.affine_grid(theta, [1, *x.shape], align_corners=False)
    return F.grid_sample(x[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def rotate_z90(x, k: int):
    """Rotate ``[C, z, y, x]`` or ``[C, y, x]`` by ``k`` * 90 degrees in the (y, x) plane (exact)."""
    import torch

    return torch.rot90(x, int(k), dims=(-2, -1))


class Augmenter:
    """Random augmentation per case with Liu et al.'s Table 1 parameters and probabilities.

    Args:
        transforms: names to use (default all of ``LIU_TABLE1``; any of ``TRANSFORMS``; see ``PRESETS``).
        intensity_channels: channels the intensity transforms act on (default ``(0,)``).
        probabilities: optional overrides name -> probability.

    ``__call__(batch, generator)``: ``batch`` float ``[B, C, *spatial]`` (CPU) -> augmented copy, same
    shape; all randomness comes from ``generator`` (a ``torch.Generator``), so runs are reproducible.
    ``last_applied`` holds, per case of the last call, the list of ``(name, parameter)`` applied.

    Raises:
        ValueError: unknown transform name.
    """

    def __init__(self, transforms=None, intensity_channels=(0,), probabilities=None):
        names = tuple(LIU_TABLE1) if transforms is None else tuple(transforms)
        unknown = [n for n in names if n not in TRANSFORMS]
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; known: {', '.join(TRANSFORMS)}")
        self.transforms = names
        self.intensity_channels = tuple(intensity_channels)
        self.probabilities = {n: TRANSFORMS[n][1] for n in names}
        self.probabilities.update(probabilities or {})
        self.last_applied = []

    def _uniform(self, low, high, generator) -> float:
        import torch

        return float(low + (high - low) * torch.rand(1, generator=generator).item())

    def augment_case(self, x, generator):
        """Augment one case ``[C, *spatial]``; returns ``(augmented, applied list)``."""
        import torch

        x = x.clone()
        applied = []
        for name in self.transforms:
            if torch.rand(1, generator=generator).item() >= self.probabilities[name]:
                continue
            bounds = TRANSFORMS[name][0]
            if name == "mirror":
                n_axes = x.dim() - 1
                axes = []
                while not axes:
                    axes = [a for a in range(n_axes) if torch.rand(1, generator=generator).item() < 0.5]
                x = mirror(x, axes)
                applied.append((name, tuple(axes)))
                continue
            if name == "rotate_z90":
                k = int(torch.randint(bounds[0], bounds[1] + 1, (1,), generator=generator).item())
                x = rotate_z90(x, k)
                applied.append((name, k))
                continue
            value = self._uniform(*bounds, generator)
            if name == "rotate_z":
                x = rotate_z(x, value)
            else:
                for ch in self.intensity_channels:
                    if name == "contrast":
                        x[ch] = contrast(x[ch], value)
                    elif name == "brightness":
                        x[ch] = brightness(x[ch], value)
                    elif name == "gamma":
                        x[ch] = gamma(x[ch], value)
                    elif name == "noise":
                        x[ch] = noise(x[ch], value, generator)
                    elif name == "blur":
                        x[ch] = blur(x[ch], value)
            applied.append((name, value))
        return x, applied

    def __call__(self, batch, generator):
        import torch

        if not self.transforms:
            self.last_applied = [[] for _ in batch]
            return batch
        out, self.last_applied = [], []
        for case in batch:
            augmented, applied = self.augment_case(case, generator)
            out.append(augmented)
            self.last_applied.append(applied)
        return torch.stack(out)
