"""Sentence splitting for radiology reports.

Radiology text breaks the assumptions of general-purpose splitters: numbered impressions
(``1. No effusion. 2. Cardiomegaly.``), decimals (``1.5 cm``), abbreviations (``Dr.``, ``vs.``,
``e.g.``), missing spaces after periods (``normal limits.The lungs``), section headers on their own
line (``FINDINGS:``) and, in IU X-ray, the de-identification token ``XXXX`` in place of words.
A sentence keeps its character offsets into the original text, with list markers stripped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Tokens that end in a period without ending a sentence (compared lower-cased, without the period).
ABBREVIATIONS = frozenset(
    {
        "dr", "drs", "mr", "mrs", "ms", "vs", "v", "e.g", "i.e", "eg", "ie", "approx", "st",
        "fig", "figs", "no", "nos", "ca", "cf", "resp", "pt", "pts", "hx", "yr", "yrs", "y.o",
        "a.m", "p.m", "incl", "esp", "mt",
    }
)  # fmt: skip

# "1." / "2)" / "(3)" / "#4" at the start of a sentence: a list marker, not content.
_LIST_MARKER = re.compile(r"\s*(?:\(?\d{1,2}[.)](?!\d)|#\d{1,2}\b|[-*•]\s)\s*")
_HEADER = re.compile(r"^\s*[A-Z][A-Z /&]{2,40}:\s*$")
_VISIBLE = re.compile(r"\S")
_ALNUM = re.compile(r"[^\W_]")
_BOUNDARY = re.compile(r"[.!?]+|\n\s*\n|\n(?=\s*(?:[A-Z#(\-*•]|\d{1,2}[.)]))|;(?=\s*\d{1,2}[.)]\s)")


@dataclass(frozen=True)
class Sentence:
    """One sentence: its text (list marker stripped) and offsets into the original string."""

    text: str
    start: int
    end: int


# Longest abbreviation or list number looked at before a period: the backward scan is bounded so
# that a run like "a.a.a.a..." costs linear time.
_WORD_LOOKBACK = 12
# Longest sentence (characters): a longer run without a boundary is cut at white space, so that
# every step after splitting works on pieces of bounded size (linear time in the text's length).
MAX_SENTENCE_CHARS = 1000


def _previous_word(text: str, index: int) -> str:
    """The word (letters, digits, inner periods) ending just before ``text[index]``."""
    j = index
    limit = max(0, index - _WORD_LOOKBACK)
    while j > limit and (text[j - 1].isalnum() or text[j - 1] == "."):
        j -= 1
    return text[j:index].lower().strip(".")


def _next_visible(text: str, index: int) -> int:
    """The index of the first non-space character at or after ``index`` (``len(text)`` if none)."""
    match = _VISIBLE.search(text, index)
    return match.start() if match else len(text)


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    """Whether a candidate boundary (period run, question mark, newline) ends a sentence."""
    punct = match.group()
    start, end = match.start(), match.end()
    visible = _next_visible(text, end)
    if visible == len(text):
        return True
    following = text[visible]
    if "\n" in punct or "!" in punct:
        return True
    if punct.startswith(";"):
        return True
    if "?" in punct:
        # "? pneumonia" (a hedge) continues the sentence; "?" before a capital ends it.
        return following.isupper() or (following.isdigit() and _list_marker_at(text, end))
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if before.isdigit() and after.isdigit():  # 1.5 cm
        return False
    word = _previous_word(text, start)
    if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha() and word != "x"):
        # "Dr. Smith", "e.g. effusion", "a. fib"; still a boundary before a list marker.
        return following.isdigit() and _list_marker_at(text, end)
    if word.isdigit() and len(word) <= 2 and start - len(word) - 1 >= -1:
        # "1." at the start of a line or after another sentence is a list marker: no content yet.
        before_word = start - len(word)
        k = before_word
        while k > 0 and text[k - 1].isspace():
            k -= 1
        if k == 0 or text[k - 1] in ".:;":
            return False
    if after and not after.isspace():
        # "limits.The lungs": a period glued to the next word ends the sentence only before a
        # capital letter (not "x-ray.jpg" or "e.g.").
        return after.isupper() and len(word) > 1
    return True


def _list_marker_at(text: str, index: int) -> bool:
    return _LIST_MARKER.match(text, index) is not None


def split_sentences(text: str) -> list[Sentence]:
    """Split report text into sentences with offsets into ``text``.

    Section headers alone on a line (``FINDINGS:``) become their own sentence; list markers
    (``1.``, ``2)``) are removed from the sentence text; empty pieces are dropped.
    """
    sentences: list[Sentence] = []
    cursor = 0
    for match in _BOUNDARY.finditer(text):
        if not _is_boundary(text, match):
            continue
        _append(text, cursor, match.start(), sentences)
        cursor = match.end()
    _append(text, cursor, len(text), sentences)
    return sentences


def _append(text: str, start: int, end: int, out: list[Sentence]) -> None:
    if _ALNUM.search(text, start, end) is None:
        return
    for line_start, line_end in _split_headers(text, start, end):
        piece = text[line_start:line_end]
        marker = _LIST_MARKER.match(piece)
        if marker and (marker.end() < len(piece)):
            line_start += marker.end()
        elif marker:
            continue
        while line_start < line_end and text[line_start].isspace():
            line_start += 1
        while line_end > line_start and text[line_end - 1].isspace():
            line_end -= 1
        for piece_start, piece_end in _bounded(text, line_start, line_end):
            if any(ch.isalnum() for ch in text[piece_start:piece_end]):
                out.append(Sentence(text[piece_start:piece_end], piece_start, piece_end))


def _bounded(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` cut at white space into pieces of at most ``MAX_SENTENCE_CHARS``."""
    pieces: list[tuple[int, int]] = []
    while end - start > MAX_SENTENCE_CHARS:
        cut = start + MAX_SENTENCE_CHARS
        space = text.rfind(" ", start + MAX_SENTENCE_CHARS // 2, cut)
        cut = space if space > start else cut
        pieces.append((start, cut))
        start = _next_visible(text, cut)
    if end > start:
        pieces.append((start, end))
    return pieces


def _split_headers(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split off ``HEADER:`` lines (and inline ``FINDINGS:`` prefixes) from a piece."""
    pieces: list[tuple[int, int]] = []
    cursor = start
    for line in re.finditer(r"[^\n]*\n?", text[start:end]):
        if not line.group():
            continue
        line_start = start + line.start()
        line_end = start + line.end()
        if _HEADER.match(text[line_start:line_end]):
            if line_start > cursor:
                pieces.append((cursor, line_start))
            pieces.append((line_start, line_end))
            cursor = line_end
    if cursor < end:
        inline = re.match(r"\s*[A-Z][A-Z /&]{2,40}:(?=\s*\S)", text[cursor:end])
        if inline:
            pieces.append((cursor, cursor + inline.end()))
            cursor += inline.end()
        pieces.append((cursor, end))
    return pieces
