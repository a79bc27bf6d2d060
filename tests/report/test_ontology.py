"""The packaged PadChest ontology: completeness, hierarchy, synonyms and the CheXpert map."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from explainmyxray.report.ontology import (
    CHEXPERT_LABELS,
    LOCATION_PREFIX,
    load_ontology,
    lookup_key,
    normalize_text,
    singular_word,
)

ONTO = load_ontology()


def test_published_sizes_and_unique_labels() -> None:
    assert len(ONTO.findings) == 174
    assert len(ONTO.diagnoses) == 19
    assert len(ONTO.locations) == 104
    labels = [t.label for t in ONTO.terms()]
    assert len(labels) == len(set(labels)) == 174 + 19 + 104


def test_json_is_packaged_and_agrees_with_loaded_terms() -> None:
    raw = json.loads(
        resources.files("explainmyxray.report.data")
        .joinpath("padchest_ontology.json")
        .read_text(encoding="utf-8")
    )
    assert raw["metadata"]["counts"] == {"findings": 174, "diagnoses": 19, "locations": 104}
    assert [e["label"] for e in raw["findings"]] == list(ONTO.findings)


def test_labels_are_normalised_and_kinds_consistent() -> None:
    for term in ONTO.terms():
        assert term.label == normalize_text(term.label)
        assert term.count > 0
    assert all(t.kind == "finding" for t in ONTO.findings.values())
    assert all(t.kind == "diagnosis" for t in ONTO.diagnoses.values())
    assert all(t.kind == "location" for t in ONTO.locations.values())
    assert all(label.startswith(LOCATION_PREFIX) for label in ONTO.locations)
    assert not any(label.startswith(LOCATION_PREFIX) for label in [*ONTO.findings, *ONTO.diagnoses])


def test_counts_order_the_frequent_terms_first() -> None:
    counts = [t.count for t in ONTO.findings.values()]
    assert counts == sorted(counts, reverse=True)
    assert ONTO.findings["normal"].count > ONTO.findings["cardiomegaly"].count > 10_000


def test_every_parent_exists_and_the_hierarchy_has_no_cycle() -> None:
    for term in ONTO.terms():
        for parent in term.parents:
            assert ONTO.get(parent) is not None, (term.label, parent)
        assert term.label not in ONTO.ancestors(term.label)


@pytest.mark.parametrize(
    ("child", "ancestor"),
    [
        ("loculated pleural effusion", "pleural effusion"),
        ("callus rib fracture", "fracture"),
        ("consolidation", "infiltrates"),
        ("artificial mitral heart valve", "prosthesis"),
        ("atypical pneumonia", "pneumonia"),
        ("loc left lower lobe", "loc lower lobe"),
        ("loc left lower lobe", "loc left"),
        ("loc lingula", "loc left upper lobe"),
    ],
)
def test_ancestors(child: str, ancestor: str) -> None:
    assert ancestor in ONTO.ancestors(child)


def test_ancestors_are_nearest_first() -> None:
    assert ONTO.ancestors("callus rib fracture") == ["rib fracture", "fracture"]
    assert ONTO.ancestors("no such thing at all") == []


def test_every_synonym_resolves_to_its_own_term() -> None:
    for term in ONTO.terms():
        for name in (term.label, term.display, *term.synonyms):
            assert ONTO.resolve(name, kind=term.kind) == term, (name, term.label)


@pytest.mark.parametrize(
    ("text", "kind", "label"),
    [
        ("Enlarged heart", None, "cardiomegaly"),
        ("enlarged cardiac silhouette", None, "cardiomegaly"),
        ("EFFUSION", None, "pleural effusion"),
        ("Pleural effusions.", None, "pleural effusion"),
        ("pleural fluid", None, "pleural effusion"),
        ("collapse", None, "atelectasis"),
        ("ground-glass opacities", None, "ground glass pattern"),
        ("  Ground   glass  ", None, "ground glass pattern"),
        ("COPD", None, "copd signs"),
        ("nodules", None, "nodule"),
        ("Calcified granulomas", None, "calcified granuloma"),
        ("rib fractures", None, "rib fracture"),
        ("left lower lobe", "location", "loc left lower lobe"),
        ("Left Lower Lobe", None, "loc left lower lobe"),
        ("loc left lower lobe", "location", "loc left lower lobe"),
        ("right middle lobe", "location", "loc middle lobe"),
        ("costophrenic angles", "location", "loc costophrenic angle"),
        ("pneumonia", "diagnosis", "pneumonia"),
    ],
)
def test_resolve(text: str, kind: str | None, label: str) -> None:
    term = ONTO.resolve(text, kind=kind)
    assert term is not None and term.label == label


def test_resolve_respects_kind_and_rejects_unknown_text() -> None:
    assert ONTO.resolve("left lower lobe", kind="finding") is None
    assert ONTO.resolve("cardiomegaly", kind="location") is None
    assert ONTO.resolve("flux capacitor") is None
    assert ONTO.resolve("   ") is None
    with pytest.raises(ValueError, match="unknown term kind"):
        ONTO.resolve("cardiomegaly", kind="organ")


def test_no_spelling_names_two_terms_of_one_table() -> None:
    for kinds in (("finding", "diagnosis"), ("location",)):
        owner: dict[str, str] = {}
        for kind in kinds:
            for term in ONTO.terms(kind):
                for name in {term.label, term.display, *term.synonyms}:
                    key = lookup_key(name)
                    assert owner.setdefault(key, term.label) == term.label, name


def test_singular_forms() -> None:
    assert [singular_word(w) for w in ["effusions", "opacities", "masses", "bullae"]] == [
        "effusion",
        "opacity",
        "mass",
        "bulla",
    ]
    assert [singular_word(w) for w in ["atelectasis", "hiatus", "mass", "changes"]] == [
        "atelectasis",
        "hiatus",
        "mass",
        "change",
    ]


def test_chexpert_map_covers_the_14_labels_with_known_conditions_only() -> None:
    assert tuple(ONTO.chexpert) == CHEXPERT_LABELS
    conditions = {**ONTO.findings, **ONTO.diagnoses}
    for chexpert_label, labels in ONTO.chexpert.items():
        assert labels, chexpert_label
        for label in labels:
            assert label in conditions, (chexpert_label, label)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("cardiomegaly", {"Cardiomegaly"}),
        ("normal", {"No Finding"}),
        ("hydropneumothorax", {"Pneumothorax", "Pleural Effusion"}),
        ("callus rib fracture", {"Fracture"}),
        ("endotracheal tube", {"Support Devices"}),
        ("enlarged heart", {"Cardiomegaly"}),
        ("scoliosis", set()),
        ("calcified granuloma", set()),
        ("costophrenic angle blunting", set()),
        ("fibrotic band", {"Lung Opacity"}),
        ("mediastinal mass", {"Lung Lesion"}),
        ("consolidation", {"Consolidation"}),
    ],
)
def test_to_chexpert(label: str, expected: set[str]) -> None:
    assert set(ONTO.to_chexpert(label)) == expected


def test_chexpert_map_follows_the_hierarchy_for_devices_and_fractures() -> None:
    for chexpert_label in ("Fracture", "Support Devices", "Atelectasis", "Pleural Effusion"):
        mapped = set(ONTO.chexpert[chexpert_label])
        for term in ONTO.terms("finding"):
            if set(ONTO.ancestors(term.label)) & mapped and term.label not in mapped:
                pytest.fail(f"{term.label} descends from a {chexpert_label} term but is unmapped")


@pytest.mark.slow
def test_packaged_json_is_what_the_derivation_script_writes() -> None:
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "derive_ontology.py"
    spec = importlib.util.spec_from_file_location("derive_ontology", script)
    assert spec is not None and spec.loader is not None
    derive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(derive)
    pytest.importorskip("torchxrayvision")
    pytest.importorskip("pandas")
    table = derive.default_table()
    if not table.is_file():
        pytest.skip(f"PadChest label table {table} is absent")
    packaged = json.loads(
        resources.files("explainmyxray.report.data")
        .joinpath("padchest_ontology.json")
        .read_text(encoding="utf-8")
    )
    assert derive.build(table) == packaged


def test_spanish_and_abbreviated_labels_are_shown_by_english_names():
    from explainmyxray.report.ontology import ENGLISH_NAMES, display_name

    onto = load_ontology()
    assert display_name("pneumoperitoneo") == "pneumoperitoneum"
    assert display_name("cardiomegaly") == "cardiomegaly"
    assert all(onto.get(label) is not None for label in ENGLISH_NAMES)
