"""The one device resolver: the edges turn a user's choice into a ``torch.device`` once; the core follows its inputs."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device="auto"):
    """``"auto"``: CUDA when available, else the CPU; ``"cpu"``, ``"cuda"`` or ``"cuda:k"`` as given.

    ``ValueError`` for anything else, and for CUDA when no CUDA device is available.
    """
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:k'; got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:k'; got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} was requested but no CUDA device is available")
    return dev
