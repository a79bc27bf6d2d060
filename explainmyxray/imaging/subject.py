"""What a chest-radiograph pipeline reads: modalities and body parts (light: no numpy/pydicom).

The preprocess gate refuses, before decoding, a DICOM image whose modality (or, when Modality is
absent, the modality its SOP class implies) is not projection radiography, or whose Body Part
Examined names something other than the chest; the quality checks flag the same things.
"""

from __future__ import annotations

from collections.abc import Collection

ANY = "*"
RADIOGRAPHY = ("CR", "DX", "DR", "RG", "RX", "OT", "SC")
"""Modalities a chest radiograph is stored under: computed / digital radiography (and their
retired codes), and other / secondary capture for digitised films."""
CHEST_BODY_PARTS = ("CHEST", "THORAX", "LUNG", "TORAX", "THORAKS", "POITRINE", "BRUST", "TORACE")
"""Words of a chest Body Part Examined (English, and as some vendors localise it)."""
IMPLIED_MODALITY = (
    ("CT Image", "CT"),
    ("MR ", "MR"),
    ("Ultrasound", "US"),
    ("Positron Emission", "PT"),
    ("Nuclear Medicine", "NM"),
    ("RT ", "RT"),
    ("Mammography", "MG"),
    ("Angiographic", "XA"),
    ("Radiofluoroscopic", "RF"),
    ("Ophthalmic", "OP"),
    ("Intra-oral", "IO"),
)
"""The modality a SOP class name implies when the Modality attribute is absent."""


def implied_modality(sop_class_name: str) -> str:
    return next((code for words, code in IMPLIED_MODALITY if words in sop_class_name), "")


def is_chest(body_part: str, words: Collection[str] = CHEST_BODY_PARTS) -> bool:
    upper = {w.upper() for w in words}
    return ANY in upper or any(w in body_part.upper() for w in upper)


def modality_allowed(modality: str, modalities: Collection[str] = RADIOGRAPHY) -> bool:
    upper = {m.upper() for m in modalities}
    return ANY in upper or modality.upper() in upper
