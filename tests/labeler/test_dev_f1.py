"""Regression guard: the labeler's micro-F1 on the IU X-ray development split (ids < 2000).

Measured micro 0.922, macro 0.890 (benchmarks/results/labeler_iu_xray.json); the floors sit
just under them.
"""

from __future__ import annotations

from explainmyxray.datasets.iu_xray import load_mapping
from explainmyxray.labeler.evaluation import evaluate

DEV_MICRO_F1_FLOOR = 0.915
DEV_MACRO_F1_FLOOR = 0.88


def test_dev_micro_f1_stays_above_the_floor(iu_dev):
    result = evaluate(iu_dev.values(), load_mapping())
    assert result.reports > 1800
    assert result.micro.f1 >= DEV_MICRO_F1_FLOOR, result.to_dict()["micro"]
    assert result.macro_f1 >= DEV_MACRO_F1_FLOOR
