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
  (``Small left pleural effusion, no pneumothorax.``), where negation and uncertainty words scope
  over the clause that follows them (or the finding right before them: ``effusion has resolved``);
* synonyms, plurals, case and punctuation as :meth:`Ontology.resolve` allows.

Nothing is dropped silently: a bullet that names no known term becomes a ``Finding`` with
``known=False``, and every such case, every unknown location and every skipped sentence is
listed in ``report.warnings``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.case import Finding, FindingStatus, StructuredReport
from .ontology import Ontology, Term, load_ontology, normalize_text
from .render import EMPTY_ITEM

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
_HEADER = re.compile(
    r"^\s*(?:#{1,6}\s*)?[*_]{0,2}\s*(?P<name>[A-Za-z][A-Za-z ]{1,30}?)\s*[*_]{0,2}\s*"
    r"(?::|\s[-–—]\s|$)[*_]{0,2}\s*(?P<rest>.*)$"
)
# A section header that follows a sentence on the same line ("... effusion. IMPRESSION: ...").
_INLINE_HEADER = re.compile(
    r"(?<=[.;!?])\s+(?=(?:"
    + "|".join(sorted((*_SECTION_ALIASES, *_OTHER_SECTIONS), key=len, reverse=True))
    + r")\s*:)",
    re.IGNORECASE,
)
# "biapical", "bibasilar": both sides of a zone, as two location words the parser knows.
_BILATERAL_PREFIX = re.compile(r"\bbi(apical|basal|basilar|hilar)\b", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•·–—+>]+|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)](?=\s))\s*")
_EMPTY_ITEMS = {EMPTY_ITEM, "none", "nil", "n a", "na", "not applicable", "no locations"}
_ITEM_SEPARATORS = re.compile(r"\s*(?::|\s[-–—]\s|->|→|=>)\s*")
_LOCATION_SPLIT = re.compile(r"\s*(?:[,;/&+]|\band\b|\bor\b)\s*")
_CLAUSE_SPLIT = re.compile(
    r"(?<!\d)[.;!](?!\d)|\n|\b(?:but|however|although|though|whereas|while)\b", re.IGNORECASE
)

# Status cues, as normalised token sequences.
_PRE_CUES: dict[str, FindingStatus] = {
    **dict.fromkeys(
        [
            "no",
            "not",
            "without",
            "negative for",
            "free of",
            "absence of",
            "absent",
            "no evidence of",
            "no sign of",
            "no signs of",
            "no radiographic evidence of",
            "there is no",
            "there are no",
            "resolution of",
            "resolved",
            "ruled out",
            "neither",
            "nor",
            "no longer",
        ],
        "absent",
    ),
    **dict.fromkeys(
        [
            "possible",
            "possibly",
            "probable",
            "probably",
            "likely",
            "suspected",
            "suspicious for",
            "suspicion of",
            "suspicious of",
            "suggestive of",
            "suggesting",
            "suggests",
            "concerning for",
            "questionable",
            "equivocal",
            "may represent",
            "may be",
            "might be",
            "could be",
            "could represent",
            "cannot exclude",
            "can not exclude",
            "cannot rule out",
            "can not rule out",
            "not excluded",
            "rule out",
            "to rule out",
            "to exclude",
            "r o",
            "consider",
            "versus",
            "vs",
            "query",
            "qmark",
            "differential",
            "differential includes",
            "uncertain",
            "indeterminate",
            "borderline",
            "maybe",
            "presumed",
            "doubtful",
            "atypical for",
        ],
        "uncertain",
    ),
    **dict.fromkeys(
        [
            "there is",
            "there are",
            "there is a",
            "evidence of",
            "presence of",
            "signs of",
            "findings of",
            "consistent with",
            "compatible with",
            "in keeping with",
            "known",
            "definite",
            "with",
        ],
        "present",
    ),
}
_POST_CUES: dict[str, FindingStatus] = {
    **dict.fromkeys(
        [
            "not seen",
            "not identified",
            "not present",
            "not visualized",
            "not visualised",
            "not evident",
            "not demonstrated",
            "not detected",
            "absent",
            "resolved",
            "has resolved",
            "have resolved",
            "no longer seen",
            "no longer present",
            "no longer visible",
            "excluded",
            "ruled out",
            "negative",
        ],
        "absent",
    ),
    **dict.fromkeys(
        [
            "cannot be excluded",
            "can not be excluded",
            "not excluded",
            "cannot be ruled out",
            "can not be ruled out",
            "not ruled out",
            "suspected",
            "possible",
            "questionable",
            "qmark",
            "likely",
            "probable",
            "is suspected",
            "is possible",
            "is likely",
            "is probable",
            "is questionable",
            "not certain",
            "uncertain",
            "equivocal",
        ],
        "uncertain",
    ),
    **dict.fromkeys(
        [
            "present",
            "is present",
            "are present",
            "seen",
            "is seen",
            "are seen",
            "noted",
            "is noted",
            "are noted",
            "identified",
            "is identified",
            "evident",
            "persists",
            "persist",
        ],
        "present",
    ),
}
_MAX_CUE = max(len(c.split()) for c in [*_PRE_CUES, *_POST_CUES])
_MAX_TERM_WORDS = 8
# Longer bullets, or bullets with a verb, that name no known term are sentences, not terms.
_MAX_UNKNOWN_WORDS = 5
# Words that may stand between a location and the finding it qualifies ("left small effusion").
_MODIFIERS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "sided",
        "side",
        "small",
        "large",
        "moderate",
        "mild",
        "mildly",
        "minimal",
        "trace",
        "tiny",
        "new",
        "increased",
        "partial",
        "subtle",
        "patchy",
        "focal",
        "sizeable",
        "big",
        "massive",
        "moderately",
        "slight",
        "slightly",
        "minor",
        "severe",
        "extensive",
        "smaller",
        "larger",
        "residual",
        "persistent",
        "marked",
        "markedly",
        "faint",
        "dense",
        "subsegmental",
        "old",
        "chronic",
        "acute",
        "early",
        "probable",
        "possible",
        "lung",
        "lungs",
        "lobe",
        "zone",
    ]
)
_LOCATION_JOINERS = frozenset({"and", "or", "to", "of", "the", "both"})
# Between a finding and a status word that follows it ("effusion has now resolved").
_COPULA = frozenset(
    [
        "is",
        "are",
        "has",
        "have",
        "been",
        "was",
        "were",
        "appears",
        "appear",
        "seems",
        "seem",
        "now",
        "also",
        "again",
        "remains",
        "remain",
    ]
)
# Phrases that name a finding without its PadChest words, rewritten before matching.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), r)
    for p, r in [
        (
            r"\b(?:the\s+)?(?:normal|unremarkable)\s+(?:heart size|heart|cardiac size"
            r"|cardiac silhouette|cardiomediastinal silhouette|cardiomediastinal contours?)\b",
            " no cardiomegaly ",
        ),
        (
            r"\b(?:the\s+)?(?:heart size|heart|cardiac size|cardiac silhouette"
            r"|cardiomediastinal silhouette|cardiomediastinal contours?)"
            r"\s+(?:is|are|appears|remains)?\s*(?:normal|within normal limits|not enlarged"
            r"|unremarkable|stable|upper limits? of normal)",
            " no cardiomegaly ",
        ),
        (
            r"\b(?:the\s+)?(?:heart size|heart|cardiac size|cardiac silhouette)"
            r"\s+(?:is|appears|remains)?\s*(?:mildly|moderately|markedly|severely|slightly|borderline)?\s*"
            r"(?:enlarged|increased|large)\b",
            " cardiomegaly ",
        ),
        (
            r"\b(?:mediastinum|mediastinal contours?|mediastinal silhouette)\s+(?:is|are|appears)?"
            r"\s*(?:normal|within normal limits|unremarkable|not widened)",
            " no mediastinal enlargement ",
        ),
        (r"\bmediastinum\s+(?:is\s+)?widened\b", " mediastinal enlargement "),
        (
            r"\b(?:elevated|raised|elevation of the)\s+(left|right)\s+hemidiaphragm\b",
            r" \1 hemidiaphragm elevation ",
        ),
        (
            r"\b(left|right)\s+hemidiaphragm\s+(?:is\s+)?(?:elevated|raised)\b",
            r" \1 hemidiaphragm elevation ",
        ),
        (
            r"\b(?:costophrenic|cp)\s+angles?\s+(?:is|are)?\s*(?:sharp|clear|preserved|normal)\b",
            " no costophrenic angle blunting ",
        ),
        (r"\?", " qmark "),
    ]
)


@dataclass
class _Mention:
    start: int
    end: int
    term: Term | None = None
    cue: str | None = None


@dataclass
class _Item:
    """One finding as read from the text, before findings of the whole report are merged."""

    label: str
    status: FindingStatus
    known: bool
    locations: list[str] = field(default_factory=list)
    status_given: bool = False
    evidence: str | None = None


def parse_report(
    text: str, *, source: str = "generated", ontology: Ontology | None = None
) -> StructuredReport:
    """Parse a (rendered or free) text report into a :class:`StructuredReport`."""
    reader = _Reader(ontology or load_ontology())
    return reader.read(text, source)


class _Reader:
    def __init__(self, ontology: Ontology) -> None:
        self.ontology = ontology
        self.warnings: list[str] = []

    # -- sections --------------------------------------------------------------------------

    def read(self, text: str, source: str) -> StructuredReport:
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
        impression = "\n".join(impression_lines).strip()
        if normalize_text(impression) in _EMPTY_ITEMS:
            impression = ""
        self._add_impression_findings(impression, merged, has_findings or bool(findings))
        return StructuredReport(
            findings=[
                Finding(
                    label=i.label,
                    status=i.status,
                    locations=i.locations,
                    known=i.known,
                    evidence=i.evidence,
                )
                for i in merged
            ],
            impression=impression,
            text=text,
            source=source,
            warnings=self.warnings,
        )

    def _split_sections(self, text: str) -> dict[Section, list[str]]:
        sections: dict[Section, list[str]] = {}
        current: Section = "preamble"
        text = _BILATERAL_PREFIX.sub(r"bilateral \1", _INLINE_HEADER.sub("\n", text))
        for raw in text.splitlines():
            if not raw.strip():
                continue
            header = _HEADER.match(raw)
            if header is not None:
                name = normalize_text(header.group("name"))
                section = _SECTION_ALIASES.get(name)
                if section is None and name in _OTHER_SECTIONS:
                    section = "other"
                    self.warnings.append(f"skipped section {header.group('name').strip()!r}")
                if section is not None:
                    current = section
                    sections.setdefault(current, [])
                    rest = header.group("rest").strip()
                    if rest and current == "other":
                        # "Indication: rule out pneumonia" is a one-line section.
                        current = "preamble"
                    elif rest:
                        sections[current].append(rest)
                    continue
            sections.setdefault(current, []).append(raw.strip())
        sections.pop("other", None)
        return sections

    # -- lines -----------------------------------------------------------------------------

    def _read_finding_line(self, line: str) -> list[_Item]:
        content = _strip_bullet(line)
        if not content or normalize_text(content) in _EMPTY_ITEMS:
            return []
        item = self._read_item(content)
        if item is not None:
            return [item]
        items = self._scan(content)
        if items:
            return items
        return self._unknown(content)

    def _read_item(self, content: str) -> _Item | None:
        """One finding written as an item: ``[cue] label [cue] [(locations)] [: locations]``."""
        head, location_texts = _split_item(content)
        status, core, given = self._strip_cues(head)
        term = self._condition(core)
        if term is None:
            return None
        locations = self._locations(location_texts, context=content)
        if locations is None:
            return None
        return _Item(term.label, status, True, locations, given, content)

    def _unknown(self, content: str) -> list[_Item]:
        head, location_texts = _split_item(content)
        status, core, given = self._strip_cues(head)
        words = normalize_text(core).split()
        if not words or len(words) > _MAX_UNKNOWN_WORDS or _COPULA.intersection(words):
            self.warnings.append(f"no known finding in: {content!r}")
            return []
        label = " ".join(re.sub(r"[^\w\s/+-]", " ", core.lower()).split())
        self.warnings.append(f"unknown finding {label!r} (kept with known=False)")
        locations = self._locations(location_texts, context=content, lenient=True) or []
        return [_Item(label, status, False, locations, given, content)]

    def _read_location_line(self, line: str, findings: list[_Item]) -> None:
        content = _strip_bullet(line)
        if not content or normalize_text(content) in _EMPTY_ITEMS:
            return
        head, location_texts = _split_item(content)
        status, core, given = self._strip_cues(head)
        term = self._condition(core)
        if term is None and len(location_texts) == 1:
            # "left costophrenic angle: pleural effusion"
            status, other_core, given = self._strip_cues(location_texts[0])
            swapped = self._condition(other_core)
            if swapped is not None and self._locations([head], context=content) is not None:
                term, location_texts = swapped, [head]
        if term is None:
            for item in self._scan(content):
                self._attach(item, findings)
            if not self._scan(content):
                self.warnings.append(f"no known finding in LOCATIONS line: {content!r}")
            return
        locations = self._locations(location_texts, context=content, lenient=True) or []
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
        self, impression: str, findings: list[_Item], findings_given: bool
    ) -> None:
        if not impression:
            return
        known = {f.label for f in findings}
        for line in impression.splitlines():
            content = _strip_bullet(line)
            item = self._read_item(content) if content else None
            items = [item] if item is not None else self._scan(content)
            for found in items:
                if found.label in known:
                    continue
                if findings_given:
                    self.warnings.append(f"{found.label!r} is mentioned only in the IMPRESSION")
                findings.append(found)
                known.add(found.label)

    def _merge(self, items: list[_Item]) -> list[_Item]:
        """One item per label: later mentions add locations; a conflicting status is warned."""
        merged: list[_Item] = []
        by_label: dict[tuple[str, bool], _Item] = {}
        for item in items:
            key = (item.label, item.known)
            first = by_label.get(key)
            if first is None:
                by_label[key] = item
                merged.append(item)
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

    # -- terms and cues --------------------------------------------------------------------

    def _condition(self, text: str) -> Term | None:
        return self.ontology.resolve(text, kind="finding") or self.ontology.resolve(
            text, kind="diagnosis"
        )

    def _locations(
        self, texts: Sequence[str], *, context: str, lenient: bool = False
    ) -> list[str] | None:
        """PadChest location labels of location texts; None if a text names no location.

        With ``lenient`` unknown parts are warned about and skipped instead.
        """
        labels: list[str] = []
        for text in texts:
            for part in _LOCATION_SPLIT.split(text):
                if not normalize_text(part) or normalize_text(part) in _EMPTY_ITEMS:
                    continue
                found = self._location_terms(part)
                if found is None:
                    if not lenient:
                        return None
                    self.warnings.append(f"unknown location {part.strip()!r} in {context!r}")
                    continue
                labels.extend(t.label for t in found if t.label not in labels)
        return labels

    def _location_terms(self, text: str) -> list[Term] | None:
        """``left lower lobe`` as one term, or ``left costophrenic angle base`` as several."""
        term = self.ontology.resolve(text, kind="location")
        if term is not None:
            return [term]
        words = normalize_text(text).split()
        found: list[Term] = []
        i = 0
        while i < len(words):
            for n in range(min(_MAX_TERM_WORDS, len(words) - i), 0, -1):
                term = self.ontology.resolve(" ".join(words[i : i + n]), kind="location")
                if term is not None:
                    found.append(term)
                    i += n
                    break
            else:
                if words[i] not in _MODIFIERS and words[i] not in _LOCATION_JOINERS:
                    return None
                i += 1
        return found or None

    def _strip_cues(self, text: str) -> tuple[FindingStatus, str, bool]:
        """Status words at the start or end of an item, and what is left."""
        words = normalize_text(_rewrite(text)).split()
        whole = " ".join(words)
        if self._condition(whole) is not None:
            return "present", whole, False
        status: FindingStatus = "present"
        given = False
        for n in range(min(_MAX_CUE, len(words) - 1), 0, -1):
            cue = " ".join(words[:n])
            if cue in _PRE_CUES:
                status, words, given = _PRE_CUES[cue], words[n:], True
                break
        for n in range(min(_MAX_CUE, len(words) - 1), 0, -1):
            cue = " ".join(words[-n:])
            if cue in _POST_CUES:
                post = _POST_CUES[cue]
                if not given or post != "present":
                    status, given = (post if not given or status == "present" else status), True
                words = words[:-n]
                break
        return status, " ".join(words), given

    # -- free text -------------------------------------------------------------------------

    def _scan(self, text: str) -> list[_Item]:
        """Findings named anywhere in free text, with their status and locations."""
        items: list[_Item] = []
        head, location_texts = _split_item(text) if "(" in text else (text, [])
        for clause in _CLAUSE_SPLIT.split(_rewrite(head)):
            items.extend(self._scan_clause(clause))
        if location_texts and len(items) == 1:
            extra = self._locations(location_texts, context=text, lenient=True) or []
            items[0].locations.extend(x for x in extra if x not in items[0].locations)
        return items

    def _scan_clause(self, clause: str) -> list[_Item]:
        words = normalize_text(clause).split()
        mentions = self._mentions(words)
        conditions = [m for m in mentions if m.term is not None and m.term.kind != "location"]
        if not conditions:
            return []
        status_of: dict[int, tuple[FindingStatus, bool]] = {}
        scope: FindingStatus = "present"
        scoped = False
        previous_condition: _Mention | None = None
        for m in mentions:
            if m.cue is not None:
                gap = words[previous_condition.end : m.start] if previous_condition else None
                post = (
                    m.cue in _POST_CUES
                    and previous_condition is not None
                    and all(w in _COPULA for w in gap or [])
                )
                if post and previous_condition is not None:
                    current = status_of[previous_condition.start]
                    if not current[1] or current[0] == "present":
                        status_of[previous_condition.start] = (_POST_CUES[m.cue], True)
                elif m.cue in _PRE_CUES:
                    # "no effusion, with cardiomegaly" style positives only reset a negation.
                    scope, scoped = _PRE_CUES[m.cue], _PRE_CUES[m.cue] != "present"
            elif m.term is not None and m.term.kind != "location":
                status_of[m.start] = (scope, scoped)
                previous_condition = m
        items = {
            m.start: _Item(m.term.label, status_of[m.start][0], True, [], status_of[m.start][1])
            for m in conditions
            if m.term is not None
        }
        for group in _location_groups(mentions, words):
            target = self._location_target(group, mentions, words)
            if target is not None:
                item = items[target.start]
                for m in group:
                    if m.term is not None and m.term.label not in item.locations:
                        item.locations.append(m.term.label)
        for item in items.values():
            item.evidence = clause.strip()
        return list(items.values())

    def _mentions(self, words: list[str]) -> list[_Mention]:
        mentions: list[_Mention] = []
        i = 0
        while i < len(words):
            mention = self._mention_at(words, i)
            if mention is None:
                i += 1
                continue
            mentions.append(mention)
            i = mention.end
        return mentions

    def _mention_at(self, words: list[str], i: int) -> _Mention | None:
        longest = min(max(_MAX_TERM_WORDS, _MAX_CUE), len(words) - i)
        for n in range(longest, 0, -1):
            phrase = " ".join(words[i : i + n])
            term = self.ontology.resolve(phrase) if n <= _MAX_TERM_WORDS else None
            if term is not None:
                return _Mention(i, i + n, term=term)
            if phrase in _PRE_CUES or phrase in _POST_CUES:
                return _Mention(i, i + n, cue=phrase)
        return None

    def _location_target(
        self, group: list[_Mention], mentions: list[_Mention], words: list[str]
    ) -> _Mention | None:
        after = [m for m in mentions if m.start >= group[-1].end and m.term is not None]
        before = [m for m in mentions if m.end <= group[0].start and m.term is not None]
        following = after[0] if after else None
        if (
            following is not None
            and following.term is not None
            and following.term.kind != "location"
            and all(w in _MODIFIERS for w in words[group[-1].end : following.start])
        ):
            return following
        for m in reversed(before):
            if m.term is not None and m.term.kind != "location":
                return m
        if following is not None and following.term is not None:
            return following if following.term.kind != "location" else None
        return None


def _location_groups(mentions: list[_Mention], words: list[str]) -> list[list[_Mention]]:
    """Runs of location mentions joined only by ``and``/``or``/``of``..."""
    groups: list[list[_Mention]] = []
    for m in mentions:
        if m.term is None or m.term.kind != "location":
            continue
        if groups and all(w in _LOCATION_JOINERS for w in words[groups[-1][-1].end : m.start]):
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def _strip_bullet(line: str) -> str:
    text = _BULLET.sub("", line.strip(), count=1)
    text = re.sub(r"[*_`]{2,}", "", text)
    return text.strip().rstrip(".;,").strip()


def _split_item(content: str) -> tuple[str, list[str]]:
    """``label (loc, loc): loc`` -> (``label``, [``loc, loc``, ``loc``])."""
    location_texts = [m.strip() for m in re.findall(r"\(([^)]*)\)", content)]
    head = re.sub(r"\([^)]*\)", " ", content)
    parts = _ITEM_SEPARATORS.split(head, maxsplit=1)
    if len(parts) == 2:
        head = parts[0]
        location_texts.append(parts[1])
    return head.strip(), [t for t in location_texts if t]


def _rewrite(text: str) -> str:
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text
