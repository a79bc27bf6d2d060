"""Anatomical grounding with MedSAM ViT-B: the ``litemedsam`` localizer's pipeline, MedSAM's masks.

Lung fields are boxed by image analysis, MedSAM (1024 px, SAM ViT-B fine-tuned on medical
images) segments both lungs and the heart from one image embedding, the 26 regions are derived
from the masks and each finding is grounded to the regions its PadChest locations map to: the
same :func:`~explainmyxray.anatomy.segment.segment_anatomy` and grounding as ``litemedsam``.

With ``ensemble_with_litemedsam: true`` LiteMedSAM runs too and, for every box prompt, the two
models' mask probabilities are averaged before thresholding
(:class:`~explainmyxray.models.sam.ensemble.EnsembleSegmenter`); regions come from the fused masks.

Weights: ``medsam_vit_b.pth`` (``weights:`` the file or its folder, or the Hub cache after
``explainmyxray models pull medsam``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from explainmyxray import hookimpl
from explainmyxray.anatomy.grounding import LocalizeOptions
from explainmyxray.core.case import Case, Grounding
from explainmyxray.core.context import StepContext
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.sam.medsam.spec import medsam_spec, workspace_bytes

PLUGIN = "medsam"
MODEL = "medsam"


class MedSAMOptions(LocalizeOptions):
    """Options of the ``localize: medsam`` step."""

    model: str = MODEL
    weights: Path | None = Field(
        default=None, description="medsam_vit_b.pth (or its folder); default: the Hub cache"
    )
    precision: str | None = Field(
        default=None, description="fp32, fp16, bf16 (image encoder only) or auto"
    )
    architecture: Literal["vit_b", "tiny"] = Field(
        default="vit_b", description="vit_b (MedSAM); tiny is a test-size network"
    )
    resize: Literal["stretch", "longest_side"] = Field(
        default="stretch",
        description="stretch to 1024x1024 (MedSAM's inference) or SAM's longest side + padding",
    )
    ensemble_with_litemedsam: bool = Field(
        default=False, description="average MedSAM's and LiteMedSAM's mask probabilities"
    )
    litemedsam_model: str = "litemedsam"
    litemedsam_weights: Path | None = Field(
        default=None, description="lite_medsam.pth for the ensemble; default: the packaged one"
    )


def model_requests(options: MedSAMOptions) -> list[ModelRequest]:
    requests = [
        ModelRequest(
            options.model,
            precision=options.precision,
            weights=options.weights.expanduser() if options.weights else None,
            settings={"architecture": options.architecture, "resize": options.resize},
            workspace_bytes=workspace_bytes(options.precision),
        )
    ]
    if options.ensemble_with_litemedsam:
        from explainmyxray.models.sam.litemedsam.spec import WORKSPACE_BYTES

        weights = options.litemedsam_weights
        requests.append(
            ModelRequest(
                options.litemedsam_model,
                weights=weights.expanduser() if weights else None,
                workspace_bytes=WORKSPACE_BYTES,
            )
        )
    return requests


@hookimpl
def register_stages(register) -> None:
    register(
        "localize",
        options=MedSAMOptions,
        models=model_requests,
        description=(
            "segment lungs and heart with MedSAM ViT-B (analysis-made box prompts; optionally "
            "fused with LiteMedSAM), derive 26 anatomical regions, ground each finding to them"
        ),
    )


@hookimpl
def register_models(register) -> None:
    register(medsam_spec())


@hookimpl
def localize(
    cases: Sequence[Case], step: StepContext[MedSAMOptions]
) -> list[list[Grounding] | Exception]:
    from explainmyxray.anatomy.grounding import localize_cases

    options = step.options
    segmenter = step.model(options.model).model
    if options.ensemble_with_litemedsam:
        from explainmyxray.models.sam.ensemble import EnsembleSegmenter

        segmenter = EnsembleSegmenter([segmenter, step.model(options.litemedsam_model).model])
    return localize_cases(cases, segmenter, options, step.device, PLUGIN)
