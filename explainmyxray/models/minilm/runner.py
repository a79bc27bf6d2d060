"""all-MiniLM-L6-v2 sentence embeddings of report texts, from a sentence-transformers folder.

The folder is read the way sentence-transformers would (its ``modules.json``: a BERT encoder,
then pooling, then L2 normalisation) but with transformers alone, so loading needs neither
sentence-transformers nor the network. torch and transformers are imported in :meth:`load`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import ConfigError, ModelError
from ...core.plugin_api import LoadRequest, ModelSpec
from ...retrieval.identity import ModelIdentity, file_fingerprint
from ..host_memory import release_memory
from ..parking import ParksModule

PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer*")
DEFAULT_MAX_TOKENS = 256
POOLING_MODES = ("mean", "cls", "max")


def check_folder(spec: ModelSpec, folder: Path | None) -> Path:
    """The model folder, or WeightsNotFoundError naming what is missing (safetensors only)."""
    from dataclasses import replace

    from ...registry.weights import explain_missing

    if folder is None or not folder.is_dir():
        raise explain_missing(spec, folder)
    missing = tuple(f for f in REQUIRED_FILES if not any(folder.glob(f)))
    if missing:
        raise explain_missing(replace(spec, files=missing), folder)
    return folder


def read_pooling(folder: Path) -> tuple[str, bool]:
    """The pooling mode and whether embeddings are normalised, from ``modules.json``."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return "mean", True
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = {str(m.get("type", "")).rsplit(".", 1)[-1]: m for m in modules}
    normalize = "Normalize" in kinds
    mode = "mean"
    pooling = kinds.get("Pooling")
    if pooling is not None:
        config_file = folder / str(pooling.get("path", "")) / "config.json"
        if config_file.is_file():
            config = json.loads(config_file.read_text(encoding="utf-8"))
            chosen = [m for m in POOLING_MODES if config.get(f"pooling_mode_{m}_tokens")]
            if config.get("pooling_mode_cls_token"):
                chosen = ["cls"]
            if len(chosen) != 1:
                raise ModelError(f"{config_file}: unsupported pooling {config}")
            mode = chosen[0]
    return mode, normalize


def read_max_tokens(folder: Path) -> int:
    config_file = folder / "sentence_bert_config.json"
    if config_file.is_file():
        value = json.loads(config_file.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_MAX_TOKENS


class MiniLMRunner(ParksModule):
    """A loaded sentence encoder: ``embed_texts(texts) -> (N, 384)`` unit vectors."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"
        self.precision = spec.default_precision
        self.pooling = "mean"
        self.normalize = True
        self.max_tokens = DEFAULT_MAX_TOKENS
        self.identity: ModelIdentity | None = None

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def load(self, request: LoadRequest) -> None:
        if request.precision not in PRECISIONS:
            known = ", ".join(PRECISIONS)
            raise ConfigError(
                f"model {self.spec.name!r} has no precision {request.precision!r} (known: {known})"
            )
        folder = check_folder(self.spec, Path(request.weights) if request.weights else None)
        pooling, normalize = read_pooling(folder)
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise ModelError(
                f"model {self.spec.name!r} needs torch and transformers ({exc})"
            ) from exc
        dtype = getattr(torch, PRECISIONS[request.precision])
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        model = AutoModel.from_pretrained(
            folder, dtype=dtype, use_safetensors=True, trust_remote_code=False
        )
        self.model = model.to(request.device).eval()
        release_memory(request.device)
        self.tokenizer = tokenizer
        self.device, self.precision = request.device, request.precision
        self.pooling, self.normalize = pooling, normalize
        self.max_tokens = min(read_max_tokens(folder), model.config.max_position_embeddings)
        self.identity = ModelIdentity(
            name=self.spec.name,
            dim=int(model.config.hidden_size),
            fingerprint=file_fingerprint(folder / "model.safetensors"),
            source=str(folder),
            revision=self.spec.revision,
        )

    def unload(self) -> None:
        self.model = None
        self.tokenizer = None
        release_memory(self.device)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Sentence embeddings, float32, one row per text (unit length when the model says so).

        Texts are truncated to the model's ``max_seq_length`` word pieces and run in batches of
        similar length; rows follow the order of ``texts``.
        """
        import torch

        model = self._require()
        dim = self.identity.dim if self.identity else 0
        out = np.zeros((len(texts), dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(str(texts[i])))
        with torch.inference_mode():
            for start in range(0, len(order), max(1, batch_size)):
                chosen = order[start : start + batch_size]
                encoded = self.tokenizer(
                    [str(texts[i]) for i in chosen],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                ).to(self.device)
                hidden = model(**encoded).last_hidden_state.float()
                pooled = _pool(hidden, encoded["attention_mask"], self.pooling)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[chosen] = pooled.cpu().numpy()
        return out

    def _require(self) -> Any:
        if self.model is None:
            raise ModelError(f"model {self.spec.name!r} is not loaded")
        return self.model


def _pool(hidden: Any, mask: Any, mode: str) -> Any:
    if mode == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(weights == 0, float("-inf")).amax(dim=1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
