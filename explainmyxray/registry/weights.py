"""Where model weights are: a local folder, a package asset, or the Hugging Face cache.

Nothing here downloads unless :func:`pull` is called. ``HF_HUB_OFFLINE=1`` is respected, and so
are ``HF_HOME`` and ``HF_TOKEN`` (through ``huggingface_hub`` itself).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import ModelError, WeightsNotFoundError
from ..core.plugin_api import ModelSpec


def _hub_snapshot(spec: ModelSpec, *, local_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    return Path(
        snapshot_download(
            repo_id=spec.hub_id,
            revision=spec.revision,
            allow_patterns=list(spec.files) or None,
            local_files_only=local_only,
        )
    )


def locate_weights(spec: ModelSpec) -> Path | None:
    """The folder (or file) holding the weights, or None when they are not on this machine."""
    if spec.locate is not None:
        found = spec.locate()
        if found is not None:
            return found
    if not spec.hub_id:
        return None
    try:
        path = _hub_snapshot(spec, local_only=True)
    except (ImportError, OSError, ValueError):  # no huggingface_hub, or not in the cache
        return None
    return path if not missing_files(spec, path) else None


NO_WEIGHTS_NEEDED = "ready (needs no weights)"


def weights_status(spec: ModelSpec) -> str | None:
    """What ``models list`` and ``doctor`` show for a model: where its weights are,
    :data:`NO_WEIGHTS_NEEDED`, or None when they are not on this machine."""
    if not spec.needs_weights:
        return NO_WEIGHTS_NEEDED
    where = locate_weights(spec)
    return str(where) if where is not None else None


def missing_files(spec: ModelSpec, where: Path | None) -> list[str]:
    if where is None:
        return list(spec.files) or ["(the model's weights)"]
    if where.is_file():
        return []
    return [f for f in spec.files if not any(where.glob(f))]


def explain_missing(spec: ModelSpec, where: Path | None = None) -> WeightsNotFoundError:
    missing = ", ".join(missing_files(spec, where))
    place = str(where) if where else "the Hugging Face cache"
    how = (
        f"run `explainmyxray models pull {spec.name}` (Hub id {spec.hub_id}"
        + (f", revision {spec.revision}" if spec.revision else "")
        + ") or give a local folder as `weights:` in the pipeline"
        if spec.hub_id
        else "give a local folder as `weights:` in the pipeline"
    )
    return WeightsNotFoundError(f"model {spec.name!r}: missing {missing} in {place}; {how}")


def pull(spec: ModelSpec) -> Path:
    """Download the pinned revision's files (resumable: the Hub client skips what is there)."""
    if not spec.hub_id:
        raise ModelError(f"model {spec.name!r} has no Hub id; it ships with its package")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        raise ModelError(
            f"cannot download {spec.hub_id}: HF_HUB_OFFLINE is set (no Hub access)\n"
            + bring_in_offline(spec)
        )
    try:
        return _hub_snapshot(spec, local_only=False)
    except ImportError as exc:
        raise ModelError("downloading needs huggingface_hub: pip install huggingface_hub") from exc
    except Exception as exc:
        name = type(exc).__name__
        if name == "GatedRepoError":
            raise ModelError(
                f"{spec.hub_id} is gated: accept its license on the Hub page, then set HF_TOKEN "
                f"(or run `huggingface-cli login`) and pull again"
            ) from exc
        raise ModelError(
            f"downloading {spec.hub_id} failed: {name}: {exc}\n" + bring_in_offline(spec)
        ) from exc


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache this process reads (``HF_HUB_CACHE``, else ``HF_HOME``/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path("~/.cache/huggingface").expanduser()
    return Path(home).expanduser() / "hub"


def bring_in_offline(spec: ModelSpec) -> str:
    """How to get a model's weights onto a machine without Hub access, in three ways."""
    folder = "models--" + (spec.hub_id or spec.name).replace("/", "--")
    files = ", ".join(spec.files) or "the weights"
    pin = f" --revision {spec.revision}" if spec.revision else ""
    return (
        "To bring the weights in without the Hub, either:\n"
        f"  1. copy a Hugging Face cache: on a machine with access run "
        f"`huggingface-cli download {spec.hub_id}{pin}`, then copy its "
        f"{folder} folder into {hub_cache_dir()} here (or point HF_HOME at a copied cache);\n"
        f"  2. copy a model folder holding {files} anywhere and name it in the pipeline step, "
        f"e.g. `weights: /models/{spec.name}`.\n"
        f"Then check with `explainmyxray models verify {spec.name}`."
    )
