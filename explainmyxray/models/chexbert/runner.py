"""The CheXbert model runner: load, label report texts in batches, park, unload.

torch and transformers are imported inside :meth:`CheXbertRunner.load`, never at import time.

Weights: ``request.weights`` is the ``chexbert.pth`` file or a folder holding it (the model
manager passes the Hub cache folder when the file was pulled). The tokenizer is
``bert-base-uncased``: ``settings["tokenizer"]`` names a local folder (``vocab.txt`` at least),
else the Hugging Face cache is searched (never the network). The BERT configuration comes from
``settings["config"]`` (a mapping or a ``config.json`` path), else from ``config.json`` in the
tokenizer folder, else is ``bert-base-uncased``'s (transformers' ``BertConfig`` defaults).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...core.errors import ConfigError, ModelError, WeightsNotFoundError
from ...core.plugin_api import LoadRequest
from ..host_memory import release_memory
from ..parking import ParksModule
from .labels import CHEXPERT_LABELS, LabelReading, decode_class

CHECKPOINT_NAME = "chexbert.pth"
TOKENIZER_HUB_IDS = ("google-bert/bert-base-uncased", "bert-base-uncased")
MAX_TOKENS = 512
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def prepare_text(text: str | None) -> str:
    """CheXbert's text clean-up: strip, newlines to spaces, runs of whitespace to one space."""
    return " ".join((text or "").split())


class CheXbertRunner(ParksModule):
    """A loadable CheXbert labeler. ``label(texts)`` reads reports into the 14 CheXpert labels."""

    def __init__(self) -> None:
        self.network: Any = None
        self.tokenizer: Any = None
        self.device: str | None = None
        self.dtype: Any = None

    @property
    def loaded(self) -> bool:
        return self.network is not None

    # --- lifecycle ---------------------------------------------------------------------------

    def load(self, request: LoadRequest) -> None:
        import torch

        from .network import CheXbertNetwork, load_state_strict, read_checkpoint

        if request.precision not in DTYPES:
            known = ", ".join(DTYPES)
            raise ConfigError(f"CheXbert has no precision {request.precision!r} (known: {known})")
        checkpoint = self._checkpoint(request.weights)
        tokenizer_dir = request.settings.get("tokenizer")
        self.tokenizer = load_tokenizer(Path(tokenizer_dir) if tokenizer_dir else None)
        config = bert_config(request.settings.get("config"), tokenizer_dir)
        if config.vocab_size < len(self.tokenizer):
            raise ModelError(
                f"the tokenizer has {len(self.tokenizer)} tokens but the BERT config only "
                f"{config.vocab_size}: tokenizer and checkpoint do not belong together"
            )
        state = read_checkpoint(checkpoint)
        with torch.device(request.device):
            network = CheXbertNetwork(config)
        load_state_strict(network, state, checkpoint)
        del state
        self.dtype = getattr(torch, DTYPES[request.precision])
        self.network = network.to(dtype=self.dtype).eval()
        self.device = request.device
        release_memory(request.device)  # the fp32 build a cast left behind

    def unload(self) -> None:
        self.network = None
        self.tokenizer = None
        release_memory(self.device)

    # --- inference ---------------------------------------------------------------------------

    def label(self, texts: Sequence[str | None], batch_size: int = 16) -> list[LabelReading]:
        """Read each text into the 14 CheXpert labels (``None`` = not mentioned).

        Texts are cleaned like CheXbert's training data, truncated to 512 word pieces, and run
        in batches of similar length (the order of the result follows ``texts``).
        """
        import torch

        network = self._require()
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        encoded = self.tokenizer(
            [prepare_text(t) for t in texts],
            truncation=True,
            max_length=MAX_TOKENS,
            add_special_tokens=True,
        )["input_ids"]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[LabelReading | None] = [None] * len(encoded)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chosen = order[start : start + batch_size]
                ids, mask = _pad([encoded[i] for i in chosen], self.tokenizer.pad_token_id)
                logits = network(ids.to(self.device), mask.to(self.device))
                classes = torch.stack([h.argmax(dim=1) for h in logits], dim=1).tolist()
                for row, index in zip(classes, chosen, strict=True):
                    results[index] = {
                        name: decode_class(head, cls)
                        for head, (name, cls) in enumerate(zip(CHEXPERT_LABELS, row, strict=True))
                    }
        return [r for r in results if r is not None]

    # --- helpers -----------------------------------------------------------------------------

    def _require(self) -> Any:
        if self.network is None:
            raise ModelError("CheXbert is not loaded")
        return self.network

    @staticmethod
    def _checkpoint(weights: Path | None) -> Path:
        from .spec import chexbert_spec

        if weights is None:
            from ...registry.weights import explain_missing

            raise explain_missing(chexbert_spec())
        weights = Path(weights).expanduser()
        path = weights / CHECKPOINT_NAME if weights.is_dir() else weights
        if not path.is_file():
            from ...registry.weights import explain_missing

            raise explain_missing(chexbert_spec(), weights if weights.is_dir() else None)
        return path


def _pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def load_tokenizer(folder: Path | None) -> Any:
    """The uncased BERT word-piece tokenizer, from ``folder`` or the Hugging Face cache only.

    transformers 5 builds an empty tokenizer, without complaint, from a folder or Hub id that
    holds no vocabulary; so the files are found first and the result is checked.
    """
    from transformers import BertTokenizer

    if folder is None:
        folder = _cached_tokenizer_folder()
    folder = folder.expanduser()
    if not (folder / "vocab.txt").is_file() and not (folder / "tokenizer.json").is_file():
        raise WeightsNotFoundError(
            f"tokenizer folder {folder} has no vocab.txt or tokenizer.json; {TOKENIZER_HOW}"
        )
    tokenizer = BertTokenizer.from_pretrained(str(folder), local_files_only=True)
    if tokenizer.convert_tokens_to_ids("the") in (None, tokenizer.unk_token_id):
        raise ModelError(
            f"the tokenizer in {folder} does not know the word 'the': it is not an English "
            f"uncased BERT vocabulary ({len(tokenizer)} tokens)"
        )
    return tokenizer


TOKENIZER_HOW = (
    "run `hf download google-bert/bert-base-uncased vocab.txt tokenizer.json "
    "tokenizer_config.json config.json` or set the step option `tokenizer:` to a folder "
    "holding bert-base-uncased's vocab.txt"
)


def _cached_tokenizer_folder() -> Path:
    from huggingface_hub import try_to_load_from_cache

    for hub_id in TOKENIZER_HUB_IDS:
        for name in ("vocab.txt", "tokenizer.json"):
            found = try_to_load_from_cache(hub_id, name)
            if isinstance(found, str):
                return Path(found).parent
    raise WeightsNotFoundError(
        f"the bert-base-uncased tokenizer CheXbert needs is not in the Hugging Face cache; "
        f"{TOKENIZER_HOW}"
    )


def bert_config(config: Mapping[str, Any] | str | Path | None, tokenizer_dir: Any) -> Any:
    """The BERT configuration: given, else beside the tokenizer, else bert-base-uncased's."""
    from transformers import BertConfig

    if isinstance(config, Mapping):
        return BertConfig(**config)
    if config is not None:
        return BertConfig(**_read_json(Path(config)))
    if tokenizer_dir is not None:
        candidate = Path(tokenizer_dir).expanduser() / "config.json"
        if candidate.is_file():
            values = _read_json(candidate)
            kind = values.get("model_type", "bert")
            if kind != "bert":
                raise ModelError(f"{candidate} describes a {kind!r} model, not BERT")
            return BertConfig(**values)
    return BertConfig()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read BERT config {path}: {exc}") from exc
