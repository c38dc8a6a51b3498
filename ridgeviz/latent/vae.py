"""The MLP VAE of the authors' code for MNIST latent diffusion: 784-400-200 -> 32 latent and back, trained on BCE + KL.

Encoder ``x -> relu(W1 x) -> relu(W2 .) -> (mu, log var)`` (784 -> 400 -> 200 -> 2 x 32); decoder the mirror
image ``z -> 200 -> 400 -> 784`` Bernoulli logits. The loss per image is the negative ELBO

    L(x) = BCE(x, sigmoid(dec(z))) + beta * KL(N(mu, diag(exp(log var))) || N(0, I)),   z = mu + exp(log var / 2) eps

summed over pixels and latent coordinates (``beta = 1`` is the standard VAE). After training, the encoder
*means* ``mu(x_i)`` are the latents ``x_1..x_N`` of the smoothed empirical density. Networks are float32; the
latents are returned as float64. Randomness (initialisation, shuffling, the reparameterisation noise) comes
only from the seed in :class:`VAETrainConfig`; noise is drawn on the CPU so a seed means the same numbers on
any device. Checkpoints are safetensors with a JSON config (:mod:`ridgeviz.io`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..models.checkpoints import check_shapes, load_checkpoint, save_checkpoint
from ..utils.device import resolve_device
from ..utils.limits import Cost, require
from ..utils.paths import ASSETS
from ..utils.validation import POSITIVE, SEED, Array, Integer, Options, Tuple, check, validate_fields

KIND = "vae"
#: The pretrained VAE (float16 weights) trained on the balanced 2,000 digits of the shipped subset (200 per class) by
#: ``python -m ridgeviz assets mnist``.
SHIPPED_VAE = ASSETS / "vae_mnist.safetensors"
#: The VAE for the digit 1 (float16 weights), trained on the 1,127 ones among the first 10,000 MNIST training images
#: (all in the shipped subset): the latent of the ``mnist`` experiment.
SHIPPED_ONES_VAE = ASSETS / "vae_mnist_ones.safetensors"


def shipped_vae_path(classes):
    """The shipped VAE for digits of ``classes``: the ones' VAE for ``(1,)``, else the all-digit one."""
    return SHIPPED_ONES_VAE if tuple(classes) == (1,) else SHIPPED_VAE


WIDTH = Integer(1, 65536)  # a layer width


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Architecture: ``input_dim -> hidden[0] -> hidden[1] -> latent_dim`` (the authors' code: 784, (400, 200), 32)."""

    input_dim: int = 784
    hidden: tuple = (400, 200)
    latent_dim: int = 32

    def __post_init__(self):
        validate_fields(self, {"input_dim": WIDTH, "latent_dim": WIDTH, "hidden": Tuple(WIDTH, 1, 16)})
        sizes = (self.input_dim, *self.hidden, 2 * self.latent_dim)
        weights = 2 * sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))  # encoder and a decoder as large
        require(Cost(4.0 * 4 * weights), f"a VAE with {weights:,} weights", "the layer widths", time=False)


@dataclasses.dataclass(frozen=True)
class VAETrainConfig:
    """Training settings: Adam with learning rate ``lr``, minibatches of ``batch_size``, ``epochs`` passes."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    seed: int = 0
    CONSTRAINTS: ClassVar[dict] = {"epochs": Integer(1, 100_000), "batch_size": Integer(1, 2**20), "lr": POSITIVE,
                                   "beta": POSITIVE, "seed": SEED}

    def __post_init__(self):
        validate_fields(self, self.CONSTRAINTS)


def _linear(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default init ``U(-1/sqrt(n_in), 1/sqrt(n_in))`` drawn from ``generator``."""
    layer = nn.Linear(n_in, n_out, device="meta").to_empty(device="cpu")
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def _mlp(sizes, generator) -> nn.Sequential:
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(_linear(a, b, generator))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """MLP VAE; ``encode(x: (B, P)) -> (mu, logvar): (B, d), (B, d)``, ``decode_logits(z: (B, d)) -> (B, P)``."""

    def __init__(self, config: VAEConfig = VAEConfig(), generator: torch.Generator | None = None):
        super().__init__()
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        self.config = config
        *hid, last = config.hidden
        self.encoder = nn.Sequential(_mlp((config.input_dim, *hid, last), g), nn.ReLU())
        self.head = _linear(last, 2 * config.latent_dim, g)  # [mu, log var]
        self.decoder = _mlp((config.latent_dim, *reversed(config.hidden), config.input_dim), g)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.encoder(x)).chunk(2, dim=-1)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor, eps: torch.Tensor):
        """Logits of the reconstruction from ``z = mu + exp(logvar/2) eps``, plus ``mu`` and ``logvar``."""
        mu, logvar = self.encode(x)
        return self.decode_logits(mu + torch.exp(0.5 * logvar) * eps), mu, logvar


def vae_loss(vae: VAE, x: torch.Tensor, eps: torch.Tensor, beta: float = 1.0):
    """Mean over the batch of ``BCE + beta KL`` (nats per image); also returns the two terms' means.

    x: (B, P) intensities in [0, 1]; eps: (B, d) standard normal noise.
    """
    logits, mu, logvar = vae(x, eps)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    kl = 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(-1)
    return (bce + beta * kl).mean(), bce.mean(), kl.mean()


@dataclasses.dataclass
class VAETrainResult:
    """A trained VAE and its per-epoch mean losses (nats per image)."""

    vae: VAE
    loss: np.ndarray  # (epochs run,) BCE + beta KL
    bce: np.ndarray
    kl: np.ndarray
    stopped: bool  # the callback asked to stop early
    seconds: float
    config: VAETrainConfig


def _as_pixels(pixels, input_dim: int | None = None) -> torch.Tensor:
    x = check("pixels", pixels, Array((None, input_dim), at_least=(1, 1), lo=0.0, hi=1.0,
                                      label=f"(N, {input_dim or 'P'})"))
    return torch.as_tensor(x).to(torch.float32)


def train_vae(pixels, config: VAETrainConfig = VAETrainConfig(), *, vae_config: VAEConfig | None = None,
              callback: Callable | None = None, device="auto") -> VAETrainResult:
    """Train a :class:`VAE` on ``pixels: (N, P)`` in [0, 1] by Adam on the negative ELBO.

    ``callback(epoch, loss, info)`` is called after each epoch with ``info = {"bce", "kl", "epochs",
    "seconds"}``; returning ``False`` stops training (the result then has ``stopped=True``).
    """
    x_all = _as_pixels(pixels)
    vae_config = vae_config or VAEConfig(input_dim=x_all.shape[1])
    if vae_config.input_dim != x_all.shape[1]:
        raise ValueError(f"vae_config.input_dim is {vae_config.input_dim} but pixels have {x_all.shape[1]} columns")
    dev = resolve_device(device)
    g = torch.Generator().manual_seed(config.seed)
    vae = VAE(vae_config, g).to(dev)
    opt = torch.optim.Adam(vae.parameters(), lr=config.lr)
    x_all = x_all.to(dev)
    N, start, stopped = x_all.shape[0], time.perf_counter(), False
    hist = {"loss": [], "bce": [], "kl": []}
    for epoch in range(config.epochs):
        perm = torch.randperm(N, generator=g).to(dev)
        sums = torch.zeros(3, dtype=torch.float64)
        for i in range(0, N, config.batch_size):
            xb = x_all[perm[i:i + config.batch_size]]
            eps = torch.randn(xb.shape[0], vae_config.latent_dim, generator=g).to(dev)
            loss, bce, kl = vae_loss(vae, xb, eps, config.beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums += torch.tensor([loss.item(), bce.item(), kl.item()], dtype=torch.float64) * xb.shape[0]
        for key, value in zip(hist, (sums / N).tolist()):
            hist[key].append(value)
        if not math.isfinite(hist["loss"][-1]):
            raise ValueError(f"VAE training diverged (loss {hist['loss'][-1]}) at epoch {epoch}; lower lr")
        info = {"bce": hist["bce"][-1], "kl": hist["kl"][-1], "epochs": config.epochs,
                "seconds": time.perf_counter() - start}
        if callback is not None and callback(epoch, hist["loss"][-1], info) is False:
            stopped = True
            break
    vae.eval()
    return VAETrainResult(vae, *(np.array(hist[k]) for k in ("loss", "bce", "kl")), stopped,
                          time.perf_counter() - start, config)


def _batches(vae: VAE, x: torch.Tensor, fn, batch_size: int) -> torch.Tensor:
    dev = next(vae.parameters()).device
    with torch.no_grad():
        return torch.cat([fn(x[i:i + batch_size].to(dev)).cpu() for i in range(0, x.shape[0], batch_size)])


def encode_latents(vae: VAE, pixels, batch_size: int = 2048) -> np.ndarray:
    """Encoder means ``mu(x)`` for ``pixels: (N, P)`` in [0, 1]: the latents, ``(N, d)`` float64."""
    x = _as_pixels(pixels, vae.config.input_dim)
    return _batches(vae, x, lambda b: vae.encode(b)[0], batch_size).double().numpy()


def decode_latents(vae: VAE, z, batch_size: int = 2048) -> np.ndarray:
    """Decoded mean images ``sigmoid(dec(z))`` for ``z: (M, d)``: ``(M, P)`` float32 in [0, 1]."""
    z = torch.as_tensor(check("z", z, Array((None, vae.config.latent_dim)))).to(torch.float32)
    return _batches(vae, z, lambda b: torch.sigmoid(vae.decode_logits(b)), batch_size).numpy()


def per_dimension_kl(vae: VAE, pixels, batch_size: int = 2048) -> np.ndarray:
    """Mean KL of each latent coordinate to the prior over ``pixels: (N, P)``: ``(d,)`` nats.

    ``KL_j = mean_i 0.5 (mu_ij^2 + exp(logvar_ij) - 1 - logvar_ij)``; a coordinate whose KL is near zero carries
    no information about the image (its posterior is the prior: "posterior collapse"), an active one carries it.
    """
    x = _as_pixels(pixels, vae.config.input_dim)
    stats = _batches(vae, x, lambda b: torch.cat(vae.encode(b), dim=-1), batch_size).double()
    mu, logvar = stats.chunk(2, dim=-1)
    return (0.5 * (mu * mu + logvar.exp() - 1.0 - logvar)).mean(0).numpy()


def reconstruction_error(vae: VAE, pixels) -> float:
    """Mean absolute pixel error of ``decode(encode mean)`` over ``pixels: (N, P)``."""
    x = np.asarray(pixels, dtype=np.float32)
    return float(np.abs(decode_latents(vae, encode_latents(vae, x)) - x).mean())


def save_vae(path, vae: VAE, extra: dict | None = None, *, storage_dtype: str = "float32"):
    """Write ``vae`` as safetensors + JSON (kind ``"vae"``); ``storage_dtype="float16"`` halves the file.

    ``extra`` (JSON-able: training settings, data description, image shape, ...) is stored in the config.
    """
    dtype = check("storage_dtype", storage_dtype, Options(("float32", "float16")))
    dtype = getattr(torch, storage_dtype)
    tensors = {k: v.detach().to("cpu", dtype) for k, v in vae.state_dict().items()}
    c = vae.config
    config = {**(extra or {}), "kind": KIND, "storage_dtype": storage_dtype,
              "architecture": {"input_dim": c.input_dim, "hidden": list(c.hidden), "latent_dim": c.latent_dim}}
    return save_checkpoint(path, tensors, config)


def load_vae(source) -> tuple[VAE, dict]:
    """Read a VAE checkpoint (path or bytes) written by :func:`save_vae`; returns ``(vae, config)`` on the CPU."""
    tensors, config = load_checkpoint(source, kind=KIND)
    arch = config.get("architecture")
    if not isinstance(arch, dict):
        raise ValueError("VAE checkpoint config lacks its 'architecture'")
    try:
        vae = VAE(VAEConfig(arch["input_dim"], arch["hidden"], arch["latent_dim"]))
    except KeyError as exc:
        raise ValueError(f"VAE checkpoint architecture is incomplete: {exc}") from None
    check_shapes(tensors, {k: tuple(v.shape) for k, v in vae.state_dict().items()})
    vae.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    return vae.eval(), config
