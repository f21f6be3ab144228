"""Activation scales per row for a model quantised by onnxruntime's ``quantize_dynamic``.

``quantize_dynamic`` quantises each MatMul's input with one scale for the whole tensor
(``DynamicQuantizeLinear``): the scale follows the largest value anywhere in the batch, padding
included, so a text's vector moved with the texts (and the padding) it was embedded beside.
Here every ``DynamicQuantizeLinear`` becomes a symmetric quantisation per row (per token):
``s = max|x_row| / 127``, ``q = round(x / s) + 128`` as uint8 (a constant zero point, so
onnxruntime keeps its u8s8 integer kernels), and each MatMul's product, scaled per weight
channel by ``MatMulIntegerToFloat``, is then scaled by ``s``. A row's integers, and so its
products, are the same in any batch. It is also closer to full precision: a row's scale is
no longer set by the largest activation of the whole batch.
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
from onnx import helper, numpy_helper

_CONTRIB = "com.microsoft"


class UnsupportedQuantization(ValueError):
    """The quantised graph holds a pattern this rewrite does not know (the exporters turn it
    into ``UnsupportedModel``, so the ``auto`` backend falls back to torch)."""


_ZERO_POINT = 128  # symmetric values -127..127 shifted into uint8
_LEVELS = 127.0
_TINY = 1e-30  # an all-zero row gets this scale and zeros, not a division by zero
_ONE = "rowq_one"
_SCALAR_ZERO_POINT = "rowq_zero_point"
_INVERSE_LEVELS = "rowq_inverse_levels"
_TINY_SCALE = "rowq_tiny_scale"
_FLAT = "rowq_flat"


def quantize_rows(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` (as ``quantize_dynamic`` wrote it) with every activation quantised per row;
    changed in place and returned. :class:`UnsupportedQuantization` on a quantised pattern it
    does not know."""
    graph = model.graph
    consumers: dict[str, list[onnx.NodeProto]] = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    producers = {out: node for node in graph.node for out in node.output}
    weights = {i.name: i for i in graph.initializer}
    constants = {
        _ONE: np.array(1.0, dtype=np.float32),
        _SCALAR_ZERO_POINT: np.array(_ZERO_POINT, dtype=np.uint8),
        _INVERSE_LEVELS: np.array(1.0 / _LEVELS, dtype=np.float32),
        _TINY_SCALE: np.array(_TINY, dtype=np.float32),
        _FLAT: np.array([-1], dtype=np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())

    replaced: set[int] = set()
    added: list[onnx.NodeProto] = []
    for quantizer in [n for n in graph.node if n.op_type == "DynamicQuantizeLinear"]:
        quantized, tensor_scale, tensor_zero_point = quantizer.output
        matmuls = consumers[quantized]
        if not matmuls or any(m.op_type != "MatMulInteger" for m in matmuls):
            kinds = [m.op_type for m in matmuls]
            raise UnsupportedQuantization(f"{quantized} feeds {kinds}, not MatMulInteger")
        if any(c.op_type != "MatMulInteger" for c in consumers[tensor_zero_point]):
            raise UnsupportedQuantization(f"{tensor_zero_point} is read outside a MatMulInteger")
        depth = int(weights[matmuls[0].input[1]].dims[0])
        rows_shape = f"rowq_rows_of_{depth}"
        if rows_shape not in weights:
            shape = numpy_helper.from_array(np.array([-1, depth], dtype=np.int64), rows_shape)
            graph.initializer.append(shape)
            weights[rows_shape] = shape
        scale, nodes = _per_row(quantizer, rows_shape)
        added += nodes
        replaced.add(id(quantizer))
        for matmul in matmuls:
            nodes, gone = _rescaled(matmul, scale, tensor_scale, consumers, producers)
            added += nodes
            replaced |= gone
    kept = [n for n in graph.node if id(n) not in replaced]
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    ordered = _in_order(kept + added, known)
    del graph.node[:]
    graph.node.extend(ordered)
    if not any(o.domain == _CONTRIB for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(_CONTRIB, 1))
    return model


def _per_row(quantizer: onnx.NodeProto, rows_shape: str) -> tuple[str, list[onnx.NodeProto]]:
    """Nodes that write ``quantizer``'s first output (uint8, zero point 128) row by row over
    its input's last axis (``rows_shape``: that input as a 2-D matrix of rows); and the name
    of the rows' scales (shape ``[..., 1]``)."""
    x, quantized = quantizer.input[0], quantizer.output[0]
    p = f"{quantized}_row"
    scale = f"{p}_scale"
    zero_point = numpy_helper.from_array(np.array([_ZERO_POINT], dtype=np.uint8))
    nodes = [
        helper.make_node("ReduceMax", [x], [f"{p}_max"], axes=[-1], keepdims=1),
        helper.make_node("ReduceMin", [x], [f"{p}_min"], axes=[-1], keepdims=1),
        helper.make_node("Neg", [f"{p}_min"], [f"{p}_neg_min"]),
        helper.make_node("Max", [f"{p}_max", f"{p}_neg_min"], [f"{p}_abs_max"]),
        helper.make_node("Mul", [f"{p}_abs_max", _INVERSE_LEVELS], [f"{p}_raw_scale"]),
        helper.make_node("Max", [f"{p}_raw_scale", _TINY_SCALE], [scale]),
        # QuantizeLinear takes one scale per index of one axis: the rows of a 2-D view.
        helper.make_node("Reshape", [x, rows_shape], [f"{p}_rows"]),
        helper.make_node("Reshape", [scale, _FLAT], [f"{p}_row_scales"]),
        helper.make_node("Shape", [f"{p}_row_scales"], [f"{p}_count"]),
        helper.make_node(
            "ConstantOfShape", [f"{p}_count"], [f"{p}_row_zero_points"], value=zero_point
        ),
        helper.make_node(
            "QuantizeLinear",
            [f"{p}_rows", f"{p}_row_scales", f"{p}_row_zero_points"],
            [f"{p}_quantized_rows"],
            axis=0,
        ),
        helper.make_node("Shape", [x], [f"{p}_shape"]),
        helper.make_node("Reshape", [f"{p}_quantized_rows", f"{p}_shape"], [quantized]),
    ]
    return scale, nodes


def _rescaled(
    matmul: onnx.NodeProto,
    scale: str,
    tensor_scale: str,
    consumers: dict[str, list[onnx.NodeProto]],
    producers: dict[str, onnx.NodeProto],
) -> tuple[list[onnx.NodeProto], set[int]]:
    """``quantize_dynamic``'s ``MatMulInteger -> Cast -> Mul(Mul(tensor scale, weight
    scale))`` as the product scaled per weight channel, then per row; and the ids of the
    nodes it replaces."""
    after = consumers[matmul.output[0]]
    if len(after) != 1 or after[0].op_type != "Cast":
        kinds = [n.op_type for n in after]
        raise UnsupportedQuantization(f"unexpected nodes after {matmul.name}: {kinds}")
    cast = after[0]
    after = consumers[cast.output[0]]
    if len(after) != 1 or after[0].op_type != "Mul":
        kinds = [n.op_type for n in after]
        raise UnsupportedQuantization(f"unexpected nodes after {cast.name}: {kinds}")
    output_mul = after[0]
    scales = next(i for i in output_mul.input if i != cast.output[0])
    scales_mul = producers[scales]
    if scales_mul.op_type != "Mul" or tensor_scale not in scales_mul.input:
        raise UnsupportedQuantization(f"unexpected scale of {matmul.name}: {scales_mul.op_type}")
    weight_scale = next(i for i in scales_mul.input if i != tensor_scale)
    quantized, weight, _, weight_zero_point = matmul.input
    by_channel = f"{matmul.output[0]}_by_channel"
    nodes = [
        helper.make_node(
            "MatMulIntegerToFloat",
            [quantized, weight, _ONE, weight_scale, _SCALAR_ZERO_POINT, weight_zero_point],
            [by_channel],
            domain=_CONTRIB,
        ),
        helper.make_node("Mul", [by_channel, scale], [output_mul.output[0]]),
    ]
    gone = {id(matmul), id(cast), id(output_mul)}
    if len(consumers[scales]) == 1:
        gone.add(id(scales_mul))
    return nodes, gone


def _in_order(nodes: list[onnx.NodeProto], known: set[str]) -> list[onnx.NodeProto]:
    """``nodes`` sorted so that each comes after those whose outputs it reads, as ONNX
    requires; ``known``: the graph's inputs and initializers."""
    waiting: dict[str, list[int]] = collections.defaultdict(list)
    missing = []
    for index, node in enumerate(nodes):
        needs = {i for i in node.input if i and i not in known}
        missing.append(len(needs))
        for name in needs:
            waiting[name].append(index)
    ready = [i for i, count in enumerate(missing) if count == 0][::-1]
    ordered: list[onnx.NodeProto] = []
    while ready:
        node = nodes[ready.pop()]
        ordered.append(node)
        for out in node.output:
            for index in waiting.pop(out, []):
                missing[index] -= 1
                if missing[index] == 0:
                    ready.append(index)
    if len(ordered) != len(nodes):
        raise UnsupportedQuantization("the rewritten graph reads a tensor that no node writes")
    return ordered
