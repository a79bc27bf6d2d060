from __future__ import annotations

import pytest

from explainmyxray.labeler.sentences import split_sentences


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "1. No acute disease. 2. Cardiomegaly.",
            ["No acute disease", "Cardiomegaly"],
        ),
        ("Nodule measures 1.5 cm. Heart normal.", ["Nodule measures 1.5 cm", "Heart normal"]),
        (
            "Heart size within normal limits.The lungs are clear.",
            ["Heart size within normal limits", "The lungs are clear"],
        ),
        ("Dr. XXXX was notified. No effusion.", ["Dr. XXXX was notified", "No effusion"]),
        (
            "Atelectasis vs. pneumonia. Approx. 2 cm nodule.",
            ["Atelectasis vs. pneumonia", "Approx. 2 cm nodule"],
        ),
        (
            "Normal chest x-XXXX. No acute abnormality. .",
            ["Normal chest x-XXXX", "No acute abnormality"],
        ),
        (
            "? pneumonia in the right base. Clear left lung.",
            ["? pneumonia in the right base", "Clear left lung"],
        ),
        ("1) Clear lungs; 2) stable heart", ["Clear lungs", "stable heart"]),
        (
            "FINDINGS:\n- cardiomegaly\n- no pleural effusion\nIMPRESSION:\nCardiomegaly.",
            ["FINDINGS:", "cardiomegaly", "no pleural effusion", "IMPRESSION:", "Cardiomegaly"],
        ),
        ("No pneumothorax. heart size is normal.", ["No pneumothorax", "heart size is normal"]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert texts(text) == expected


def test_offsets_point_into_the_original_text():
    text = "1. No effusion.\n2. Mild cardiomegaly, e.g. borderline."
    for sentence in split_sentences(text):
        assert text[sentence.start : sentence.end] == sentence.text
    assert texts(text)[1] == "Mild cardiomegaly, e.g. borderline"
