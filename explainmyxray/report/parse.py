"""Read a text report back into a :class:`StructuredReport`.

The reader expects the layout :func:`explainmyxray.report.render.render_report` writes, but takes
what models and people really write too:

* sections ``FINDINGS:`` / ``LOCATIONS:`` / ``IMPRESSION:`` in any case and order, missing ones,
  aliases (``Conclusion:``, ``Localizations:``), content on the header line; other headed sections
  (``Indication:``, ``Technique:``...) are skipped with a warning; text without any header is
  read as findings;
* bullets ``-``, ``*``, ``•``, ``1.``, ``a)``, markdown bold;
* one finding per bullet (``no pleural effusion``, ``possible pneumonia``, ``pleural effusion
  (left costophrenic angle)``, ``pleural effusion: left, costophrenic angle``) or free sentences
  (``Small left pleural effusion, no pneumothorax.``).

Free text is read by the labeler's engine (:class:`explainmyxray.labeler.Labeler`): the same
sentence splitter, vocabulary, negation and uncertainty scope and statements that imply absences
("lungs are clear") as ``explainmyxray label`` and the ``labeler`` verifier, so the two never
disagree on how a sentence reads. A finding keeps the side the text gives it; the place its own
name implies ("hilar", "apical") is left to grounding, which combines the two.

Nothing is dropped silently: a short bullet that names no known term becomes a ``Finding`` with
``known=False``; a sentence that states something the vocabulary cannot name becomes an
:class:`UnmappedStatement` in ``report.unmapped``; every unknown location and skipped section is
listed in ``report.warnings``. Every finding's ``evidence`` is a span of the report's own text,
with its offsets. When a finding and a more specific one of the same status are both read
("pleural thickening" and "apical pleural thickening"), the specific one is kept: it implies its
parent.

All text handling runs in time linear in the report's length: no regular expression here
repeats an unbounded sub-pattern, and the engine cuts very long sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..core.case import Finding, FindingStatus, StructuredReport, UnmappedStatement
from ..labeler.labeler import Labeler, Mention, SentenceReading, default_labeler
from .ontology import Ontology, Term, load_ontology, normalize_text
from .render import EMPTY_ITEM, STATUS_PREFIX

Section = str  # "findings" | "locations" | "impression" | "other" | "preamble"

_SECTION_ALIASES: dict[str, Section] = {
    "findings": "findings",
    "finding": "findings",
    "radiographic findings": "findings",
    "observations": "findings",
    "report": "findings",
    "locations": "locations",
    "location": "locations",
    "localizations": "locations",
    "localization": "locations",
    "localisations": "locations",
    "localisation": "locations",
    "impression": "impression",
    "impressions": "impression",
    "conclusion": "impression",
    "conclusions": "impression",
    "summary": "impression",
    "opinion": "impression",
}
_OTHER_SECTIONS = (
    "indication",
    "indications",
    "history",
    "clinical history",
    "clinical information",
    "clinical indication",
    "reason for exam",
    "reason for examination",
    "comparison",
    "comparisons",
    "technique",
    "examination",
    "exam",
    "procedure",
    "view",
    "views",
    "recommendation",
    "recommendations",
)
_HEADER_NAME_MAX = 32
# A section header that follows a sentence on the same line ("... effusion. IMPRESSION: ...").
_INLINE_HEADER = re.compile(
    r"(?<=[.;!?])[ \t]+(?=(?:"
    + "|".join(sorted((*_SECTION_ALIASES, *_OTHER_SECTIONS), key=len, reverse=True))
    + r")[ \t]*:)",
    re.IGNORECASE,
)
_BULLET = re.compile(r"\s*(?:[-*•·–—+>]+|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)](?=\s))")
_MARKDOWN = re.compile(r"[*_`]{2,}")
_EMPTY_ITEMS = {EMPTY_ITEM, "none", "nil", "n a", "na", "not applicable", "no locations"}
_ITEM_SEPARATOR = re.compile(r":|\s[-–—]\s|->|→|=>")
_PARENTHESES = re.compile(r"\(([^()]*)\)")
_LOCATION_SEPARATOR = re.compile(r"[,;/&+]|\band\b|\bor\b")
_LIST_SEPARATOR = re.compile(r"[,;]|\band\b")
# Words that tie a finding to the one before it in a sentence: the two lie in one place.
_LINKING_WORDS = frozenset({"adjacent", "associated", "overlying", "underlying", "surrounding"})
_NON_LABEL = re.compile(r"[^\w\s/+-]")
# Longer bullets, or bullets with a verb, that name no known term are sentences, not terms.
_MAX_UNKNOWN_WORDS = 5
# Longer text is never one item (a label with its cue words): it is read as sentences.
_MAX_ITEM_CHARS = 200
_MAX_ITEM_WORDS = 10
_VERBS = frozenset(
    ["is", "are", "has", "have", "been", "was", "were", "appears", "appear", "seems", "seem"]
)


@dataclass(frozen=True)
class _Span:
    """A piece of the report: its text and where it starts in the original string."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def part(self, start: int, end: int) -> _Span:
        return _Span(self.text[start:end], self.start + start)

    def stripped(self, trailing: str = "") -> _Span:
        body = self.text.rstrip()
        if trailing:
            body = body.rstrip(trailing).rstrip()
        left = len(body) - len(body.lstrip())
        return _Span(body[left:], self.start + left)


@dataclass
class _Item:
    """One finding as read from the text, before findings of the whole report are merged."""

    label: str
    status: FindingStatus
    known: bool
    locations: list[str] = field(default_factory=list)
    status_given: bool = False
    evidence: _Span | None = None
    implied: bool = False


def parse_report(
    text: str,
    *,
    source: str = "generated",
    ontology: Ontology | None = None,
    labeler: Labeler | None = None,
) -> StructuredReport:
    """Parse a (rendered or free) text report into a :class:`StructuredReport`."""
    reader = _Reader(ontology or load_ontology(), labeler or default_labeler())
    return reader.read(text, source)


class _Reader:
    def __init__(self, ontology: Ontology, labeler: Labeler) -> None:
        self.ontology = ontology
        self.labeler = labeler
        self.warnings: list[str] = []
        self.unmapped: dict[tuple[int, int], UnmappedStatement] = {}
        self.text = ""

    # -- sections --------------------------------------------------------------------------

    def read(self, text: str, source: str) -> StructuredReport:
        self.text = text
        sections = self._split_sections(text)
        has_findings = "findings" in sections
        findings: list[_Item] = []
        for line in sections.get("findings", []):
            findings.extend(self._read_finding_line(line))
        impression_lines = sections.get("impression", [])
        if not has_findings:
            loose = sections.get("preamble", [])
            for line in loose:
                findings.extend(self._read_finding_line(line))
            if not loose and impression_lines:
                self.warnings.append("no FINDINGS section: findings read from the IMPRESSION")
        merged = self._merge(findings)
        for line in sections.get("locations", []):
            self._read_location_line(line, merged)
        impression = "\n".join(line.text.strip() for line in impression_lines).strip()
        if normalize_text(impression) in _EMPTY_ITEMS:
            impression, impression_lines = "", []
        self._add_impression_findings(impression_lines, merged, has_findings or bool(findings))
        kept = self._most_specific(merged)
        return StructuredReport(
            findings=[_finding(i, text) for i in kept],
            impression=impression,
            text=text,
            source=source,
            warnings=self.warnings,
            unmapped=list(self.unmapped.values()),
        )

    def _split_sections(self, text: str) -> dict[Section, list[_Span]]:
        sections: dict[Section, list[_Span]] = {}
        current: Section = "preamble"
        for line in _lines(text):
            if not line.text.strip():
                continue
            header = _header(line.text)
            if header is not None:
                name, rest_at = header
                key = normalize_text(name)
                section = _SECTION_ALIASES.get(key)
                if section is None and key in _OTHER_SECTIONS:
                    section = "other"
                    self.warnings.append(f"skipped section {name.strip()!r}")
                if section is not None:
                    current = section
                    sections.setdefault(current, [])
                    rest = line.part(rest_at, len(line.text)).stripped()
                    if rest.text and current == "other":
                        # "Indication: rule out pneumonia" is a one-line section.
                        current = "preamble"
                    elif rest.text:
                        sections[current].append(rest)
                    continue
            sections.setdefault(current, []).append(line.stripped())
        sections.pop("other", None)
        return sections

    # -- lines -----------------------------------------------------------------------------

    def _read_finding_line(self, line: _Span, unknown_terms: bool = True) -> list[_Item]:
        """The findings of one line; with ``unknown_terms`` a short line naming no known term
        is kept as an unknown finding, else listed as an unmapped statement."""
        content = _strip_bullet(line)
        if not content.text or normalize_text(content.text) in _EMPTY_ITEMS:
            return []
        item = self._read_item(content)
        if item is not None:
            return [item]
        pending: list[tuple[_Span, str]] = []
        items = self._read_free_text(content, pending)
        unknown = None if items or not unknown_terms else self._unknown(content)
        if unknown is not None:
            return [unknown]
        for span, reason in pending:
            self._unmapped(span, reason)
        if not items and not pending:
            self.warnings.append(f"no known finding in: {content.text!r}")
        return items

    def _read_item(self, content: _Span) -> _Item | None:
        """One finding written as an item: ``[cue] label [cue] [(locations)] [: locations]``."""
        head, location_texts = _split_item(content)
        found = self._condition_item(head)
        if found is None:
            return None
        term, status, given = found
        locations = self._locations(location_texts, context=content.text)
        return _Item(term.label, status, True, locations, given, content)

    def _condition_item(self, head: _Span) -> tuple[Term, FindingStatus, bool] | None:
        """The one condition a short item names, with the status its cue words give it."""
        if len(head.text) > _MAX_ITEM_CHARS:
            return None
        lowered = head.text.lower()
        for status, prefix in STATUS_PREFIX.items():
            # The renderer's own wording ("no ...", "possible ..."), whatever the label says.
            if prefix and lowered.startswith(prefix):
                term = self._condition(head.text[len(prefix) :])
                if term is not None:
                    return term, status, True
        cues = self.labeler.strip_cues(head.text)
        if cues.trigger is not None or cues.status != "present":
            term = self._condition(head.text[cues.start : cues.end])
            if term is not None:
                return term, cues.status, True
        whole = self._condition(head.text)
        return (whole, "present", False) if whole is not None else None

    def _unknown(self, content: _Span) -> _Item | None:
        """A short item naming no known term ("flux capacitor (left apex)"), kept with
        ``known=False``; None for longer text or text with a verb (a sentence, not a term)."""
        head, location_texts = _split_item(content)
        if len(head.text) > _MAX_ITEM_CHARS:
            return None
        cues = self.labeler.strip_cues(head.text)
        core = head.text[cues.start : cues.end]
        words = normalize_text(core).split()
        if not words or len(words) > _MAX_UNKNOWN_WORDS or _VERBS.intersection(words):
            return None
        label = " ".join(_NON_LABEL.sub(" ", core.lower()).split())
        self.warnings.append(f"unknown finding {label!r} (kept with known=False)")
        locations = self._locations(location_texts, context=content.text)
        # The places the unknown words name themselves ("tracheal narrowing": the trachea).
        for reading in self.labeler.read(core):
            for m in reading.mentions:
                if m.kind == "location" and m.label not in locations:
                    locations.append(m.label)
        return _Item(label, cues.status, False, locations, cues.trigger is not None, content)

    def _read_free_text(
        self, content: _Span, unmapped: list[tuple[_Span, str]] | None = None
    ) -> list[_Item]:
        """Findings named anywhere in free text, sentence by sentence, with status and side.

        Sentences that state what no finding names go to ``unmapped`` when given, else to
        ``report.unmapped``.
        """
        items: list[_Item] = []
        for reading in self.labeler.read(content.text):
            sentence = content.part(reading.sentence.start, reading.sentence.end).stripped(".;,")
            listed = self._list_of_terms(sentence, reading, content.start)
            if listed:
                items.extend(listed)
                continue
            conditions = [m for m in reading.mentions if m.kind != "location"]
            if not conditions:
                reason = reading.unmapped_reason(self.labeler.vocabulary.normal_words)
                if reason is not None and unmapped is not None:
                    unmapped.append((sentence, reason))
                elif reason is not None:
                    self._unmapped(sentence, reason)
                continue
            places = [_own_side(m, reading) for m in conditions]
            _share_places(conditions, places)
            _inherit_places(conditions, places, content.text)
            for mention, where in zip(conditions, places, strict=True):
                items.append(
                    _Item(
                        mention.label,
                        mention.status,
                        True,
                        where,
                        mention.trigger is not None,
                        sentence,
                        implied=mention.implied,
                    )
                )
        return items

    def _list_of_terms(self, sentence: _Span, reading: SentenceReading, offset: int) -> list[_Item]:
        """A sentence that is a list of vocabulary terms ("Cardiomegaly, possible pneumonia"),
        each read as an item (the label its words spell); empty when any part is not one.

        A part's status is the engine's when it read one there ("no effusion or pneumothorax":
        the negation covers the list), else the part's own cue words.
        """
        items: list[_Item] = []
        parts = _split_list(sentence)
        if any(len(part.text.split()) > _MAX_ITEM_WORDS for part in parts):
            return []
        for part in parts:
            found = self._condition_item(part)
            if found is None:
                return []
            term, status, given = found
            for m in reading.mentions:
                inside = part.start <= m.start + offset and m.end + offset <= part.end
                if m.kind != "location" and not m.implied and inside:
                    status, given = m.status, m.trigger is not None
                    break
            items.append(_Item(term.label, status, True, [], given, part))
        return items

    def _read_location_line(self, line: _Span, findings: list[_Item]) -> None:
        content = _strip_bullet(line)
        if not content.text or normalize_text(content.text) in _EMPTY_ITEMS:
            return
        head, location_texts = _split_item(content)
        found = self._condition_item(head)
        if found is None and len(location_texts) == 1:
            # "left costophrenic angle: pleural effusion"
            swapped = self._condition_item(location_texts[0])
            if swapped is not None and self._location_terms(head.text):
                found, location_texts = swapped, [head]
        if found is None:
            items = self._read_free_text(content)
            for item in items:
                self._attach(item, findings)
            if not items:
                self.warnings.append(f"no known finding in LOCATIONS line: {content.text!r}")
            return
        term, status, given = found
        locations = self._locations(location_texts, context=content.text)
        self._attach(_Item(term.label, status, True, locations, given, content), findings)

    def _attach(self, item: _Item, findings: list[_Item]) -> None:
        matches = [f for f in findings if f.label == item.label]
        exact = [f for f in matches if f.status == item.status] if item.status_given else []
        target = (exact or matches or [None])[0]
        if target is None:
            self.warnings.append(
                f"{item.label!r} appears only in the LOCATIONS section (added as a finding)"
            )
            findings.append(item)
            return
        for location in item.locations:
            if location not in target.locations:
                target.locations.append(location)

    def _add_impression_findings(
        self, lines: Sequence[_Span], findings: list[_Item], findings_given: bool
    ) -> None:
        known = {f.label for f in findings}
        for line in lines:
            # The impression summarises in prose ("Big heart."): no unknown terms from it.
            for found in self._read_finding_line(line, unknown_terms=False):
                if found.label in known:
                    continue
                if findings_given and not found.implied:
                    self.warnings.append(f"{found.label!r} is mentioned only in the IMPRESSION")
                findings.append(found)
                known.add(found.label)

    def _merge(self, items: list[_Item]) -> list[_Item]:
        """One item per label: later mentions add locations; a conflicting status is warned.

        A finding a statement only implies ("lungs are clear": no consolidation) gives way to
        one the text names.
        """
        merged: list[_Item] = []
        by_label: dict[tuple[str, bool], _Item] = {}
        for item in items:
            key = (item.label, item.known)
            first = by_label.get(key)
            if first is None or (first.implied and not item.implied):
                if first is not None:
                    merged[merged.index(first)] = item
                by_label[key] = item
                if first is None:
                    merged.append(item)
                continue
            if item.implied:
                continue
            if first.status != item.status:
                self.warnings.append(
                    f"{item.label!r} is reported both {first.status} and {item.status}; "
                    f"kept {first.status}"
                )
            for location in item.locations:
                if location not in first.locations:
                    first.locations.append(location)
        return merged

    def _most_specific(self, items: list[_Item]) -> list[_Item]:
        """Drop a finding that a more specific one of the same status implies.

        A present or uncertain parent gives way to its child ("apical pleural thickening" says
        "pleural thickening"); an absent child gives way to its absent parent ("no pleural
        effusion" says no loculated effusion). The dropped one's places go to the one kept.
        """
        dropped: set[int] = set()
        for i, parent in enumerate(items):
            for j, child in enumerate(items):
                if i == j or i in dropped or j in dropped or not (parent.known and child.known):
                    continue
                if parent.label not in self.ontology.ancestors(child.label):
                    continue
                gives_way = parent.status == child.status != "absent"
                if gives_way or (parent.status, child.status) == ("uncertain", "present"):
                    loser, winner = i, j
                elif parent.status == child.status == "absent":
                    loser, winner = j, i
                else:
                    continue
                dropped.add(loser)
                for location in items[loser].locations:
                    if location not in items[winner].locations:
                        items[winner].locations.append(location)
        return [item for k, item in enumerate(items) if k not in dropped]

    def _unmapped(self, span: _Span, reason: str) -> None:
        key = (span.start, span.end)
        if key not in self.unmapped:
            self.warnings.append(f"unmapped statement {span.text!r}: {reason}")
            self.unmapped[key] = UnmappedStatement(
                text=self.text[span.start : span.end], start=span.start, end=span.end, reason=reason
            )

    # -- terms -----------------------------------------------------------------------------

    def _condition(self, text: str) -> Term | None:
        return self.ontology.resolve(text, kind="finding") or self.ontology.resolve(
            text, kind="diagnosis"
        )

    def _locations(self, texts: Sequence[_Span], *, context: str) -> list[str]:
        """PadChest location labels of location texts; unknown parts are warned about."""
        labels: list[str] = []
        for text in texts:
            for part in _split_locations(text.text):
                key = normalize_text(part)
                if not key or key in _EMPTY_ITEMS:
                    continue
                found = self._location_terms(part)
                if not found:
                    self.warnings.append(f"unknown location {part.strip()!r} in {context!r}")
                    continue
                labels.extend(label for label in found if label not in labels)
        return labels

    def _location_terms(self, text: str) -> list[str]:
        """``left lower lobe`` as one location, or ``left apex`` as several."""
        term = self.ontology.resolve(text, kind="location")
        if term is not None:
            return [term.label]
        return list(
            dict.fromkeys(
                m.label
                for reading in self.labeler.read(text)
                for m in reading.mentions
                if m.kind == "location"
            )
        )


def _own_side(mention: Mention, reading: SentenceReading) -> list[str]:
    """The places the sentence gives a finding, less the place its own name is.

    "Right hilar enlargement" is a hilar enlargement on the right: ``loc hilar`` is what the
    finding is, so only the side is kept, and grounding puts the finding on its own place on that
    side ("widened mediastinum" is the upper mediastinum, not the whole mediastinum). Place words
    inside the finding's words are kept when the finding can lie anywhere and they name more
    than a lung ("hilar adenopathy"), and side words always ("biapical").
    """
    from ..anatomy.locations import implied_locations, is_side, is_whole_lung, side_of

    own_place = any(not is_whole_lung(loc) for loc in implied_locations(mention.label))
    inside = {
        m.label
        for m in reading.mentions
        if m.kind == "location" and mention.start <= m.start and m.end <= mention.end
    }
    outside = {
        m.label
        for m in reading.mentions
        if m.kind == "location" and not (mention.start <= m.start and m.end <= mention.end)
    }
    kept: list[str] = []
    for label in mention.locations:
        if label in outside or label not in inside or is_side(label):
            kept.append(label)
        elif own_place or is_whole_lung(label):
            # "blunting of the right costophrenic angle": the place is the finding's own, the
            # side is the report's.
            side = side_of(label)
            if side is not None:
                kept.append(side)
        else:
            kept.append(label)
    return list(dict.fromkeys(kept))


def _inherit_places(mentions: Sequence[Mention], places: list[list[str]], text: str) -> None:
    """A finding the sentence names as the reading of another ("left upper lobe opacity
    suspicious for pneumonia", "effusion with adjacent atelectasis") and gives no place of its
    own lies where that one does."""
    for k in range(1, len(mentions)):
        mention, before = mentions[k], mentions[k - 1]
        if places[k] or not places[k - 1] or mention.status == "absent":
            continue
        between = set(normalize_text(text[before.end : mention.start]).split())
        if mention.trigger is not None or between & _LINKING_WORDS:
            places[k] = list(places[k - 1])


def _share_places(mentions: Sequence[Mention], places: list[list[str]]) -> None:
    """Overlapping mentions name one thing twice ("airspace opacity": alveolar pattern and
    increased density; "apical scarring"): each gets the places of the others."""
    for i, a in enumerate(mentions):
        for j, b in enumerate(mentions):
            if i != j and a.start < b.end and b.start < a.end:
                places[i].extend(loc for loc in places[j] if loc not in places[i])


def _finding(item: _Item, text: str) -> Finding:
    evidence = item.evidence
    if evidence is not None:
        evidence = _Span(text[evidence.start : evidence.end], evidence.start)
    return Finding(
        label=item.label,
        status=item.status,
        locations=item.locations,
        known=item.known,
        evidence=evidence.text if evidence is not None else None,
        evidence_start=evidence.start if evidence is not None else None,
        evidence_end=evidence.end if evidence is not None else None,
    )


def _lines(text: str) -> Iterator[_Span]:
    """The lines of ``text`` with their offsets; a line is also cut before an inline header."""
    position = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        cut = 0
        for match in _INLINE_HEADER.finditer(body):
            yield _Span(body[cut : match.start()], position + cut)
            cut = match.end()
        yield _Span(body[cut:], position + cut)
        position += len(raw)


def _skip(text: str, i: int, chars: str, limit: int | None = None) -> int:
    count = 0
    while i < len(text) and text[i] in chars and (limit is None or count < limit):
        i += 1
        count += 1
    return i


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _header(line: str) -> tuple[str, int] | None:
    """``(name, where the rest starts)`` when ``line`` starts with a section header.

    ``FINDINGS:``, ``## Impression``, ``**Conclusion:** ...``, ``Findings - ...``: a name of
    letters and spaces ending the line or followed by ``:`` or a spaced dash. A hand-written
    scan, so that a line of thousands of spaces costs linear time.
    """
    i = _skip_space(line, 0)
    hashes = _skip(line, i, "#", 6)
    i = _skip_space(line, hashes) if hashes > i else i
    i = _skip_space(line, _skip(line, i, "*_", 2))
    start = i
    while (
        i < len(line)
        and i - start <= _HEADER_NAME_MAX
        and ((line[i].isascii() and line[i].isalpha()) or line[i] == " ")
    ):
        i += 1
    name = line[start:i].strip()
    if len(name) < 2 or not name[0].isalpha():
        return None
    j = _skip_space(line, _skip(line, _skip_space(line, i), "*_", 2))
    if j >= len(line):
        return name, len(line)
    if line[j] == ":":
        return name, _skip(line, j + 1, "*_", 2)
    spaced = j > 0 and line[j - 1].isspace() and j + 1 < len(line) and line[j + 1].isspace()
    if line[j] in "-–—" and spaced:
        return name, j + 1
    return None


def _strip_bullet(line: _Span) -> _Span:
    bullet = _BULLET.match(line.text)
    body = line.part(bullet.end() if bullet else 0, len(line.text))
    # Markdown emphasis becomes spaces, so offsets stay those of the original text.
    blanked = _MARKDOWN.sub(lambda m: " " * len(m.group()), body.text)
    return _Span(blanked, body.start).stripped(".;,")


def _split_item(content: _Span) -> tuple[_Span, list[_Span]]:
    """``label (loc, loc): loc`` -> (``label``, [``loc, loc``, ``loc``])."""
    location_texts = [
        content.part(m.start(1), m.end(1)).stripped() for m in _PARENTHESES.finditer(content.text)
    ]
    head = _Span(_PARENTHESES.sub(lambda m: " " * len(m.group()), content.text), content.start)
    separator = _ITEM_SEPARATOR.search(head.text)
    if separator is not None:
        location_texts.append(head.part(separator.end(), len(head.text)).stripped())
        head = head.part(0, separator.start())
    return head.stripped(), [t for t in location_texts if t.text]


def _split_list(span: _Span) -> list[_Span]:
    parts, cut = [], 0
    for match in _LIST_SEPARATOR.finditer(span.text):
        parts.append(span.part(cut, match.start()).stripped())
        cut = match.end()
    parts.append(span.part(cut, len(span.text)).stripped())
    return [p for p in parts if p.text]


def _split_locations(text: str) -> list[str]:
    parts, cut = [], 0
    for match in _LOCATION_SEPARATOR.finditer(text):
        parts.append(text[cut : match.start()].strip())
        cut = match.end()
    parts.append(text[cut:].strip())
    return [p for p in parts if p]
