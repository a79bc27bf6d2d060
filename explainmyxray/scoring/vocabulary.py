"""The label space metrics compare in: canonical PadChest labels, their hierarchy, CheXpert.

Metrics never compare raw strings. Both sides are first mapped to canonical labels by a
:class:`Vocabulary`: :class:`OntologyVocabulary` uses the packaged PadChest ontology (synonyms,
plurals and case do not matter); :class:`TableVocabulary` takes explicit tables (for tests and for
label spaces other than PadChest). Text that names no known term keeps its normalized spelling
(lower case, single spaces), so it can still match the same unknown text on the other side.

Labels that say nothing about the image are left out of every metric: ``normal`` (no finding),
``exclude`` (PadChest: report excluded from labelling) and ``unchanged`` (a comparison with a prior
study the image alone cannot show); see :data:`IGNORED_LABELS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from explainmyxray.report.ontology import Ontology

IGNORED_LABELS = frozenset({"normal", "exclude", "unchanged"})
LOCATION_PREFIX = "loc "


def normalize(text: str) -> str:
    """Lower case, trimmed, single spaces."""
    return " ".join(text.lower().split())


class Vocabulary(Protocol):
    """What metrics need to know about labels."""

    def finding(self, text: str) -> str:
        """The canonical finding (or diagnosis) label ``text`` names."""
        ...

    def location(self, text: str) -> str:
        """The canonical location label ``text`` names."""
        ...

    def ancestors(self, label: str) -> frozenset[str]:
        """Every hierarchy ancestor of a canonical label (transitively)."""
        ...

    def to_chexpert(self, label: str) -> tuple[str, ...]:
        """The CheXpert classes a canonical label counts towards."""
        ...


def related(vocabulary: Vocabulary, a: str, b: str) -> bool:
    """Whether one canonical label is a hierarchy ancestor of the other."""
    return a in vocabulary.ancestors(b) or b in vocabulary.ancestors(a)


def present_labels(vocabulary: Vocabulary, labels: Iterable[str]) -> set[str]:
    """Canonical labels of ``labels``, without the :data:`IGNORED_LABELS` and empty strings."""
    out = set()
    for text in labels:
        if not text.strip():
            continue
        label = vocabulary.finding(text)
        if label not in IGNORED_LABELS:
            out.add(label)
    return out


class OntologyVocabulary:
    """The PadChest ontology as a :class:`Vocabulary` (lookups cached)."""

    def __init__(self, ontology: Ontology | None = None) -> None:
        if ontology is None:
            from explainmyxray.report.ontology import load_ontology

            ontology = load_ontology()
        self.ontology = ontology
        self._findings: dict[str, str] = {}
        self._locations: dict[str, str] = {}
        self._ancestors: dict[str, frozenset[str]] = {}
        self._chexpert: dict[str, tuple[str, ...]] = {}

    def finding(self, text: str) -> str:
        cached = self._findings.get(text)
        if cached is None:
            term = self.ontology.resolve(text, "finding") or self.ontology.resolve(
                text, "diagnosis"
            )
            cached = term.label if term is not None else normalize(text)
            self._findings[text] = cached
        return cached

    def location(self, text: str) -> str:
        cached = self._locations.get(text)
        if cached is None:
            term = self.ontology.resolve(text, "location")
            cached = term.label if term is not None else normalize(text)
            self._locations[text] = cached
        return cached

    def ancestors(self, label: str) -> frozenset[str]:
        cached = self._ancestors.get(label)
        if cached is None:
            known = self.ontology.get(label) is not None
            cached = frozenset(self.ontology.ancestors(label)) if known else frozenset()
            self._ancestors[label] = cached
        return cached

    def to_chexpert(self, label: str) -> tuple[str, ...]:
        cached = self._chexpert.get(label)
        if cached is None:
            known = self.ontology.get(label) is not None
            cached = tuple(self.ontology.to_chexpert(label)) if known else ()
            self._chexpert[label] = cached
        return cached


class TableVocabulary:
    """A :class:`Vocabulary` from explicit tables.

    ``synonyms`` maps a spelling to its canonical label, ``parents`` a label to its direct
    parents, ``chexpert`` a label to its CheXpert classes, ``locations`` a location spelling to
    its canonical location. Lookups are case- and space-insensitive.
    """

    def __init__(
        self,
        synonyms: Mapping[str, str] | None = None,
        parents: Mapping[str, Iterable[str]] | None = None,
        chexpert: Mapping[str, Iterable[str]] | None = None,
        locations: Mapping[str, str] | None = None,
    ) -> None:
        self._synonyms = {normalize(k): v for k, v in (synonyms or {}).items()}
        self._parents = {k: tuple(v) for k, v in (parents or {}).items()}
        self._chexpert = {k: tuple(v) for k, v in (chexpert or {}).items()}
        self._locations = {normalize(k): v for k, v in (locations or {}).items()}

    def finding(self, text: str) -> str:
        key = normalize(text)
        return self._synonyms.get(key, key)

    def location(self, text: str) -> str:
        key = normalize(text)
        return self._locations.get(key, key)

    def ancestors(self, label: str) -> frozenset[str]:
        seen: set[str] = set()
        frontier = list(self._parents.get(label, ()))
        while frontier:
            parent = frontier.pop()
            if parent not in seen and parent != label:
                seen.add(parent)
                frontier.extend(self._parents.get(parent, ()))
        return frozenset(seen)

    def to_chexpert(self, label: str) -> tuple[str, ...]:
        return self._chexpert.get(label, ())
