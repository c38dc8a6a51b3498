"""GPU check: train the 2-D MLP and the VAE and compute random-feature moments on CUDA (CPU if none); compare.

1. MLP: the default 2-D run (13 points, OU, default TrainConfig with ``--steps``) on the device and on the CPU,
   same seed (batches are drawn on the CPU, so both see the same data). Float32 training diverges slowly
   between devices, so the check is that both reach the usable bound (relative score error < 0.2 at t in
   [0.05, 1]) and how close their losses and scores are; plus the speed of each.
2. Random features: U, V at p = 2,000, K = 128 on (+-3, 0) in float64 on both; they must agree to ~1e-10, and
   so must W(inf).
3. VAE: the paper's MLP VAE (784-400-200-32) trained for ``--vae-epochs`` epochs on the first 10,000 MNIST
   training images (``/work/shared/data/mnist-10k`` or ``--mnist``; the shipped digits if absent) on the device
   and on the CPU, same seed: the final losses (float32 training drifts apart slowly) and the speed of each.

Prints one JSON object (and writes it to ``--out`` if given). ``--quick``: small sizes; ``--tiny``: the smallest
(the test suite runs ``--device cpu --tiny`` so the script cannot rot while no GPU is lent); ``--device``: ``auto``
(CUDA when present), ``cpu`` or ``cuda``.
Run: ``python benchmarks/gpu_check.py [--quick | --tiny] [--device auto] [--steps 4000] [--out result.json]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.models.random_features import RandomFeatureModel, gradient_flow
from ridgeviz.models.rf_moments import feature_moments


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def mlp_check(device, steps: int) -> dict:
    sched = rv.get_schedule("ou")
    out = {}
    models = {}
    for dev in dict.fromkeys([device, torch.device("cpu")]):
        cfg = dataclasses.replace(rv.TrainConfig(), steps=steps, device=dev.type, eval_every=max(steps // 4, 1))
        res = rv.train_mlp(MODE_SETS["thirteen"], sched, cfg)
        mid = (res.eval_times >= 0.05) & (res.eval_times <= 1.0)
        out[dev.type] = {"seconds": res.seconds, "steps_per_second": res.steps_done / res.seconds,
                         "final_loss": float(res.losses[-200:].mean()), "status": res.status,
                         "mid_error_max": float(res.error_relative[-1][mid].max())}
        models[dev.type] = res.model
    if device.type != "cpu":
        x = torch.randn(512, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
        a, b = models["cuda"](x, 0.3), models["cpu"](x, 0.3)
        out["score_relative_difference_t0.3"] = float((a - b).norm() / b.norm())
        out["speedup"] = out["cpu"]["seconds"] / out["cuda"]["seconds"]
        # one identical step: the same weights and batch give the same loss to float32 accuracy
        m_cpu = rv.MLPScore(sched, 2)
        m_dev = rv.MLPScore(sched, 2).to(device)
        g = torch.Generator().manual_seed(1)
        x0, t = torch.randn(256, 2, generator=g), torch.rand(256, generator=g) + 0.01
        z = torch.randn(256, 2, generator=g)
        from ridgeviz.models.training import dsm_loss

        with torch.no_grad():
            l_cpu = float(dsm_loss(m_cpu, x0, t, z))
            l_dev = float(dsm_loss(m_dev, x0.to(device), t.to(device), z.to(device)))
        out["one_batch_loss_relative_difference"] = abs(l_cpu - l_dev) / abs(l_cpu)
    if steps >= 4000:  # the usable bound is stated for the default number of steps
        out["usable_on_all_devices"] = all(v["mid_error_max"] < 0.2 for v in out.values() if isinstance(v, dict))
    return out


def rf_check(device, p: int, K: int) -> dict:
    sched = rv.get_schedule("ou")
    data = MODE_SETS["two-points"]
    res = {}
    moments = {}
    for dev in dict.fromkeys([device, torch.device("cpu")]):
        rf = RandomFeatureModel(2, p, K, sched.T, generator=torch.Generator().manual_seed(0), device=dev)
        feature_moments(RandomFeatureModel(2, 8, 2, sched.T, device=dev), data, sched)  # warm-up (CUDA context)
        sync(dev)
        start = time.perf_counter()
        m = feature_moments(rf, data, sched)
        sync(dev)
        res[dev.type] = {"seconds": time.perf_counter() - start, "nodes": m.nodes}
        moments[dev.type] = (m, rf)
    if device.type != "cpu":
        (mg, rg), (mc, rc) = moments["cuda"], moments["cpu"]
        res["U_relative_difference"] = float((mg.U.cpu() - mc.U).norm() / mc.U.norm())
        res["V_relative_difference"] = float((mg.V.cpu() - mc.V).norm() / mc.V.norm())
        wg, wc = gradient_flow(mg, rg.A0, math.inf).cpu(), gradient_flow(mc, rc.A0, math.inf)
        res["W_inf_relative_difference"] = float((wg - wc).norm() / wc.norm())
        res["W_tau10_relative_difference"] = float(
            (gradient_flow(mg, rg.A0, 10.0).cpu() - gradient_flow(mc, rc.A0, 10.0)).norm()
            / gradient_flow(mc, rc.A0, 10.0).norm())
        res["speedup"] = res["cpu"]["seconds"] / res["cuda"]["seconds"]
        res["agree"] = res["U_relative_difference"] < 1e-10 and res["V_relative_difference"] < 1e-10
    return res


def vae_check(device, epochs: int, mnist: Path | None, images: int | None = None) -> dict:
    from ridgeviz.data.mnist import DigitsSpec, load_digits
    from ridgeviz.latent.vae import VAETrainConfig, train_vae

    folder = mnist is not None and mnist.exists()
    spec = DigitsSpec("folder", folder=str(mnist), classes=()) if folder else DigitsSpec("shipped", classes=())
    pixels = load_digits(spec).pixels()
    pixels = pixels if images is None else pixels[:images]
    out = {"images": int(pixels.shape[0]), "source": spec.source}
    for dev in dict.fromkeys([device, torch.device("cpu")]):
        train_vae(pixels[:256], VAETrainConfig(epochs=1), device=dev)  # warm-up (CUDA context, kernels)
        sync(dev)
        res = train_vae(pixels, VAETrainConfig(epochs=epochs), device=dev)
        sync(dev)
        out[dev.type] = {"seconds": res.seconds, "final_loss": float(res.loss[-1])}
    if device.type != "cpu":
        out["speedup"] = out["cpu"]["seconds"] / out["cuda"]["seconds"]
        out["final_loss_relative_difference"] = abs(out["cuda"]["final_loss"] - out["cpu"]["final_loss"]) / abs(
            out["cpu"]["final_loss"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (a CPU smoke test)")
    size.add_argument("--tiny", action="store_true", help="the smallest sizes (seconds; the test suite's)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="device (default: auto)")
    ap.add_argument("--steps", type=int, help="MLP steps (default 4000, quick 100)")
    ap.add_argument("--vae-epochs", type=int, help="VAE epochs (default 5, quick 1)")
    ap.add_argument("--mnist", type=Path, default=Path("/work/shared/data/mnist-10k"), help="MNIST IDX folder")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is available")
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    small = args.quick or args.tiny
    steps = args.steps or (20 if args.tiny else 100 if args.quick else 4000)
    p, K = (32, 4) if args.tiny else (100, 8) if args.quick else (2000, 128)
    result = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "cpu_threads": torch.get_num_threads(), "quick": args.quick,
              "tiny": args.tiny, "mlp_steps": steps, "rf_p": p, "rf_K": K}
    result["mlp"] = mlp_check(device, steps)
    result["random_features"] = rf_check(device, p, K)
    result["vae"] = vae_check(device, args.vae_epochs or (1 if small else 5), None if small else args.mnist,
                              256 if args.tiny else None)
    text = json.dumps(result, indent=2, default=lambda v: float(v) if isinstance(v, np.floating) else str(v))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
