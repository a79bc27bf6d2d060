"""Scoring: metrics against reference reports and boxes, reference loaders, run evaluation.

The metric modules (:mod:`.soft_match`, :mod:`.classification`, :mod:`.boxes`, :mod:`.bootstrap`)
are pure functions over plain data and numpy; :mod:`.references` reads reference sets;
:mod:`.evaluate` scores a finished run.
"""
