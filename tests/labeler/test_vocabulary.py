from __future__ import annotations

import pytest

from explainmyxray.core.errors import ConfigError
from explainmyxray.labeler import label_report, label_text
from explainmyxray.labeler.vocabulary import build_vocabulary, default_vocabulary
from explainmyxray.report.ontology import load_ontology

ONTOLOGY = load_ontology()
FINDINGS = [t.label for t in ONTOLOGY.terms() if t.kind != "location"]
LOCATIONS = [t for t in ONTOLOGY.terms("location")]


@pytest.mark.parametrize("label", [f for f in FINDINGS if f not in ("normal", "exclude")])
def test_every_padchest_finding_reads_back_from_a_rendered_report(label):
    # the layout of explainmyxray.report.render: "- label", "- no label", "- possible label"
    for prefix, status in (("", "present"), ("no ", "absent"), ("possible ", "uncertain")):
        text = f"FINDINGS:\n- {prefix}{label}\nIMPRESSION:\nnone\n"
        assert label_report(text).get(label) == status, (text, label_text(text))


def test_rendered_normal_and_exclude_items():
    assert label_report("FINDINGS:\n- normal\nIMPRESSION:\nnone")["normal"] == "present"
    assert label_report("FINDINGS:\n- exclude\n")["exclude"] == "present"


@pytest.mark.parametrize("term", LOCATIONS, ids=lambda t: t.label)
def test_every_padchest_location_is_found(term):
    labels = {m.label for m in label_text(f"Opacity in the {term.display}.")}
    assert term.label in labels or any(
        term.label in ONTOLOGY.ancestors(found) for found in labels
    ), labels


def test_every_vocabulary_label_is_a_padchest_label():
    known = {t.label for t in ONTOLOGY.terms()}
    assert set(default_vocabulary().kinds) <= known


def test_the_labelers_own_phrases_win_over_ontology_synonyms():
    phrases = {"findings": {"increased density": ["opacity"], "infiltrates": ["infiltrate"]}}
    terms = [("infiltrates", "finding", ["infiltrates", "opacity", "lung infiltrate"])]
    vocab = build_vocabulary(phrases, {}, terms)
    sources = {(e.label, e.phrase.source, e.origin) for e in vocab.mentions.entries}
    assert ("infiltrates", "opacity", "ontology") not in sources
    assert ("infiltrates", "lung infiltrate", "ontology") in sources


def test_rules_naming_unknown_labels_are_config_errors():
    phrases = {"findings": {"cardiomegaly": ["cardiomegaly"]}}
    implied = {"implied": [{"name": "x", "patterns": ["heart normal"], "absent": ["nope"]}]}
    with pytest.raises(ConfigError, match="nope"):
        build_vocabulary(phrases, implied, [])
    with pytest.raises(ConfigError, match="cardiomegaly"):
        build_vocabulary({"findings": {"cardiomegaly": ["[only] [optional]"]}}, {}, [])
