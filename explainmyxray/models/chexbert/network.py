"""The CheXbert network and its checkpoint.

Architecture (Smit et al., 2020): a BERT encoder; the final hidden state of the first token
([CLS]) goes through dropout (p = 0.1) into 14 linear heads, one per CheXpert observation
(see :mod:`.labels` for the classes). This module imports torch: import it only inside
functions that run a model.

The published checkpoint (``chexbert.pth``) is a dict whose ``"model_state_dict"`` holds the
weights of a ``torch.nn.DataParallel`` wrapper, so every key starts with ``module.``:
``module.bert.embeddings.word_embeddings.weight``, ..., ``module.linear_heads.13.bias``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...core.errors import ModelError
from .labels import CHEXPERT_LABELS, HEAD_CLASSES

DATA_PARALLEL_PREFIX = "module."
BENIGN_EXTRA_KEYS = frozenset({"bert.embeddings.position_ids"})
"""Buffers some transformers versions save and others rebuild; ignored when present."""


class CheXbertNetwork(nn.Module):
    """BERT + one linear head per CheXpert observation, on the [CLS] representation."""

    def __init__(self, config: Any, dropout: float = 0.1) -> None:
        from transformers import BertModel

        super().__init__()
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(dropout)
        hidden = config.hidden_size
        self.linear_heads = nn.ModuleList(nn.Linear(hidden, len(c)) for c in HEAD_CLASSES)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        """Per head, the logits of shape (batch, classes), in :data:`CHEXPERT_LABELS` order."""
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
        cls = self.dropout(hidden[:, 0, :])
        return [head(cls) for head in self.linear_heads]


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The network's state dict from a CheXbert checkpoint, ``module.`` prefixes stripped.

    Accepts the published layout (``{"model_state_dict": {...}}``) and a bare state dict.
    Loaded with ``weights_only=True``; memory-mapped when the file format allows it, so that
    optimizer state stored beside the weights is never read into memory.
    """
    if not path.is_file():
        raise ModelError(f"CheXbert checkpoint {path} does not exist or is not a file")
    try:
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"cannot read CheXbert checkpoint {path}: {exc}") from exc
    if not isinstance(payload, Mapping):
        raise ModelError(
            f"CheXbert checkpoint {path} holds a {type(payload).__name__}, expected a dict "
            f"with 'model_state_dict'"
        )
    state = payload.get("model_state_dict", payload)
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        keys = ", ".join(sorted(map(str, payload))[:8])
        raise ModelError(
            f"CheXbert checkpoint {path} has no 'model_state_dict' of tensors (top-level keys: "
            f"{keys})"
        )
    return {_strip(k): v for k, v in state.items() if _strip(k) not in BENIGN_EXTRA_KEYS}


def _strip(key: str) -> str:
    return key[len(DATA_PARALLEL_PREFIX) :] if key.startswith(DATA_PARALLEL_PREFIX) else key


def load_state_strict(network: nn.Module, state: Mapping[str, torch.Tensor], source: Path) -> None:
    """Load ``state`` into ``network``; any missing, unexpected or mis-shaped key is an error."""
    own = network.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mis_shaped = sorted(
        f"{k} (checkpoint {tuple(state[k].shape)}, network {tuple(own[k].shape)})"
        for k in set(own) & set(state)
        if tuple(state[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or mis_shaped:
        parts = []
        for title, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", mis_shaped),
        ):
            if keys:
                more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
                shown = ", ".join(keys[:5]) + more
                parts.append(f"{len(keys)} {title}: {shown}")
        raise ModelError(
            f"checkpoint {source} does not match the CheXbert network (BERT config "
            f"hidden={_hidden(network)}, {len(CHEXPERT_LABELS)} heads): " + "; ".join(parts)
        )
    network.load_state_dict(state, strict=True)


def _hidden(network: nn.Module) -> int | str:
    bert = getattr(network, "bert", None)
    return getattr(getattr(bert, "config", None), "hidden_size", "?")
