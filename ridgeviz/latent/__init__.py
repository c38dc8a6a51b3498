"""Latent diffusion on MNIST: the VAE and the analysis of the ridge in its latent space."""
