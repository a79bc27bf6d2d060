"""Soft-match accuracy: do the predicted findings name the reference findings, up to synonyms
and the PadChest hierarchy?

The rule, per case
------------------
1. Each side is reduced to the set of canonical labels of its *present* findings
   (:func:`~.vocabulary.present_labels`: synonyms, case, plurals resolved by the vocabulary;
   ``normal``/``exclude``/``unchanged`` dropped; duplicates merged).
2. **Exact/synonym matches first**: a predicted and a reference finding with the same canonical
   label match (``how="exact"`` when the two spellings are the same after lower-casing, else
   ``how="synonym"``).
3. **Hierarchy matches next**, among the findings still unmatched: a predicted finding matches a
   reference finding when either label is a hierarchy ancestor of the other (e.g. predicted
   ``atelectasis`` for reference ``laminar atelectasis``, or the reverse); ``how="hierarchy"``.
   Siblings (two children of one parent) do not match. A maximum one-to-one matching is taken, so
   no finding is used twice.
   Exact matches are fixed before hierarchy matches so that a correct label is never traded away
   for two looser pairs.
4. With ``m`` matched pairs, ``|P|`` predicted and ``|R|`` reference findings:

   * **soft-match accuracy** = m / (|P| + |R| - m): matched pairs over the findings of the case
     (the multi-label "example-based accuracy", |P ∩ R| / |P ∪ R|, with soft intersection).
     A hallucinated finding and a missed finding both lower it. Both sides empty (a normal study
     read as normal) is 1.0.
   * soft precision = m / |P| and soft recall = m / |R| (``None`` when the side is empty), and
     soft F1 = 2m / (|P| + |R|) (1.0 when both are empty).

Corpus level
------------
* **mean soft-match accuracy** (the headline; the project's quality goal is >= 0.95): the mean of
  the per-case accuracies over all scored cases; every case weighs the same.
* **micro soft-match accuracy**: Σm / Σ(|P| + |R| - m) over cases; cases with more findings weigh
  more and normal-normal cases add nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .vocabulary import Vocabulary, normalize, present_labels, related

MatchKind = Literal["exact", "synonym", "hierarchy"]


@dataclass(frozen=True)
class MatchedPair:
    predicted: str
    reference: str
    how: MatchKind


@dataclass(frozen=True)
class SoftMatch:
    """The soft matching of one case (labels canonical)."""

    predicted: tuple[str, ...]
    reference: tuple[str, ...]
    pairs: tuple[MatchedPair, ...] = field(default=())

    @property
    def n_matched(self) -> int:
        return len(self.pairs)

    @property
    def union(self) -> int:
        return len(self.predicted) + len(self.reference) - self.n_matched

    @property
    def accuracy(self) -> float:
        return self.n_matched / self.union if self.union else 1.0

    @property
    def precision(self) -> float | None:
        return self.n_matched / len(self.predicted) if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.n_matched / len(self.reference) if self.reference else None

    @property
    def f1(self) -> float:
        total = len(self.predicted) + len(self.reference)
        return 2 * self.n_matched / total if total else 1.0

    @property
    def unmatched_predicted(self) -> tuple[str, ...]:
        used = {p.predicted for p in self.pairs}
        return tuple(x for x in self.predicted if x not in used)

    @property
    def unmatched_reference(self) -> tuple[str, ...]:
        used = {p.reference for p in self.pairs}
        return tuple(x for x in self.reference if x not in used)

    def details(self) -> dict:
        """A JSON-ready account of the matching (for a per-case :class:`Score`)."""
        return {
            "matched": [[p.predicted, p.reference, p.how] for p in self.pairs],
            "extra": list(self.unmatched_predicted),
            "missed": list(self.unmatched_reference),
            "n_predicted": len(self.predicted),
            "n_reference": len(self.reference),
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def _spellings(vocabulary: Vocabulary, texts: Iterable[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for text in texts:
        for label in present_labels(vocabulary, [text]):
            out.setdefault(label, set()).add(normalize(text))
    return out


def _max_matching(
    left: Sequence[str], right: Sequence[str], edge: dict[str, list[str]]
) -> dict[str, str]:
    """Maximum bipartite matching (augmenting paths); returns right -> left."""
    owner: dict[str, str] = {}

    def augment(node: str, visited: set[str]) -> bool:
        for other in edge.get(node, ()):
            if other in visited:
                continue
            visited.add(other)
            if other not in owner or augment(owner[other], visited):
                owner[other] = node
                return True
        return False

    for node in left:
        augment(node, set())
    return owner


def soft_match(
    predicted: Iterable[str], reference: Iterable[str], vocabulary: Vocabulary
) -> SoftMatch:
    """Match one case's predicted finding labels to its reference labels (module rule)."""
    pred = _spellings(vocabulary, predicted)
    ref = _spellings(vocabulary, reference)
    pairs: list[MatchedPair] = []
    for label in sorted(pred.keys() & ref.keys()):
        how: MatchKind = "exact" if pred[label] & ref[label] else "synonym"
        pairs.append(MatchedPair(label, label, how))
    left = sorted(pred.keys() - ref.keys())
    right = sorted(ref.keys() - pred.keys())
    edges = {p: [r for r in right if related(vocabulary, p, r)] for p in left}
    owner = _max_matching(left, right, edges)
    pairs.extend(
        MatchedPair(p, r, "hierarchy") for r, p in sorted(owner.items(), key=lambda kv: kv[1])
    )
    return SoftMatch(tuple(sorted(pred)), tuple(sorted(ref)), tuple(pairs))


def mean_accuracy(matches: Sequence[SoftMatch]) -> float | None:
    """Mean per-case soft-match accuracy (None without cases)."""
    if not matches:
        return None
    return sum(m.accuracy for m in matches) / len(matches)


def micro_accuracy(matches: Sequence[SoftMatch]) -> float | None:
    """Σ matched / Σ (|P| + |R| - matched) over cases (None when every case is empty)."""
    union = sum(m.union for m in matches)
    return sum(m.n_matched for m in matches) / union if union else None
