from __future__ import annotations

import pytest

from explainmyxray.core.errors import ConfigError
from explainmyxray.labeler.patterns import compile_phrase, inflections, tokenize


def matches(phrase: str, text: str) -> list[str]:
    joined = "".join(t.text + " " for t in tokenize(text))
    return [m.group().strip() for m in compile_phrase(phrase).regex.finditer(joined)]


def test_inflections_cover_plural_and_irregular_forms():
    assert inflections("opacity") >= {"opacity", "opacities"}
    assert inflections("opacities") >= {"opacity"}
    assert inflections("pneumothorax") >= {"pneumothoraces"}
    assert inflections("hila") >= {"hilum"}
    assert inflections("degenerative") == {"degenerative"}
    assert inflections("is") == {"is"}


def test_alternatives_optional_items_and_groups():
    assert matches("pleural effusion|fluid", "small pleural effusions") == ["pleural effusions"]
    assert matches("[right|left] pleural effusion", "left pleural effusion") == [
        "left pleural effusion"
    ]
    phrase = "(soft tissue|subcutaneous) emphysema|air"
    assert matches(phrase, "soft tissue air is seen") == ["soft tissue air"]
    assert matches(phrase, "tissue air") == []


def test_gaps_stop_at_clause_words_and_punctuation():
    assert matches("heart ... enlarged", "the heart is mildly enlarged") == [
        "heart is mildly enlarged"
    ]
    assert matches("heart ... enlarged", "heart normal and aorta enlarged") == []
    assert matches("heart ... enlarged", "heart normal, enlarged aorta") == []
    assert matches("fracture ...6 rib", "fracture of the posterior right 5th rib") == [
        "fracture of the posterior right 5th rib"
    ]


def test_exact_words_and_numbers():
    assert matches("=bases", "both bases") == ["bases"]
    assert matches("=bases", "left base") == []
    assert matches("t|l # fracture", "t 12 fracture") == ["t 12 fracture"]


def test_whole_tokens_only():
    assert matches("port", "no report available") == []
    assert matches("port", "right chest port") == ["port"]


@pytest.mark.parametrize("phrase", ["", "[optional] [only]", "... ..."])
def test_malformed_phrases_are_config_errors(phrase):
    with pytest.raises(ConfigError):
        compile_phrase(phrase)
