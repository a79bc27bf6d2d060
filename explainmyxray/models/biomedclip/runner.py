"""Loading BiomedCLIP through open_clip, and embedding radiographs and report texts with it.

Weights come from a local folder (what the Hub repository holds, or ``local-dir:<folder>``) or
from the Hugging Face cache, found offline by the model manager; nothing is downloaded here.
open_clip builds the model from the folder's ``open_clip_config.json`` (``local-dir:`` schema)
and reads the weights itself: safetensors first, else ``torch.load(weights_only=True)``, with
strict key matching. torch and open_clip are imported inside :meth:`BiomedCLIPRunner.load`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import ConfigError, ModelError, WeightsNotFoundError
from ...core.plugin_api import LoadRequest, ModelSpec
from ...retrieval.identity import ModelIdentity, file_fingerprint
from ..host_memory import release_memory
from ..parking import ParksModule
from .config import CONFIG_FILE, find_checkpoint, has_tokenizer, read_config, text_tower_config
from .preprocess import ImageInput, image_batch

PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
LOCAL_DIR = "local-dir:"


def weights_folder(weights: Path | str | None) -> Path | None:
    """A weights argument as a folder: ``local-dir:`` prefixes are accepted and dropped."""
    if weights is None:
        return None
    text = str(weights)
    if text.startswith(LOCAL_DIR):
        text = text[len(LOCAL_DIR) :]
    return Path(text).expanduser()


def build_model(
    folder: Path,
    config: dict[str, Any],
    text_config: dict[str, Any],
    *,
    precision: str = "fp32",
    device: str = "cpu",
    load_weights: bool = True,
) -> Any:
    """open_clip's model of ``folder`` (``local-dir:``), its text tower configured offline."""
    import open_clip

    with tempfile.TemporaryDirectory(prefix="emx-text-config-") as tmp:
        text_file = Path(tmp) / "config.json"
        text_file.write_text(json.dumps(text_config), encoding="utf-8")
        text_cfg = {
            **config["model_cfg"].get("text_cfg", {}),
            "hf_model_name": str(text_file),
            "hf_model_pretrained": False,
        }
        try:
            model = open_clip.create_model(
                f"{LOCAL_DIR}{folder}",
                load_weights=load_weights,
                require_pretrained=load_weights,
                precision=precision,
                device=device,
                weights_only=True,
                text_cfg=text_cfg,
            )
        except (RuntimeError, ValueError, KeyError, OSError) as exc:
            raise ModelError(f"open_clip could not build the model of {folder}: {exc}") from exc
    return model.eval()


class BiomedCLIPRunner(ParksModule):
    """A loaded BiomedCLIP: ``embed_images``, ``embed_texts``, ``logit_scale``, ``identity``."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"
        self.precision = spec.default_precision
        self.identity: ModelIdentity | None = None
        self.image_size: tuple[int, int] = (224, 224)
        self.mean: tuple[float, ...] = ()
        self.std: tuple[float, ...] = ()
        self.prompt_cache: dict[str, np.ndarray] = {}

    @property
    def loaded(self) -> bool:
        return self.model is not None

    # --- lifecycle ---------------------------------------------------------------------------

    def load(self, request: LoadRequest) -> None:
        if request.precision not in PRECISIONS:
            known = ", ".join(PRECISIONS)
            raise ConfigError(
                f"model {self.spec.name!r} has no precision {request.precision!r} (known: {known})"
            )
        folder = self._folder(request.weights)
        config = read_config(folder)
        checkpoint = find_checkpoint(folder)
        if checkpoint is None:
            raise WeightsNotFoundError(
                f"model {self.spec.name!r}: {folder} has {CONFIG_FILE} but no weights "
                f"(open_clip_model.safetensors or open_clip_pytorch_model.bin)"
            )
        tokenizer_source = self._tokenizer_source(folder, config)
        text_cfg = config["model_cfg"].get("text_cfg", {})
        text_config = text_tower_config(folder, text_cfg, checkpoint)
        try:
            import open_clip
            import torch  # noqa: F401
        except ImportError as exc:
            raise ModelError(
                f"model {self.spec.name!r} needs torch, open_clip_torch, timm and transformers: "
                f"pip install 'explainmyxray[biomedclip]' ({exc})"
            ) from exc
        model = build_model(
            folder, config, text_config, precision=request.precision, device=request.device
        )
        release_memory(request.device)  # the fp32 build a cast left behind
        if tokenizer_source == folder:
            tokenizer = open_clip.get_tokenizer(f"{LOCAL_DIR}{folder}")
        else:
            tokenizer = open_clip.tokenizer.HFTokenizer(
                str(tokenizer_source), context_length=text_cfg.get("context_length", 77)
            )
        preprocess = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = preprocess.get("size", getattr(model.visual, "image_size", 224))
        self.image_size = (size, size) if isinstance(size, int) else tuple(size)  # type: ignore[assignment]
        self.mean = tuple(preprocess.get("mean", (0.5, 0.5, 0.5)))
        self.std = tuple(preprocess.get("std", (0.5, 0.5, 0.5)))
        self.model, self.tokenizer = model, tokenizer
        self.device, self.precision = request.device, request.precision
        self.prompt_cache = {}
        dim = int(config["model_cfg"].get("embed_dim", 0))
        self.identity = ModelIdentity(
            name=self.spec.name,
            dim=dim,
            fingerprint=file_fingerprint(checkpoint),
            source=str(folder),
            revision=self.spec.revision,
        )

    def unload(self) -> None:
        self.model = None
        self.tokenizer = None
        self.prompt_cache = {}
        release_memory(self.device)

    # --- inference ---------------------------------------------------------------------------

    @property
    def dtype(self) -> Any:
        return next(self._require().parameters()).dtype

    @property
    def logit_scale(self) -> float:
        """The temperature the model was trained with (CLIP's ``exp(logit_scale)``)."""
        import torch

        with torch.inference_mode():
            return float(self._require().logit_scale.float().exp())

    def embed_images(self, images: Sequence[ImageInput], batch_size: int = 16) -> np.ndarray:
        """L2-normalised image embeddings, float32, one row per image (grey ``[0, 1]`` pixels)."""
        import torch

        model = self._require()
        dtype = self.dtype
        rows: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(images), max(1, batch_size)):
                chunk = images[start : start + batch_size]
                batch = image_batch(
                    chunk, self.image_size, self.mean, self.std, dtype=dtype, device=self.device
                )
                features = model.encode_image(batch, normalize=True)
                rows.append(features.float().cpu().numpy())
        return _stack(rows, self.identity.dim if self.identity else 0)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised text embeddings, float32, one row per text."""
        import torch

        model = self._require()
        rows: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(texts), max(1, batch_size)):
                chunk = [str(t) for t in texts[start : start + batch_size]]
                tokens = self.tokenizer(chunk).to(self.device)
                features = model.encode_text(tokens, normalize=True)
                rows.append(features.float().cpu().numpy())
        return _stack(rows, self.identity.dim if self.identity else 0)

    def prompt_embeddings(self, prompts: Sequence[str]) -> np.ndarray:
        """Text embeddings of prompts, computed once per loaded model and kept."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self.prompt_cache]
        if missing:
            for prompt, row in zip(missing, self.embed_texts(missing), strict=True):
                self.prompt_cache[prompt] = row
        return np.stack([self.prompt_cache[p] for p in prompts]) if prompts else _stack([], 0)

    # --- helpers -----------------------------------------------------------------------------

    def _require(self) -> Any:
        if self.model is None:
            raise ModelError(f"model {self.spec.name!r} is not loaded")
        return self.model

    def _folder(self, weights: Path | None) -> Path:
        from ...registry.weights import explain_missing

        folder = weights_folder(weights)
        if folder is None or not folder.is_dir():
            raise explain_missing(self.spec, folder)
        return folder

    def _tokenizer_source(self, folder: Path, config: dict[str, Any]) -> Path:
        """The folder itself when it holds tokenizer files, else the cached tokenizer repo."""
        text_cfg = config["model_cfg"].get("text_cfg", {})
        name = text_cfg.get("hf_tokenizer_name")
        if has_tokenizer(folder) or not name:
            return folder
        cached = _cached_snapshot(str(name))
        if cached is not None:
            return cached
        raise WeightsNotFoundError(
            f"model {self.spec.name!r}: {folder} has no tokenizer files (tokenizer.json or "
            f"vocab.txt) and the tokenizer {name} is not in the Hugging Face cache"
        )


def _cached_snapshot(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(repo_id=repo_id, local_files_only=True))
    except Exception:
        return None
    return path if has_tokenizer(path) else None


def _stack(rows: list[np.ndarray], dim: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(rows, axis=0), dtype=np.float32)
