"""The PadChest vocabulary: findings, differential diagnoses and anatomic locations.

The terms, their English synonyms, their hierarchy and the map to the 14 CheXpert labels live in
``data/padchest_ontology.json`` next to this module, written by ``scripts/derive_ontology.py`` from
the PadChest label table. :func:`load_ontology` reads it once.

Lookup (:meth:`Ontology.resolve`) ignores case, punctuation, repeated spaces and plural endings,
knows the synonyms, and finds location labels with or without their ``loc`` prefix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

TermKind = Literal["finding", "diagnosis", "location"]
TERM_KINDS: tuple[TermKind, ...] = ("finding", "diagnosis", "location")
LOCATION_PREFIX = "loc "

CHEXPERT_LABELS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

# PadChest labels that are Spanish, abbreviated or misspelled, and the English name shown for
# them (the label itself stays the key: references and scoring use it).
ENGLISH_NAMES: dict[str, str] = {
    "pneumoperitoneo": "pneumoperitoneum",
    "pectum excavatum": "pectus excavatum",
    "pectum carinatum": "pectus carinatum",
    "esophagic dilatation": "esophageal dilatation",
    "mediastinic lipomatosis": "mediastinal lipomatosis",
    "descendent aortic elongation": "descending aortic elongation",
    "ascendent aortic elongation": "ascending aortic elongation",
    "aortic button enlargement": "aortic knob enlargement",
    "bullas": "bullae",
    "dai": "implantable cardioverter-defibrillator",
    "nsg tube": "nasogastric tube",
    "heart insufficiency": "heart failure",
    "callus rib fracture": "healed rib fracture",
    "hypoexpansion basal": "basal hypoexpansion",
    "atelectasis basal": "basal atelectasis",
    "exclude": "non-diagnostic study",
    "loc costoesternal": "loc costosternal",
    "loc axilar": "loc axillary",
    "loc aortic button": "loc aortic knob",
    "loc supraspisnous": "loc supraspinous",
    "loc superior cave vein": "loc superior vena cava",
    "loc intersomatic space": "loc intervertebral space",
}

_DATA_PACKAGE = "explainmyxray.report.data"
_DATA_FILE = "padchest_ontology.json"

_NON_WORD = re.compile(r"[^a-z0-9]+")
_IRREGULAR_SINGULAR = {
    "vertebrae": "vertebra",
    "metastases": "metastasis",
    "hila": "hilum",
    "pleurae": "pleura",
    "bullae": "bulla",
    "pneumothoraces": "pneumothorax",
    "diagnoses": "diagnosis",
    "bronchiectases": "bronchiectasis",
    "sequelae": "sequelae",
}
_KEEP_FINAL_S = ("ss", "is", "us", "ous")


def normalize_text(text: str) -> str:
    """Lower case, punctuation and runs of white space turned into single spaces."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def singular_word(word: str) -> str:
    """A deterministic English singular of one lower-case word (good enough for report terms)."""
    if word in _IRREGULAR_SINGULAR:
        return _IRREGULAR_SINGULAR[word]
    if len(word) <= 3 or not word.endswith("s") or word.endswith(_KEEP_FINAL_S):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    return word[:-1]


def lookup_key(text: str) -> str:
    """The key two spellings share when they name the same term: normalized, singular words."""
    return " ".join(singular_word(w) for w in normalize_text(text).split())


@dataclass(frozen=True)
class Term:
    """One PadChest term with its English synonyms, its parents and its count in PadChest."""

    label: str
    kind: TermKind
    synonyms: tuple[str, ...]
    parents: tuple[str, ...]
    count: int

    @property
    def display(self) -> str:
        """The label as a report writes it: location labels lose their ``loc`` prefix."""
        if self.kind == "location" and self.label.startswith(LOCATION_PREFIX):
            return self.label[len(LOCATION_PREFIX) :]
        return self.label


@dataclass
class Ontology:
    """PadChest findings, diagnoses and locations, keyed by canonical label."""

    findings: dict[str, Term]
    diagnoses: dict[str, Term]
    locations: dict[str, Term]
    chexpert: dict[str, tuple[str, ...]]
    metadata: dict[str, Any] = field(default_factory=dict)
    _index: dict[TermKind, dict[str, Term]] = field(init=False, repr=False)
    _to_chexpert: dict[str, tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {kind: _build_index(self.terms(kind)) for kind in TERM_KINDS}
        inverse: dict[str, list[str]] = {}
        for chexpert_label, labels in self.chexpert.items():
            for label in labels:
                inverse.setdefault(label, []).append(chexpert_label)
        self._to_chexpert = {k: tuple(v) for k, v in inverse.items()}

    def terms(self, kind: str | None = None) -> list[Term]:
        """All terms of one kind (or of every kind), in file order."""
        tables: Mapping[str, dict[str, Term]] = {
            "finding": self.findings,
            "diagnosis": self.diagnoses,
            "location": self.locations,
        }
        if kind is None:
            return [t for table in tables.values() for t in table.values()]
        if kind not in tables:
            raise ValueError(f"unknown term kind {kind!r}; expected one of {TERM_KINDS}")
        return list(tables[kind].values())

    def get(self, label: str) -> Term | None:
        """The term with exactly this canonical label, of any kind."""
        return self.findings.get(label) or self.diagnoses.get(label) or self.locations.get(label)

    def resolve(self, text: str, kind: str | None = None) -> Term | None:
        """The term a piece of text names, or None.

        Case, punctuation, spacing and plural endings do not matter; synonyms count; a location
        is found with or without its ``loc`` prefix. Without ``kind`` findings are tried first,
        then diagnoses, then locations.
        """
        kinds: Iterable[TermKind] = TERM_KINDS if kind is None else (_check_kind(kind),)
        key = lookup_key(text)
        if not key:
            return None
        for k in kinds:
            term = self._index[k].get(key)
            if term is not None:
                return term
        return None

    def ancestors(self, label: str) -> list[str]:
        """Every ancestor of a term, nearest first, each once (an unknown label has none)."""
        term = self.get(label) or self.resolve(label)
        if term is None:
            return []
        seen: list[str] = []
        frontier = list(term.parents)
        while frontier:
            parent = frontier.pop(0)
            if parent in seen or parent == term.label:
                continue
            seen.append(parent)
            parent_term = self.get(parent)
            if parent_term is not None:
                frontier.extend(parent_term.parents)
        return seen

    def to_chexpert(self, label: str) -> list[str]:
        """The CheXpert labels a PadChest finding or diagnosis counts towards (maybe none)."""
        term = self.get(label) or self.resolve(label)
        if term is None:
            return []
        return list(self._to_chexpert.get(term.label, ()))


def _check_kind(kind: str) -> TermKind:
    if kind not in TERM_KINDS:
        raise ValueError(f"unknown term kind {kind!r}; expected one of {TERM_KINDS}")
    return kind  # type: ignore[return-value]


def display_name(label: str) -> str:
    """The English name a PadChest label is shown by (``pneumoperitoneo``: pneumoperitoneum)."""
    key = " ".join(label.split())
    return ENGLISH_NAMES.get(key.lower(), key)


def term_names(term: Term) -> list[str]:
    """Every spelling a term answers to: its label, its bare location name, its synonyms."""
    names = [term.label, term.display, *term.synonyms]
    return list(dict.fromkeys(names))


def _build_index(terms: Iterable[Term]) -> dict[str, Term]:
    index: dict[str, Term] = {}
    terms = list(terms)
    # Canonical labels win over synonyms of other terms.
    for term in terms:
        index[lookup_key(term.label)] = term
        index.setdefault(lookup_key(term.display), term)
    for term in terms:
        for synonym in term.synonyms:
            index.setdefault(lookup_key(synonym), term)
    return index


def ontology_from_dict(data: Mapping[str, Any]) -> Ontology:
    """Build an :class:`Ontology` from the JSON document ``derive_ontology.py`` writes."""

    def table(section: str, kind: TermKind) -> dict[str, Term]:
        out: dict[str, Term] = {}
        for entry in data[section]:
            term = Term(
                label=entry["label"],
                kind=kind,
                synonyms=tuple(entry.get("synonyms", ())),
                parents=tuple(entry.get("parents", ())),
                count=int(entry.get("count", 0)),
            )
            out[term.label] = term
        return out

    return Ontology(
        findings=table("findings", "finding"),
        diagnoses=table("diagnoses", "diagnosis"),
        locations=table("locations", "location"),
        chexpert={k: tuple(v) for k, v in data["chexpert"].items()},
        metadata=dict(data.get("metadata", {})),
    )


@cache
def load_ontology() -> Ontology:
    """The packaged PadChest ontology (read once, then cached)."""
    text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    return ontology_from_dict(json.loads(text))
