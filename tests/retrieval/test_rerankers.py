"""The cross-encoder reranker on both backends, with a real (small) sequence-classification
model made from the packaged MiniLM: the int8 ONNX export must score like torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedding import hide_broken_torchvision
from index.models import UnsupportedModel, resolve_model
from retrieval.rerankers import MANIFEST, CrossEncoderReranker, Reranker, ensure_onnx_reranker

QUERY = "Which drug lowers blood pressure in elderly patients?"
PASSAGES = [
    "Amlodipine reduced systolic blood pressure in patients over 65 in a randomised trial.",
    "The Super Bowl was played in Santa Clara.",
    "Hypertension in the elderly responds to calcium channel blockers such as amlodipine, "
    "which lowered pressure by 12 mmHg on average over twelve weeks of treatment. " * 3,
    "",
]


def _save_classifier(folder: Path, labels: int) -> Path:
    """MiniLM's body with a seeded one-logit head: a stand-in for a trained cross-encoder."""
    hide_broken_torchvision()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    source, _ = resolve_model("")
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=labels)
    with torch.no_grad():  # a head with some spread, so the comparison means something
        model.classifier.weight.mul_(20)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_classifier(tmp_path_factory.mktemp("ce"), labels=1)


def test_onnx_scores_like_torch_in_the_passages_order(model_dir: Path, tmp_path: Path) -> None:
    torch_rr = CrossEncoderReranker(str(model_dir), cache_dir=tmp_path, backend="torch")
    onnx_rr = CrossEncoderReranker(str(model_dir), cache_dir=tmp_path, backend="onnx")
    assert isinstance(onnx_rr, Reranker)
    reference = np.array(torch_rr.score(QUERY, PASSAGES))
    scores = np.array(onnx_rr.score(QUERY, PASSAGES))
    assert scores.shape == (len(PASSAGES),)
    assert ((scores > 0) & (scores < 1)).all()
    assert np.abs(scores - reference).max() < 0.05
    # Batching (sorted by length inside) must not move a score to another passage.
    one_by_one = [onnx_rr.score(QUERY, [p])[0] for p in PASSAGES]
    assert np.abs(np.array(one_by_one) - scores).max() < 0.05
    assert onnx_rr.score(QUERY, []) == []


def test_export_is_cached_and_auto_picks_onnx_on_cpu(model_dir: Path, tmp_path: Path) -> None:
    first = ensure_onnx_reranker(str(model_dir), tmp_path)
    stamp = (first / MANIFEST).stat().st_mtime_ns
    assert ensure_onnx_reranker(str(model_dir), tmp_path) == first
    assert (first / MANIFEST).stat().st_mtime_ns == stamp
    assert CrossEncoderReranker(str(model_dir), cache_dir=tmp_path, device="cpu").backend == "onnx"


def test_long_inputs_are_truncated_to_max_length(model_dir: Path, tmp_path: Path) -> None:
    reranker = CrossEncoderReranker(str(model_dir), cache_dir=tmp_path, max_length=64)
    long_passage = "blood pressure " * 2000
    assert len(reranker.score(QUERY, [long_passage])) == 1


def test_a_model_with_several_labels_is_refused(tmp_path: Path) -> None:
    folder = _save_classifier(tmp_path / "nli", labels=3)
    with pytest.raises(UnsupportedModel):
        ensure_onnx_reranker(str(folder), tmp_path / "cache")
