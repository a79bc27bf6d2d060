"""The body of a ``localize`` step: segment each case's anatomy and ground its report's findings.

Both segmenting localizers (``litemedsam`` and ``medsam``) run :func:`localize_cases` with their
own segmenter; only the model differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from ..core.case import Case, GroundedRegion, Grounding, Region, StructuredReport
from ..core.errors import StageError

if TYPE_CHECKING:
    from .segmenter import PromptableSegmenter


class LocalizeOptions(BaseModel):
    """The options every segmenting localizer has; a localizer names its model's default and
    what ``weights`` it takes, and adds its own."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="registered model name")
    weights: Path | None = Field(default=None, description="the weights file (or its folder)")
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


def localize_cases(
    cases: Sequence[Case],
    segmenter: PromptableSegmenter,
    options: LocalizeOptions,
    device: str,
    plugin: str,
) -> list[list[Grounding] | Exception]:
    """Segment each case's image with ``segmenter``, set ``case.anatomy``, ground its report.

    A case without a decoded image, or whose image cannot be segmented, gets a
    :class:`StageError` of ``plugin`` at its position.
    """
    from .segment import LocalizerSettings, segment_anatomy

    settings = LocalizerSettings(
        mask_threshold=options.mask_threshold,
        box_margin=options.box_margin,
        refine=options.refine,
        keep_masks=options.keep_masks,
    )
    results: list[list[Grounding] | Exception] = []
    threads = options.threads if options.threads is not None else default_threads(device)
    with torch_threads(threads):
        for case in cases:
            if case.image is None or case.image.pixels is None:
                results.append(
                    StageError("localize", plugin, "the case has no decoded image (run preprocess)")
                )
                continue
            try:
                anatomy = segment_anatomy(segmenter, case.image.pixels, settings)
            except ValueError as exc:
                results.append(StageError("localize", plugin, str(exc)))
                continue
            case.anatomy = anatomy.regions
            results.append(ground_report(case.report, anatomy.regions))
    return results


def ground_report(report: StructuredReport | None, regions: Sequence[Region]) -> list[Grounding]:
    """One grounding per finding of ``report``: its PadChest locations and their regions' boxes.

    A finding is grounded on the place the report gives it; when the report gives only a side
    (or nothing), on the finding's own place on that side (:func:`.locations.grounding_locations`:
    "right hilar enlargement" is the right hilum), with a note saying so; absent findings are
    not grounded.
    """
    from .locations import grounding_locations, regions_for_locations

    if report is None:
        return []
    by_id = {r.id: r for r in regions}
    groundings = []
    for finding in report.findings:
        locations = list(finding.locations)
        note = None
        if finding.status == "absent":
            locations, note = [], "absent: not grounded"
        else:
            locations, default = grounding_locations(finding.label, locations)
            if default:
                note = (
                    "located where the finding lies, on the side the report names"
                    if finding.locations
                    else "located where the finding's name puts it (the report gives no location)"
                )
            elif not locations:
                note = "the report gives no location for this finding"
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


class torch_threads:
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
