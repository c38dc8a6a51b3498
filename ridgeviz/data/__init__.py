"""Datasets: the authors' mode sets, generated sets, uploads with their validation, and MNIST's IDX files."""

from .datasets import KINDS, MODE_SETS, SKLEARN_NAMES, DatasetSpec, embed_in_subspace, make_dataset

__all__ = ["KINDS", "MODE_SETS", "SKLEARN_NAMES", "DatasetSpec", "embed_in_subspace", "make_dataset"]
