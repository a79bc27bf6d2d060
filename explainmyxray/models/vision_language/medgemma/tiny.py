"""A tiny MedGemma-shaped model (Gemma 3 text + SigLIP vision) with random weights, built offline.

It has the real architecture, processor and special tokens at toy widths, so the whole loading and
generation path of the MedGemma runner can be exercised without the gated 4B weights. Every linear
layer is at least 64 wide, the smallest width bitsandbytes 4-bit quantizes. The tokenizer is a BPE
trained on a few radiology sentences; its output is noise, but its structure is real.
"""

from __future__ import annotations

from pathlib import Path

from ..tiny import (
    SIGLIP_SO400M_896,
    TINY_IMAGE_PROCESSOR,
    TINY_TEXT_WIDTHS,
    TINY_VISION_WIDTHS,
    TINY_VOCAB,
    build_bpe_tokenizer,
    save_tiny,
)
from .prompt import (
    CHAT_TEMPLATE,
    CONTEXT_HEADER,
    PADCHEST_FINDINGS,
    PADCHEST_LOCATIONS,
    instruction,
)

SPECIAL_TOKENS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)

TINY_TOKENS_PER_IMAGE = 4

_SENTENCES = (
    "FINDINGS: cardiomegaly; pleural effusion; no pneumothorax.",
    "LOCATIONS: pleural effusion - right costophrenic angle; atelectasis - left lower lobe.",
    "IMPRESSION: enlarged cardiac silhouette with a small right pleural effusion.",
    "The lungs are clear. No consolidation, effusion or pneumothorax.",
    "Heart size is normal. Mediastinal contours are unremarkable.",
    "Degenerative changes of the thoracic spine. Aortic elongation.",
    "Increased interstitial markings in both lower lobes, suggestive of chronic changes.",
)


# MedGemma-4B-it's config.json (Gemma 3 4B): text and vision towers, for full-size random models.
MEDGEMMA_4B_TEXT: dict = dict(
    vocab_size=262_208,
    hidden_size=2560,
    intermediate_size=10_240,
    num_hidden_layers=34,
    num_attention_heads=8,
    num_key_value_heads=4,
    head_dim=256,
    query_pre_attn_scalar=256,
    sliding_window=1024,
    max_position_embeddings=131_072,
    rope_parameters={
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
    },
)
MEDGEMMA_4B_VISION: dict = dict(SIGLIP_SO400M_896)
MEDGEMMA_4B_IMAGE_TOKENS = 256


def training_text() -> list[str]:
    """The little radiology corpus the tiny tokenizer learns its merges from (the instruction is
    part of it, so that prompts take few tokens and the tests run fast)."""
    terms = [*PADCHEST_FINDINGS, *PADCHEST_LOCATIONS]
    return [*_SENTENCES, *terms, " ".join(terms), instruction(), CONTEXT_HEADER]


def build_tokenizer(vocab_size: int = TINY_VOCAB):
    """A byte-level BPE fast tokenizer with the special tokens Gemma 3's processor expects."""
    tokenizer = build_bpe_tokenizer(
        training_text(),
        SPECIAL_TOKENS,
        vocab_size,
        boi_token="<start_of_image>",
        eoi_token="<end_of_image>",
        image_token="<image_soft_token>",
        add_bos_token=True,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer):
    from transformers import Gemma3ImageProcessor, Gemma3Processor

    return Gemma3Processor(
        image_processor=Gemma3ImageProcessor(**TINY_IMAGE_PROCESSOR),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
        image_seq_length=TINY_TOKENS_PER_IMAGE,
    )


def tiny_config(tokenizer):
    from transformers import Gemma3Config, Gemma3TextConfig, SiglipVisionConfig

    ids = tokenizer.convert_tokens_to_ids
    special = dict(
        pad_token_id=ids("<pad>"),
        bos_token_id=ids("<bos>"),
        eos_token_id=[ids("<eos>"), ids("<end_of_turn>")],
    )
    text = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        **TINY_TEXT_WIDTHS,
        max_position_embeddings=4096,
        layer_types=["sliding_attention", "full_attention"],
        **special,
    )
    return Gemma3Config(
        text_config=text.to_dict(),
        vision_config=SiglipVisionConfig(**TINY_VISION_WIDTHS).to_dict(),
        mm_tokens_per_image=TINY_TOKENS_PER_IMAGE,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
        **special,
    )


def build_tiny_medgemma(out_dir: Path, *, seed: int = 0) -> Path:
    """Save a random tiny MedGemma (safetensors, config, processor, tokenizer) into ``out_dir``."""
    import torch
    from transformers import Gemma3ForConditionalGeneration

    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    config = tiny_config(tokenizer)
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config).eval()
    # The multimodal projection starts at zero; random values make the image reach the logits.
    with torch.no_grad():
        projection = model.model.multi_modal_projector.mm_input_projection_weight
        projection.normal_(0.0, 0.5)
    return save_tiny(model, processor, out_dir)


def build_random_adapter(
    base_dir: Path, out_dir: Path, *, rank: int = 32, alpha: int = 64, seed: int = 1
) -> Path:
    """Save a LoRA adapter (all-linear, like the v2 adapter) with random non-zero weights.

    A fresh LoRA has B = 0 and changes nothing; random B makes its effect measurable.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3ForConditionalGeneration

    model = Gemma3ForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules="all-linear", lora_dropout=0.0)
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    peft_model.save_pretrained(out_dir)
    return Path(out_dir)


def build_random_medgemma_4b(out: Path, device: str = "cuda") -> Path:
    """Save a MedGemma-4B-shaped model with random bf16 weights (safetensors) and its processor.

    Built directly in bf16 on ``device``; the tokenizer is the tiny one (its ids fill the 4B
    vocabulary's first rows). Memory and speed depend on the shapes, not on the weights' values.
    Nothing is built when ``out`` already holds a ``config.json``.
    """
    import gc

    import torch
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
        Gemma3TextConfig,
        GenerationConfig,
        SiglipVisionConfig,
    )

    out = Path(out)
    if (out / "config.json").is_file():
        return out
    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    eos = [ids("<eos>"), ids("<end_of_turn>")]
    special = dict(pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"), eos_token_id=eos)
    config = Gemma3Config(
        text_config=Gemma3TextConfig(**MEDGEMMA_4B_TEXT, **special).to_dict(),
        vision_config=SiglipVisionConfig(**MEDGEMMA_4B_VISION).to_dict(),
        mm_tokens_per_image=MEDGEMMA_4B_IMAGE_TOKENS,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
        **special,
    )
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = Gemma3ForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig(**special)
    model.save_pretrained(out, safe_serialization=True)
    side = MEDGEMMA_4B_VISION["image_size"]
    image_processor = Gemma3ImageProcessor(
        size={"height": side, "width": side}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
        image_seq_length=MEDGEMMA_4B_IMAGE_TOKENS,
    ).save_pretrained(out)
    del model
    gc.collect()
    if str(device).startswith("cuda"):
        torch.cuda.empty_cache()
    return out
