"""ExplainMyXray: structured, grounded, verified chest X-ray reports.

Plugin authors need only :data:`hookimpl` (and the types in :mod:`explainmyxray.core`).
"""

from .core.markers import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
