"""What the tiny random Gemma-family generators (MedGemma, PaliGemma) built offline share.

A byte-level BPE tokenizer trained on a little corpus, the toy widths of the text and SigLIP
vision towers (every linear layer at least 64 wide, the smallest width bitsandbytes 4-bit
quantizes), and saving the model with its processor; also the full-size SigLIP tower that both
real models use. Each family's ``tiny`` module adds its own special tokens, config class and
processor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

TINY_IMAGE_SIZE = 64
TINY_PATCH_SIZE = 16
TINY_VOCAB = 1024

TINY_TEXT_WIDTHS: dict[str, int] = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=32,
    query_pre_attn_scalar=32,
    sliding_window=64,
)
"""Keyword arguments of a tiny Gemma text config (Gemma 2 or Gemma 3)."""

TINY_VISION_WIDTHS: dict[str, Any] = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=TINY_IMAGE_SIZE,
    patch_size=TINY_PATCH_SIZE,
    vision_use_head=False,
)
"""Keyword arguments of a tiny ``SiglipVisionConfig``."""

TINY_IMAGE_PROCESSOR: dict[str, Any] = dict(
    size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
    image_mean=[0.5, 0.5, 0.5],
    image_std=[0.5, 0.5, 0.5],
)
"""Keyword arguments of the tiny models' image processors."""

SIGLIP_SO400M_896: dict[str, Any] = dict(
    hidden_size=1152,
    intermediate_size=4304,
    num_hidden_layers=27,
    num_attention_heads=16,
    image_size=896,
    patch_size=14,
    vision_use_head=False,
)
"""The real SigLIP So400m/14 vision tower at 896 px that MedGemma 4B and PaliGemma 2 896 share
(their ``config.json``), for full-size random models and parameter counts."""


def build_bpe_tokenizer(
    texts: Sequence[str], special_tokens: Sequence[str], vocab_size: int = TINY_VOCAB, **tokens: Any
):
    """A byte-level BPE fast tokenizer trained on ``texts``, padding on the left.

    ``special_tokens`` get the first ids and must include ``<bos>``, ``<eos>``, ``<pad>`` and
    ``<unk>``; ``tokens`` are further tokenizer arguments (a family's image tokens).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
        **tokens,
    )


def save_tiny(model: Any, processor: Any, out_dir: Path) -> Path:
    """Save ``model`` (safetensors) and ``processor`` into ``out_dir``.

    The model's generation config gets the special tokens of its text config.
    """
    from transformers import GenerationConfig

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = model.config.text_config
    model.generation_config = GenerationConfig(
        bos_token_id=text.bos_token_id,
        eos_token_id=text.eos_token_id,
        pad_token_id=text.pad_token_id,
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    return out_dir
