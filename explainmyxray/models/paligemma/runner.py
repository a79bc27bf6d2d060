"""Loading PaliGemma 2 (Gemma 2 with a SigLIP vision tower) through transformers' own classes.

Precisions: ``bf16``, ``nf4`` (bitsandbytes 4-bit, as for MedGemma) and ``fp32``. No remote
code, safetensors only. torch and transformers are imported inside :meth:`load` only.
"""

from __future__ import annotations

from typing import Any

from explainmyxray.core.errors import ConfigError, ModelError
from explainmyxray.core.plugin_api import LoadRequest, ModelSpec

from ..host_memory import release_memory
from ..medgemma.runner import check_weights, nf4_config
from ..parking import ParksModule

PRECISIONS = ("bf16", "nf4", "fp32")


class PaliGemmaRunner(ParksModule):
    """A loaded PaliGemma: ``model`` (eval mode), ``processor`` (left padding), ``device``."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model: Any = None
        self.processor: Any = None
        self.device: str | None = "cpu"
        self.precision = spec.default_precision
        self.compute_dtype: Any = None

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def load(self, request: LoadRequest) -> None:
        precision = request.precision
        if precision not in PRECISIONS:
            raise ConfigError(
                f"model {self.spec.name!r}: precision {precision!r} is not one of "
                f"{', '.join(PRECISIONS)}"
            )
        weights = check_weights(self.spec, request.weights)
        try:
            import torch
            from transformers import PaliGemmaForConditionalGeneration, PaliGemmaProcessor
        except ImportError as exc:
            raise ModelError(
                f"model {self.spec.name!r} needs torch and transformers: "
                f"pip install 'explainmyxray[medgemma]' ({exc})"
            ) from exc

        self.compute_dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        kwargs: dict[str, Any] = {
            "dtype": self.compute_dtype,
            "device_map": {"": request.device},
            "trust_remote_code": False,
            "use_safetensors": True,
        }
        if precision == "nf4":
            kwargs["quantization_config"] = nf4_config()
        model = PaliGemmaForConditionalGeneration.from_pretrained(weights, **kwargs).eval()
        processor = PaliGemmaProcessor.from_pretrained(weights, trust_remote_code=False)
        processor.tokenizer.padding_side = "left"
        self.model, self.processor = model, processor
        self.device, self.precision = request.device, precision

    def unload(self) -> None:
        self.model = None
        self.processor = None
        release_memory(self.device)

    def _require(self) -> Any:
        if self.model is None:
            raise ModelError(f"model {self.spec.name!r} is not loaded")
        return self.model

    def park(self) -> int:
        """Move the weights to pinned host memory (bf16/fp32 only: 4-bit layers stay put)."""
        self._require()
        if self.precision == "nf4":
            raise ModelError("4-bit (nf4) weights are not parked; the model is unloaded instead")
        host_bytes = super().park()
        self.device = "cpu"
        return host_bytes

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` takes for this model's tokenizer."""
        if self.processor is None:
            raise ModelError(f"model {self.spec.name!r} is not loaded")
        return len(self.processor.tokenizer(text, add_special_tokens=False)["input_ids"])
