"""Attention for one decoding step that reads only the filled part of a static KV cache.

transformers' attention for a single new token over a static cache reads the whole cache (every
slot up to its full length, most of them empty early in a report), and, where its SDPA path
cannot use grouped-query attention with a mask, first copies the cache once per query-head group
(``repeat_kv``): a kernel over batch x cache length, twice per layer and step. This module
registers an attention implementation that, while a decoder has declared how many cache slots
can be filled (:func:`active_slots`), attends over exactly those slots with the query heads
packed onto their key/value heads — no copy of the cache. Everything else (the prefill, plain
``generate``, a step with no declared window) goes to the attention the model had.

The decoder captures one CUDA graph per window size (a multiple of its bucket), so the slice
length is a constant of each graph. Two kernels compute the windowed attention: ``matmul`` (two
batched matrix products around an fp32 softmax: the eager attention's arithmetic, memory-bound
and fast for the few query rows of a decoding step) and ``sdpa`` (PyTorch's fused attention,
whose tiles suit long queries better than one token).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_ACTIVE: ContextVar[tuple[int, str] | None] = ContextVar("explainmyxray_active_slots", default=None)
PREFIX = "explainmyxray_decode_"
KERNELS = ("matmul", "sdpa")


@contextlib.contextmanager
def active_slots(slots: int, kernel: str = "matmul") -> Iterator[None]:
    """Within the block, a single-token attention reads only the first ``slots`` cache slots,
    computed with ``kernel`` (one of :data:`KERNELS`)."""
    if kernel not in KERNELS:
        raise ValueError(f"decode attention kernel {kernel!r} is not one of {KERNELS}")
    token = _ACTIVE.set((slots, kernel))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _fallback(module: Any, implementation: str) -> Any:
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if implementation == "eager":  # each model family defines its own eager attention
        return sys.modules[type(module).__module__].eager_attention_forward
    return ALL_ATTENTION_FUNCTIONS[implementation]


def _decode(
    query: Any,
    key: Any,
    value: Any,
    mask: Any,
    slots: int,
    scaling: float | None,
    softcap: float | None,
    kernel: str = "matmul",
) -> Any:
    import torch
    import torch.nn.functional as F

    batch, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    key, value = key[:, :, :slots], value[:, :, :slots]
    mask = mask[..., :slots]
    # (batch, heads, 1, dim) -> (batch, kv heads, heads per kv head, dim): consecutive query heads
    # share a key/value head, exactly as repeat_kv pairs them
    grouped = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    if kernel == "sdpa" and softcap is None:
        out = F.scaled_dot_product_attention(grouped, key, value, attn_mask=mask, scale=scaling)
    else:
        scale = dim**-0.5 if scaling is None else scaling
        weights = torch.matmul(grouped, key.transpose(-1, -2)) * scale
        if softcap is not None:
            weights = torch.tanh(weights / softcap) * softcap
        if mask.dtype == torch.bool:
            weights = weights.masked_fill(~mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + mask
        weights = torch.softmax(weights, dim=-1, dtype=torch.float32).to(value.dtype)
        out = torch.matmul(weights, value)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous()


def _make(implementation: str) -> Any:
    def attention(
        module: Any,
        query: Any,
        key: Any,
        value: Any,
        attention_mask: Any,
        dropout: float = 0.0,
        scaling: float | None = None,
        softcap: float | None = None,
        **kwargs: Any,
    ) -> tuple[Any, None]:
        active = _ACTIVE.get()
        if (
            active is None
            or query.shape[2] != 1
            or attention_mask is None
            or key.shape[2] < active[0]
            or query.shape[1] % key.shape[1]
        ):
            extra = {"softcap": softcap} if softcap is not None else {}
            return _fallback(module, implementation)(
                module,
                query,
                key,
                value,
                attention_mask,
                dropout=dropout,
                scaling=scaling,
                **extra,
                **kwargs,
            )
        slots, kernel = active
        return _decode(query, key, value, attention_mask, slots, scaling, softcap, kernel), None

    attention.__name__ = f"{PREFIX}{implementation}"
    return attention


def install(model: Any) -> bool:
    """Route ``model``'s text attention through the windowed decode attention (idempotent).

    Returns False, changing nothing, where the text model's attention is neither ``sdpa`` nor
    ``eager`` (a flash or flex kernel already avoids the copy).
    """
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    config = getattr(model.config, "text_config", None) or model.config
    current = config._attn_implementation
    if current.startswith(PREFIX):
        return True
    if current not in ("sdpa", "eager"):
        return False
    name = f"{PREFIX}{current}"
    if name not in ALL_ATTENTION_FUNCTIONS:
        ALL_ATTENTION_FUNCTIONS.register(name, _make(current))
        ALL_MASK_ATTENTION_FUNCTIONS.register(name, ALL_MASK_ATTENTION_FUNCTIONS[current])
    config._attn_implementation = name
    return True
