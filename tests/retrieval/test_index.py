"""Building, opening and searching reference indexes with a tiny BiomedCLIP and the real MiniLM."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from explainmyxray.core.errors import ConfigError, UsageError
from explainmyxray.retrieval.index import (
    IMAGE_EMBEDDINGS,
    METADATA,
    TEXT_EMBEDDINGS,
    ReferenceIndex,
    build_index,
)
from explainmyxray.retrieval.references import Reference, ReferenceSet, load_references

from .conftest import REPORTS

EFFUSION = "Moderate right pleural effusion with compressive atelectasis of the right lower lobe."
CLAVICLE = "Displaced fracture of the left clavicle. The lungs are clear."
OTHERS = (
    "Normal heart size. No focal consolidation.",
    "Right upper lobe pneumonia.",
    "Sternotomy wires and a dual chamber pacemaker.",
)


def _pixels(path: Path) -> np.ndarray:
    from explainmyxray.imaging import read_xray

    return read_xray(path)[0].pixels


@pytest.fixture(scope="module")
def image_index(reference_folder, tiny_runner, tmp_path_factory) -> ReferenceIndex:
    out = tmp_path_factory.mktemp("indexes") / "cxr"
    result = build_index(load_references(reference_folder), tiny_runner, out, batch_size=3)
    assert [why for _, why in result.skipped] == ["no report sidecar (<image>.txt)"]
    return result.index


@pytest.fixture(scope="module")
def report_index(minilm_runner, tmp_path_factory) -> ReferenceIndex:
    references = [
        Reference(id=f"r{i}", report=text) for i, text in enumerate((CLAVICLE, *OTHERS, EFFUSION))
    ]
    out = tmp_path_factory.mktemp("indexes") / "reports"
    source = ReferenceSet(references, Path("reports.jsonl"))
    return build_index(source, minilm_runner, out, backend="minilm").index


# --- the image index --------------------------------------------------------------------------


def test_each_image_finds_itself_first_with_score_one(image_index, reference_folder, tiny_runner):
    names = sorted(REPORTS)
    queries = tiny_runner.embed_images([_pixels(reference_folder / n) for n in names])
    results = image_index.search(queries, k=3, kind="image")
    for name, found in zip(names, results, strict=True):
        assert found[0].id == name
        assert found[0].score == pytest.approx(1.0, abs=2e-3)
        assert found[0].report == REPORTS[name]
        assert len(found) == 3
        scores = [r.score for r in found]
        assert scores == sorted(scores, reverse=True)
        assert found[1].score < found[0].score


def test_ranking_equals_brute_force_cosine(image_index, tiny_runner, cxr):
    query = tiny_runner.embed_images([_pixels(cxr / "opencxr_c0001_8bit.png")])  # not indexed
    stored = np.asarray(image_index.image_embeddings, dtype=np.float32)
    cosine = stored @ (query[0] / np.linalg.norm(query[0]))
    want = [image_index.entries[i]["id"] for i in np.argsort(-cosine, kind="stable")]
    (found,) = image_index.search(query, k=image_index.count)
    assert [r.id for r in found] == want
    np.testing.assert_allclose([r.score for r in found], np.sort(cosine)[::-1], atol=1e-5)
    (high,) = image_index.search(query, k=50, min_score=float(np.median(cosine)))
    assert 0 < len(high) < image_index.count and all(r.score >= np.median(cosine) for r in high)


def test_metadata_round_trip(image_index, reference_folder, tiny_runner):
    reopened = ReferenceIndex.open(image_index.path)
    assert reopened.metadata == image_index.metadata
    assert reopened.count == len(REPORTS) and reopened.dim == 32
    assert reopened.identity == tiny_runner.identity
    assert reopened.has_images
    datetime.fromisoformat(reopened.metadata["created"])
    by_id = {e["id"]: e for e in reopened.entries}
    references = {r.id: r for r in load_references(reference_folder).references}
    assert set(by_id) == set(references)
    for ref_id, ref in references.items():
        assert by_id[ref_id] == {
            "id": ref.id,
            "report": ref.report,
            "labels": list(ref.labels),
            "image": str(ref.image),
        }
    for name in (IMAGE_EMBEDDINGS, TEXT_EMBEDDINGS):
        array = np.load(image_index.path / name)
        assert array.dtype == np.float16 and array.shape == (len(REPORTS), 32)
        np.testing.assert_allclose(np.linalg.norm(array.astype(np.float32), axis=1), 1, atol=2e-3)
    info = reopened.info()
    assert "entries" not in info and info["count"] == len(REPORTS)


def test_index_built_by_another_model_is_refused(image_index, other_tiny_dir, minilm_runner):
    from explainmyxray.core.plugin_api import LoadRequest
    from explainmyxray.models.biomedclip.spec import biomedclip_spec

    other = biomedclip_spec().factory()
    other.load(LoadRequest("cpu", "fp32", other_tiny_dir))
    try:
        with pytest.raises(ConfigError, match="weights") as caught:
            image_index.check(other.identity)
        assert "Rebuild the index" in str(caught.value)
    finally:
        other.unload()
    with pytest.raises(ConfigError, match="'biomedclip' vs 'minilm-l6'"):
        image_index.check(minilm_runner.identity)
    with pytest.raises(ConfigError, match="384-d but index"):
        image_index.search(np.ones((1, 384)), k=1)


def test_damaged_or_foreign_folders_are_config_errors(image_index, tmp_path):
    with pytest.raises(ConfigError, match="not a reference index"):
        ReferenceIndex.open(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    meta = json.loads((image_index.path / METADATA).read_text())
    (broken / METADATA).write_text(json.dumps(meta))
    np.save(broken / TEXT_EMBEDDINGS, np.zeros((2, 32), np.float16))
    with pytest.raises(ConfigError, match=IMAGE_EMBEDDINGS + " is missing"):
        ReferenceIndex.open(broken)
    np.save(broken / IMAGE_EMBEDDINGS, np.zeros((len(REPORTS), 32), np.float16))
    with pytest.raises(ConfigError, match=r"expected float16 of shape \(7, 32\)"):
        ReferenceIndex.open(broken)


# --- building -----------------------------------------------------------------------------------


def test_rebuild_replaces_and_refuses_foreign_folders(reference_folder, tiny_runner, tmp_path):
    refs = load_references(reference_folder)
    out = tmp_path / "index"
    build_index(refs, tiny_runner, out, text_only=True)
    assert not ReferenceIndex.open(out).has_images
    build_index(refs, tiny_runner, out)
    assert ReferenceIndex.open(out).has_images
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no staging left behind
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"keep me")
    with pytest.raises(UsageError, match="not a reference index"):
        build_index(refs, tiny_runner, foreign)
    assert (foreign / "holiday.jpg").read_bytes() == b"keep me"


def test_failed_build_keeps_the_old_index(reference_folder, tiny_runner, tmp_path):
    refs = load_references(reference_folder)
    out = tmp_path / "index"
    build_index(refs, tiny_runner, out, text_only=True)
    before = (out / METADATA).read_bytes()

    class Broken:
        identity = tiny_runner.identity

        def embed_texts(self, texts, batch_size=16):
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        build_index(refs, Broken(), out)
    assert (out / METADATA).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_unreadable_images_are_left_out_and_listed(reference_folder, tiny_runner, tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"\x89PNG broken")
    refs = load_references(reference_folder)
    refs.references.append(Reference(id="broken", report="Cardiomegaly.", image=bad))
    refs.references.append(Reference(id="text only", report="Pleural effusion."))
    result = build_index(refs, tiny_runner, tmp_path / "index")
    reasons = dict(result.skipped)
    assert "broken" in reasons and str(bad) in reasons["broken"]
    assert reasons["text only"] == "no image"
    assert result.index.count == len(REPORTS)


# --- text backends --------------------------------------------------------------------------------


def test_minilm_ranks_the_effusion_report_above_the_fractured_clavicle(report_index, minilm_runner):
    assert not report_index.has_images and report_index.dim == 384
    (found,) = report_index.search(
        minilm_runner.embed_texts(["large right pleural effusion"]), k=5, kind="text"
    )
    ranking = [r.report for r in found]
    assert ranking[0] == EFFUSION
    assert ranking.index(EFFUSION) < ranking.index(CLAVICLE)
    assert found[0].score > found[-1].score + 0.1
    with pytest.raises(ConfigError, match="text-only"):
        report_index.search(minilm_runner.embed_texts(["x"]), k=1, kind="image")


def test_minilm_text_index_builds_from_a_folder_and_ignores_images(
    reference_folder, minilm_runner, tmp_path
):
    index = build_index(load_references(reference_folder), minilm_runner, tmp_path / "i").index
    assert not index.has_images and index.count == len(REPORTS)
    query = minilm_runner.embed_texts(["pleural fluid on the right"])
    (found,) = index.search(query, k=1, kind="text")
    assert found[0].id == "rgb_16747_3_1.jpg"


def test_biomedclip_text_side_indexes_reports_too(reference_folder, tiny_runner, tmp_path):
    index = build_index(load_references(reference_folder), tiny_runner, tmp_path / "t").index
    report = REPORTS["tbx11k_tb_tb0005.png"]
    (found,) = index.search(tiny_runner.embed_texts([report]), k=1, kind="text")
    assert found[0].id == "tbx11k_tb_tb0005.png"
    assert found[0].score == pytest.approx(1.0, abs=2e-3)
