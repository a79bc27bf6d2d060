"""The instruction MedGemma gets: a structured report in the PadChest vocabulary.

The model is asked for the three sections ``FINDINGS:``, ``LOCATIONS:`` and ``IMPRESSION:`` in
the layout the report renderer writes (one bulleted finding per line), using PadChest's finding
and location terms. The term lists below are the most frequent labels of the
PadChest label file (160,861 images, ``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv``,
counted per image for findings and per sentence for locations), most frequent first; the
administrative labels ``unchanged``, ``exclude`` and ``suboptimal study`` are left out.
Similar cases from a retrieval step can be added as context, within a token budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from explainmyxray.core.case import RetrievedCase

PADCHEST_FINDINGS: tuple[str, ...] = (
    "normal",
    "COPD signs",
    "cardiomegaly",
    "aortic elongation",
    "pleural effusion",
    "scoliosis",
    "pneumonia",
    "interstitial pattern",
    "chronic changes",
    "infiltrates",
    "costophrenic angle blunting",
    "air trapping",
    "alveolar pattern",
    "NSG tube",
    "kyphosis",
    "laminar atelectasis",
    "vertebral degenerative changes",
    "vascular hilar enlargement",
    "nodule",
    "fibrotic band",
    "apical pleural thickening",
    "pacemaker",
    "central venous catheter via jugular vein",
    "calcified granuloma",
    "callus rib fracture",
    "atelectasis",
    "sternotomy",
    "volume loss",
    "bronchiectasis",
    "aortic atheromatosis",
    "consolidation",
    "increased density",
    "heart insufficiency",
    "hemidiaphragm elevation",
    "endotracheal tube",
    "hiatal hernia",
    "pseudonodule",
    "suture material",
    "vertebral anterior compression",
    "tracheostomy tube",
    "central venous catheter via subclavian vein",
    "metal",
    "supra aortic elongation",
    "emphysema",
    "hilar enlargement",
    "pulmonary edema",
    "bronchovascular markings",
    "dual chamber device",
    "hypoexpansion",
    "nipple shadow",
    "descendent aortic elongation",
    "pulmonary fibrosis",
    "calcified densities",
    "diaphragmatic eventration",
    "hilar congestion",
    "tuberculosis sequelae",
    "pleural thickening",
    "pulmonary mass",
    "flattened diaphragm",
    "goiter",
    "lobar atelectasis",
    "rib fracture",
    "tracheal shift",
    "superior mediastinal enlargement",
    "mastectomy",
    "granuloma",
    "pneumothorax",
)
"""The 66 most frequent PadChest labels (findings and a few diagnoses such as ``pneumonia``),
plus ``pneumothorax`` for its clinical weight."""

PADCHEST_LOCATIONS: tuple[str, ...] = (
    "cardiac",
    "right",
    "left",
    "pleural",
    "aortic",
    "bilateral",
    "basal",
    "costophrenic angle",
    "hilar",
    "mediastinum",
    "hemithorax",
    "diaphragm",
    "apical",
    "rib",
    "dorsal vertebrae",
    "bronchi",
    "basal bilateral",
    "bone",
    "column",
    "retrocardiac",
    "right upper lobe",
    "pectoral",
    "perihilar",
    "lobar",
    "tracheal",
    "left costophrenic angle",
    "middle lobe",
    "left upper lobe",
    "central",
    "middle lung field",
    "left lower lobe",
    "subsegmental",
    "right costophrenic angle",
    "infrahilar",
    "right lower lobe",
    "humerus",
    "nipple",
    "lung field",
    "superior cave vein",
    "lingula",
    "upper lobe",
    "lower lung field",
    "fissure",
    "diffuse bilateral",
    "subclavian vein",
)
"""The 45 most frequent PadChest location labels, without their ``loc`` prefix."""

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}"
    "{{ '<start_of_turn>' + role + '\\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | trim }}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)
"""Gemma's turn format; used when a processor ships without a chat template of its own."""

INSTRUCTION = """You are an expert radiologist. Read this chest X-ray and write a structured \
report in exactly this layout:
FINDINGS:
- <finding>
LOCATIONS:
- <finding>: <location>, <location>
IMPRESSION:
<one or two sentences>
Write one finding per line: "no <finding>" for an important negative, "possible <finding>" when \
uncertain, "normal" when there is no finding. List locations only for findings that have a \
place; write "- none" for an empty section.
Use PadChest terms. Findings: {findings}.
Locations: {locations}."""
"""The layout that :func:`explainmyxray.report.render.render_report` writes and
:func:`explainmyxray.report.parse.parse_report` reads."""

CONTEXT_HEADER = (
    "Reports of similar chest X-rays, for reference only; describe what this image shows:"
)

TokenCounter = Callable[[str], int]


def word_count(text: str) -> int:
    """A stand-in token counter: about one token per word, for when no tokenizer is at hand."""
    return len(text.split())


def instruction() -> str:
    return INSTRUCTION.format(
        findings=", ".join(PADCHEST_FINDINGS), locations=", ".join(PADCHEST_LOCATIONS)
    )


def retrieved_context(
    retrieved: Sequence[RetrievedCase],
    max_tokens: int,
    count_tokens: TokenCounter = word_count,
) -> str:
    """The similar cases' reports, best first, as many as fit in ``max_tokens``.

    A report that does not fit whole is cut at a word boundary when it is the first one (so some
    context always comes through when a budget is set); later ones are dropped whole.
    """
    if max_tokens <= 0:
        return ""
    lines = [CONTEXT_HEADER]
    used = count_tokens(CONTEXT_HEADER)
    for rank, case in enumerate(retrieved, start=1):
        report = " ".join(case.report.split())
        if not report:
            continue
        line = f"{rank}. (similarity {case.score:.2f}) {report}"
        cost = count_tokens("\n" + line)
        if used + cost > max_tokens:
            if len(lines) == 1:
                line = _cut_to_budget(line, max_tokens - used, count_tokens)
                if line:
                    lines.append(line)
            break
        lines.append(line)
        used += cost
    return "\n".join(lines) if len(lines) > 1 else ""


def _cut_to_budget(line: str, budget: int, count_tokens: TokenCounter) -> str:
    words = line.split()
    low, high = 0, len(words)
    while low < high:  # the longest word prefix whose cost fits
        middle = (low + high + 1) // 2
        if count_tokens("\n" + " ".join(words[:middle]) + " …") <= budget:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]) + " …" if low > 3 else ""


def build_prompt(
    retrieved: Sequence[RetrievedCase] = (),
    *,
    max_context_tokens: int = 0,
    count_tokens: TokenCounter = word_count,
    instruction_text: str | None = None,
) -> str:
    """The user turn's text (the image goes before it): the instruction, then any context.

    ``instruction_text`` replaces the built-in instruction (say, with the prompt an adapter was
    trained with).
    """
    context = retrieved_context(retrieved, max_context_tokens, count_tokens) if retrieved else ""
    head = instruction_text if instruction_text is not None else instruction()
    return head + ("\n\n" + context if context else "")


def chat_messages(prompt: str) -> list[dict]:
    """One user turn: the image, then the prompt."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
