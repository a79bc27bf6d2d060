"""A tiny PaliGemma-2-shaped model (Gemma 2 text + SigLIP vision), random weights, built offline.

The real architecture, processor and special tokens at toy widths (every linear layer at least
64 wide, the smallest bitsandbytes quantizes), so the runner's loading and generation path runs
without the gated 3B weights. The tokenizer is a byte-level BPE trained on the radiology corpus
of MedGemma's tiny builder; its answers are noise, but their structure is real.
"""

from __future__ import annotations

from pathlib import Path

from ..medgemma.tiny import training_text
from ..tiny import (
    SIGLIP_SO400M_896,
    TINY_IMAGE_PROCESSOR,
    TINY_IMAGE_SIZE,
    TINY_PATCH_SIZE,
    TINY_TEXT_WIDTHS,
    TINY_VISION_WIDTHS,
    TINY_VOCAB,
    build_bpe_tokenizer,
    save_tiny,
)

SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<image>")
TINY_IMAGE_TOKENS = (TINY_IMAGE_SIZE // TINY_PATCH_SIZE) ** 2

# google/paligemma2-3b-pt-896's config.json: the text and vision towers.
PALIGEMMA2_3B_896_TEXT: dict = dict(
    vocab_size=257_216,
    hidden_size=2304,
    intermediate_size=9216,
    num_hidden_layers=26,
    num_attention_heads=8,
    num_key_value_heads=4,
    head_dim=256,
    query_pre_attn_scalar=256,
    sliding_window=4096,
    final_logit_softcapping=30.0,
    attn_logit_softcapping=50.0,
    hidden_activation="gelu_pytorch_tanh",
)
PALIGEMMA2_3B_896_VISION: dict = dict(SIGLIP_SO400M_896, projection_dim=2304)
PALIGEMMA2_IMAGE_TOKEN_INDEX = 257_152


def real_config():
    """The 3B 896-px model's configuration (for counting parameters on the meta device)."""
    from transformers import Gemma2Config, PaliGemmaConfig, SiglipVisionConfig

    return PaliGemmaConfig(
        text_config=Gemma2Config(**PALIGEMMA2_3B_896_TEXT).to_dict(),
        vision_config=SiglipVisionConfig(**PALIGEMMA2_3B_896_VISION).to_dict(),
        image_token_index=PALIGEMMA2_IMAGE_TOKEN_INDEX,
        projection_dim=PALIGEMMA2_3B_896_VISION["projection_dim"],
    )


def build_tokenizer(vocab_size: int = TINY_VOCAB):
    """A byte-level BPE fast tokenizer with PaliGemma's special tokens (``<image>`` included)."""
    return build_bpe_tokenizer(
        training_text(), SPECIAL_TOKENS, vocab_size, additional_special_tokens=["<image>"]
    )


def build_processor(tokenizer):
    """PaliGemma's processor: a SigLIP image processor that knows its token count."""
    from transformers import PaliGemmaProcessor, SiglipImageProcessor

    image_processor = SiglipImageProcessor(**TINY_IMAGE_PROCESSOR)
    image_processor.image_seq_length = TINY_IMAGE_TOKENS
    return PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_config(tokenizer):
    from transformers import Gemma2Config, PaliGemmaConfig, SiglipVisionConfig

    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>"))
    text = Gemma2Config(
        vocab_size=len(tokenizer), **TINY_TEXT_WIDTHS, max_position_embeddings=1024, **special
    )
    vision = SiglipVisionConfig(**TINY_VISION_WIDTHS, projection_dim=64)
    return PaliGemmaConfig(
        text_config=text.to_dict(),
        vision_config=vision.to_dict(),
        image_token_index=ids("<image>"),
        projection_dim=64,
        **special,
    )


def build_tiny_paligemma(out_dir: Path, *, seed: int = 0) -> Path:
    """Save a random tiny PaliGemma (safetensors, config, processor, tokenizer) into ``out_dir``."""
    import torch
    from transformers import PaliGemmaForConditionalGeneration

    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)  # adds PaliGemma's <loc>/<seg> tokens to the vocabulary
    config = tiny_config(processor.tokenizer)
    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration(config).eval()
    return save_tiny(model, processor, out_dir)
