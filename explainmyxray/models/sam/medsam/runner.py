"""The MedSAM model runner: build SAM ViT-B, load ``medsam_vit_b.pth`` safely, park, unload.

``request.weights`` is the checkpoint file or a folder holding ``medsam_vit_b.pth`` (the model
manager passes the Hub cache folder once the file was pulled). Settings: ``architecture``
(``vit_b``; ``tiny`` for tests) and ``resize`` (``stretch``, MedSAM's; or ``longest_side``).
torch and segment_anything are imported inside :meth:`MedSAMRunner.load`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ....core.errors import ConfigError, ModelError
from ....core.plugin_api import LoadRequest
from ...host_memory import release_memory
from ..runner import SegmenterRunner

CHECKPOINT_NAME = "medsam_vit_b.pth"
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def checkpoint_path(weights: Path | None) -> Path:
    """The checkpoint file ``weights`` names (a file, or a folder holding it)."""
    from ....registry.weights import explain_missing
    from .spec import medsam_spec

    if weights is None:
        raise explain_missing(medsam_spec())
    weights = Path(weights).expanduser()
    path = weights / CHECKPOINT_NAME if weights.is_dir() else weights
    if not path.is_file():
        raise explain_missing(medsam_spec(), weights if weights.is_dir() else None)
    return path


def read_state_dict(path: Path) -> dict[str, Any]:
    """The checkpoint's tensors (``torch.load(weights_only=True)``), unwrapped from ``model``."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"could not read MedSAM checkpoint {path}: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ModelError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def load_network(path: Path, architecture: str = "vit_b") -> Any:
    """A SAM network of ``architecture`` with the checkpoint's weights (strict), in eval mode."""
    from .architecture import build_sam_network

    network = build_sam_network(architecture)
    state = read_state_dict(path)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        summary = str(exc).splitlines()[0]
        raise ModelError(
            f"{path} is not a MedSAM {architecture} checkpoint (its tensors do not match SAM "
            f"{architecture}'s): {summary} ..."
        ) from exc
    del state
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network


class MedSAMRunner(SegmenterRunner):
    """A loadable MedSAM; :attr:`model` is the loaded :class:`~.segmenter.MedSAM`."""

    def load(self, request: LoadRequest) -> None:
        import torch

        from .segmenter import MedSAM

        if request.precision not in DTYPES:
            known = ", ".join(DTYPES)
            raise ConfigError(f"MedSAM has no precision {request.precision!r} (known: {known})")
        architecture = str(request.settings.get("architecture", "vit_b"))
        resize = request.settings.get("resize", "stretch")
        if resize not in ("stretch", "longest_side"):
            raise ConfigError(f"MedSAM resize must be stretch or longest_side, not {resize!r}")
        network = load_network(checkpoint_path(request.weights), architecture)
        network.image_encoder.to(getattr(torch, DTYPES[request.precision]))
        network.to(request.device)
        self.model = MedSAM(network, request.device, resize)
        self.device = request.device
        release_memory(request.device)

    def _require(self) -> Any:
        if self.model is None or self.model.net is None:
            raise ModelError("MedSAM is not loaded")
        return self.model
