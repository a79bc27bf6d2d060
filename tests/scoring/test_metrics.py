"""Hand-computed values for the pure metric functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from explainmyxray.core.case import Box
from explainmyxray.scoring.boxes import (
    PredictedBox,
    ReferenceBox,
    box_from_xywh,
    iou,
    iou_hit_rate,
    mean_iou,
    pointing_hit_rate,
    score_boxes,
)
from explainmyxray.scoring.classification import (
    case_f1,
    count_matrix,
    macro_f1,
    micro_f1,
    per_label_table,
    with_no_finding,
)
from explainmyxray.scoring.soft_match import mean_accuracy, micro_accuracy, soft_match
from explainmyxray.scoring.vocabulary import TableVocabulary

VOCAB = TableVocabulary(
    synonyms={"effusion": "pleural effusion", "enlarged heart": "cardiomegaly"},
    parents={
        "laminar atelectasis": ["atelectasis"],
        "lobar atelectasis": ["atelectasis"],
        "atelectasis": ["volume loss"],
    },
)


# --- classification ---------------------------------------------------------------------------


def test_micro_and_macro_f1_by_hand():
    predicted = [{"a", "b"}, {"a"}, {"c"}]
    reference = [{"a"}, {"a", "b"}, set()]
    items, counts = count_matrix(predicted, reference)
    assert items == ["a", "b", "c"]
    # a: tp 2; b: fp 1 (case 0), fn 1 (case 1); c: fp 1.
    table = {row["label"]: row for row in per_label_table(items, counts)}
    assert (table["a"]["tp"], table["a"]["fp"], table["a"]["fn"]) == (2, 0, 0)
    assert (table["b"]["tp"], table["b"]["fp"], table["b"]["fn"]) == (0, 1, 1)
    assert table["b"]["precision"] == 0.0 and table["b"]["recall"] == 0.0
    assert table["c"]["support"] == 0 and table["c"]["recall"] is None
    # micro: 2*2 / (2*2 + 2 + 1) = 4/7; macro: (1 + 0 + 0) / 3
    assert micro_f1(counts) == pytest.approx(4 / 7)
    assert macro_f1(counts) == pytest.approx(1 / 3)


def test_fixed_item_space_ignores_other_items_and_skips_undefined_labels():
    items, counts = count_matrix([{"a", "zzz"}], [{"a"}], items=["a", "b"])
    assert items == ["a", "b"]
    # b occurs on neither side: its F1 is undefined and does not enter the macro mean.
    assert macro_f1(counts) == 1.0
    assert micro_f1(counts) == 1.0


def test_f1_undefined_without_any_item():
    _, counts = count_matrix([set(), set()], [set(), set()], items=["a"])
    assert micro_f1(counts) is None
    assert macro_f1(counts) is None


def test_case_f1():
    assert case_f1({"a", "b"}, {"a", "c", "d"}) == pytest.approx(2 / 5)
    assert case_f1(set(), set()) == 1.0
    assert case_f1({"a"}, set()) == 0.0


def test_pairs_are_items_too():
    predicted = [{("nodule", "loc left"), ("mass", "loc right")}]
    reference = [{("nodule", "loc left"), ("nodule", "loc right")}]
    items, counts = count_matrix(predicted, reference)
    assert micro_f1(counts) == pytest.approx(2 / 4)
    assert "nodule | loc left" in {r["label"] for r in per_label_table(items, counts)}


def test_no_finding_is_derived():
    assert with_no_finding([]) == {"No Finding"}
    assert with_no_finding(["Support Devices"]) == {"Support Devices", "No Finding"}
    assert with_no_finding(["Edema", "No Finding"]) == {"Edema"}


# --- boxes ------------------------------------------------------------------------------------


def test_iou_by_hand():
    a = Box(x0=0, y0=0, x1=10, y1=10)
    b = Box(x0=5, y0=0, x1=15, y1=10)
    assert iou(a, b) == pytest.approx(50 / 150)
    assert iou(a, a) == 1.0
    assert iou(a, Box(x0=20, y0=20, x1=30, y1=30)) == 0.0
    assert box_from_xywh(10, 20, 30, 40) == Box(x0=10, y0=20, x1=40, y1=60)


def test_iou_hit_rate_and_pointing_game():
    reference = [
        ReferenceBox("nodule", Box(x0=0, y0=0, x1=10, y1=10)),
        ReferenceBox("mass", Box(x0=100, y0=100, x1=120, y1=120)),
        ReferenceBox("pneumothorax", Box(x0=50, y0=50, x1=60, y1=60)),
    ]
    predicted = [
        # nodule: two boxes; best IoU 50/150 from the second; the higher-scored first one's
        # centre (2, 2) is inside the reference box.
        PredictedBox("nodule", Box(x0=0, y0=0, x1=4, y1=4), score=0.9),
        PredictedBox("nodule", Box(x0=5, y0=0, x1=15, y1=10), score=0.1),
        # mass: a big box; IoU 400/1600, centre (110, 110) inside but explicit point outside.
        PredictedBox("mass", Box(x0=90, y0=90, x1=130, y1=130), point=(95.0, 95.0)),
        # pneumothorax: not localized at all.
    ]
    outcomes = score_boxes(predicted, reference)
    assert [o.localized for o in outcomes] == [True, True, False]
    assert outcomes[0].best_iou == pytest.approx(1 / 3)
    assert outcomes[1].best_iou == pytest.approx(0.25)
    assert [o.pointing_hit for o in outcomes] == [True, False, False]
    assert iou_hit_rate(outcomes, 0.25) == pytest.approx(2 / 3)
    assert iou_hit_rate(outcomes, 0.3) == pytest.approx(1 / 3)
    assert iou_hit_rate(outcomes, 0.5) == 0.0
    assert pointing_hit_rate(outcomes) == pytest.approx(1 / 3)
    assert mean_iou(outcomes) == pytest.approx((1 / 3 + 0.25) / 3)
    # A tolerance of 5 px brings the explicit point (95, 95) onto the mass box's edge.
    widened = score_boxes(predicted, reference, tolerance_px=5)
    assert widened[1].pointing_hit
    assert iou_hit_rate([], 0.5) is None and pointing_hit_rate([]) is None


# --- soft match -------------------------------------------------------------------------------


def test_soft_match_exact_synonym_and_hierarchy():
    match = soft_match(
        ["Effusion", "cardiomegaly", "atelectasis", "nodule"],
        ["pleural effusion", "cardiomegaly", "laminar atelectasis", "pneumothorax"],
        VOCAB,
    )
    how = {(p.predicted, p.reference): p.how for p in match.pairs}
    assert how == {
        ("pleural effusion", "pleural effusion"): "synonym",
        ("cardiomegaly", "cardiomegaly"): "exact",
        ("atelectasis", "laminar atelectasis"): "hierarchy",
    }
    assert match.unmatched_predicted == ("nodule",)
    assert match.unmatched_reference == ("pneumothorax",)
    # 3 matched over 4 + 4 - 3 = 5 findings.
    assert match.accuracy == pytest.approx(3 / 5)
    assert match.precision == pytest.approx(3 / 4) and match.recall == pytest.approx(3 / 4)


def test_hierarchy_is_transitive_and_symmetric_but_siblings_do_not_match():
    assert soft_match(["laminar atelectasis"], ["volume loss"], VOCAB).accuracy == 1.0
    assert soft_match(["volume loss"], ["lobar atelectasis"], VOCAB).accuracy == 1.0
    assert soft_match(["laminar atelectasis"], ["lobar atelectasis"], VOCAB).accuracy == 0.0


def test_exact_matches_are_not_traded_for_hierarchy_pairs():
    # A max matching over all relations would pair atelectasis<->lobar and laminar<->atelectasis
    # (2 pairs); the rule fixes the exact pair first, leaving the siblings unmatched.
    match = soft_match(
        ["atelectasis", "laminar atelectasis"], ["atelectasis", "lobar atelectasis"], VOCAB
    )
    assert [p.how for p in match.pairs] == ["exact"]
    assert match.accuracy == pytest.approx(1 / 3)


def test_hierarchy_matching_is_one_to_one_and_maximum():
    # Both reference children relate to the one predicted parent: only one pair.
    match = soft_match(["atelectasis"], ["laminar atelectasis", "lobar atelectasis"], VOCAB)
    assert match.n_matched == 1 and match.accuracy == pytest.approx(1 / 2)
    # A greedy choice could block: volume loss relates to both, laminar only to atelectasis.
    match = soft_match(
        ["volume loss", "laminar atelectasis"], ["atelectasis", "lobar atelectasis"], VOCAB
    )
    assert match.n_matched == 2


def test_normal_and_duplicates():
    assert soft_match(["normal"], [], VOCAB).accuracy == 1.0
    assert soft_match([], ["normal"], VOCAB).precision is None
    match = soft_match(["effusion", "pleural effusion"], ["pleural effusion"], VOCAB)
    assert match.predicted == ("pleural effusion",) and match.accuracy == 1.0
    assert soft_match(["nodule"], [], VOCAB).accuracy == 0.0


def test_corpus_soft_match():
    matches = [
        soft_match(["nodule"], ["nodule"], VOCAB),  # 1/1
        soft_match([], [], VOCAB),  # 1.0, adds nothing to micro
        soft_match(["nodule", "mass"], ["nodule"], VOCAB),  # 1/2
    ]
    assert mean_accuracy(matches) == pytest.approx((1 + 1 + 0.5) / 3)
    assert micro_accuracy(matches) == pytest.approx(2 / 3)
    assert mean_accuracy([]) is None
    assert micro_accuracy([soft_match([], [], VOCAB)]) is None
    assert math.isfinite(mean_accuracy(matches))
    assert np.isclose(matches[2].details()["precision"], 0.5)


def test_soft_match_with_the_padchest_ontology():
    from explainmyxray.scoring.vocabulary import OntologyVocabulary

    vocabulary = OntologyVocabulary()
    match = soft_match(
        ["Effusions", "plate atelectasis", "pulmonary mass", "COPD"],
        ["pleural effusion", "atelectasis", "mass", "copd signs", "pneumothorax"],
        vocabulary,
    )
    how = {p.reference: p.how for p in match.pairs}
    assert how == {
        "pleural effusion": "synonym",
        "atelectasis": "hierarchy",  # laminar atelectasis (plate atelectasis) is a child
        "mass": "hierarchy",  # pulmonary mass is a child
        "copd signs": "synonym",
    }
    assert match.unmatched_reference == ("pneumothorax",)
    assert match.accuracy == pytest.approx(4 / 5)
    assert vocabulary.finding("not a padchest term") == "not a padchest term"
    assert vocabulary.ancestors("not a padchest term") == frozenset()


LABELS = [
    "atelectasis",
    "laminar atelectasis",
    "lobar atelectasis",
    "volume loss",
    "effusion",
    "pleural effusion",
    "nodule",
    "mass",
    "normal",
]


@given(st.lists(st.sampled_from(LABELS), max_size=6), st.lists(st.sampled_from(LABELS), max_size=6))
def test_soft_match_properties(predicted, reference):
    forward = soft_match(predicted, reference, VOCAB)
    backward = soft_match(reference, predicted, VOCAB)
    assert 0.0 <= forward.accuracy <= forward.f1 <= 1.0
    # The rule is symmetric: swapping the sides changes nothing but the direction.
    assert forward.n_matched == backward.n_matched
    assert forward.accuracy == pytest.approx(backward.accuracy)
    # Soft matching never scores below strict set overlap.
    strict = set(forward.predicted) & set(forward.reference)
    assert forward.n_matched >= len(strict)
    assert len({p.predicted for p in forward.pairs}) == forward.n_matched
    assert len({p.reference for p in forward.pairs}) == forward.n_matched
