"""Human-facing outputs of a run: per-case overlay images and the offline ``index.html``."""

from .case_files import write_case_outputs
from .html import write_index
from .overlay import render_overlay, write_overlay

__all__ = ["render_overlay", "write_case_outputs", "write_index", "write_overlay"]
