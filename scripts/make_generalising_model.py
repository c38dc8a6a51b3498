"""Build the shipped MLP that generalises onto the ridge of the 13-point set.

    python scripts/make_generalising_model.py [--seed 0]

Writes ``assets/mlp_thirteen_generalises.safetensors`` (+ ``.json``): the generalising recipe of
:mod:`ridgeviz.experiments.models2d` (width 64, depth 4, x0 prediction, loss weight h_t^2, 1,000 AdamW steps,
batch 256, lr 5e-3 cosine) trained on the 13-point set under the paper's OU schedule on the CPU with seed 0.
``rv.load_model`` reads it; the ``generalisation`` and ``opening`` experiments measure it (copies, new samples
on the ridge, new samples off it). Deterministic on the CPU: the same seed gives the same file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.experiments.models2d import GENERALISING_ASSET, GENERALISING_RECIPE, recipe_config
from ridgeviz.models.checkpoints import save_model
from ridgeviz.models.training import train_mlp


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    res = train_mlp(MODE_SETS["thirteen"], rv.get_schedule("ou"), recipe_config(args.seed)).check()
    extra = {"dataset": {"kind": "preset", "name": "thirteen"},
             "recipe": {"name": "generalising recipe (ridgeviz)", **GENERALISING_RECIPE},
             "purpose": "an MLP that generalises onto the ridge: many new samples on the ridge, few copies "
                        "(measured by `python -m ridgeviz reproduce generalisation`)"}
    path = save_model(GENERALISING_ASSET, res.model, extra)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KiB, {res.steps_done} steps, "
          f"final loss {res.losses[-1]:.4f}, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
