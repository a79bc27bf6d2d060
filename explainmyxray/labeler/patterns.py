"""Tokens, morphological variants and the small phrase language of the labeler's rule files.

A sentence is matched as its lower-cased tokens joined by single spaces (``"no pleural effusion "``,
with a trailing space), so a phrase is a regular expression over whole tokens. Rule files write
phrases in a small language, one token position per space-separated item:

=========== ==========================================================================
``word``    the word or any of its inflections (``opacity`` also matches ``opacities``)
``a|b``     one of several words (each with its inflections)
``[a|b]``   optionally one of several words
``=word``   exactly this form, no inflections (``=bases`` for "both bases")
``...``     a gap of up to 4 tokens (``...6``: up to 6) that holds no punctuation and no clause
            word (and, or, but, with, ...); negation words inside a gap are seen by the scope rules
``#``       a number or ordinal (``5``, ``1.5``, ``5th``, ``fifth``)
``*``       any one word
=========== ==========================================================================

Punctuation the tokenizer keeps (``, ; : ( ) ? /``) can be written as items too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from ..core.errors import ConfigError

_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:st|nd|rd|th)?|[a-z]+(?:'[a-z]+)?|[,;:()?/]")
PUNCTUATION = frozenset(",;:()?/")
ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth",
)  # fmt: skip
# Words a gap never crosses: they start another clause or join list items.
GAP_STOP = ("and", "or", "but", "with", "without", "however", "although", "which", "while", "than")
_IRREGULAR = {
    "thorax": "thoraces", "pneumothorax": "pneumothoraces", "hemithorax": "hemithoraces",
    "hydropneumothorax": "hydropneumothoraces", "hilum": "hila", "bulla": "bullae",
    "vertebra": "vertebrae", "apex": "apices", "bronchus": "bronchi", "metastasis": "metastases",
    "atelectasis": "atelectases", "sulcus": "sulci", "calculus": "calculi", "embolus": "emboli",
    "granuloma": "granulomata", "sequela": "sequelae", "pleura": "pleurae", "axilla": "axillae",
    "diagnosis": "diagnoses", "bronchiectasis": "bronchiectases", "cavity": "cavities",
}  # fmt: skip
_NO_INFLECTION = frozenset(
    {
        "is", "as", "has", "was", "this", "its", "his", "us", "yes", "less", "thus", "plus",
        "no", "not", "of", "the", "a", "an", "in", "on", "at", "to", "by", "or", "and", "be",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Token:
    """One token of a sentence: its lower-cased text and its offsets in that sentence."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Lower-cased word, number and kept-punctuation tokens of ``text`` with their offsets."""
    lowered = text.lower()
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(lowered)]


_NO_PLURAL_ENDINGS = ("ed", "ly", "ing", "ous", "ic", "al", "ive", "ar", "ent", "ant", "ful")


@cache
def inflections(word: str) -> frozenset[str]:
    """The word with its plural or singular forms (and the irregular ones radiology uses)."""
    forms = {word}
    if len(word) < 3 or word in _NO_INFLECTION or not word.isalpha():
        return frozenset(forms)
    for singular, plural in _IRREGULAR.items():
        if word == singular:
            forms.add(plural)
        elif word == plural:
            forms.add(singular)
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        if word.endswith("ies") and len(word) > 4:
            forms.add(word[:-3] + "y")
        elif word.endswith(("sses", "xes", "ches", "shes")):
            forms.add(word[:-2])
        else:
            forms.add(word[:-1])
    elif word.endswith(_NO_PLURAL_ENDINGS):
        pass
    elif word.endswith("y") and word[-2:-1] not in ("a", "e", "o", "u"):
        forms.add(word[:-1] + "ies")
    elif word.endswith(("s", "x", "ch", "sh", "z")):
        if not word.endswith(("us", "is")):
            forms.add(word + "es")
    else:
        forms.add(word + "s")
    return frozenset(forms)


def _word_regex(word: str) -> tuple[str, frozenset[str]]:
    if word.startswith("="):
        forms = frozenset({word[1:]})
    elif word == "#":
        return r"(?:\d+(?:\.\d+)?(?:st|nd|rd|th)?|" + "|".join(ORDINALS) + ") ", frozenset()
    elif word == "*":
        return r"[^\s,;:()?/]+ ", frozenset()
    else:
        forms = inflections(word)
    alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return f"(?:{alternatives}) ", forms


@dataclass(frozen=True)
class Phrase:
    """A compiled phrase: its source, regex, and the words one of which must occur (anchors)."""

    source: str
    regex: re.Pattern[str]
    anchors: frozenset[str]
    gaps: int


_GAP = re.compile(r"^\.\.\.(\d*)$")
_ITEM = re.compile(r"\[[^\]]*\]|\([^)]*\)|\S+")


def _group(body: str, source: str) -> list[list[str]]:
    """The alternatives of a group body ``a b|c``: each a list of words."""
    alternatives = [alt.split() for alt in body.split("|")]
    if not alternatives or any(not alt for alt in alternatives):
        raise ConfigError(f"labeler phrase {source!r}: empty alternative in {body!r}")
    return alternatives


def _sequence_regex(words: list[str]) -> tuple[str, frozenset[str] | None]:
    """Regex of a word sequence, and the forms of its longest literal word (its anchor)."""
    parts = []
    anchor: frozenset[str] | None = None
    for word in words:
        if word in PUNCTUATION:
            parts.append(f"(?:{re.escape(word)} )")
            forms: frozenset[str] = frozenset({word})
        else:
            regex, forms = _word_regex(word)
            parts.append(regex)
        if forms and (anchor is None or max(map(len, forms)) > max(map(len, anchor))):
            anchor = forms
    return "".join(parts), anchor


@cache
def compile_phrase(source: str) -> Phrase:
    """Compile one phrase of the rule language; raises ConfigError on a malformed phrase."""
    items = _ITEM.findall(source.strip().lower())
    if not items:
        raise ConfigError("empty phrase in the labeler's rules")
    parts: list[str] = []
    anchor_sets: list[frozenset[str]] = []
    gaps = 0
    stop = "|".join(GAP_STOP)
    for item in items:
        gap = _GAP.match(item)
        if gap:
            size = int(gap.group(1) or 4)
            parts.append(rf"(?P<gap{gaps}>(?:(?!(?:{stop}) )[^\s,;:()?/]+ ){{0,{size}}})")
            gaps += 1
            continue
        optional = item.startswith("[") and item.endswith("]") and len(item) > 1
        grouped = optional or (item.startswith("(") and item.endswith(")") and len(item) > 1)
        body = item[1:-1] if grouped else item
        if (grouped and body in PUNCTUATION) or (not grouped and item in PUNCTUATION):
            alternatives = [[body]]
        else:
            alternatives = _group(body, source)
        compiled = [_sequence_regex(alt) for alt in alternatives]
        regex = "(?:" + "|".join(r for r, _ in compiled) + ")" + ("?" if optional else "")
        parts.append(regex)
        if not optional and all(a is not None for _, a in compiled):
            anchor_sets.append(frozenset().union(*(a for _, a in compiled if a)))
    if not anchor_sets:
        raise ConfigError(f"labeler phrase {source!r} has no required word")
    # Prefer the anchor with the longest words: long words are rare, so the phrase runs seldom.
    anchors = max(anchor_sets, key=lambda a: min(len(w) for w in a))
    return Phrase(source, re.compile(r"(?<!\S)" + "".join(parts)), anchors, gaps)
