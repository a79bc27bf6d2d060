"""A tiny BiomedCLIP-shaped open_clip model with random weights, built offline, as a model folder.

Same structure as BiomedCLIP (a timm ViT image tower with a linear head, a BERT text tower with
an MLP projection and CLS pooling, an open_clip ``local-dir:`` folder with the tokenizer beside
the weights), at toy widths: timm's ``test_vit`` (64 wide, 160 px) and a 2-layer, 32-wide BERT
with a WordPiece vocabulary trained on radiology terms. Its embeddings mean nothing, but every
step of loading, preprocessing, embedding and retrieval runs for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import CONFIG_FILE, TEXT_CONFIG_FILE

TINY_EMBED_DIM = 32
TINY_IMAGE_SIZE = 160
TINY_CONTEXT = 64

_SENTENCES = (
    "large right pleural effusion with adjacent atelectasis",
    "no pleural effusion or pneumothorax; the lungs are clear",
    "cardiomegaly with signs of heart failure and interstitial edema",
    "fracture of the left clavicle; no other bony abnormality",
    "chest x-ray showing a nodule in the right upper lobe",
    "chest x-ray with no consolidation",
    "normal chest radiograph, heart size within normal limits",
)


def training_text() -> list[str]:
    """Radiology sentences and every PadChest finding name (so prompts tokenize to words)."""
    from ...report.ontology import load_ontology

    terms = [t.label for t in load_ontology().terms("finding")]
    return [*_SENTENCES, *terms]


def build_tokenizer(vocab_size: int = 600):
    """A lower-casing WordPiece BERT tokenizer (fast) trained on :func:`training_text`."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False
    )
    core.train_from_iterator(training_text(), trainer=trainer)
    cls_id, sep_id = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(tokenizer_object=core, do_lower_case=True)


def tiny_text_config(tokenizer) -> dict[str, Any]:
    return {
        "model_type": "bert",
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": TINY_CONTEXT,
        "type_vocab_size": 2,
        "pad_token_id": tokenizer.pad_token_id,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }


def tiny_open_clip_config() -> dict[str, Any]:
    return {
        "model_cfg": {
            "embed_dim": TINY_EMBED_DIM,
            "vision_cfg": {
                "timm_model_name": "test_vit",
                "timm_model_pretrained": False,
                "timm_pool": "",
                "timm_proj": "linear",
                "image_size": TINY_IMAGE_SIZE,
            },
            "text_cfg": {
                "hf_model_name": TEXT_CONFIG_FILE,
                "hf_tokenizer_name": "tiny-pubmedbert",
                "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler",
                "context_length": TINY_CONTEXT,
            },
        },
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
        },
    }


def build_tiny_biomedclip(out_dir: Path, *, seed: int = 0, safetensors: bool = True) -> Path:
    """Write a random tiny model folder (config, tokenizer, weights) and return it.

    ``safetensors=False`` writes ``open_clip_pytorch_model.bin`` instead (a pickled state dict,
    read back with ``weights_only=True``), like the Hub repository's original file.
    """
    import torch

    from .runner import build_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(out_dir)
    text_config = tiny_text_config(tokenizer)
    (out_dir / TEXT_CONFIG_FILE).write_text(json.dumps(text_config, indent=2), encoding="utf-8")
    config = tiny_open_clip_config()
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    torch.manual_seed(seed)
    model = build_model(out_dir, config, text_config, load_weights=False)
    # BERT's initialisation (std 0.02) makes every text look alike to a random 2-layer tower;
    # wider weights make the text embeddings depend on the words.
    with torch.no_grad():
        for parameter in model.text.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0.0, 0.5)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if safetensors:
        from safetensors.torch import save_file

        save_file(state, str(out_dir / "open_clip_model.safetensors"))
    else:
        torch.save(state, out_dir / "open_clip_pytorch_model.bin")
    return out_dir
