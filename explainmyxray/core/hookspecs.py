"""Hook specifications: everything a plugin can implement.

There are three kinds of hooks.

*Registration hooks* are called once when the plugin host starts. A plugin declares which stages it
implements (and the pydantic model of its options) and which models it can load, by calling the
``register`` callback it is handed.

*Stage hooks* do the work. The host calls a stage hook **only on the plugin that the pipeline step
names** (``stage: generate, plugin: medgemma``), once per batch of cases, inside the framework's
call site: the model manager has already made room for the step's models, and torch (when loaded)
runs under ``torch.inference_mode``. The plugin's implementation is the first (and only) result.
A stage hook receives the batch as a list and returns one result per case, in the same order. To
fail one case without failing the batch, put an exception instance at that case's position in the
returned list; raising fails the whole batch for this step (every case gets the error recorded).

*Lifecycle hooks* are broadcast to every plugin through pluggy, for observers (timing, logging,
tracing); ``hookimpl(wrapper=True)`` (or ``hookwrapper=True``) implementations wrap the others.
Their return values are ignored, and an observer that raises is logged, never fatal.

A plugin that implements a hook not listed here (a misspelt name) is not loaded: the error names
the plugin and the hook it probably meant. Mark an implementation ``optionalhook=True`` to allow
a hook that a later version of the framework may add.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .markers import hookspec

if TYPE_CHECKING:
    from .case import (
        Case,
        Grounding,
        RetrievedCase,
        Score,
        Stage,
        StructuredReport,
        Verification,
        XrayImage,
    )
    from .context import StepContext
    from .plugin_api import ModelRegistrar, StageRegistrar


# --- registration -----------------------------------------------------------------------------


@hookspec
def register_stages(register: StageRegistrar) -> None:
    """Declare the stages this plugin implements.

    Called once per plugin at host start-up, with a ``register`` callback bound to that plugin::

        register(
            "generate",
            options=MedGemmaOptions,
            models=lambda opts: [ModelRequest(opts.model, precision=opts.precision)],
            description="MedGemma-4B writes a PadChest report",
        )

    ``options`` is a pydantic model (use ``extra="forbid"``) that validates the step's ``options``
    mapping in the pipeline file; ``models`` maps validated options to the
    :class:`~explainmyxray.core.plugin_api.ModelRequest` s the step needs (name, precision or
    ``"auto"``, weights as a ``Path``, workspace bytes), so the planner can budget memory before
    anything loads. A plugin that does not register a stage cannot be named for it in a
    pipeline. All implementations are called, each with a ``register`` bound to its plugin.
    """


@hookspec
def register_models(register: ModelRegistrar) -> None:
    """Contribute model specifications to the model registry.

    Called once per plugin at host start-up, with a ``register`` callback bound to that plugin::

        register(
            ModelSpec(
                name="acme-classifier",
                factory=AcmeRunner,  # builds an unloaded runner: load(request), unload()
                memory_bytes={"bf16": 900 * 1024**2, "fp32": 1800 * 1024**2},  # best first
                default_precision="bf16",
                hub_id="acme/cxr-classifier",
                revision="0123456789abcdef0123456789abcdef01234567",
                files=("config.json", "model.safetensors"),
                license="Apache-2.0",
            )
        )

    ``factory`` returns an unloaded :class:`~explainmyxray.core.plugin_api.ModelRunner`;
    ``memory_bytes`` maps each precision the runner accepts to its resident size in bytes;
    ``hub_id``/``revision``/``files`` say where ``explainmyxray models pull`` downloads from
    (or give ``locate``, a callable returning a local path). A model that loads nothing from
    disk sets ``needs_weights=False`` and is reported ready. Model names are global: two
    plugins registering the same name is a start-up error for both (neither is loaded).
    All implementations are called.
    """


# --- stages -----------------------------------------------------------------------------------


@hookspec(firstresult=True)
def preprocess(cases: Sequence[Case], step: StepContext) -> list[XrayImage | Exception]:
    """Decode each case's ``input_file`` into an :class:`XrayImage`.

    ``case.source`` is what outputs show of the input (``sha256:<hash>`` unless ``--keep-phi``):
    read the file through ``input_file`` and write nothing derived from its path.

    May also fill ``case.metadata`` (de-identified unless ``step.keep_phi``) and append
    ``case.quality`` flags. Called on the named plugin; returns one image per case.
    """


@hookspec(firstresult=True)
def retrieve(cases: Sequence[Case], step: StepContext) -> list[list[RetrievedCase] | Exception]:
    """Find reference cases similar to each case, best first.

    Called on the named plugin; returns one ranked list per case.
    """


@hookspec(firstresult=True)
def generate(cases: Sequence[Case], step: StepContext) -> list[StructuredReport | Exception]:
    """Write the structured report of each case (``case.retrieved`` may serve as context).

    Called on the named plugin; returns one report per case. Each becomes ``case.report`` and
    is appended to ``case.candidates``, so a later generate step (an ensemble's consensus) can
    read what earlier generators wrote. A plugin that has nothing to say
    for a case (no weights, no supplied report) returns a report with a warning, not ``None``.
    """


@hookspec(firstresult=True)
def localize(cases: Sequence[Case], step: StepContext) -> list[list[Grounding] | Exception]:
    """Ground each finding of ``case.report`` to anatomical regions.

    The implementation may also fill ``case.anatomy`` with the image's regions. Called on the
    named plugin; returns, per case, one :class:`Grounding` per finding of the report.
    """


@hookspec(firstresult=True)
def verify(cases: Sequence[Case], step: StepContext) -> list[Verification | Exception]:
    """Check each case's report with an independent reader.

    Called on the named plugin; returns one verification per case.
    """


@hookspec(firstresult=True)
def score(cases: Sequence[Case], step: StepContext) -> list[list[Score] | Exception]:
    """Compute metrics for each case (against references the step's options point to, if any).

    Called on the named plugin; returns a list of scores per case. A pipeline may hold several
    ``score`` steps; each adds its scores.
    """


# --- lifecycle --------------------------------------------------------------------------------


@hookspec
def before_run(total: int, todo: int, skipped: int) -> None:
    """Called once per run on every plugin: ``total`` inputs, ``skipped`` already finished."""


@hookspec
def after_case(case: Case) -> None:
    """Called on every plugin when a case is finished and its files are written."""


@hookspec
def before_stage_run(stage: Stage, plugin: str, cases: Sequence[Case]) -> None:
    """Called on every plugin before a step runs on a batch. Return value ignored."""


@hookspec
def after_stage_run(stage: Stage, plugin: str, cases: Sequence[Case], seconds: float) -> None:
    """Called on every plugin after a step has run and its results are on the cases."""


@hookspec
def on_stage_error(stage: Stage, plugin: str, case: Case, error: BaseException) -> None:
    """Called on every plugin for each case a step failed; the error is already recorded."""
