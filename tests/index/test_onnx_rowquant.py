"""Per-row activation quantisation (index.onnx_rowquant) on a small synthetic network: two
MatMuls with biases reading one input, quantised by onnxruntime's ``quantize_dynamic`` and
then rewritten. The real exports are tested through the embedders (test_embedding.py,
test_multilingual_embedder.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from index.onnx_rowquant import UnsupportedQuantization, quantize_rows

K, N = 64, 48


def _network(path: Path) -> None:
    rng = np.random.default_rng(7)
    initializers = [
        numpy_helper.from_array(rng.normal(size=(K, N)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(size=(K, N)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.normal(size=N).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(size=N).astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m1"]),
        helper.make_node("Add", ["b1", "m1"], ["y1"]),
        helper.make_node("MatMul", ["x", "w2"], ["m2"]),
        helper.make_node("Add", ["m2", "b2"], ["y2"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", K])
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", "tokens", N])
        for n in ("y1", "y2")
    ]
    graph = helper.make_graph(nodes, "two-matmuls", [x], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ort.InferenceSession]:
    folder = tmp_path_factory.mktemp("rowquant")
    _network(folder / "fp32.onnx")
    quantize_dynamic(
        str(folder / "fp32.onnx"),
        str(folder / "dynamic.onnx"),
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    rows = quantize_rows(onnx.load(str(folder / "dynamic.onnx")))
    onnx.checker.check_model(rows)
    assert not [n for n in rows.graph.node if n.op_type == "DynamicQuantizeLinear"]
    onnx.save(rows, str(folder / "rows.onnx"))
    return {
        name: ort.InferenceSession(str(folder / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        for name in ("fp32", "dynamic", "rows")
    }


def _run(session: ort.InferenceSession, x: np.ndarray) -> list[np.ndarray]:
    return session.run(None, {"x": x})


def test_a_row_gets_the_same_outputs_in_any_batch(models: dict[str, ort.InferenceSession]) -> None:
    """Beside a row with an outlier (a long text's, or padding), a small row keeps its
    outputs bit for bit; per-batch scales, as ``quantize_dynamic`` sets them, crush it."""
    rng = np.random.default_rng(11)
    small = rng.normal(scale=0.1, size=(1, 3, K)).astype(np.float32)
    loud = rng.normal(size=(1, 3, K)).astype(np.float32)
    loud[0, 0, 5] = 400.0
    batch = np.concatenate([small, loud])
    for alone, together in zip(
        _run(models["rows"], small), _run(models["rows"], batch), strict=True
    ):
        np.testing.assert_array_equal(together[0], alone[0])
    moved = _run(models["dynamic"], batch)[0][0] - _run(models["dynamic"], small)[0][0]
    assert np.abs(moved).max() > 0.1


def test_outputs_are_close_to_full_precision(models: dict[str, ort.InferenceSession]) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 9, K)).astype(np.float32)
    x[1, 2] *= 50.0  # one loud token: its own scale, not its neighbours'
    x[2, 4] = 0.0  # an all-zero token: zeros in, bias out
    exact = _run(models["fp32"], x)
    for mine, theirs in zip(_run(models["rows"], x), exact, strict=True):
        relative = np.abs(mine - theirs).max(axis=-1) / np.abs(theirs).max(axis=-1)
        assert relative.max() < 0.05  # per-batch scales: 0.45 here
    np.testing.assert_allclose(_run(models["rows"], x)[0][2, 4], exact[0][2, 4], atol=1e-6)


def test_an_unknown_quantised_pattern_is_refused() -> None:
    """A product read by something other than the scale multiply: refused, not half-rewritten
    (the exporters turn this into UnsupportedModel, so the auto backend uses torch)."""
    weight = numpy_helper.from_array(np.ones((K, N), dtype=np.int8), "w")
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
        helper.make_node("MatMulInteger", ["q", "w", "z"], ["acc"]),
        helper.make_node("Cast", ["acc"], ["y"], to=TensorProto.FLOAT),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, K])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, N])
    graph = helper.make_graph(nodes, "bare-product", [x], [y], [weight])
    with pytest.raises(UnsupportedQuantization, match="unexpected"):
        quantize_rows(helper.make_model(graph))
