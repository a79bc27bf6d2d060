"""Loading a transformers vision-language generator (MedGemma, PaliGemma) at nf4, bf16 or fp32.

:class:`VisionLanguageRunner` does what the generator families share: the precision check,
safetensors-only weights, bitsandbytes NF4 quantization, the compute dtype, an optional PEFT LoRA
adapter, a left-padding processor, unloading and parking. A family names its model and processor
classes (:meth:`~VisionLanguageRunner.transformers_classes`) and may adjust the loaded processor.
torch, transformers and peft are imported inside :meth:`~VisionLanguageRunner.load` only.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from explainmyxray.core.errors import ConfigError, ModelError
from explainmyxray.core.plugin_api import LoadRequest, ModelSpec
from explainmyxray.registry.weights import explain_missing

from ..host_memory import release_memory
from ..parking import ParksModule

REQUIRED_FILES = ("config.json", "*.safetensors", "tokenizer*")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def check_weights(spec: ModelSpec, where: Path | None) -> Path:
    """The weights folder, or WeightsNotFoundError naming what is missing, where, and the fix.

    Only safetensors are accepted (no pickled ``.bin`` weights). A processor config may be the
    older ``preprocessor_config.json`` (the Hub repository) or ``processor_config.json`` (what
    recent transformers write), so either will do.
    """
    if where is None or not where.is_dir():
        raise explain_missing(spec, where)
    required = [f for f in REQUIRED_FILES if not any(where.glob(f))]
    if not any((where / name).is_file() for name in PROCESSOR_FILES):
        required.append(" or ".join(PROCESSOR_FILES))
    if required:
        raise explain_missing(replace(spec, files=tuple(required)), where)
    return where


def check_adapter(path: Path) -> Path:
    """``path`` if it holds a PEFT adapter saved as safetensors, else ConfigError saying why."""
    if not path.is_dir():
        raise ConfigError(f"LoRA adapter folder {path} does not exist")
    missing = [name for name in ADAPTER_FILES if not (path / name).is_file()]
    if missing:
        raise ConfigError(
            f"LoRA adapter folder {path} lacks {', '.join(missing)} "
            f"(a PEFT adapter saved with save_pretrained, safetensors)"
        )
    return path


def nf4_config():
    """bitsandbytes 4-bit NormalFloat with double quantization and bf16 compute."""
    import torch
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise ModelError(
            "precision nf4 needs bitsandbytes: pip install bitsandbytes (or use bf16)"
        ) from exc
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def with_adapter(model: Any, adapter: Path) -> Any:
    """``model`` with the LoRA adapter in ``adapter`` applied (inference only)."""
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ModelError(f"a LoRA adapter needs peft: pip install peft ({exc})") from exc
    try:
        return PeftModel.from_pretrained(model, adapter, is_trainable=False)
    except Exception as exc:
        raise ModelError(f"loading the LoRA adapter {adapter} failed: {exc}") from exc


class VisionLanguageRunner(ParksModule):
    """A loaded generator: ``model`` (eval mode), ``processor`` (left padding), ``device``.

    ``request.settings["adapter"]``, when given, is a PEFT LoRA adapter folder applied on load.
    """

    precisions: ClassVar[tuple[str, ...]] = ("nf4", "bf16", "fp32")

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model: Any = None
        self.processor: Any = None
        self.device: str = "cpu"
        self.precision = spec.default_precision
        self.compute_dtype: Any = None
        self.adapter: Path | None = None
        self.weights: Path | None = None

    def transformers_classes(self) -> tuple[Any, Any]:
        """The model and processor classes (imported from transformers here)."""
        raise NotImplementedError

    def configure_processor(self, processor: Any, weights: Path) -> None:
        """Adjust the freshly loaded processor (nothing by default)."""

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def load(self, request: LoadRequest) -> None:
        precision = request.precision
        if precision not in self.precisions:
            raise ConfigError(
                f"model {self.spec.name!r}: precision {precision!r} is not one of "
                f"{', '.join(self.precisions)}"
            )
        weights = check_weights(self.spec, request.weights)
        adapter = request.settings.get("adapter")
        adapter_path = check_adapter(Path(adapter)) if adapter else None
        try:
            import torch

            model_class, processor_class = self.transformers_classes()
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
        model = model_class.from_pretrained(weights, **kwargs)
        if adapter_path is not None:
            model = with_adapter(model, adapter_path)
        model.eval()
        processor = processor_class.from_pretrained(weights, trust_remote_code=False)
        processor.tokenizer.padding_side = "left"
        self.configure_processor(processor, weights)
        self.model, self.processor = model, processor
        self.device, self.precision = request.device, precision
        self.weights, self.adapter = weights, adapter_path

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
