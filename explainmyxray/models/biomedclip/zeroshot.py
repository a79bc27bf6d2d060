"""Zero-shot finding probabilities: each image against a pair of prompts per PadChest finding.

For a finding, the image's similarity to "chest x-ray showing {finding}" and to "chest x-ray
with no {finding}", scaled by the model's temperature, go through a two-way softmax; the first
share is the finding's probability. It is a weak, independent signal (not a calibrated
diagnosis) that a generator or verifier can weigh.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.errors import ConfigError

POSITIVE_TEMPLATE = "chest x-ray showing {finding}"
NEGATIVE_TEMPLATE = "chest x-ray with no {finding}"
DEFAULT_LABEL_COUNT = 30
NOT_A_FINDING = frozenset({"normal", "unchanged", "exclude", "suboptimal study"})
"""PadChest labels that say something about the study, not about the chest."""


def default_labels(count: int = DEFAULT_LABEL_COUNT) -> list[str]:
    """The ``count`` most frequent PadChest findings (by their count in PadChest)."""
    from ...report.ontology import load_ontology

    terms = [t for t in load_ontology().terms("finding") if t.label not in NOT_A_FINDING]
    terms.sort(key=lambda t: (-t.count, t.label))
    return [t.label for t in terms[:count]]


def canonical_labels(labels: Sequence[str]) -> list[str]:
    """Each label as its PadChest finding or diagnosis, or ConfigError naming the unknown ones."""
    from ...report.ontology import load_ontology

    ontology = load_ontology()
    resolved: list[str] = []
    unknown: list[str] = []
    for label in labels:
        term = ontology.resolve(label, "finding") or ontology.resolve(label, "diagnosis")
        if term is None:
            unknown.append(label)
        elif term.label not in resolved:
            resolved.append(term.label)
    if unknown:
        raise ConfigError(
            f"zero-shot labels not in the PadChest ontology: {', '.join(map(repr, unknown))}"
        )
    return resolved


def prompts(label: str) -> tuple[str, str]:
    return POSITIVE_TEMPLATE.format(finding=label), NEGATIVE_TEMPLATE.format(finding=label)


def probabilities_from_embeddings(
    runner, image_embeddings: np.ndarray, labels: Sequence[str]
) -> list[dict[str, float]]:
    """Per image, ``{label: probability}`` from unit image embeddings (N, D)."""
    if not labels:
        return [{} for _ in range(len(image_embeddings))]
    pairs = [p for label in labels for p in prompts(label)]
    text = runner.prompt_embeddings(pairs).reshape(len(labels), 2, -1)
    logits = runner.logit_scale * np.einsum("nd,lkd->nlk", image_embeddings, text)
    # softmax over (showing, no): sigmoid of the difference, stable for large logits
    margin = logits[..., 0] - logits[..., 1]
    probs = 1.0 / (1.0 + np.exp(-np.clip(margin, -60.0, 60.0)))
    return [
        {label: float(p) for label, p in zip(labels, row, strict=True)} for row in probs.tolist()
    ]


def zero_shot_scores(
    runner, images: Sequence, labels: Sequence[str] | None = None, *, batch_size: int = 16
) -> list[dict[str, float]]:
    """Per image, the zero-shot probability of each finding in ``labels``.

    ``images`` are grey ``[0, 1]`` pixel arrays or XrayImages; ``labels`` are PadChest findings
    (synonyms accepted), by default the most frequent ones (:func:`default_labels`).
    """
    chosen = canonical_labels(labels) if labels is not None else default_labels()
    embeddings = runner.embed_images(list(images), batch_size=batch_size)
    return probabilities_from_embeddings(runner, embeddings, chosen)
