"""The Laplacian of Gaussian image type, compiled: the recursive (IIR) Gaussian filters of Deriche,
run as SimpleITK's ``LaplacianRecursiveGaussian`` runs them, so the values are the same to the bit.

PyRadiomics' ``LoG`` image type is SimpleITK's ``LaplacianRecursiveGaussianImageFilter`` with
``normalizeAcrossScale`` on each ROI's own crop (``preCrop``), which makes it the largest cost of
the Liu et al. 2025 setting (4 ROIs x 5 sigmas). This module computes the same filter with
cache-friendly compiled loops (one pass filters a block of lines at once).

Definitions:

* One-dimensional pass (Deriche 1993, "Recursively implementing the Gaussian and its derivatives",
  INRIA RR-1893): a 4th-order causal recursion and a 4th-order anti-causal one, summed,
  ``y+[i] = sum_k N_k x[i-k] - sum_k D_k y+[i-k]`` (k = 0..3 / 1..4) and
  ``y-[i] = sum_k M_k x[i+k] - sum_k D_k y-[i+k]`` (k = 1..4); the line is taken as extended by
  its edge value beyond both ends (the boundary coefficients BN, BM); Deriche's fitted constants
  (a, b, omega, lambda for the Gaussian and its second derivative) and the normalisation of
  Farnebaeck & Westin (2006, "Improving Deriche-style recursive Gaussian filters") that makes the
  zero-order response sum to 1 and the second-order one have unit second moment; sigma in mm,
  divided by the axis' spacing; ``normalizeAcrossScale`` multiplies the second derivative by
  sigma^2.
* The Laplacian: for each axis d (x, then y, then z), the second-derivative pass along d, then the
  zero-order passes along the other two axes in increasing order, each pass written as a float32
  image; the float32 sum of the three terms, each divided by spacing_d^2 in float64.

The order of the passes, the float32 images between them and the operation order inside a pass are
those of the SimpleITK build RadSurv pins: the values then equal SimpleITK's bit for bit (tested on
PAT1's crops, sigma 1-5 mm, normalised or not, on an anisotropic grid, and for float32, float64 and
int16 images: every pass reads a voxel as float64 and writes a float32 image, as SimpleITK's).
"""

from __future__ import annotations

import math

import numpy as np

from .numba_jit import jit

#: Deriche's constants (a1, b1, a2, b2 per derivative order 0, 1, 2; omega1, lambda1, omega2, lambda2).
_A1, _B1 = (1.3530, -0.6724, -1.3563), (1.8151, -3.4327, 5.2318)
_A2, _B2 = (-0.3531, 0.6724, 0.3446), (0.0902, 0.6100, -2.2355)
_W1, _L1, _W2, _L2 = 0.6681, -1.3932, 2.0787, -1.3732

#: Lines filtered together by one pass (a block stays in cache; the recursion runs across it).
_BLOCK = 64


def coefficients(sigma_mm: float, spacing_mm: float, order: int, normalize_across_scale: bool = True):
    """The 20 coefficients of one pass: N0..N3, D1..D4, M1..M4, BN1..BN4, BM1..BM4 (float64 (20,)).

    Args:
        sigma_mm: the Gaussian's sigma (mm); spacing_mm: the voxel spacing along the pass (mm, > 0).
        order: 0 (Gaussian) or 2 (its second derivative).
        normalize_across_scale: the second derivative multiplied by sigma^2 (PyRadiomics: on).

    Raises:
        ValueError: another order (a programming error).
    """
    sigma_d = sigma_mm / spacing_mm
    cos1, cos2 = math.cos(_W1 / sigma_d), math.cos(_W2 / sigma_d)
    exp1, exp2 = math.exp(_L1 / sigma_d), math.exp(_L2 / sigma_d)
    d4 = exp1 * exp1 * exp2 * exp2
    d3 = -2 * cos1 * exp1 * exp2 * exp2
    d3 += -2 * cos2 * exp2 * exp1 * exp1
    d2 = 4 * cos2 * cos1 * exp1 * exp2
    d2 += exp1 * exp1 + exp2 * exp2
    d1 = -2 * (exp2 * cos2 + exp1 * cos1)
    sd = 1.0 + d1 + d2 + d3 + d4
    dd = d1 + 2 * d2 + 3 * d3 + 4 * d4
    ed = d1 + 4 * d2 + 9 * d3 + 16 * d4
    if order == 0:
        n, sn, _, _ = _numerator(sigma_d, 0)
        alpha = 2 * sn / sd - n[0]
        n = [v * (1.0 / alpha) for v in n]
    elif order == 2:
        n0, sn0, dn0, en0 = _numerator(sigma_d, 0)
        n2, sn2, dn2, en2 = _numerator(sigma_d, 2)
        beta = -(2 * sn2 - sd * n2[0]) / (2 * sn0 - sd * n0[0])
        n = [n2[k] + beta * n0[k] for k in range(4)]
        sn, dn, en = sn2 + beta * sn0, dn2 + beta * dn0, en2 + beta * en0
        alpha = (en * sd * sd - ed * sn * sd - 2 * dn * dd * sd + 2 * dd * dd * sn) / (sd * sd * sd)
        scale = sigma_mm * sigma_mm if normalize_across_scale else 1.0
        n = [v * (scale / alpha) for v in n]
    else:
        raise ValueError(f"order must be 0 or 2, not {order!r}")
    m = [n[1] - d1 * n[0], n[2] - d2 * n[0], n[3] - d3 * n[0], -d4 * n[0]]  # symmetric kernels
    sn, sm = n[0] + n[1] + n[2] + n[3], m[0] + m[1] + m[2] + m[3]
    sd = 1.0 + d1 + d2 + d3 + d4
    d = [d1, d2, d3, d4]
    return np.array([*n, *d, *m, *(v * sn / sd for v in d), *(v * sm / sd for v in d)], dtype=np.float64)


def _numerator(sigma_d: float, order: int):
    """(N0..N3, their sum, first and second moments) of Deriche's causal numerator for ``order``."""
    a1, b1, a2, b2 = _A1[order], _B1[order], _A2[order], _B2[order]
    sin1, sin2 = math.sin(_W1 / sigma_d), math.sin(_W2 / sigma_d)
    cos1, cos2 = math.cos(_W1 / sigma_d), math.cos(_W2 / sigma_d)
    exp1, exp2 = math.exp(_L1 / sigma_d), math.exp(_L2 / sigma_d)
    n0 = a1 + a2
    n1 = exp2 * (b2 * sin2 - (a2 + 2 * a1) * cos2)
    n1 += exp1 * (b1 * sin1 - (a1 + 2 * a2) * cos1)
    n2 = (a1 + a2) * cos2 * cos1
    n2 -= b1 * cos2 * sin1 + b2 * cos1 * sin2
    n2 *= 2 * exp1 * exp2
    n2 += a2 * exp1 * exp1 + a1 * exp2 * exp2
    n3 = exp2 * exp1 * exp1 * (b2 * sin2 - a2 * cos2)
    n3 += exp1 * exp2 * exp2 * (b1 * sin1 - a1 * cos1)
    return [n0, n1, n2, n3], n0 + n1 + n2 + n3, n1 + 2 * n2 + 3 * n3, n1 + 4 * n2 + 9 * n3


@jit
def _recursion(d, o, s, width, c):
    """The causal (``o``) and anti-causal (``s``) recursions of lines d[:, k], k < width: (n, W) float64."""
    n0, n1, n2, n3, d1, d2, d3, d4 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    m1, m2, m3, m4 = c[8], c[9], c[10], c[11]
    bn1, bn2, bn3, bn4, bm1, bm2, bm3, bm4 = c[12], c[13], c[14], c[15], c[16], c[17], c[18], c[19]
    ln = d.shape[0]
    for k in range(width):  # the edge value continued beyond the first voxel
        v = d[0, k]
        o[0, k] = v * n0 + v * n1 + v * n2 + v * n3
        o[1, k] = d[1, k] * n0 + v * n1 + v * n2 + v * n3
        o[2, k] = d[2, k] * n0 + d[1, k] * n1 + v * n2 + v * n3
        o[3, k] = d[3, k] * n0 + d[2, k] * n1 + d[1, k] * n2 + v * n3
        o[0, k] -= v * bn1 + v * bn2 + v * bn3 + v * bn4
        o[1, k] -= o[0, k] * d1 + v * bn2 + v * bn3 + v * bn4
        o[2, k] -= o[1, k] * d1 + o[0, k] * d2 + v * bn3 + v * bn4
        o[3, k] -= o[2, k] * d1 + o[1, k] * d2 + o[0, k] * d3 + v * bn4
    for i in range(4, ln):
        for k in range(width):
            t = d[i, k] * n0 + d[i - 1, k] * n1 + d[i - 2, k] * n2 + d[i - 3, k] * n3
            o[i, k] = t - (o[i - 1, k] * d1 + o[i - 2, k] * d2 + o[i - 3, k] * d3 + o[i - 4, k] * d4)
    for k in range(width):  # ... and beyond the last
        w = d[ln - 1, k]
        s[ln - 1, k] = w * m1 + w * m2 + w * m3 + w * m4
        s[ln - 2, k] = d[ln - 1, k] * m1 + w * m2 + w * m3 + w * m4
        s[ln - 3, k] = d[ln - 2, k] * m1 + d[ln - 1, k] * m2 + w * m3 + w * m4
        s[ln - 4, k] = d[ln - 3, k] * m1 + d[ln - 2, k] * m2 + d[ln - 1, k] * m3 + w * m4
        s[ln - 1, k] -= w * bm1 + w * bm2 + w * bm3 + w * bm4
        s[ln - 2, k] -= s[ln - 1, k] * d1 + w * bm2 + w * bm3 + w * bm4
        s[ln - 3, k] -= s[ln - 2, k] * d1 + s[ln - 1, k] * d2 + w * bm3 + w * bm4
        s[ln - 4, k] -= s[ln - 3, k] * d1 + s[ln - 2, k] * d2 + s[ln - 1, k] * d3 + w * bm4
    for i in range(ln - 4, 0, -1):
        for k in range(width):
            t = d[i, k] * m1 + d[i + 1, k] * m2 + d[i + 2, k] * m3 + d[i + 3, k] * m4
            s[i - 1, k] = t - (s[i, k] * d1 + s[i + 1, k] * d2 + s[i + 2, k] * d3 + s[i + 3, k] * d4)


@jit
def _pass_middle(x, c, out, block):
    """One pass along axis 1 of x (A, n, B) float32 into ``out`` (float32), ``block`` columns at a time."""
    outer, ln, inner = x.shape
    d, o, s = np.empty((ln, block)), np.empty((ln, block)), np.empty((ln, block))
    for a in range(outer):
        for b0 in range(0, inner, block):
            width = min(block, inner - b0)
            for i in range(ln):
                for k in range(width):
                    d[i, k] = x[a, i, b0 + k]
            _recursion(d, o, s, width, c)
            for i in range(ln):
                for k in range(width):
                    out[a, i, b0 + k] = np.float32(o[i, k] + s[i, k])


@jit
def _pass_rows(x, c, out, block):
    """One pass along axis 1 of x (L, n) float32 (its contiguous axis), ``block`` lines at a time."""
    lines, ln = x.shape
    d, o, s = np.empty((ln, block)), np.empty((ln, block)), np.empty((ln, block))
    for l0 in range(0, lines, block):
        width = min(block, lines - l0)
        for k in range(width):
            for i in range(ln):
                d[i, k] = x[l0 + k, i]
        _recursion(d, o, s, width, c)
        for k in range(width):
            for i in range(ln):
                out[l0 + k, i] = np.float32(o[i, k] + s[i, k])


@jit
def _accumulate(total, term, scale):
    """total = float32(total + term * scale), in float64 (the Laplacian's sum of its three terms)."""
    flat_total, flat_term = total.ravel(), term.ravel()
    for i in range(flat_total.size):
        flat_total[i] = np.float32(np.float64(flat_total[i]) + np.float64(flat_term[i]) * scale)


def _pass(x, axis: int, c, out) -> None:
    """One recursive pass of C-contiguous float32 ``x`` (z, y, x) along ``axis`` into ``out``."""
    nz, ny, nx = x.shape
    if axis == 2:
        _pass_rows(x.reshape(nz * ny, nx), c, out.reshape(nz * ny, nx), _BLOCK)
    elif axis == 1:
        _pass_middle(x, c, out, _BLOCK)
    else:
        _pass_middle(x.reshape(1, nz, ny * nx), c, out.reshape(1, nz, ny * nx), _BLOCK)


def laplacian_of_gaussian(values, spacing_zyx, sigma_mm: float):
    """SimpleITK's ``LaplacianRecursiveGaussian(image, sigma, normalizeAcrossScale=True)`` of an
    image, computed here (module docstring).

    Args:
        values: real array (z, y, x) (float32, float64 or integer: HU, or normalised values), each
            axis at least 4 voxels long; spacing_zyx: voxel spacing (mm) in the same axis order;
            sigma_mm: sigma (mm, > 0).

    Returns:
        float32 array (z, y, x) (SimpleITK's LoG is float32 whatever the input type).

    Raises:
        ValueError: values not a 3D real array, an axis under 4 voxels, sigma or a spacing not > 0.

    Source: PyRadiomics ``imageoperations.getLoGImage``; IBSI 2 "Laplacian of Gaussian" filter.
    """
    values = np.asarray(values)
    if values.ndim != 3 or min(values.shape) < 4 or not (values.dtype.kind in "iuf" and values.itemsize <= 8):
        raise ValueError(f"a 3D real array with every axis >= 4 voxels is needed, not {values.dtype} {values.shape}")
    # The passes read each voxel as float64, as ITK does: float32 is read as it is, any other type exactly.
    values = np.ascontiguousarray(values, dtype=values.dtype if values.dtype == np.float32 else np.float64)
    if not sigma_mm > 0 or min(spacing_zyx) <= 0:
        raise ValueError(f"sigma ({sigma_mm}) and spacing ({spacing_zyx}) must be > 0")
    total = np.zeros(values.shape, np.float32)
    first, second = np.empty(values.shape, np.float32), np.empty(values.shape, np.float32)
    for axis in (2, 1, 0):  # x, y, z: the derivative axis of each term
        _pass(values, axis, coefficients(sigma_mm, spacing_zyx[axis], 2), first)
        source, target = first, second
        for other in (2, 1, 0):
            if other != axis:
                _pass(source, other, coefficients(sigma_mm, spacing_zyx[other], 0), target)
                source, target = target, source
        _accumulate(total, source, 1.0 / float(spacing_zyx[axis]) ** 2)
    return total
