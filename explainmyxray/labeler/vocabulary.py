"""The labeler's vocabulary: English phrases for every PadChest label, and the scope rules.

Phrases come from two places:

1. ``data/phrases.yaml``: the labeler's own phrase lists (with gaps, alternatives, inflections).
2. The PadChest ontology (:mod:`explainmyxray.report.ontology`): each term's label and English
   synonyms. An ontology phrase is added only when (a) the labeler's own phrases do not already
   read the whole phrase as some label (the labeler's lists win on conflicts: the ontology's
   ``opacity`` → *infiltrates* loses to the labeler's ``opacity`` → *increased density*), (b) it is
   not a negated statement (``no acute ...``), and (c) it is not in ``ontology_ignore`` of
   ``data/rules.yaml`` (words too general to name a finding, like ``line`` or ``unremarkable``).

A :class:`Vocabulary` indexes its phrases by anchor word so that a sentence only runs the
phrases whose anchor it contains.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from ..core.errors import ConfigError
from .patterns import Phrase, compile_phrase, tokenize

MentionKind = Literal["finding", "diagnosis", "location"]
_DATA_PACKAGE = "explainmyxray.labeler.data"
_PHRASE_SPECIAL = re.compile(r"[\[\]|=#*]|\.\.\.")


@dataclass(frozen=True)
class PhraseEntry:
    """One phrase naming one label."""

    label: str
    kind: MentionKind
    phrase: Phrase
    origin: Literal["labeler", "ontology"]


@dataclass(frozen=True)
class ImpliedRule:
    """A statement that says labels are absent ("lungs are clear" → no consolidation, ...)."""

    name: str
    phrases: tuple[Phrase, ...]
    absent: tuple[str, ...]
    when_negated: bool
    unless: frozenset[str] = frozenset()


@dataclass
class PhraseIndex:
    """Phrases indexed by anchor word (one of which must occur in a sentence for them to run)."""

    entries: list[Any] = field(default_factory=list)
    by_anchor: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, item: Any, phrase: Phrase) -> None:
        self.entries.append(item)
        for word in phrase.anchors:
            self.by_anchor[word].append(len(self.entries) - 1)

    def candidates(self, words: Iterable[str]) -> list[Any]:
        """The entries whose anchor is among ``words``, each once, in insertion order."""
        hits: set[int] = set()
        for word in words:
            hits.update(self.by_anchor.get(word, ()))
        return [self.entries[i] for i in sorted(hits)]


@dataclass
class Vocabulary:
    """Everything the labeler matches: mention phrases, scope triggers, implied statements."""

    mentions: PhraseIndex
    triggers: dict[str, PhraseIndex]
    implied: list[ImpliedRule]
    post_window: int
    kinds: dict[str, MentionKind]
    survives_inside: dict[str, frozenset[str]] = field(default_factory=dict)
    whole_sentence: dict[str, str] = field(default_factory=dict)
    normal_words: frozenset[str] = frozenset()

    @property
    def labels(self) -> list[str]:
        """Every finding, diagnosis and location label with at least one phrase."""
        return sorted(self.kinds)


TRIGGER_KINDS = (
    "pseudo",
    "negation_pre",
    "negation_post",
    "uncertain_pre",
    "uncertain_post",
    "probable_pre",
    "terminators",
)


def _read_yaml(name: str) -> dict[str, Any]:
    text = resources.files(_DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"labeler data file {name} is not a mapping")
    return data


def _compile_all(sources: Sequence[str], where: str) -> list[Phrase]:
    if not isinstance(sources, list):
        raise ConfigError(f"{where}: expected a list of phrases, got {type(sources).__name__}")
    phrases = []
    for source in sources:
        try:
            phrases.append(compile_phrase(str(source)))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return phrases


def _literal_phrase(text: str) -> str | None:
    """An ontology spelling as a phrase of the rule language (exact words, inflections allowed)."""
    words = [t.text for t in tokenize(text)]
    if not words or any(_PHRASE_SPECIAL.search(w) for w in words):
        return None
    return " ".join(words)


def _ontology_terms() -> list[tuple[str, MentionKind, list[str]]]:
    from ..report.ontology import load_ontology, term_names

    ontology = load_ontology()
    return [(t.label, t.kind, term_names(t)) for t in ontology.terms()]


def build_vocabulary(
    phrases: Mapping[str, Any] | None = None,
    rules: Mapping[str, Any] | None = None,
    ontology_terms: Iterable[tuple[str, MentionKind, list[str]]] | None = None,
) -> Vocabulary:
    """Compile a vocabulary from phrase lists, scope rules and ontology terms.

    Without arguments it uses the packaged ``phrases.yaml``, ``rules.yaml`` and the PadChest
    ontology; tests pass small dictionaries instead.
    """
    phrases = _read_yaml("phrases.yaml") if phrases is None else phrases
    rules = _read_yaml("rules.yaml") if rules is None else rules
    terms = _ontology_terms() if ontology_terms is None else list(ontology_terms)
    ontology_kind = {label: kind for label, kind, _ in terms}

    mentions = PhraseIndex()
    kinds: dict[str, MentionKind] = {}
    own: list[PhraseEntry] = []
    for section, default_kind in (("findings", "finding"), ("locations", "location")):
        for label, sources in (phrases.get(section) or {}).items():
            kind: MentionKind = ontology_kind.get(label, default_kind)  # type: ignore[assignment]
            kinds[label] = kind
            for phrase in _compile_all(sources or [], f"phrases.yaml {section}/{label}"):
                entry = PhraseEntry(label, kind, phrase, "labeler")
                own.append(entry)
                mentions.add(entry, phrase)

    ignore = {" ".join(t.text for t in tokenize(w)) for w in rules.get("ontology_ignore", [])}
    skip_labels = set(rules.get("ontology_skip_labels", []))
    negations = {"no", "not", "without", "negative"}
    for label, kind, names in terms:
        if label in skip_labels:
            continue
        kinds.setdefault(label, kind)
        for name in names:
            source = _literal_phrase(name)
            if source is None or source in ignore or source.split()[0] in negations:
                continue
            if _claimed(source, mentions):
                continue
            phrase = compile_phrase(source)
            mentions.add(PhraseEntry(label, kind, phrase, "ontology"), phrase)

    triggers = {}
    for trigger_kind in TRIGGER_KINDS:
        index = PhraseIndex()
        for phrase in _compile_all(rules.get(trigger_kind) or [], f"rules.yaml {trigger_kind}"):
            index.add(phrase, phrase)
        triggers[trigger_kind] = index

    implied = []
    for rule in rules.get("implied") or []:
        name = str(rule.get("name", "?"))
        absent = tuple(rule.get("absent") or ())
        unknown = [label for label in absent if label not in kinds]
        if unknown:
            raise ConfigError(f"rules.yaml implied/{name}: unknown labels {unknown}")
        implied.append(
            ImpliedRule(
                name=name,
                phrases=tuple(_compile_all(rule.get("patterns") or [], f"implied/{name}")),
                absent=absent,
                when_negated=rule.get("when") == "negated",
                unless=frozenset(str(w).lower() for w in rule.get("unless") or ()),
            )
        )
    survives = {
        str(label): frozenset(containers or [])
        for label, containers in (rules.get("survives_inside") or {}).items()
    }
    for label, containers in survives.items():
        unknown = sorted({label, *containers} - set(kinds))
        if unknown:
            raise ConfigError(f"rules.yaml survives_inside/{label}: unknown labels {unknown}")
    whole_sentence: dict[str, str] = {}
    for label, sentences in (rules.get("whole_sentence") or {}).items():
        if label not in kinds:
            raise ConfigError(f"rules.yaml whole_sentence: unknown label {label!r}")
        for sentence in sentences or []:
            whole_sentence[" ".join(t.text for t in tokenize(str(sentence)))] = str(label)
    return Vocabulary(
        mentions=mentions,
        triggers=triggers,
        implied=implied,
        post_window=int(rules.get("post_window", 7)),
        kinds=kinds,
        survives_inside=survives,
        whole_sentence=whole_sentence,
        normal_words=frozenset(str(w).lower() for w in rules.get("normal_words") or ()),
    )


def _claimed(source: str, mentions: PhraseIndex) -> bool:
    """Whether one of the labeler's own phrases already reads all of ``source`` as a label."""
    joined = source + " "
    for entry in mentions.candidates(source.split()):
        if entry.origin != "labeler":
            continue
        match = entry.phrase.regex.match(joined)
        if match and match.end() == len(joined):
            return True
    return False


@cache
def default_vocabulary() -> Vocabulary:
    """The packaged vocabulary (compiled once per process)."""
    return build_vocabulary()
