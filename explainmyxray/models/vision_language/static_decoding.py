"""Greedy decoding with a static KV cache, one decoding step replayed as a CUDA graph.

Hugging Face ``generate`` spends most of a small-batch decoding step on the host: Python
dispatch and hundreds of kernel launches per token, plus a device sync per token to check for
end of sequence. This decoder keeps every per-step tensor at a fixed address (token, position,
attention mask, KV cache, step counter, output buffer) so that one whole step — forward pass,
end-of-sequence suppression for ``min_new_tokens``, argmax, bookkeeping — is captured once as a
CUDA graph and replayed; the host checks for finished rows only every few steps.

The answers are the plain path's: the same left-padded inputs, position ids
(``cumsum(mask) - 1``), float32 argmax, ``min_new_tokens`` rule and pad-after-EOS rule as
``generate`` with greedy decoding. ``tests/models/test_medgemma_fast.py`` checks equality on
the CPU, where the same step runs eagerly.

Sliding-window layers get full-length static layers (see :func:`static_cache`), so the cache has
no Python-side state that a graph would freeze, whatever the prompt length.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

CHECK_EVERY = 8
"""Steps between the host's checks that every row has finished (each check syncs the device)."""


def padded_length(length: int, multiple: int) -> int:
    return -(-length // multiple) * multiple


def _forward_parameters(model: Any) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


def static_cache(model: Any, length: int) -> Any:
    """A static cache of ``length`` tokens in every layer, sliding-window layers included.

    transformers' sliding static layers keep a Python counter that a CUDA graph would freeze;
    full-length layers have none, and the sliding-window mask transformers builds for them
    (window constraint on absolute positions) keeps the attention exactly what it was.
    """
    from transformers import StaticCache
    from transformers.cache_utils import StaticLayer

    cache = StaticCache(config=model.config, max_cache_len=length)
    cache.layers = [StaticLayer(max_cache_len=length) for _ in cache.layers]
    return cache


class StaticDecoder:
    """Greedy decoding for one model at one (batch, cache length, new tokens) shape.

    Build it once and call :meth:`generate` for every batch of that shape; the cache, the
    buffers and the captured graph are reused. Rows of a smaller last batch are padded by the
    caller (:func:`pad_rows`).
    """

    def __init__(
        self,
        model: Any,
        *,
        batch: int,
        length: int,
        max_new_tokens: int,
        eos_token_ids: Sequence[int],
        pad_token_id: int,
        min_new_tokens: int = 0,
        cuda_graph: bool = True,
        vision_chunk: int | None = None,
    ) -> None:
        import torch

        device = model.device
        self.model = model
        # transformers renamed the forward argument; the old name still works, with a warning
        self.cache_argument = (
            "cache" if "cache" in _forward_parameters(model) else "past_key_values"
        )
        self.batch, self.length, self.max_new_tokens = batch, length, max_new_tokens
        self.cache = static_cache(model, length)
        self.use_graph = cuda_graph and device.type == "cuda"
        self.graph: Any = None
        self.graph_error: str | None = None
        self.min_new_tokens = min_new_tokens
        self.vision_chunk = vision_chunk
        self.token = torch.zeros((batch, 1), dtype=torch.long, device=device)
        self.position = torch.zeros((batch, 1), dtype=torch.long, device=device)
        self.mask = torch.ones((batch, length), dtype=torch.long, device=device)
        self.count = torch.zeros((), dtype=torch.long, device=device)
        self.done = torch.zeros(batch, dtype=torch.bool, device=device)
        self.pad_token_id = pad_token_id
        self.pad = torch.tensor(pad_token_id, dtype=torch.long, device=device)
        self.out = torch.full(
            (batch, max_new_tokens), pad_token_id, dtype=torch.long, device=device
        )
        self.eos_token_ids = list(eos_token_ids)
        self.is_eos: Any = None

    def _select(self, logits: Any) -> None:
        """Pick each row's next token from float32 logits and advance the step state in place."""
        import torch

        if self.min_new_tokens:
            too_early = self.is_eos & (self.count < self.min_new_tokens)
            logits = logits.masked_fill(too_early, float("-inf"))
        chosen = torch.where(self.done, self.pad, logits.argmax(-1))
        self.out.index_copy_(1, self.count.view(1), chosen.view(-1, 1))
        self.done |= self.is_eos[chosen]
        self.token.copy_(chosen.view(-1, 1))
        self.position.add_(1)
        self.count.add_(1)

    def _step(self) -> None:
        output = self.model(
            input_ids=self.token,
            position_ids=self.position,
            attention_mask=self.mask,
            use_cache=True,
            **{self.cache_argument: self.cache},
            logits_to_keep=1,
        )
        self._select(output.logits[:, -1].float())

    def _prefill(self, inputs: Any) -> None:
        import torch

        attention = inputs["attention_mask"]
        prompt = attention.shape[1]
        if prompt + self.max_new_tokens > self.length:
            raise ValueError(
                f"prompt of {prompt} tokens + {self.max_new_tokens} new ones exceed the "
                f"decoder's cache of {self.length}"
            )
        self.cache.reset()
        positions = (attention.long().cumsum(-1) - 1).masked_fill(attention == 0, 0)
        if self.vision_chunk and "pixel_values" in inputs:
            inputs = embed_images(self.model, inputs, self.vision_chunk)
        output = self.model(
            **inputs,
            position_ids=positions,
            use_cache=True,
            **{self.cache_argument: self.cache},
            logits_to_keep=1,
        )
        logits = output.logits[:, -1].float()
        if self.is_eos is None:  # one flag per logit column, so that any chosen id indexes it
            self.is_eos = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
            self.is_eos[[i for i in self.eos_token_ids if i < logits.shape[-1]]] = True
        self.mask.fill_(1)
        self.mask[:, :prompt].copy_(attention)
        self.position.copy_(positions[:, -1:])
        self.count.zero_()
        self.done.zero_()
        self.out.fill_(self.pad_token_id)
        self._select(logits)

    def _capture(self) -> None:
        """Record one step as a CUDA graph, leaving the decoding state as it was."""
        import torch

        state = [self.token, self.position, self.count, self.done, self.out]
        state += [layer.cumulative_length for layer in self.cache.layers]
        saved = [t.clone() for t in state]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):  # warm-up: kernels choose their algorithms outside the capture
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._step()
        for tensor, value in zip(state, saved, strict=True):
            tensor.copy_(value)
        self.graph = graph
        log.info(
            "decoding step captured as a CUDA graph (batch %d, cache %d)", self.batch, self.length
        )

    def _advance(self) -> None:
        if self.use_graph and self.graph is None:
            try:
                self._capture()
            except RuntimeError as error:  # an op that syncs the host cannot be captured
                self.use_graph = False
                self.graph_error = str(error).splitlines()[0]
                log.warning("CUDA graph capture failed (%s); decoding eagerly", self.graph_error)
                self._step()
                return
        if self.graph is not None:
            self.graph.replay()
        else:
            self._step()

    def generate(self, inputs: Any) -> Any:
        """The new tokens (batch x max_new_tokens, pad after each row's end) for ``inputs``."""
        import torch

        with torch.inference_mode():
            self._prefill(inputs)
            for step in range(1, self.max_new_tokens):
                if step % CHECK_EVERY == 0 and bool(self.done.all()):
                    break
                self._advance()
            return self.out.clone()


def embed_images(model: Any, inputs: Any, chunk: int) -> dict[str, Any]:
    """``inputs`` with the images already merged into ``inputs_embeds``, the vision tower run
    ``chunk`` images at a time (its activations at 896 px are what a whole batch cannot afford).

    Does what the model's own forward does with ``pixel_values`` (Gemma 3, PaliGemma): image
    features scattered over the image-token positions of the text embeddings.
    """
    import torch

    rest = {k: v for k, v in inputs.items() if k not in ("pixel_values", "input_ids")}
    pixels, ids = inputs["pixel_values"], inputs["input_ids"]
    features = torch.cat(
        [
            model.get_image_features(pixels[i : i + chunk], return_dict=True).pooler_output
            for i in range(0, pixels.shape[0], chunk)
        ]
    )
    image_token = model.config.image_token_id
    is_image = ids == image_token
    embedding = model.get_input_embeddings()
    if image_token >= embedding.num_embeddings:  # an out-of-vocabulary placeholder id
        ids = ids.masked_fill(is_image, 0)
    embeds = embedding(ids)
    features = features.to(embeds.device, embeds.dtype)
    if int(is_image.sum()) * embeds.shape[-1] != features.numel():
        raise ValueError(
            f"{int(is_image.sum())} image tokens in the prompts but {features.shape[0]} x "
            f"{features.shape[1]} image features"
        )
    rest["inputs_embeds"] = embeds.masked_scatter(is_image.unsqueeze(-1), features)
    return rest


def pad_rows(inputs: Any, rows: int) -> Any:
    """``inputs`` with its last row repeated up to ``rows`` rows (a fixed batch shape)."""
    import torch

    missing = rows - inputs["input_ids"].shape[0]
    if missing <= 0:
        return inputs
    for key, value in list(inputs.items()):
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            inputs[key] = torch.cat([value, value[-1:].expand(missing, *value.shape[1:])])
    return inputs
