"""BiomedCLIP's open_clip configuration and the files of a model folder.

A model folder holds what the Hub repository holds: ``open_clip_config.json``, the weights
(``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin``) and the PubMedBERT
tokenizer files. Its text tower names a second Hub repository
(``microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract``) for its BERT configuration; rather
than fetch that, the runner derives it: from ``text_config.json`` in the folder when there is
one, else from PubMedBERT-base's published shape with the vocabulary and position counts read
off the checkpoint itself. Nothing here imports torch at module import time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...core.errors import ModelError, WeightsNotFoundError

CONFIG_FILE = "open_clip_config.json"
TEXT_CONFIG_FILE = "text_config.json"
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
CHECKPOINT_PREFERENCE = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "model.safetensors",
    "open_clip_pytorch_model.bin",
    "pytorch_model.bin",
)
"""Which weights file of a folder to read: safetensors first, pickled files only if alone."""

PUBMEDBERT_IDS = frozenset(
    {
        "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
        "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract",
    }
)

BIOMEDCLIP_CONFIG: dict[str, Any] = {
    "model_cfg": {
        "embed_dim": 512,
        "vision_cfg": {
            "timm_model_name": "vit_base_patch16_224",
            "timm_model_pretrained": False,
            "timm_pool": "",
            "timm_proj": "linear",
            "image_size": 224,
        },
        "text_cfg": {
            "hf_model_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
            "hf_tokenizer_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
            "hf_proj_type": "mlp",
            "hf_pooler_type": "cls_last_hidden_state_pooler",
            "context_length": 256,
        },
    },
    "preprocess_cfg": {
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
    },
}
"""``open_clip_config.json`` of microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224."""

PUBMEDBERT_CONFIG: dict[str, Any] = {
    "model_type": "bert",
    "architectures": ["BertModel"],
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}
"""PubMedBERT-base (BERT-base, uncased PubMed vocabulary). ``vocab_size`` and
``max_position_embeddings`` are replaced by what the checkpoint holds."""

WORD_EMBEDDINGS = "text.transformer.embeddings.word_embeddings.weight"
POSITION_EMBEDDINGS = "text.transformer.embeddings.position_embeddings.weight"


def read_config(folder: Path) -> dict[str, Any]:
    """The folder's ``open_clip_config.json`` (with ``model_cfg``), or a clear error."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise WeightsNotFoundError(f"{folder}: no {CONFIG_FILE} (an open_clip model folder)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from exc
    model_cfg = config.get("model_cfg") if isinstance(config, dict) else None
    if not isinstance(model_cfg, dict) or "vision_cfg" not in model_cfg:
        raise ModelError(f"{path}: expected a 'model_cfg' object with 'vision_cfg' and 'text_cfg'")
    return config


def find_checkpoint(folder: Path) -> Path | None:
    """The weights file of a model folder: the preferred names first, safetensors first."""
    for name in CHECKPOINT_PREFERENCE:
        if (folder / name).is_file():
            return folder / name
    for pattern in ("*.safetensors", "*.bin", "*.pth"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def checkpoint_shapes(checkpoint: Path, keys: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """The shapes of some tensors of a checkpoint, without reading the whole file into memory."""
    if checkpoint.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(checkpoint), framework="pt") as handle:
            names = set(handle.keys())
            return {k: tuple(handle.get_slice(k).get_shape()) for k in keys if k in names}
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    shapes = {}
    for key in keys:
        for candidate in (key, f"module.{key}"):
            if candidate in state:
                shapes[key] = tuple(state[candidate].shape)
    return shapes


def text_tower_config(
    folder: Path, text_cfg: Mapping[str, Any], checkpoint: Path | None
) -> dict[str, Any]:
    """The Hugging Face configuration of the text tower, found without the network.

    ``text_config.json`` in the folder wins; then a local path named by ``hf_model_name``; then,
    for PubMedBERT, its published shape fitted to the checkpoint.
    """
    local = folder / TEXT_CONFIG_FILE
    named = str(text_cfg.get("hf_model_name") or "")
    candidates = [local]
    if named:
        path = Path(named).expanduser()
        path = path if path.is_absolute() else folder / path
        candidates += [path, path / "config.json"]
    for path in candidates:
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    if named in PUBMEDBERT_IDS:
        config = dict(PUBMEDBERT_CONFIG)
        if checkpoint is not None:
            shapes = checkpoint_shapes(checkpoint, (WORD_EMBEDDINGS, POSITION_EMBEDDINGS))
            if WORD_EMBEDDINGS in shapes:
                config["vocab_size"] = shapes[WORD_EMBEDDINGS][0]
            if POSITION_EMBEDDINGS in shapes:
                config["max_position_embeddings"] = shapes[POSITION_EMBEDDINGS][0]
        return config
    raise WeightsNotFoundError(
        f"{folder}: the text tower {named or '(unnamed)'} needs its Hugging Face configuration; "
        f"put it in the folder as {TEXT_CONFIG_FILE}"
    )
