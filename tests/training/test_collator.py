"""The training collator: the generator's prompt, loss on the answer tokens only."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def processor():
    from explainmyxray.models.vision_language.medgemma.tiny import build_processor, build_tokenizer

    return build_processor(build_tokenizer())


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    from .conftest import write_placeholder

    folder = tmp_path_factory.mktemp("collator")
    reports = [
        "FINDINGS:\n- cardiomegaly\n- pleural effusion\nLOCATIONS:\n- pleural effusion: left\n"
        "IMPRESSION:\nCardiomegaly; pleural effusion.\n",
        "FINDINGS:\n- normal\nLOCATIONS:\n- none\nIMPRESSION:\nNormal chest radiograph.\n",
    ]
    out = []
    for i, report in enumerate(reports):
        write_placeholder(folder / f"{i}.png", seed=i, size=48)
        out.append({"image": str(folder / f"{i}.png"), "report": report, "key": str(i)})
    return out


def test_labels_cover_the_answer_only(processor, rows):
    import torch

    from explainmyxray.training.collator import IGNORE_INDEX, ReportCollator

    collator = ReportCollator(processor, max_length=2048)
    batch = collator(rows)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape == labels.shape == mask.shape == batch["token_type_ids"].shape
    assert batch["pixel_values"].shape[0] == len(rows)
    tokenizer = processor.tokenizer
    image_token = tokenizer.convert_tokens_to_ids("<image_soft_token>")
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    model_turn = tokenizer("<start_of_turn>model\n", add_special_tokens=False)["input_ids"]
    for row, ids_i, labels_i, mask_i in zip(rows, ids, labels, mask, strict=True):
        learned = labels_i != IGNORE_INDEX
        assert learned.any()
        first = int(learned.nonzero()[0])
        # Everything before the answer is masked: the prompt, the image tokens, the model-turn
        # header; nothing after the answer is learned either (padding).
        assert ids_i[:first].tolist()[-len(model_turn) :] == model_turn
        assert (ids_i[:first] == image_token).sum() > 0
        assert not learned[~mask_i.bool()].any()
        assert not learned[ids_i == image_token].any()
        assert torch.equal(labels_i[learned], ids_i[learned])
        answer = tokenizer.decode(ids_i[learned])
        assert answer.startswith(row["report"].strip()) and end_of_turn in ids_i[learned]
    assert mask[1].sum() < mask.shape[1] or mask[0].sum() < mask.shape[1]  # one was padded


def test_prompt_tokens_are_the_generators(processor, rows):
    """The masked part of an example is what generation feeds the model for the same image."""
    import torch

    from explainmyxray.models.vision_language.medgemma.generation import prepare_inputs
    from explainmyxray.models.vision_language.medgemma.prompt import build_prompt
    from explainmyxray.training.collator import IGNORE_INDEX, ReportCollator, load_image

    image = load_image(rows[0]["image"])
    runner = SimpleNamespace(processor=processor, device="cpu", compute_dtype=torch.float32)
    generation = prepare_inputs(runner, [image], [build_prompt()])
    example = ReportCollator(processor, max_length=2048)([rows[0]])
    prompt_length = int((example["labels"][0] != IGNORE_INDEX).nonzero()[0])
    assert example["input_ids"][0, :prompt_length].tolist() == generation["input_ids"][0].tolist()
    assert torch.allclose(example["pixel_values"], generation["pixel_values"])


def test_long_answers_are_cut_and_counted(processor, rows):
    from explainmyxray.core.errors import ConfigError
    from explainmyxray.training.collator import IGNORE_INDEX, ReportCollator, count_truncated

    full = ReportCollator(processor, max_length=4096)([rows[0]])["input_ids"].shape[1]
    collator = ReportCollator(processor, max_length=full - 5)
    batch = collator([rows[0]])
    assert batch["input_ids"].shape[1] == full - 5 and collator.truncated == 1
    reports = [rows[0]["report"], "FINDINGS:\n- normal"]
    assert count_truncated(processor, reports, full - 5) == 1  # the second report is short
    assert count_truncated(processor, reports, full) == 0
    assert (batch["labels"] != IGNORE_INDEX).sum() > 0
    with pytest.raises(ConfigError, match="no room for the answer"):
        ReportCollator(processor, max_length=64)([rows[0]])


def test_images_are_decoded_like_the_image_step(rows):
    from explainmyxray.imaging import read_xray
    from explainmyxray.training.collator import load_image

    image = load_image(rows[0]["image"])
    decoded, _ = read_xray(Path(rows[0]["image"]))
    assert image.mode == "RGB" and image.size == (decoded.width, decoded.height)
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    assert np.abs(gray - decoded.pixels).max() <= 1 / 255 + 1e-6


def test_a_custom_instruction_replaces_the_prompt(processor, rows):
    from explainmyxray.models.vision_language.medgemma.prompt import build_prompt
    from explainmyxray.training.collator import IGNORE_INDEX, ReportCollator

    prompt = build_prompt(instruction_text="Write the PadChest report.")
    batch = ReportCollator(processor, max_length=2048, prompt=prompt)([rows[0]])
    first = int((batch["labels"][0] != IGNORE_INDEX).nonzero()[0])
    text = processor.tokenizer.decode(batch["input_ids"][0, :first])
    assert "Write the PadChest report." in text and "expert radiologist" not in text
