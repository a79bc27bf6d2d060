"""The rule-based labeler: PadChest findings and locations in English report text, with scope.

For every sentence (:mod:`.sentences`) the labeler

1. finds mentions: every phrase of the vocabulary that matches, as whole tokens; a mention whose
   span lies strictly inside another mention of the same kind (finding or location) is dropped, so
   "calcified granuloma" is not also "granuloma" and "right lower lobe" is not also "right";
2. finds scope triggers (:data:`.vocabulary.TRIGGER_KINDS`); pseudo-triggers ("no change") hide
   the words they cover, and a trigger inside a longer trigger is dropped;
3. decides each mention's status:

   * a negation or hedge inside the mention's own gap ("heart is *not* enlarged") decides first;
   * otherwise the nearest pre-trigger in the same clause (a terminator such as "but", "which",
     ";" or a new "there is" ends a clause; commas do not, so a negation covers a list), and a
     post-trigger within ``post_window`` tokens after the mention ("... has resolved");
   * a negation (pre or post) makes it ``absent``; else a hedge ("possible", "versus",
     "cannot exclude") makes it ``uncertain``; a favouring hedge ("likely", "consistent with")
     and no trigger at all make it ``present``. A favouring hedge defers to an earlier negation
     or hedge in its clause ("no findings *consistent with* pneumonia" is absent);
4. applies implied statements: "lungs are clear" (not negated) says consolidation, effusion, ...
   are absent; "no acute cardiopulmonary abnormality" (negated) says the acute findings are;
5. attaches each location mention to the nearest finding mention of its clause; a location after
   a preposition ("nodule *in the* right upper lobe") to the finding before it.

This is the project's one reading engine for report text: the report parser
(:mod:`explainmyxray.report.parse`) reads free sentences through :meth:`Labeler.read` and item
cue words through :meth:`Labeler.strip_cues`. Every step runs in time linear in the text: the
splitter cuts sentences longer than :data:`.sentences.MAX_SENTENCE_CHARS`, and scope questions
are answered on sorted spans, never over all pairs.

:func:`label_report` folds mentions into one status per label. **Conflicting mentions** resolve
by precedence ``present > uncertain > absent``: one affirmed mention makes a finding present
("no effusion on the left; small right effusion" has an effusion), otherwise one hedged mention
makes it uncertain; implied absences (rule 4) never override an explicit mention. The label
``normal`` is derived: absent when any other finding (devices included; ``unchanged``,
``exclude`` and ``suboptimal study`` excepted) is present or uncertain, otherwise present when
the report says anything the labeler reads (a negated finding, "lungs are clear", ...),
otherwise not reported.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from ..core.case import FindingStatus
from .patterns import Phrase, Token, tokenize
from .sentences import Sentence, split_sentences
from .vocabulary import MentionKind, Vocabulary, default_vocabulary

PRECEDENCE: dict[str, int] = {"absent": 0, "uncertain": 1, "present": 2}
NOT_ABNORMAL = frozenset({"normal", "unchanged", "exclude", "suboptimal study"})
PRE_WINDOW = 16
POST_TERMINATOR_EXCEPTIONS = frozenset({"which", "that"})
_CACHE_LIMIT = 50_000
_PREPOSITIONS = frozenset(
    {
        "in", "at", "within", "involving", "of", "over", "along", "near", "throughout",
        "overlying", "projecting", "on", "from", "into", "about", "around", "adjacent", "behind",
        "above", "below", "under", "beneath",
    }
)  # fmt: skip
_DETERMINERS = frozenset({"the", "a", "an", "both"})


@dataclass(frozen=True)
class Mention:
    """One finding, diagnosis or location read in the text, with its status and evidence."""

    label: str
    kind: MentionKind
    status: FindingStatus
    start: int
    end: int
    text: str
    sentence: int
    trigger: str | None = None
    rule: str = "phrase"
    locations: tuple[str, ...] = ()

    @property
    def implied(self) -> bool:
        """Whether the mention comes from a statement ("lungs are clear"), not a named finding."""
        return self.rule.startswith("implied:")


@dataclass(frozen=True)
class SentenceReading:
    """One sentence as the labeler read it: its place in the text and its mentions."""

    sentence: Sentence
    mentions: tuple[Mention, ...]
    negated: bool
    words: frozenset[str]

    @property
    def conditions(self) -> list[Mention]:
        """The findings and diagnoses the sentence names (not those a statement implies)."""
        return [m for m in self.mentions if m.kind != "location" and not m.implied]

    def unmapped_reason(self, normal_words: frozenset[str]) -> str | None:
        """Why the sentence states something the vocabulary cannot name, or None when it names
        a finding, implies absences ("lungs are clear"), negates, or speaks of normality."""
        if any(m.kind != "location" for m in self.mentions):
            return None
        if self.negated or self.words & normal_words:
            return None
        where = [m.label for m in self.mentions if m.kind == "location"]
        if where:
            return "names no known finding (places: " + ", ".join(dict.fromkeys(where)) + ")"
        return "names no known finding"


@dataclass(frozen=True)
class Cues:
    """The status the cue words of a short item give it, and where the item's own words are."""

    status: FindingStatus
    start: int
    end: int
    trigger: str | None


@dataclass(frozen=True)
class _Span:
    start: int  # token index
    end: int  # token index, exclusive
    gaps: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class _Trigger:
    kind: str
    span: _Span
    text: str


@dataclass
class _Local:
    """A mention inside one sentence, in token and character coordinates of that sentence."""

    label: str
    kind: MentionKind
    span: _Span
    status: FindingStatus = "present"
    trigger: str | None = None
    rule: str = "phrase"
    locations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Analysis:
    mentions: tuple[_Local, ...]
    sentence: _Sentence
    negated: bool


class _Sentence:
    """One tokenized sentence and the phrase matches in it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.joined = "".join(t.text + " " for t in self.tokens)
        self.token_at: dict[int, int] = {}
        position = 0
        for index, token in enumerate(self.tokens):
            self.token_at[position] = index
            position += len(token.text) + 1
        self.token_at[position] = len(self.tokens)
        self.words = frozenset(t.text for t in self.tokens)

    def find(self, phrase: Phrase) -> list[_Span]:
        spans = []
        for match in phrase.regex.finditer(self.joined):
            if match.end() == match.start():
                continue
            gaps = []
            for g in range(phrase.gaps):
                name = f"gap{g}"
                if match.start(name) >= 0 and match.end(name) > match.start(name):
                    gaps.append((self.token_at[match.start(name)], self.token_at[match.end(name)]))
            spans.append(
                _Span(self.token_at[match.start()], self.token_at[match.end()], tuple(gaps))
            )
        return spans

    def chars(self, span: _Span) -> tuple[int, int]:
        return self.tokens[span.start].start, self.tokens[span.end - 1].end

    def words_of(self, span: _Span) -> str:
        return " ".join(t.text for t in self.tokens[span.start : span.end])


def _inside(inner: _Span, outer: _Span) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end and inner != outer


def _contained(spans: Sequence[_Span]) -> set[int]:
    """Indices of the spans that lie strictly inside another span of ``spans``.

    One sort and one sweep (``O(n log n)``), so that a sentence of many mentions or triggers
    costs no more than its size.
    """
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start, -spans[i].end))
    inside: set[int] = set()
    reach = -1  # the furthest end among spans that start before the current start
    i = 0
    while i < len(order):
        start = spans[order[i]].start
        group_end = i
        while group_end < len(order) and spans[order[group_end]].start == start:
            group_end += 1
        widest = spans[order[i]].end
        for k in order[i:group_end]:
            if reach >= spans[k].end or widest > spans[k].end:
                inside.add(k)
        reach = max(reach, widest)
        i = group_end
    return inside


def _drop_contained(
    items: list[_Local], survives: Mapping[str, frozenset[str]] | None = None
) -> list[_Local]:
    """Drop mentions strictly inside another, unless ``survives[label]`` names the container.

    Equal spans with different labels are all kept ("cabg": sternotomy and heart surgery).
    """
    survives = survives or {}
    spans = [m.span for m in items]
    inside = _contained(spans)
    if not any(items[i].label in survives for i in inside):
        return [m for i, m in enumerate(items) if i not in inside]
    longest = max(s.end - s.start for s in spans)
    by_start = sorted(range(len(items)), key=lambda i: spans[i].start)
    starts = [spans[i].start for i in by_start]

    def hidden(index: int) -> bool:
        m = items[index]
        keep_in = survives.get(m.label)
        if keep_in is None:
            return True
        low = bisect_left(starts, m.span.end - longest)
        high = bisect_right(starts, m.span.start)
        return any(
            _inside(m.span, items[j].span) and items[j].label not in keep_in
            for j in by_start[low:high]
        )

    return [m for i, m in enumerate(items) if i not in inside or not hidden(i)]


class Labeler:
    """Reads PadChest labels out of English report text. Thread-compatible, caches sentences."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary or default_vocabulary()
        self._cache: dict[str, _Analysis] = {}
        self._cues: dict[str, Cues] = {}

    # --- public API ---------------------------------------------------------------------------

    def label_text(self, text: str) -> list[Mention]:
        """Every mention in ``text`` (findings, diagnoses, locations, implied absences)."""
        return [m for reading in self.read(text) for m in reading.mentions]

    def read(self, text: str) -> list[SentenceReading]:
        """``text`` sentence by sentence: each sentence's mentions, and whether it negates."""
        readings: list[SentenceReading] = []
        for number, sentence in enumerate(split_sentences(text or "")):
            analysis = self._analyze(sentence.text)
            parsed = analysis.sentence
            mentions = []
            for local in analysis.mentions:
                start, end = parsed.chars(local.span)
                mentions.append(
                    Mention(
                        label=local.label,
                        kind=local.kind,
                        status=local.status,
                        start=sentence.start + start,
                        end=sentence.start + end,
                        text=text[sentence.start + start : sentence.start + end],
                        sentence=number,
                        trigger=local.trigger,
                        rule=local.rule,
                        locations=tuple(local.locations),
                    )
                )
            readings.append(
                SentenceReading(sentence, tuple(mentions), analysis.negated, parsed.words)
            )
        return readings

    def strip_cues(self, text: str) -> Cues:
        """The status words at the start and end of a short item (``no ...``, ``... resolved``),
        the status they give the words between them, and where those words are in ``text``."""
        cached = self._cues.get(text)
        if cached is not None:
            return cached
        if len(self._cues) >= _CACHE_LIMIT:
            self._cues.clear()
        self._cues[text] = cues = self._strip_cues(text)
        return cues

    def _strip_cues(self, text: str) -> Cues:
        parsed = _Sentence(text)
        tokens = parsed.tokens
        if not tokens:
            return Cues("present", 0, 0, None)
        scope = self._scope(parsed, self._triggers(parsed))
        first, last = 0, len(tokens)
        leading = {t.span.start: t.span.end for t in scope.triggers}
        while first in leading and leading[first] < last:
            first = leading[first]
        trailing = {t.span.end: t.span.start for t in scope.triggers}
        while last in trailing and trailing[last] > first:
            last = trailing[last]
        status, trigger = _status(_Span(first, last), scope)
        return Cues(
            status,
            tokens[first].start,
            tokens[last - 1].end,
            trigger.text if trigger is not None and trigger.kind != "probable_pre" else None,
        )

    def label_report(self, text: str, *, rollup: bool = False) -> dict[str, FindingStatus]:
        """One status per PadChest finding/diagnosis label the text speaks about.

        See the module docstring for how conflicting mentions and ``normal`` resolve. With
        ``rollup`` a present or uncertain label also sets its ontology ancestors (a "basal
        atelectasis" also counts as "atelectasis").
        """
        return fold_mentions(self.label_text(text), rollup=rollup)

    def chexpert_labels(self, text: str) -> dict[str, FindingStatus]:
        """The 14 CheXpert labels the text speaks about, through the ontology's CheXpert map."""
        return to_chexpert(self.label_report(text))

    # --- sentence analysis --------------------------------------------------------------------

    def _analyze(self, text: str) -> _Analysis:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        parsed = _Sentence(text)
        result = self._analyze_parsed(parsed) if parsed.tokens else _Analysis((), parsed, False)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[text] = result
        return result

    def _scope(self, sentence: _Sentence, triggers: list[_Trigger]) -> _Scope:
        return _Scope(
            triggers=[t for t in triggers if t.kind != "terminators"],
            terminators=[t for t in triggers if t.kind == "terminators"],
            commas=[i for i, t in enumerate(sentence.tokens) if t.text == ","],
            post_window=self.vocabulary.post_window,
        )

    def _analyze_parsed(self, sentence: _Sentence) -> _Analysis:
        vocab = self.vocabulary
        findings: list[_Local] = []
        locations: list[_Local] = []
        seen: set[tuple[str, _Span]] = set()
        for entry in vocab.mentions.candidates(sentence.words):
            for span in sentence.find(entry.phrase):
                key = (entry.label, _Span(span.start, span.end))
                if key in seen:
                    continue
                seen.add(key)
                local = _Local(entry.label, entry.kind, span)
                (locations if entry.kind == "location" else findings).append(local)
        findings = _drop_contained(findings, vocab.survives_inside)
        whole = vocab.whole_sentence.get(sentence.joined.strip())
        if whole is not None and not any(f.label == whole for f in findings):
            findings.append(
                _Local(whole, vocab.kinds.get(whole, "finding"), _Span(0, len(sentence.tokens)))
            )
        locations = _drop_contained(locations)
        triggers = self._triggers(sentence)
        scope = self._scope(sentence, triggers)
        for mention in findings:
            status, trigger = _status(mention.span, scope)
            mention.status = status
            mention.trigger = trigger.text if trigger else None

        implied = self._implied(sentence, scope)
        _attach_locations(findings, locations, scope, sentence.tokens)
        for location in locations:
            location.status = "present"
        ordered = sorted(findings + implied + locations, key=lambda m: (m.span.start, m.span.end))
        negated = any(t.kind.startswith("negation") for t in scope.triggers)
        return _Analysis(tuple(ordered), sentence, negated)

    def _triggers(self, sentence: _Sentence) -> list[_Trigger]:
        found: list[_Trigger] = []
        for kind, index in self.vocabulary.triggers.items():
            for phrase in index.candidates(sentence.words):
                for span in sentence.find(phrase):
                    found.append(_Trigger(kind, span, sentence.words_of(span)))
        size = len(sentence.tokens)
        pseudo = _covered(size, (t.span for t in found if t.kind == "pseudo"))
        kept = [
            t for t in found if t.kind != "pseudo" and not any(pseudo[t.span.start : t.span.end])
        ]
        scoped = [i for i, t in enumerate(kept) if t.kind != "terminators"]
        scoped_cover = _covered(size, (kept[i].span for i in scoped))
        nested = {scoped[i] for i in _contained([kept[i].span for i in scoped])}
        return [
            t
            for i, t in enumerate(kept)
            if i not in nested
            and not (t.kind == "terminators" and any(scoped_cover[t.span.start : t.span.end]))
        ]

    def _implied(self, sentence: _Sentence, scope: _Scope) -> list[_Local]:
        """Absences that statements imply; each rule counts once per sentence (longest match)."""
        out: list[_Local] = []
        for rule in self.vocabulary.implied:
            best: _Span | None = None
            for phrase in rule.phrases:
                if not phrase.anchors & sentence.words:
                    continue
                for span in sentence.find(phrase):
                    nearby = sentence.tokens[max(span.start - 1, 0) : span.end]
                    if rule.unless and any(t.text in rule.unless for t in nearby):
                        continue
                    if rule.when_negated:
                        applies = _status(span, scope)[0] == "absent"
                    else:
                        applies = _status(span, scope, pre_window=2)[0] == "present"
                    if applies and (best is None or span.end - span.start > best.end - best.start):
                        best = span
            if best is None:
                continue
            for label in rule.absent:
                out.append(
                    _Local(
                        label,
                        self.vocabulary.kinds.get(label, "finding"),
                        best,
                        status="absent",
                        trigger=rule.name,
                        rule=f"implied:{rule.name}",
                    )
                )
        return out


def _overlaps(a: _Span, b: _Span) -> bool:
    return a.start < b.end and b.start < a.end


def _covered(size: int, spans: Iterable[_Span]) -> bytearray:
    """One flag per token: whether any of ``spans`` covers it."""
    flags = bytearray(size)
    for span in spans:
        flags[span.start : span.end] = b"\x01" * (span.end - span.start)
    return flags


_STATUS_OF = {
    "negation_pre": "absent",
    "negation_post": "absent",
    "uncertain_pre": "uncertain",
    "uncertain_post": "uncertain",
    "probable_pre": "present",
}


class _Scope:
    """The scope material of one sentence, sorted so that each question costs ``O(log n)``
    plus the triggers within the pre/post windows (a sentence never costs quadratic time)."""

    def __init__(
        self,
        triggers: list[_Trigger],
        terminators: list[_Trigger],
        commas: list[int],
        post_window: int,
    ) -> None:
        self.triggers = triggers
        self.terminators = terminators
        self.commas = commas
        self.post_window = post_window
        self._pre = sorted((t for t in triggers if t.kind.endswith("_pre")), key=_end)
        self._pre_ends = [t.span.end for t in self._pre]
        self._post = sorted((t for t in triggers if t.kind.endswith("_post")), key=_start)
        self._post_starts = [t.span.start for t in self._post]
        self._all = sorted(triggers, key=_start)
        self._all_starts = [t.span.start for t in self._all]
        self._terms = sorted(terminators, key=_start)
        self._term_starts = [t.span.start for t in self._terms]
        post_terms = [t for t in self._terms if t.text not in POST_TERMINATOR_EXCEPTIONS]
        self._post_terms = post_terms
        self._post_term_starts = [t.span.start for t in post_terms]

    def blocked(self, start: int, end: int, post: bool = False) -> bool:
        """Whether a terminator lies between token ``start`` (inclusive) and ``end`` (exclusive).

        After a mention (``post``) a comma ends the scope too: "cardiomegaly, lungs are normal".
        """
        if post:
            comma = bisect_left(self.commas, start)
            if comma < len(self.commas) and self.commas[comma] < end:
                return True
        terms, starts = (
            (self._post_terms, self._post_term_starts) if post else (self._terms, self._term_starts)
        )
        for k in range(bisect_left(starts, start), len(terms)):
            if terms[k].span.start >= end:
                break
            if terms[k].span.end <= end:
                return True
        return False

    def within(self, start: int, end: int) -> list[_Trigger]:
        """The triggers that lie inside tokens ``start`` .. ``end``."""
        low = bisect_left(self._all_starts, start)
        high = bisect_left(self._all_starts, end)
        return [t for t in self._all[low:high] if t.span.end <= end]

    def before(self, position: int, window: int) -> list[_Trigger]:
        """Pre-triggers ending at most ``window`` tokens before ``position``, nearest first."""
        low = bisect_left(self._pre_ends, position - window)
        high = bisect_right(self._pre_ends, position)
        return sorted(self._pre[low:high], key=_end, reverse=True)

    def after(self, position: int) -> list[_Trigger]:
        """Post-triggers starting at most ``post_window`` tokens after ``position``, in order."""
        low = bisect_left(self._post_starts, position)
        high = bisect_right(self._post_starts, position + self.post_window)
        return self._post[low:high]


def _start(trigger: _Trigger) -> int:
    return trigger.span.start


def _end(trigger: _Trigger) -> int:
    return trigger.span.end


def _status(
    span: _Span, scope: _Scope, pre_window: int = PRE_WINDOW
) -> tuple[FindingStatus, _Trigger | None]:
    """The status of the span under the scope rules (see the module docstring)."""
    for g0, g1 in span.gaps:
        for trigger in scope.within(g0, g1):
            if trigger.kind in ("negation_pre", "negation_post"):
                return "absent", trigger
            if trigger.kind in ("uncertain_pre", "uncertain_post"):
                return "uncertain", trigger
    pre_candidates = [
        t for t in scope.before(span.start, pre_window) if not scope.blocked(t.span.end, span.start)
    ]
    pre = pre_candidates[0] if pre_candidates else None
    if pre is not None and pre.kind == "probable_pre":
        stronger = [t for t in pre_candidates[1:] if t.kind != "probable_pre"]
        if stronger:
            pre = stronger[0]
    post = next(
        (t for t in scope.after(span.end) if not scope.blocked(span.end, t.span.start, post=True)),
        None,
    )
    for candidate in (post, pre):
        if candidate is not None and _STATUS_OF[candidate.kind] == "absent":
            return "absent", candidate
    for candidate in (pre, post):
        if candidate is not None and _STATUS_OF[candidate.kind] == "uncertain":
            return "uncertain", candidate
    return "present", pre


def _after_preposition(tokens: Sequence[Token], start: int) -> bool:
    """Whether the words before token ``start`` are a preposition ("in the", "of both")."""
    i = start - 1
    while i >= 0 and tokens[i].text in _DETERMINERS:
        i -= 1
    return i >= 0 and tokens[i].text in _PREPOSITIONS


def _attach_locations(
    findings: list[_Local],
    locations: list[_Local],
    scope: _Scope,
    tokens: Sequence[Token] = (),
) -> None:
    """Give each location to the nearest finding of its clause (overlap counts as distance 0).

    A location after a preposition ("nodule *in the* right upper lobe without cavitation")
    belongs to the finding before it when one is in the clause. Only the overlapping findings
    and the nearest ones on each side can be nearest, and a terminator that blocks the nearest
    one blocks every farther one too.
    """
    if not findings:
        return
    by_start = sorted(range(len(findings)), key=lambda i: findings[i].span.start)
    starts = [findings[i].span.start for i in by_start]
    by_end = sorted(range(len(findings)), key=lambda i: findings[i].span.end)
    ends = [findings[i].span.end for i in by_end]
    longest = max(f.span.end - f.span.start for f in findings)
    for location in locations:
        span = location.span
        prepositional = bool(tokens) and _after_preposition(tokens, span.start)
        candidates: set[int] = set()
        low = bisect_left(starts, span.start - longest)
        high = bisect_left(starts, span.end)
        candidates.update(i for i in by_start[low:high] if _overlaps(span, findings[i].span))
        nxt = bisect_left(starts, span.end)
        if nxt < len(starts):
            first = starts[nxt]
            candidates.update(by_start[nxt : bisect_right(starts, first)])
        prev = bisect_right(ends, span.start)
        if prev > 0:
            last = ends[prev - 1]
            candidates.update(by_end[bisect_left(ends, last) : prev])
        best: tuple[int, int, int] | None = None
        for index in candidates:
            finding = findings[index]
            if _overlaps(span, finding.span):
                distance = 0
            elif span.end <= finding.span.start:
                if scope.blocked(span.end, finding.span.start):
                    continue
                distance = finding.span.start - span.end
            else:
                if scope.blocked(finding.span.end, span.start):
                    continue
                distance = span.start - finding.span.end
            # On a tie prefer the finding after the location ("left effusion"), then list order.
            order = 0 if span.end <= finding.span.start else 1
            if distance and prepositional:
                distance, order = (0, 0) if order == 1 else (distance + len(tokens), order)
            if best is None or (distance, order, index) < best:
                best = (distance, order, index)
        if best is not None and location.label not in findings[best[2]].locations:
            findings[best[2]].locations.append(location.label)


# --- folding mentions into labels -------------------------------------------------------------


def fold_mentions(mentions: Iterable[Mention], *, rollup: bool = False) -> dict[str, FindingStatus]:
    """One status per finding/diagnosis label: ``present > uncertain > absent``; derive ``normal``.

    Implied absences only fill labels that no explicit mention names.
    """
    explicit: dict[str, FindingStatus] = {}
    implied: dict[str, FindingStatus] = {}
    said_anything = False
    for mention in mentions:
        if mention.kind == "location":
            continue
        said_anything = True
        if mention.label == "normal":
            continue
        table = implied if mention.implied else explicit
        current = table.get(mention.label)
        if current is None or PRECEDENCE[mention.status] > PRECEDENCE[current]:
            table[mention.label] = mention.status
    labels: dict[str, FindingStatus] = {**implied, **explicit}
    if rollup:
        labels = _rollup(labels)
    abnormal = any(
        status in ("present", "uncertain") and label not in NOT_ABNORMAL
        for label, status in labels.items()
    )
    if abnormal:
        labels["normal"] = "absent"
    elif said_anything:
        labels["normal"] = "present"
    return labels


def _rollup(labels: dict[str, FindingStatus]) -> dict[str, FindingStatus]:
    from ..report.ontology import load_ontology

    ontology = load_ontology()
    out = dict(labels)
    for label, status in labels.items():
        if status == "absent":
            continue
        for ancestor in ontology.ancestors(label):
            current = out.get(ancestor)
            if current is None or PRECEDENCE[status] > PRECEDENCE[current]:
                out[ancestor] = status
    return out


def to_chexpert(labels: dict[str, FindingStatus]) -> dict[str, FindingStatus]:
    """CheXpert statuses from PadChest statuses, aggregated the way the CheXpert labeler does.

    Per label ``present > uncertain > absent`` (a negated and an uncertain mention make it
    uncertain, a positive one wins). "No Finding" is present when no finding other than a support
    device is present or uncertain, and otherwise left out, never absent. Heart failure present
    or uncertain makes Cardiomegaly at least uncertain (the CheXpert labeler's ``chf`` rule). The
    PadChest-to-CheXpert map and its choices: ``docs/chexpert_mapping.md``.
    """
    from ..report.ontology import load_ontology

    chexpert = load_ontology().chexpert
    out: dict[str, FindingStatus] = {}
    for chexpert_label, members in chexpert.items():
        if chexpert_label == "No Finding":
            continue
        statuses = [labels[m] for m in members if m in labels]
        if statuses:
            out[chexpert_label] = max(statuses, key=PRECEDENCE.__getitem__)
    failure = labels.get("heart insufficiency") in ("present", "uncertain")
    if failure and PRECEDENCE[out.get("Cardiomegaly", "absent")] < PRECEDENCE["uncertain"]:
        out["Cardiomegaly"] = "uncertain"
    devices = set(chexpert.get("Support Devices", ()))
    finding = any(
        status in ("present", "uncertain") and label not in NOT_ABNORMAL and label not in devices
        for label, status in labels.items()
    )
    if labels and not finding:
        out["No Finding"] = "present"
    return out


@cache
def default_labeler() -> Labeler:
    """The labeler with the packaged vocabulary (built once per process)."""
    return Labeler()


def label_text(text: str) -> list[Mention]:
    """Every mention in ``text``, with the packaged vocabulary. See :class:`Labeler`."""
    return default_labeler().label_text(text)


def label_report(text: str, *, rollup: bool = False) -> dict[str, FindingStatus]:
    """PadChest label → present/absent/uncertain for ``text``. See :func:`fold_mentions`."""
    return default_labeler().label_report(text, rollup=rollup)


def chexpert_labels(text: str) -> dict[str, FindingStatus]:
    """CheXpert label → present/absent/uncertain for ``text``."""
    return default_labeler().chexpert_labels(text)
