"""GPU check of the numerical core: density, Hessian, frames and SCMS on CUDA against the CPU, timed.

    python benchmarks/gpu_core.py [--quick | --tiny] [--device auto|cpu|cuda] [--json out.json]

Runs on CUDA when available (else it compares the CPU with itself, which still exercises the code path).
Frames (M = 2,000, N = 6,742, D = 32, d = 25) in float64 on the device against float64 on the CPU, then in
float32 and float32 with TF32 matrix products (``torch.backends.cuda.matmul.allow_tf32``) against float64: the
accuracy a user trades for the speed. Differences are relative to the largest entry; eigenvalues relative to
``1/h`` (the Hessian's scale). Prints a JSON object: sizes, seconds on each device, speed-ups, differences.
``--tiny`` (the smallest sizes) with ``--device cpu`` is what the test suite runs, so the script cannot rot while no
GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import ridgeviz as rv


def timed(fn, sync):
    fn()  # warm-up (CUDA context, kernels)
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - t0


def rel(a, b) -> float:
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="M = 200, N = 1,000")
    size.add_argument("--tiny", action="store_true", help="M = 40, N = 200, 200 walkers (the test suite's)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is available")
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    dev = torch.device("cuda" if cuda else "cpu")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    g = torch.Generator().manual_seed(0)
    M, N, D = (40, 200, 32) if args.tiny else (200, 1000, 32) if args.quick else (2000, 6742, 32)
    n_ring = 200 if args.tiny else 2000
    data = torch.randn(N, D, generator=g, dtype=torch.float64)
    x = 0.6 * data[torch.randint(0, N, (M,), generator=g)] + 0.3 * torch.randn(M, D, generator=g, dtype=torch.float64)
    sched = rv.get_schedule("ou")
    report = {"device": torch.cuda.get_device_name() if cuda else "cpu", "M": M, "N": N, "D": D, "checks": {}}
    cpu_d = rv.SmoothedEmpirical(data, sched)
    dev_d = rv.SmoothedEmpirical(data.to(dev), sched)
    for t in (0.05, 0.5):
        h = float(sched.h(t))
        fc, tc = timed(lambda t=t: rv.local_frame(cpu_d, x, t, 25), lambda: None)
        fg, tg = timed(lambda t=t: rv.local_frame(dev_d, x.to(dev), t, 25), sync)
        report["checks"][f"frame_t{t}"] = {
            "cpu_s": tc, "device_s": tg, "speedup": tc / tg,
            "score_rel_diff": rel(fg.score, fc.score), "eigenvalue_rel_diff": rel(fg.eigenvalues, fc.eigenvalues),
            "residual_rel_diff": rel(fg.residual, fc.residual)}
        for name, tf32 in (("float32", False), ("float32_tf32", True)):
            if tf32 and not cuda:
                continue
            d32 = rv.SmoothedEmpirical(data.to(dev, torch.float32), sched, dtype=torch.float32)
            old = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            try:
                f32, t32 = timed(lambda t=t, d32=d32: rv.local_frame(d32, x.to(dev, torch.float32), t, 25), sync)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = old
            report["checks"][f"frame_t{t}_{name}"] = {
                "device_s": t32, "speedup_vs_float64_device": tg / t32, "speedup_vs_float64_cpu": tc / t32,
                "score_rel_diff": rel(f32.score, fc.score),
                "eigenvalue_diff_times_h": float((f32.eigenvalues.double().cpu() - fc.eigenvalues).abs().max()) * h,
                "scaled_gap_abs_diff": float((f32.scaled_gap.double().cpu() - fc.scaled_gap).abs().max()),
                "residual_rel_diff": rel(f32.residual, fc.residual)}
    ang = torch.linspace(0, 6.283, n_ring)
    ring = (3 * torch.stack([torch.cos(ang), torch.sin(ang)], 1) + 0.2 * torch.randn(n_ring, 2, generator=g)).double()
    walkers = 4 * torch.rand(n_ring, 2, generator=g, dtype=torch.float64) - 2
    ring_cpu, ring_dev = rv.SmoothedEmpirical(ring, sched), rv.SmoothedEmpirical(ring.to(dev), sched)
    pc, tc = timed(lambda: rv.project_to_ridge(ring_cpu, walkers, 0.1, 1), lambda: None)
    pg, tg = timed(lambda: rv.project_to_ridge(ring_dev, walkers.to(dev), 0.1, 1), sync)
    report["checks"]["scms_2d"] = {"cpu_s": tc, "device_s": tg, "speedup": tc / tg,
                                   "points_max_abs_diff": float((pg.points.cpu() - pc.points).abs().max()),
                                   "converged_cpu": int(pc.converged.sum()),
                                   "converged_device": int(pg.converged.sum())}
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
