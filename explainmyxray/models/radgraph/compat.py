"""Shims that let the ``radgraph`` package (0.1.x) run on transformers 5, offline and safely.

``radgraph`` ships a trimmed copy of AllenNLP written against transformers 3/4. What breaks,
and what this module does about it:

1. **``encode_plus`` is gone** from transformers 5 tokenizers (calling the tokenizer does the
   same). AllenNLP's ``PretrainedTransformerTokenizer`` calls it while reverse-engineering the
   special tokens and again for every word, so building the model fails with an
   ``AttributeError``. :func:`patch_tokenizer` gives the tokenizer *instance* an ``encode_plus``
   that forwards to ``__call__``.
2. **``build_inputs_with_special_tokens`` is gone** too. The mismatched indexer calls it to fold
   inputs longer than ``max_length`` (512) word pieces into segments. :func:`patch_tokenizer`
   adds the BERT form (``[CLS] a [SEP]`` / ``[CLS] a [SEP] b [SEP]``); every RadGraph encoder is
   a BERT.
3. **``embeddings.position_ids``** became a non-persistent buffer (transformers 4.31): a
   ``weights.th`` saved by an older version carries it, and strict loading then fails on an
   unexpected key. :func:`load_weights` drops such buffers (when the model has no such key),
   loads with ``weights_only=True`` and stays strict about everything else.
4. **Downloads.** ``RadGraph.__init__`` downloads its archive whenever its cache folder is empty
   (creating the folder first) and loads the encoder's tokenizer and configuration by Hub name.
   We never call it: :func:`build_model` builds the same DyGIE model from an archive folder that
   is already on disk, with the encoder resolved to a local folder first
   (:func:`resolve_encoder`), so nothing touches the network.

:func:`install` applies 1 and 2 to every tokenizer radgraph creates, by wrapping
``radgraph.allennlp.common.cached_transformers.get_tokenizer`` (radgraph's own module, never a
transformers class). It is idempotent. Everything here imports radgraph and torch lazily.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...core.errors import ModelError, WeightsNotFoundError

_INSTALLED_MARK = "_explainmyxray_compat"
ENCODER_FILES = ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json")
BENIGN_BUFFER_SUFFIXES = ("embeddings.position_ids",)


def patch_tokenizer(tokenizer: Any) -> Any:
    """Give a transformers 5 tokenizer the two methods radgraph's AllenNLP still calls."""
    if not hasattr(tokenizer, "encode_plus"):

        def encode_plus(text: Any, text_pair: Any = None, **kwargs: Any) -> Any:
            return tokenizer(text, text_pair, **kwargs)

        tokenizer.encode_plus = encode_plus
    if not hasattr(tokenizer, "build_inputs_with_special_tokens"):

        def build_inputs_with_special_tokens(ids: list[int], pair: list[int] | None = None):
            cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
            if cls is None or sep is None:
                raise ModelError(
                    f"tokenizer {type(tokenizer).__name__} has no [CLS]/[SEP] tokens; RadGraph "
                    f"needs a BERT tokenizer"
                )
            out = [cls, *ids, sep]
            return [*out, *pair, sep] if pair is not None else out

        tokenizer.build_inputs_with_special_tokens = build_inputs_with_special_tokens
    return tokenizer


def install() -> None:
    """Patch every tokenizer radgraph's AllenNLP creates (idempotent)."""
    from radgraph.allennlp.common import cached_transformers

    original: Callable[..., Any] = cached_transformers.get_tokenizer
    if getattr(original, _INSTALLED_MARK, False):
        return

    def get_tokenizer(model_name: str, **kwargs: Any) -> Any:
        return patch_tokenizer(original(model_name, **kwargs))

    setattr(get_tokenizer, _INSTALLED_MARK, True)
    cached_transformers.get_tokenizer = get_tokenizer


def resolve_encoder(name: str, override: str | Path | None = None) -> str:
    """A local folder for the encoder named in RadGraph's config (its tokenizer and config).

    ``override`` (a folder) wins; a name that is already a folder is kept; a Hub id is looked
    up in the Hugging Face cache only. Missing files raise :class:`WeightsNotFoundError`.
    """
    if override is not None:
        folder = Path(override).expanduser()
        if not (folder / "config.json").is_file():
            raise WeightsNotFoundError(
                f"RadGraph encoder folder {folder} has no config.json (it needs the encoder's "
                f"config.json and tokenizer files: {', '.join(ENCODER_FILES[1:])})"
            )
        return str(folder)
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "config.json")
    has_tokenizer = any(
        isinstance(try_to_load_from_cache(name, f), str) for f in ("vocab.txt", "tokenizer.json")
    )
    if isinstance(found, str) and has_tokenizer:
        return str(Path(found).parent)
    raise WeightsNotFoundError(
        f"RadGraph's encoder {name!r} (its config and tokenizer, not its weights) is not in the "
        f"Hugging Face cache; run `hf download {name} {' '.join(ENCODER_FILES)}` or set the step "
        f"option `encoder:` to a local folder holding them"
    )


def read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read RadGraph config {path}: {exc}") from exc


def encoder_name(config: Mapping[str, Any]) -> str:
    try:
        return str(config["model"]["embedder"]["token_embedders"]["bert"]["model_name"])
    except (KeyError, TypeError) as exc:
        raise ModelError(
            "RadGraph config has no model.embedder.token_embedders.bert.model_name"
        ) from exc


def build_model(model_dir: Path, encoder: str | Path | None = None) -> tuple[Any, Any]:
    """The DyGIE model (random weights, on CPU) and its dataset reader, from an archive folder.

    ``model_dir`` holds ``config.json``, ``vocabulary/`` and ``weights.th`` (the extracted
    RadGraph archive). Load the weights with :func:`load_weights`.
    """
    install()
    from radgraph.allennlp.data import Vocabulary, token_indexers
    from radgraph.allennlp.modules import text_field_embedders, token_embedders
    from radgraph.dygie.data.dataset_readers.dygie import DyGIEReader
    from radgraph.dygie.models import dygie

    raw = read_config(model_dir)
    local = resolve_encoder(encoder_name(raw), encoder)
    try:
        reader_params = raw["dataset_reader"]
        reader_bert = reader_params["token_indexers"]["bert"]
        embedder_bert = raw["model"]["embedder"]["token_embedders"]["bert"]
    except (KeyError, TypeError) as exc:
        raise ModelError(f"RadGraph config in {model_dir} lacks {exc}") from exc
    vocab_params = raw.get("vocabulary") or {}
    try:
        vocab = Vocabulary.from_files(
            str(model_dir / "vocabulary"),
            vocab_params.get("padding_token"),
            vocab_params.get("oov_token"),
        )
    except OSError as exc:
        raise ModelError(
            f"cannot read RadGraph vocabulary in {model_dir / 'vocabulary'} (the folder must "
            f"exist and be writable: AllenNLP puts a lock file there): {exc}"
        ) from exc
    indexer = token_indexers.PretrainedTransformerMismatchedIndexer(
        model_name=local, max_length=reader_bert.get("max_length")
    )
    reader = DyGIEReader(
        max_span_width=reader_params["max_span_width"], token_indexers={"bert": indexer}
    )
    embedder = text_field_embedders.BasicTextFieldEmbedder(
        {
            "bert": token_embedders.PretrainedTransformerMismatchedEmbedder(
                model_name=local, max_length=embedder_bert.get("max_length")
            )
        }
    )
    model_params = raw["model"].copy()
    for key in ("type", "embedder", "initializer", "module_initializer"):
        model_params.pop(key, None)
    model = dygie.DyGIE(vocab=vocab, embedder=embedder, **model_params)
    return model, reader


def load_weights(model: Any, path: Path) -> None:
    """Load ``weights.th`` into ``model``: weights only, strict but for benign stale buffers."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"cannot read RadGraph weights {path}: {exc}") from exc
    if not isinstance(state, Mapping):
        raise ModelError(f"RadGraph weights {path} hold a {type(state).__name__}, not a state dict")
    own = set(model.state_dict())
    state = {k: v for k, v in state.items() if k in own or not k.endswith(BENIGN_BUFFER_SUFFIXES)}
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise ModelError(
            f"RadGraph weights {path} do not match the model built from its config: "
            f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"RadGraph weights {path} do not fit the model: {exc}") from exc
