"""The LiteMedSAM model runner: load the checkpoint in fp32, park, unload."""

from __future__ import annotations

from typing import Any

from ....core.errors import ConfigError, ModelError
from ....core.plugin_api import LoadRequest
from ..runner import SegmenterRunner


class LiteMedSAMRunner(SegmenterRunner):
    """Loads LiteMedSAM (fp32); :attr:`model` is the loaded :class:`~.network.LiteMedSAM`."""

    def load(self, request: LoadRequest) -> None:
        from .network import LiteMedSAM

        if request.precision != "fp32":
            raise ConfigError(f"LiteMedSAM runs in fp32 only, not {request.precision!r}")
        self.model = LiteMedSAM.load(request.weights, device=request.device)
        self.device = request.device

    def _require(self) -> Any:
        if self.model is None:
            raise ModelError("LiteMedSAM is not loaded")
        return self.model
