"""A tiny MedSAM-layout checkpoint (random weights) for offline tests and demos."""

from __future__ import annotations

from pathlib import Path

from .architecture import build_sam_network


def save_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write the state dict of a seeded random ``tiny`` SAM network to ``path``; return ``path``."""
    import torch

    torch.manual_seed(seed)
    network = build_sam_network("tiny")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), path)
    return path
