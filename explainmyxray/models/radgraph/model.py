"""RadGraph: entities and relations of radiology report text, and the RadGraph F1 between reports.

The model is the ``radgraph`` package's DyGIE++ model (Jain et al. 2021; Delbrouck et al.
2022), built and loaded through :mod:`.radgraph_compat` so that it runs on transformers 5 and
never downloads. The metric is the package's own reward (``radgraph.rewards.compute_reward``,
the computation inside ``F1RadGraph``) at its three levels:

* ``simple`` (RG_E): F1 over (entity tokens, entity label) pairs;
* ``partial`` (RG_ER): the same, with whether the entity has a relation;
* ``complete``: F1 over entities without relations plus every (entity, label, relation,
  target) tuple.

Weights: the archive ``radgraph.tar.gz`` (or ``radgraph-xl.tar.gz``) from the Hub repository
``StanfordAIMI/RRG_scorers`` (the one ``radgraph`` itself downloads from; no revision pinned,
none verified here), plus the encoder's tokenizer and config (its weights are in the archive).
``request.weights`` may be the archive, a folder holding it (the Hub cache folder), the
extracted folder (``config.json``, ``vocabulary/``, ``weights.th``), or the folder the
``radgraph`` package extracts to (``<cache>/radgraph/<version>/<model_type>/``), which is also
searched by default. Archives are extracted once into ``settings["extract_dir"]`` (default
``$XDG_CACHE_HOME/explainmyxray/radgraph``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...core.errors import ConfigError, ModelError
from ...core.plugin_api import LoadRequest, ModelSpec
from ..host_memory import release_memory
from ..parking import ParksModule

ARCHIVES = {"radgraph": "radgraph.tar.gz", "radgraph-xl": "radgraph-xl.tar.gz"}
HUB_ID = "StanfordAIMI/RRG_scorers"
MODEL_FILES = ("config.json", "weights.th", "vocabulary")
LEVELS = ("simple", "partial", "complete")

# Measured on the development machine (CPU, torch 2.14, transformers 5.24): process RSS growth
# across RadGraphRunner.load of a stand-in of RadGraph's size, random weights: a BERT-base
# encoder (30,522 word pieces, 768 hidden, 12 layers) with DyGIE heads (span width 12, feature
# size 20, feed-forward 2 x 150): 116,545,969 parameters = 466,183,876 bytes.
MEMORY_BYTES = {"fp32": 471_736_320}
WORKSPACE_BYTES = 64 * 1024**2


class RadGraphRunner(ParksModule):
    """A loadable RadGraph model; ``annotate(texts)`` returns one annotation dict per text."""

    def __init__(self, model_type: str = "radgraph") -> None:
        if model_type not in ARCHIVES:
            raise ConfigError(
                f"unknown RadGraph model {model_type!r} (known: {', '.join(ARCHIVES)})"
            )
        self.model_type = model_type
        self.model: Any = None
        self.reader: Any = None
        self.device: str | None = None

    def load(self, request: LoadRequest) -> None:
        try:
            import radgraph  # noqa: F401
        except ImportError as exc:
            raise ModelError(
                "RadGraph needs the radgraph package: pip install radgraph (or the "
                "explainmyxray[chexbert] extra)"
            ) from exc
        if request.precision != "fp32":
            raise ConfigError(f"RadGraph runs in fp32 only, not {request.precision!r}")
        from .compat import build_model, load_weights

        extract_dir = request.settings.get("extract_dir")
        model_dir = model_folder(
            self.model_type, request.weights, Path(extract_dir) if extract_dir else None
        )
        model, reader = build_model(model_dir, request.settings.get("encoder"))
        load_weights(model, model_dir / "weights.th")
        self.model = model.to(request.device).eval()
        self.reader = reader
        self.device = request.device

    def unload(self) -> None:
        self.model = None
        self.reader = None
        release_memory(self.device)

    def _require(self) -> Any:
        if self.model is None:
            raise ModelError("RadGraph is not loaded")
        return self.model

    def annotate(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """RadGraph's annotation of each text: ``{"text": ..., "entities": {id: entity}}``.

        An entity is ``{"tokens", "label", "start_ix", "end_ix", "relations": [[relation,
        target id], ...]}``, as the ``radgraph`` package returns it. The model reads one
        report at a time (DyGIE does not batch documents).
        """
        import torch
        from radgraph.allennlp.data.dataloader import PyTorchDataLoader
        from radgraph.allennlp.data.dataset_readers import AllennlpDataset
        from radgraph.utils import batch_to_device, postprocess_reports, preprocess_reports

        model = self._require()
        if not texts:
            return []
        documents = preprocess_reports([t if t.strip() else "None" for t in texts], self.model_type)
        outputs = []
        with torch.inference_mode(), warnings.catch_warnings():
            # an empty report is read as "None", one token, which the reader warns about
            warnings.filterwarnings("ignore", message=".*single token or no tokens.*")
            data = AllennlpDataset([self.reader.text_to_instance(doc) for doc in documents])
            data.index_with(model.vocab)
            for batch in PyTorchDataLoader(batch_size=1, dataset=data):
                output = model(**batch_to_device(batch, self.device))
                outputs.append(model.make_output_human_readable(output).to_json())
        annotated = postprocess_reports(outputs)
        missing = [i for i in range(len(texts)) if str(i) not in annotated]
        if missing:
            raise ModelError(f"RadGraph produced no annotation for texts {missing}")
        return [annotated[str(i)] for i in range(len(texts))]


def graph(annotation: Mapping[str, Any]) -> dict[str, list[list[str]]]:
    """The entities (``[tokens, label]``) and relations (``[source, relation, target]``)."""
    entities = annotation.get("entities", {})
    return {
        "entities": [[e["tokens"], e["label"]] for e in entities.values()],
        "relations": [
            [e["tokens"], relation, entities[target]["tokens"]]
            for e in entities.values()
            for relation, target in e.get("relations", [])
            if target in entities
        ],
    }


def f1_levels(hypothesis: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, float]:
    """RadGraph F1 at the three levels, with the ``radgraph`` package's own reward function."""
    from radgraph.rewards import compute_reward

    values = compute_reward(hypothesis, reference, "all")
    return {level: float(v) for level, v in zip(LEVELS, values, strict=True)}


# --- where the model is -----------------------------------------------------------------------


def model_folder(model_type: str, weights: Path | None, extract_dir: Path | None = None) -> Path:
    """The extracted model folder for ``weights`` (see the module docstring for the forms)."""
    spec = radgraph_spec(model_type)
    if weights is None:
        from ...registry.weights import explain_missing

        raise explain_missing(spec)
    weights = Path(weights).expanduser()
    archive_name = ARCHIVES[model_type]
    candidates = [weights, weights / model_type] if weights.is_dir() else []
    for folder in candidates:
        if _is_model_folder(folder):
            return folder
    archive = weights / archive_name if weights.is_dir() else weights
    if archive.is_file() and archive.name.endswith((".tar.gz", ".tgz")):
        return extract(archive, extract_dir or default_extract_dir())
    from ...registry.weights import explain_missing

    raise explain_missing(spec, weights if weights.is_dir() else None)


def _is_model_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "weights.th").is_file()


def default_extract_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "explainmyxray" / "radgraph"


def extract(archive: Path, into: Path) -> Path:
    """Extract ``archive`` once (keyed by its name, size and mtime); return the model folder."""
    stat = archive.resolve().stat()
    key = hashlib.sha1(f"{archive.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    target = into / f"{archive.name.split('.')[0]}-{key[:12]}"
    if not _find_model_folder(target):
        into.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=into))
        try:
            with tarfile.open(archive, "r:*") as tar:
                _safe_extract(tar, staging)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except (OSError, tarfile.TarError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelError(f"cannot extract RadGraph archive {archive}: {exc}") from exc
    found = _find_model_folder(target)
    if found is None:
        raise ModelError(
            f"RadGraph archive {archive} holds no config.json + weights.th (extracted to {target})"
        )
    return found


def _find_model_folder(root: Path) -> Path | None:
    if not root.is_dir():
        return None
    if _is_model_folder(root):
        return root
    nested = [p for p in root.iterdir() if p.is_dir() and _is_model_folder(p)]
    return nested[0] if len(nested) == 1 else None


def _safe_extract(tar: tarfile.TarFile, into: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    for member in tar.getmembers():
        destination = (into / member.name).resolve()
        if not destination.is_relative_to(root) or member.issym() or member.islnk():
            raise ModelError(f"refusing to extract {member.name!r}: it leaves the target folder")
    tar.extractall(into)


def package_cache_folder(model_type: str) -> Path | None:
    """Where the ``radgraph`` package itself extracted this model, if it did."""
    try:
        from importlib.metadata import version

        from appdirs import user_cache_dir
    except ImportError:
        return None
    try:
        folder = Path(user_cache_dir("radgraph")) / version("radgraph") / model_type
    except Exception:
        return None
    return folder if _is_model_folder(folder) else None


def radgraph_spec(model_type: str) -> ModelSpec:
    return ModelSpec(
        name=model_type,
        factory=lambda: RadGraphRunner(model_type),
        memory_bytes=MEMORY_BYTES,
        default_precision="fp32",
        family="dygie",
        hub_id=HUB_ID,
        revision=None,
        files=(ARCHIVES[model_type],),
        license="MIT (radgraph package); RadGraph model terms per PhysioNet",
        description=(
            f"RadGraph entity and relation extractor ({model_type}); scores RadGraph F1. Needs "
            f"the radgraph package and its encoder's tokenizer and config"
        ),
        extra="chexbert",
        locate=lambda: package_cache_folder(model_type),
    )
