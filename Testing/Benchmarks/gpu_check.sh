#!/usr/bin/env bash
# Every CUDA path of RadSurv against its CPU result, with timings (issue 12 item 5).
#
#   Testing/Benchmarks/gpu_check.sh            # on a GPU machine: < 8 minutes
#   Testing/Benchmarks/gpu_check.sh --cpu-only # anywhere: the CPU halves only, small sizes (seconds)
#
# Checks (one line each: check=<name> cpu_s=<s> cuda_s=<s> max_rel_err=<e> tol=<t> status=ok|FAIL|skipped|cpu-only):
#   voxelmaps_r1 / voxelmaps_r2  all six families (92 maps) on a PAT1 GTV slab, float64, CPU vs CUDA
#   model_<name>                 each registered architecture (small configuration, eval mode): risk
#                                forward and the input + weight gradients of its sum, float32, TF32 off
#   mamba_ssm_scan               mamba-ssm's selective_scan_fn vs RadSurv's torch scan (when installed)
#   roi_engine                   RadSurv's ROI engine on CUDA vs CPU (when it has a device argument)
# Error: relative, with the parity floor (|a - b| <= 1e-9 counts as 0 for float64, 1e-6 for float32).
# Without CUDA (and without --cpu-only) every check is skipped and the script exits 0.
# Exit status: 1 if a check failed, else 0. Last line: gpu_check: <n> ok, <m> failed, <k> skipped
# (with --cpu-only also ", <c> cpu-only": checks whose CPU half ran).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
MODE="${1:-gpu}"
exec timeout 480 "$PY" - "$MODE" "$REPO" <<'EOF'
import inspect
import os
import sys
import time

mode, repo = sys.argv[1], sys.argv[2]
sys.path.insert(0, repo)
import numpy as np
import torch

cpu_only = mode == "--cpu-only"
has_cuda = torch.cuda.is_available()
print(f"gpu_check: torch {torch.__version__}, CUDA {'available: ' + torch.cuda.get_device_name(0) if has_cuda else 'not available'}, "
      f"mode {'cpu-only' if cpu_only else 'gpu'}, load average {os.getloadavg()[0]:.1f}", flush=True)
run_cuda = has_cuda and not cpu_only
if has_cuda:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
counts = {"ok": 0, "FAIL": 0, "skipped": 0, "cpu-only": 0}


def rel_err(a, b, floor):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if np.any(nan_a != nan_b):
        return float("inf")
    ok = ~nan_a
    diff = np.abs(a[ok] - b[ok])
    rel = np.where(diff <= floor, 0.0, diff / np.maximum(np.abs(b[ok]), 1e-300))
    return float(rel.max()) if rel.size else 0.0


def timed(fn):
    if run_cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if run_cuda:
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def report(name, cpu_s, cuda_s=None, err=None, tol=None, note=""):
    if not run_cuda:
        status = "cpu-only"
    else:
        status = "ok" if err is not None and err <= tol else "FAIL"
    counts[status] += 1
    cuda = f"{cuda_s:.3f}" if cuda_s is not None else "-"
    e = f"{err:.2e}" if err is not None else "-"
    print(f"check={name} cpu_s={cpu_s:.3f} cuda_s={cuda} max_rel_err={e} tol={tol if tol else '-'} status={status}"
          + (f" ({note})" if note else ""), flush=True)


def skip(name, why):
    counts["skipped"] += 1
    print(f"check={name} status=skipped ({why})", flush=True)


if not has_cuda and not cpu_only:
    for name in ("voxelmaps_r1", "voxelmaps_r2", "models", "mamba_ssm_scan", "roi_engine"):
        skip(name, "no CUDA device")
else:
    import SimpleITK as sitk

    from RadSurvLib.radiomics.voxelmaps import engine

    pat1 = os.path.join(repo, "RadSurvLib", "resources", "PAT1")
    image = sitk.GetArrayFromImage(sitk.ReadImage(os.path.join(pat1, "image.nii.gz"))).astype(np.float64)
    gtv = sitk.GetArrayFromImage(sitk.ReadImage(os.path.join(pat1, "mask.nii.gz"))) != 0
    z = int(np.median(np.nonzero(gtv)[0]))
    slab = np.zeros_like(gtv)
    half = 3 if run_cuda else 0  # GPU: 7 slices (~13k voxels); CPU-only: one slice
    slab[z - half:z + half + 1] = gtv[z - half:z + half + 1]
    if not run_cuda:  # a small patch keeps the CPU-only run to seconds
        yc, xc = (int(np.median(c)) for c in np.nonzero(slab[z]))
        keep = np.zeros_like(slab)
        keep[z, yc - 5:yc + 5, xc - 5:xc + 5] = True
        slab &= keep
    names = engine.features_of_families(list(engine.FAMILIES))
    for r in (1, 2):
        cpu, cpu_s = timed(lambda: engine.voxel_feature_values(image, slab, names, r, 25.0, True, device="cpu"))
        if run_cuda:
            engine.voxel_feature_values(image, slab, names[:1], r, device="cuda")  # warm-up
            gpu, gpu_s = timed(lambda: engine.voxel_feature_values(image, slab, names, r, 25.0, True, device="cuda"))
            err = max(rel_err(gpu[n], cpu[n], 1e-9) for n in names)
            report(f"voxelmaps_r{r}", cpu_s, gpu_s, err, 1e-6, f"{len(names)} maps, {int(slab.sum())} voxels")
        else:
            report(f"voxelmaps_r{r}", cpu_s, note=f"{len(names)} maps, {int(slab.sum())} voxels")

    from RadSurvLib.models.registry import SPECS, build_model

    shapes = {"ct3d": (2, 1, 64, 64, 64), "ct3d+maps": (2, 4, 32, 32, 32), "slice2d+radscores": (2, 1, 64, 64)}
    for name, spec in SPECS.items():
        torch.manual_seed(0)
        model = build_model(name, spec.small_params).eval()
        shape = shapes[spec.input_kind]
        if spec.input_kind == "ct3d" and not run_cuda:
            shape = (1, 1, 32, 32, 32)
        x = torch.randn(*shape)

        def forward_backward(device):
            m = model.to(device)
            m.zero_grad(set_to_none=True)
            xi = x.to(device).requires_grad_(True)
            risk = m(xi)
            risk.sum().backward()
            grads = [p.grad.detach().cpu().numpy().ravel() for p in m.parameters() if p.grad is not None]
            return risk.detach().cpu().numpy(), xi.grad.cpu().numpy(), np.concatenate(grads)

        (risk_c, gx_c, gw_c), cpu_s = timed(lambda: forward_backward("cpu"))
        if run_cuda:
            forward_backward("cuda")  # warm-up (cuDNN algorithm choice)
            (risk_g, gx_g, gw_g), gpu_s = timed(lambda: forward_backward("cuda"))
            model.to("cpu")
            scale = lambda a: 1e-6 * max(float(np.abs(a).max()), 1e-30)  # noqa: E731
            err = max(rel_err(risk_g, risk_c, 1e-6), rel_err(gx_g, gx_c, scale(gx_c)),
                      rel_err(gw_g, gw_c, scale(gw_c)))
            report(f"model_{name}", cpu_s, gpu_s, err, 1e-3, f"input {list(shape)}, forward + backward")
        else:
            report(f"model_{name}", cpu_s, note=f"input {list(shape)}, forward + backward")

    from RadSurvLib.models import vmamba

    if run_cuda and vmamba.cuda_scan_available():
        torch.manual_seed(0)
        b, d, n, L = 2, 64, 8, 512
        dev = "cuda"
        u, delta = torch.randn(b, d, L, device=dev), torch.randn(b, d, L, device=dev)
        A = -torch.rand(d, n, device=dev)
        B, C = torch.randn(b, n, L, device=dev), torch.randn(b, n, L, device=dev)
        Dv = torch.randn(d, device=dev)
        ref, t_ref = timed(lambda: vmamba.selective_scan(u, delta, A, B, C, Dv, delta_softplus=True, backend="torch"))
        vmamba.selective_scan(u, delta, A, B, C, Dv, delta_softplus=True, backend="cuda")
        out, t_cuda = timed(lambda: vmamba.selective_scan(u, delta, A, B, C, Dv, delta_softplus=True, backend="cuda"))
        err = rel_err(out.cpu().numpy(), ref.cpu().numpy(), 1e-5 * float(ref.abs().max()))
        report("mamba_ssm_scan", t_ref, t_cuda, err, 1e-3, "cpu_s = torch scan on CUDA")
    else:
        skip("mamba_ssm_scan", "mamba-ssm not installed" if run_cuda else "no CUDA device")

    try:
        from RadSurvLib.radiomics import roi_engine
        has_device = "device" in inspect.signature(roi_engine.extract).parameters
    except Exception as exc:  # the ROI engine is optional here
        roi_engine, has_device = None, False
        print(f"roi_engine: not importable ({type(exc).__name__}: {exc})")
    if roi_engine is not None and has_device and run_cuda:
        from RadSurvLib.radiomics import roi as feats

        ct_img = sitk.ReadImage(os.path.join(pat1, "image.nii.gz"))
        mask_img = sitk.ReadImage(os.path.join(pat1, "mask.nii.gz"))
        extractor = feats.make_extractor(feats.LIU2025_PARAMS)
        cpu, cpu_s = timed(lambda: roi_engine.extract(ct_img, {"GTV": mask_img}, extractor, device="cpu"))
        gpu, gpu_s = timed(lambda: roi_engine.extract(ct_img, {"GTV": mask_img}, extractor, device="cuda"))
        keys = list(cpu["GTV"])
        err = rel_err([float(gpu["GTV"][k]) for k in keys], [float(cpu["GTV"][k]) for k in keys], 1e-9)
        report("roi_engine", cpu_s, gpu_s, err, 1e-6, f"{len(keys)} features of PAT1's GTV")
    else:
        skip("roi_engine", "no CUDA device" if not run_cuda else "the ROI engine has no device argument (NumPy only)")

print(f"gpu_check: {counts['ok']} ok, {counts['FAIL']} failed, {counts['skipped']} skipped"
      + (f", {counts['cpu-only']} cpu-only" if cpu_only else ""), flush=True)
sys.exit(1 if counts["FAIL"] else 0)
EOF
