"""The ONNX graph of a trace: one mapping per recorded engine op (``_MAPPINGS``).

Each mapping gets the builder, its inputs' value names, the record (inputs and output as
``(id, tensor)``, attributes) and the name to give its output, and appends ONNX nodes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

import rustorch


def _np(t: rustorch.Tensor) -> np.ndarray:
    _np_dtype(t)  # refuses bfloat16, which NumPy lacks
    return t.detach().cpu().numpy().copy()


_NUMPY = {
    rustorch.float32: np.float32, rustorch.float64: np.float64, rustorch.float16: np.float16,
    rustorch.int64: np.int64, rustorch.int32: np.int32, rustorch.int16: np.int16,
    rustorch.int8: np.int8, rustorch.uint8: np.uint8, rustorch.bool: np.bool_,
}


def _np_dtype(t: rustorch.Tensor) -> np.dtype:
    """The NumPy dtype of ``t``'s values (without copying them)."""
    if t.dtype not in _NUMPY:
        raise RuntimeError(f"rustorch.onnx.export: {t.dtype} constants are not supported")
    return np.dtype(_NUMPY[t.dtype])


def _onnx_type(onnx: Any, dtype: rustorch.dtype) -> int:
    tp = onnx.TensorProto
    table = {
        rustorch.float32: tp.FLOAT, rustorch.float64: tp.DOUBLE, rustorch.float16: tp.FLOAT16,
        rustorch.bfloat16: tp.BFLOAT16, rustorch.int64: tp.INT64, rustorch.int32: tp.INT32,
        rustorch.int16: tp.INT16, rustorch.int8: tp.INT8, rustorch.uint8: tp.UINT8,
        rustorch.bool: tp.BOOL,
    }
    return table[dtype]


class GraphBuilder:
    """Collects a trace's values, initializers and nodes, then builds the ONNX model."""

    def __init__(self, opset: int, export_params: bool, fold: bool) -> None:
        self.opset = opset
        self.export_params = export_params
        self.fold = fold
        self.names: dict[int, str] = {}  # trace id -> value name
        self.constant: set[int] = set()  # ids whose value is known at export time
        self.inputs: list[tuple[str, rustorch.Tensor]] = []
        self.outputs: list[tuple[str, rustorch.Tensor]] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.nodes: list[tuple[str, list[str], list[str], dict[str, Any]]] = []
        self.count = 0
        self.batch: int | None = None
        # Transposes of 2-D constants, emitted only where something other than Gemm reads them.
        self.transposed: dict[int, tuple[int, rustorch.Tensor]] = {}

    # -- values ---------------------------------------------------------------------------

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"/{stem}_{self.count}"

    def const(self, value: np.ndarray, stem: str = "Constant") -> str:
        name = self.fresh(stem)
        self.initializers[name] = value
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        output = output or self.fresh(op)
        self.nodes.append((op, inputs, [output], attrs))
        return output

    def add_input(self, name: str, t: rustorch.Tensor) -> None:
        self.names[rustorch._C._trace_id(t)] = name
        self.inputs.append((name, t))
        if self.batch is None and t.dim() > 0:
            self.batch = t.shape[0]

    def add_param(self, name: str, t: rustorch.Tensor) -> None:
        tid = rustorch._C._trace_id(t)
        self.names[tid] = name
        if self.export_params:
            self.initializers[name] = _np(t)
            self.constant.add(tid)
        else:
            self.inputs.append((name, t))

    def value(self, tid: int, t: rustorch.Tensor, op: str) -> str:
        """The name of an op's input: a known value, or a constant the model made itself."""
        if tid in self.names:
            return self.names[tid]
        if tid in self.transposed:
            src, src_t = self.transposed[tid]
            name = self.node("Transpose", [self.value(src, src_t, op)], perm=[1, 0])
            self.names[tid] = name
            return name
        if t.requires_grad and t.grad_fn is not None:
            raise RuntimeError(
                f"rustorch.onnx.export: '{op}' reads a tensor made by {t.grad_fn.name()}, an op "
                "the exporter does not record yet"
            )
        name = self.const(_np(t))
        self.names[tid] = name
        self.constant.add(tid)
        return name

    def add_op(self, op: str, ins: list, outs: list, attrs: dict[str, Any]) -> None:
        if op in _MULTI:
            names = [self.value(tid, t, op) for tid, t in ins]
            out_names = [self.fresh(op) for _ in outs]
            _MULTI[op](self, names, ins, [t for _, t in outs], attrs, out_names)
            for (tid, _), name in zip(outs, out_names):
                self.names[tid] = name
            return
        ((out_id, out),) = outs
        if op == "alias":  # an in-place op wrote its result into the handle `out`
            (tid, t), = ins
            self.names[out_id] = self.value(tid, t, op)
            if tid in self.constant:
                self.constant.add(out_id)
            else:
                self.constant.discard(out_id)
            return
        if any(tid == out_id for tid, _ in ins):
            return  # the op returned its input (a reshape to the same shape)
        if op == "transpose" and ins[0][1].dim() == 2 and ins[0][0] in self.constant:
            # A weight's transpose (nn.Linear's): Gemm reads the weight with transB.
            self.transposed[out_id] = ins[0]
            self.constant.add(out_id)
            return
        if op == "addmm" and ins[2][0] in self.transposed:
            ins = [ins[0], ins[1], self.transposed[ins[2][0]]]
            attrs = {**attrs, "transB": 1}
        names = [self.value(tid, t, op) for tid, t in ins]
        if self.fold and ins and all(tid in self.constant for tid, _ in ins):
            self.names[out_id] = self.const(_np(out), op)
            self.constant.add(out_id)
            return
        mapping = _MAPPINGS.get(op)
        if mapping is None:
            raise RuntimeError(f"rustorch.onnx.export: no ONNX mapping for the op '{op}'")
        name = self.fresh(op)
        mapping(self, names, ins, out, attrs, name)
        self.names[out_id] = name

    def add_output(self, name: str, t: rustorch.Tensor) -> None:
        self.node("Identity", [self.value(rustorch._C._trace_id(t), t, "output")], name)
        self.outputs.append((name, t))

    # -- the model ------------------------------------------------------------------------

    def build(self, dynamic_axes: dict[str, Any], onnx: Any) -> Any:
        helper = onnx.helper

        def info(name: str, t: rustorch.Tensor) -> Any:
            axes = dynamic_axes.get(name, {})
            if isinstance(axes, (list, tuple)):
                axes = {a: f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
            dims = [axes.get(i, axes.get(i - t.dim(), d)) for i, d in enumerate(t.shape)]
            return helper.make_tensor_value_info(name, _onnx_type(onnx, t.dtype), dims)

        known = {n for n, _ in self.inputs} | {n for n, _ in self.outputs}
        for name in dynamic_axes:
            if name not in known:
                raise ValueError(
                    f"rustorch.onnx.export: dynamic_axes names '{name}', which is neither an "
                    "input nor an output"
                )
        nodes = [helper.make_node(op, i, o, **a) for op, i, o, a in self.nodes]
        # Initializers no node reads (a folded weight's original, a batch count) are dropped.
        used = {n for _, i, _, _ in self.nodes for n in i}
        inits = [onnx.numpy_helper.from_array(v, n) for n, v in self.initializers.items()
                 if n in used]
        graph = helper.make_graph(
            nodes, "main_graph", [info(n, t) for n, t in self.inputs],
            [info(n, t) for n, t in self.outputs], inits,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", self.opset)],
            producer_name="rustorch", producer_version=rustorch.__version__,
        )
        model.ir_version = min(model.ir_version, 8 if self.opset <= 17 else 9)
        return model


# -- the mappings -------------------------------------------------------------------------

Mapping = Callable[[GraphBuilder, list, list, rustorch.Tensor, dict, str], None]


def _pads(padding: list[int]) -> list[int]:
    return list(padding) + list(padding)


def _conv(b: GraphBuilder, names, ins, out, a, name) -> None:
    attrs: dict[str, Any] = {
        "strides": a["stride"], "dilations": a["dilation"], "group": a["groups"],
    }
    if a["padding"] == "same":
        attrs["auto_pad"] = "SAME_UPPER"
    elif a["padding"] == "valid":
        attrs["pads"] = [0] * (2 * len(a["stride"]))
    else:
        attrs["pads"] = _pads(a["padding"])
    b.node("Conv", names, name, **attrs)


def _conv_transpose(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("ConvTranspose", names, name, strides=a["stride"], dilations=a["dilation"],
           group=a["groups"], pads=_pads(a["padding"]), output_padding=a["output_padding"])


def _max_pool(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("MaxPool", names, name, kernel_shape=a["kernel"], strides=a["stride"],
           pads=_pads(a["padding"]), dilations=a["dilation"], ceil_mode=a["ceil_mode"])


def _avg_pool(b: GraphBuilder, names, ins, out, a, name) -> None:
    if "divisor_override" in a:
        raise RuntimeError("rustorch.onnx.export: avg_pool with divisor_override has no ONNX form")
    b.node("AveragePool", names, name, kernel_shape=a["kernel"], strides=a["stride"],
           pads=_pads(a["padding"]), ceil_mode=a["ceil_mode"],
           count_include_pad=a["count_include_pad"])


def _adaptive_avg_pool(b: GraphBuilder, names, ins, out, a, name) -> None:
    size = a["output_size"]
    spatial = list(ins[0][1].shape[-len(size):])
    if all(s == 1 for s in size):
        b.node("GlobalAveragePool", names, name)
    elif all(i % o == 0 for i, o in zip(spatial, size)):
        k = [i // o for i, o in zip(spatial, size)]
        b.node("AveragePool", names, name, kernel_shape=k, strides=k)
    else:
        raise RuntimeError(
            f"rustorch.onnx.export: adaptive_avg_pool from {spatial} to {size} (not a divisor) "
            "has no ONNX form"
        )


def _batch_norm(b: GraphBuilder, names, ins, out, a, name) -> None:
    has_mean, has_var, has_weight, has_bias = a["present"]
    if a["training"] or not (has_mean and has_var):
        raise RuntimeError(
            "rustorch.onnx.export: batch_norm exports in evaluation mode with running statistics"
        )
    x, rest = names[0], iter(names[1:])
    mean, var = next(rest), next(rest)
    channels = ins[0][1].shape[1]
    dtype = _np_dtype(ins[1][1])
    weight = next(rest) if has_weight else b.const(np.ones(channels, dtype))
    bias = next(rest) if has_bias else b.const(np.zeros(channels, dtype))
    b.node("BatchNormalization", [x, weight, bias, mean, var], name, epsilon=a["eps"])


def _reshape(b: GraphBuilder, names, ins, out, a, name) -> None:
    shape = list(out.shape)
    src = ins[0][1]
    # Along a dynamic batch, keep the input's leading size (ONNX's 0) where it carries over.
    if b.batch is not None and src.dim() > 0 and shape and shape[0] == src.shape[0] == b.batch:
        shape[0] = 0
    b.node("Reshape", [names[0], b.const(np.array(shape, np.int64), "shape")], name)


def _flatten(b: GraphBuilder, names, ins, out, a, name) -> None:
    src = ins[0][1]
    start = a["start"] % src.dim()
    end = a["end"] % src.dim()
    shape = [0] * start + [-1] + list(src.shape[end + 1:])
    b.node("Reshape", [names[0], b.const(np.array(shape, np.int64), "shape")], name)


def _transpose(b: GraphBuilder, names, ins, out, a, name) -> None:
    n = ins[0][1].dim()
    perm = list(range(n))
    d0, d1 = (d % n for d in a["dims"])
    perm[d0], perm[d1] = perm[d1], perm[d0]
    b.node("Transpose", names, name, perm=perm)


def _permute(b: GraphBuilder, names, ins, out, a, name) -> None:
    n = ins[0][1].dim()
    b.node("Transpose", names, name, perm=[d % n for d in a["dims"]])


def _addmm(b: GraphBuilder, names, ins, out, a, name) -> None:
    c, m1, m2 = names
    b.node("Gemm", [m1, m2, c], name, alpha=float(a["alpha"]), beta=float(a["beta"]),
           transB=a.get("transB", 0))


def _binary(onnx_op: str) -> Mapping:
    def mapping(b: GraphBuilder, names, ins, out, a, name) -> None:
        dtype = _np_dtype(out)
        scalar = {k: b.const(np.array(v, dtype)) for k, v in a.items()}
        operands = [scalar.get("a"), scalar.get("b")]
        it = iter(names)
        operands = [o if o is not None else next(it) for o in operands]
        b.node(onnx_op, operands, name)

    return mapping


def _unary(onnx_op: str, **fixed: Any) -> Mapping:
    def mapping(b: GraphBuilder, names, ins, out, a, name) -> None:
        b.node(onnx_op, names, name, **fixed)

    return mapping


def _leaky_relu(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("LeakyRelu", names, name, alpha=float(a["slope"]))


def _elu(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("Elu", names, name, alpha=float(a["alpha"]))


def _gelu(b: GraphBuilder, names, ins, out, a, name) -> None:
    # x · (1 + erf(x / √2)) / 2, PyTorch's exact GELU (ONNX's Gelu needs opset 20).
    x = names[0]
    dtype = _np_dtype(out)
    scaled = b.node("Div", [x, b.const(np.array(math.sqrt(2.0), dtype))])
    one = b.node("Add", [b.node("Erf", [scaled]), b.const(np.array(1.0, dtype))])
    half = b.node("Mul", [x, b.const(np.array(0.5, dtype))])
    b.node("Mul", [half, one], name)


def _silu(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("Mul", [names[0], b.node("Sigmoid", names)], name)


def _clamp(b: GraphBuilder, names, ins, out, a, name) -> None:
    dtype = _np_dtype(out)
    bound = [b.const(np.array(a[k], dtype)) if math.isfinite(a[k]) else "" for k in ("min", "max")]
    b.node("Clip", [names[0], *bound], name)


def _softmax(onnx_op: str) -> Mapping:
    def mapping(b: GraphBuilder, names, ins, out, a, name) -> None:
        b.node(onnx_op, names, name, axis=a["dim"])

    return mapping


def _cat(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("Concat", names, name, axis=a["dim"])


def _stack(b: GraphBuilder, names, ins, out, a, name) -> None:
    axis = a["dim"] % out.dim()
    axes = b.const(np.array([axis], np.int64), "axes")
    b.node("Concat", [b.node("Unsqueeze", [n, axes]) for n in names], name, axis=axis)


_OPEN = (-(2**63), 2**63 - 1)


def _index(b: GraphBuilder, names, ins, out, a, name) -> None:
    """Basic indexing (integers, slices, ``None``, ``...``) as one ``Slice``, then a
    ``Squeeze`` of the integer-indexed dims and an ``Unsqueeze`` for each ``None``."""
    flat = a["items"]
    items = [flat[i:i + 4] for i in range(0, len(flat), 4)]
    if any(k == 4 for k, *_ in items):
        raise RuntimeError("rustorch.onnx.export: indexing with tensors has no ONNX mapping yet")
    rank = ins[0][1].dim()
    used = sum(1 for k, *_ in items if k in (0, 1))
    expanded = []
    for item in items:
        if item[0] == 3:
            expanded += [[1, _OPEN[0], _OPEN[1], 1]] * (rank - used)
        else:
            expanded.append(item)
    expanded += [[1, _OPEN[0], _OPEN[1], 1]] * (rank - sum(1 for k, *_ in expanded if k in (0, 1)))
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    dim = out_dim = 0
    for kind, x, y, z in expanded:
        if kind == 2:
            unsqueeze.append(out_dim)
            out_dim += 1
            continue
        if kind == 0:
            starts.append(x)
            ends.append(x + 1 if x != -1 else _OPEN[1])
            steps.append(1)
            squeeze.append(dim)
        else:
            start = 0 if x == _OPEN[0] else x
            starts.append(start)
            ends.append(y)
            steps.append(z)
            out_dim += 1
        axes.append(dim)
        dim += 1
    arrays = [np.array(v, np.int64) for v in (starts, ends, axes, steps)]
    value = b.node("Slice", [names[0], *(b.const(v, "slice") for v in arrays)])
    if squeeze:
        value = b.node("Squeeze", [value, b.const(np.array(squeeze, np.int64), "axes")])
    if unsqueeze:
        value = b.node("Unsqueeze", [value, b.const(np.array(unsqueeze, np.int64), "axes")])
    b.node("Identity", [value], name)


# PyTorch's gate blocks in ONNX's order: LSTM (i f g o) -> (i o f c), GRU (r z n) -> (z r h).
_GATES = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


def _rnn(b: GraphBuilder, names, ins, outs, a, out_names) -> None:
    mode = a["mode"]
    has_b_ih, has_b_hh, has_w_hr, has_c0 = a["present"]
    if a["packed"]:
        raise RuntimeError("rustorch.onnx.export: packed sequences have no ONNX mapping yet")
    if has_w_hr:
        raise RuntimeError("rustorch.onnx.export: LSTM with proj_size has no ONNX form")
    it = iter(zip(names, ins))
    x, _ = next(it)
    (_, (w_ih_id, w_ih)), (_, (w_hh_id, w_hh)) = next(it), next(it)
    b_ih = next(it)[1][1] if has_b_ih else None
    b_hh = next(it)[1][1] if has_b_hh else None
    h0_name, (h0_id, h0) = next(it)
    c0_name, (c0_id, c0) = next(it) if has_c0 else ("", (None, None))
    if w_ih_id not in b.constant or w_hh_id not in b.constant:
        raise RuntimeError("rustorch.onnx.export: recurrent weights must be exported as "
                           "constants (export_params=True)")
    order = _GATES[mode]
    hidden = w_hh.shape[1]

    def gates(t):
        v = _np(t)
        return np.concatenate([v[g * hidden:(g + 1) * hidden] for g in order])[None]

    dtype = _np_dtype(w_ih)
    zeros = rustorch.zeros(len(order) * hidden)
    bias = np.concatenate([gates(b_ih if b_ih is not None else zeros),
                           gates(b_hh if b_hh is not None else zeros)], axis=1).astype(dtype)

    def state(name, tid, t):
        # An all-zero constant state is ONNX's default (and keeps the batch dynamic).
        if tid in b.constant and not _np(t).any():
            return ""
        return b.node("Unsqueeze", [name, b.const(np.array([0], np.int64), "axes")])

    inputs = [x, b.const(gates(w_ih).astype(dtype), "W"), b.const(gates(w_hh).astype(dtype), "R"),
              b.const(bias, "B"), "", state(h0_name, h0_id, h0)]
    attrs: dict[str, Any] = {"hidden_size": hidden,
                             "direction": "reverse" if a["reverse"] else "forward"}
    onnx_op = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
    if mode == "LSTM":
        inputs.append(state(c0_name, c0_id, c0))
    if mode == "GRU":
        attrs["linear_before_reset"] = 1
    if onnx_op == "RNN":
        attrs["activations"] = ["Relu" if mode == "RNN_RELU" else "Tanh"]
    while inputs and inputs[-1] == "":
        inputs.pop()
    y, y_h = b.fresh("Y"), b.fresh("Y_h")
    node_outs = [y, y_h] + ([b.fresh("Y_c")] if mode == "LSTM" else [])
    b.nodes.append((onnx_op, inputs, node_outs, attrs))
    one, zero = (b.const(np.array([v], np.int64), "axes") for v in (1, 0))
    b.node("Squeeze", [y, one], out_names[0])
    b.node("Squeeze", [y_h, zero], out_names[1])
    if mode == "LSTM":
        b.node("Squeeze", [node_outs[2], zero], out_names[2])


_MULTI: dict[str, Callable] = {"rnn": _rnn}

_MAPPINGS: dict[str, Mapping] = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "adaptive_avg_pool": _adaptive_avg_pool,
    "batch_norm": _batch_norm,
    "reshape": _reshape,
    "flatten": _flatten,
    "transpose": _transpose,
    "permute": _permute,
    "addmm": _addmm,
    "matmul": _unary("MatMul"),
    "add": _binary("Add"),
    "sub": _binary("Sub"),
    "mul": _binary("Mul"),
    "div": _binary("Div"),
    "pow": _binary("Pow"),
    "maximum": _binary("Max"),
    "minimum": _binary("Min"),
    "relu": _unary("Relu"),
    "tanh": _unary("Tanh"),
    "sigmoid": _unary("Sigmoid"),
    "exp": _unary("Exp"),
    "log": _unary("Log"),
    "sqrt": _unary("Sqrt"),
    "neg": _unary("Neg"),
    "abs": _unary("Abs"),
    "erf": _unary("Erf"),
    "sin": _unary("Sin"),
    "cos": _unary("Cos"),
    "floor": _unary("Floor"),
    "ceil": _unary("Ceil"),
    "sign": _unary("Sign"),
    "reciprocal": _unary("Reciprocal"),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "silu": _silu,
    "clamp": _clamp,
    "softmax": _softmax("Softmax"),
    "log_softmax": _softmax("LogSoftmax"),
    "cat": _cat,
    "stack": _stack,
    "index": _index,
}
