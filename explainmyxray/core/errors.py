"""One exception hierarchy for the whole framework.

Every error the framework raises on purpose derives from :class:`ExplainMyXrayError`.  The CLI turns
any of them into one red line (the message) and an exit status; ``--verbose`` adds the traceback.
"""

from __future__ import annotations


class ExplainMyXrayError(Exception):
    """Base class of every error raised on purpose by ExplainMyXray."""

    exit_code: int = 1


class UsageError(ExplainMyXrayError):
    """The user asked for something that cannot be done as asked (bad arguments, missing inputs)."""

    exit_code = 2


class ConfigError(UsageError):
    """A pipeline file or plugin option is invalid. The message names file, line and field."""


class PluginError(ExplainMyXrayError):
    """A plugin could not be found, loaded, or broke the hook contract."""


class UnknownPluginError(PluginError, ConfigError):
    """A pipeline names a plugin (or a stage of it) that no installed plugin provides."""


class InputError(ExplainMyXrayError):
    """An input image could not be read or decoded. Recorded per case; never stops a batch."""


class QualityGateError(InputError):
    """An input's quality check found an error that makes any result meaningless (a non-human
    subject, not a chest, a lateral view where a frontal one is needed, a negative, a photo).
    The case stops before any model runs; the message names every error-level flag. Recorded
    per case; never stops a batch."""

    def __init__(self, source: str, codes: list[str], message: str) -> None:
        super().__init__(message)
        self.source = source
        self.codes = codes


class ModelError(ExplainMyXrayError):
    """A model could not be loaded, run or unloaded."""


class WeightsNotFoundError(ModelError):
    """Model weights are absent. The message lists the missing files, where, and how to get them."""

    exit_code = 2


class MemoryBudgetError(ModelError):
    """A model cannot fit the memory budget even with everything else evicted."""

    exit_code = 2


class StageError(ExplainMyXrayError):
    """A stage failed for one case. Recorded in the case's errors; the batch continues."""

    def __init__(self, stage: str, plugin: str, message: str) -> None:
        super().__init__(f"{stage} ({plugin}): {message}")
        self.stage = stage
        self.plugin = plugin
        self.message = message


class TrackingError(ExplainMyXrayError):
    """Experiment tracking (MLflow) is not installed, or its store cannot be reached or written."""
