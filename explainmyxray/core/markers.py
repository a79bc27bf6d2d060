"""The pluggy markers of the ``explainmyxray`` hook namespace.

Plugin authors import :data:`hookimpl` from the package root:
``from explainmyxray import hookimpl``.
"""

import pluggy

PROJECT = "explainmyxray"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
