"""placeholder"""
from .result import Context, Experiment


def run(ctx: Context) -> Experiment:
    """MNIST ones in a VAE latent."""
    return Experiment("mnist", "MNIST", {})
