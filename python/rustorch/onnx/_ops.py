"""The ONNX operators of each recorded engine op (``MAPPINGS``, ``MULTI``).

Each mapping gets the builder, its inputs' value names, the record (inputs as ``(id,
tensor)``, the output, attributes) and the name to give its output, and appends ONNX nodes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

import rustorch

from ._graph import GraphBuilder, _np, _np_dtype, _onnx, _onnx_type

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
    elif any(d >= ins[0][1].dim() - len(size) for d in b.dyn_in[0]):
        raise RuntimeError(
            "rustorch.onnx.export: adaptive_avg_pool to a size other than 1 over dims that "
            "follow a dynamic axis has no ONNX form (its kernel depends on the size)"
        )
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


def _size_of(b: GraphBuilder, i: int, what: str) -> str:
    """Output dim ``i``'s size, which follows a dynamic axis, read off a value computed
    before that has a dim of the same size in both traces (``Shape`` then ``Gather``)."""
    want = (b.current[0][i], b.twin_out[0][i])
    for name, (shape, twin) in reversed(b.shapes.items()):
        for j, size in enumerate(zip(shape, twin)):
            if size == want:
                index = b.const(np.array([j], np.int64), "index")
                return b.node("Gather", [b.node("Shape", [name]), index], axis=0)
    raise RuntimeError(
        f"rustorch.onnx.export: {what} gives dim {i} a size that follows a dynamic axis "
        "and that no value has"
    )


def _shape(b: GraphBuilder, dims: list[int | None], what: str) -> str:
    """A shape input: the numbers of ``dims``, and for each ``None`` the size
    :func:`_size_of` reads."""
    if all(d is not None for d in dims):
        return b.const(np.array(dims, np.int64), "shape")
    pieces = [b.const(np.array([d], np.int64), "shape") if d is not None
              else _size_of(b, i, what) for i, d in enumerate(dims)]
    return b.node("Concat", pieces, axis=0)


def _reshape(b: GraphBuilder, names, ins, out, a, name) -> None:
    """``Reshape`` to the output's shape; a dim that follows a dynamic axis becomes ONNX's
    ``0`` (the input's size at that index) where it is the input's dim there in both traces,
    ``-1`` when it is the only one left, else a size read off another value."""
    src = ins[0][1]
    what = f"a reshape from {list(src.shape)} to {list(out.shape)}"
    dims: list[int | None] = list(out.shape)
    free = []
    for i in sorted(b.dyn_out[0]):
        same = (i < src.dim() and i in b.dyn_in[0] and src.shape[i] == dims[i]
                and b.twin_in[0][i] == b.twin_out[0][i])
        if same:
            dims[i] = 0
        else:
            free.append(i)
    if len(free) == 1:
        dims[free[0]] = -1
    else:
        for i in free:
            dims[i] = None
    b.node("Reshape", [names[0], _shape(b, dims, what)], name)


def _expand(b: GraphBuilder, names, ins, out, a, name) -> None:
    """``Expand``: 1 where the input's own size carries over (so it may follow a dynamic
    axis), the output's size where the input broadcasts (read off another value when it
    follows a dynamic axis)."""
    src = ins[0][1]
    lead = out.dim() - src.dim()
    dims: list[int | None] = []
    for i, d in enumerate(out.shape):
        j = i - lead
        carried = (j >= 0 and src.shape[j] == d and b.twin_in[0][j] == b.twin_out[0][i])
        if carried:
            dims.append(1)
        else:
            dims.append(None if i in b.dyn_out[0] else d)
    what = f"an expand from {list(src.shape)} to {list(out.shape)}"
    b.node("Expand", [names[0], _shape(b, dims, what)], name)


def _slice(b: GraphBuilder, names, ins, out, a, name) -> None:
    arrays = [np.array([a[k]], np.int64) for k in ("start", "stop", "dim", "step")]
    b.node("Slice", [names[0], *(b.const(v, "slice") for v in arrays)], name)


def _select(b: GraphBuilder, names, ins, out, a, name) -> None:
    index = b.const(np.array(a["index"], np.int64), "index")
    b.node("Gather", [names[0], index], name, axis=a["dim"])


def _squeeze(b: GraphBuilder, names, ins, out, a, name) -> None:
    if not a["dims"]:
        b.node("Identity", names, name)
        return
    b.node("Squeeze", [names[0], b.const(np.array(a["dims"], np.int64), "axes")], name)


def _unsqueeze(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("Unsqueeze", [names[0], b.const(np.array([a["dim"]], np.int64), "axes")], name)


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


def _operands(b: GraphBuilder, names: list[str], a: dict, dtype: np.dtype) -> list[str]:
    """The names of ``a op b``'s operands, a number among them as a constant of ``dtype``
    (an integer wrapped into it, as PyTorch casts a number to the op's dtype)."""
    scalar = {k: b.const(np.array(a[k]).astype(dtype)) for k in ("a", "b") if k in a}
    it = iter(names)
    return [scalar[k] if k in scalar else next(it) for k in ("a", "b")]


def _binary(onnx_op: str) -> Mapping:
    def mapping(b: GraphBuilder, names, ins, out, a, name) -> None:
        b.node(onnx_op, _operands(b, names, a, _np_dtype(out)), name)

    return mapping


def _compare(onnx_op: str, negate: bool = False) -> Mapping:
    """A comparison, in PyTorch's promoted dtype: a tensor against a number of a higher
    kind (an int tensor and a float, a bool tensor and an int) compares in float32 or
    int64, else in the tensor's dtype, an integer wrapped into it (``uint8 > -1`` is
    ``> 255``); two tensors of different dtypes compare in float64."""

    def mapping(b: GraphBuilder, names, ins, out, a, name) -> None:
        dtypes = {_np_dtype(t) for _, t in ins}
        dtype = dtypes.pop() if len(dtypes) == 1 else np.dtype(np.float64)
        for k in ("a", "b"):
            if k not in a or isinstance(a[k], bool):
                continue
            if isinstance(a[k], float) and dtype.kind in "iub":
                dtype = np.dtype(np.float32)
            elif dtype.kind == "b":
                dtype = np.dtype(np.int64)
        names = [n if _np_dtype(t) == dtype else
                 b.node("Cast", [n], to=_onnx().helper.np_dtype_to_tensor_dtype(dtype))
                 for n, (_, t) in zip(names, ins)]
        value = b.node(onnx_op, _operands(b, names, a, dtype))
        b.node("Not" if negate else "Identity", [value], name)

    return mapping


def _where(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("Where", [names[0], *_operands(b, names[1:], a, _np_dtype(out))], name)


def _reduce(onnx_op: str) -> Mapping:
    """``sum``/``mean`` over ``dims`` (every dim without them), in the output's dtype."""

    def mapping(b: GraphBuilder, names, ins, out, a, name) -> None:
        x = names[0]
        if ins[0][1].dtype != out.dtype:
            x = b.node("Cast", [x], to=_onnx_type(_onnx(), out.dtype))
        dims = a.get("dims") or []
        attrs: dict[str, Any] = {"keepdims": a["keepdim"]}
        inputs = [x]
        if dims and (onnx_op == "ReduceSum" or b.opset >= 18):
            inputs.append(b.const(np.array(dims, np.int64), "axes"))
        elif dims:
            attrs["axes"] = list(dims)
        b.node(onnx_op, inputs, name, **attrs)

    return mapping


def _layer_norm(b: GraphBuilder, names, ins, out, a, name) -> None:
    has_weight, has_bias = a["present"]
    src = ins[0][1]
    shape = tuple(src.shape[src.dim() - a["dims"]:])
    if not has_weight and any(d >= src.dim() - a["dims"] for d in b.dyn_in[0]):
        raise RuntimeError("rustorch.onnx.export: layer_norm without a weight over dims that "
                           "follow a dynamic axis")
    x, rest = names[0], iter(names[1:])
    scale = next(rest) if has_weight else b.const(np.ones(shape, _np_dtype(src)))
    inputs = [x, scale] + ([next(rest)] if has_bias else [])
    b.node("LayerNormalization", inputs, name, axis=-a["dims"], epsilon=a["eps"])


def _logical_not(b: GraphBuilder, names, ins, out, a, name) -> None:
    """``Not`` of a bool; ``x == 0`` of a number."""
    dtype = _np_dtype(ins[0][1])
    if dtype.kind == "b":
        b.node("Not", names, name)
    else:
        b.node("Equal", [names[0], b.const(np.array(0, dtype))], name)


def _bitwise_not(b: GraphBuilder, names, ins, out, a, name) -> None:
    """``~x``: ``Not`` for bools; for integers ``-1 - x`` (all bits set, less ``x``)."""
    dtype = _np_dtype(out)
    if dtype.kind == "b":
        b.node("Not", names, name)
        return
    ones = np.array(-1).astype(dtype)
    b.node("Sub", [b.const(ones), names[0]], name)


def _cast(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("Cast", names, name, to=_onnx_type(_onnx(), out.dtype))


def _embedding(b: GraphBuilder, names, ins, out, a, name) -> None:
    b.node("Gather", names, name, axis=0)


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


MULTI: dict[str, Callable] = {"rnn": _rnn}

# Element-wise ops, whose uniform constant operands may be written as one number.
ELEMENTWISE = frozenset((
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "where", "eq", "ne", "lt", "le",
    "gt", "ge",
))

MAPPINGS: dict[str, Mapping] = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "adaptive_avg_pool": _adaptive_avg_pool,
    "batch_norm": _batch_norm,
    "reshape": _reshape,
    "flatten": _reshape,
    "expand": _expand,
    "slice": _slice,
    "select": _select,
    "squeeze": _squeeze,
    "unsqueeze": _unsqueeze,
    "where": _where,
    "logical_not": _logical_not,
    "bitwise_not": _bitwise_not,
    "eq": _compare("Equal"),
    "ne": _compare("Equal", negate=True),
    "lt": _compare("Less"),
    "le": _compare("LessOrEqual"),
    "gt": _compare("Greater"),
    "ge": _compare("GreaterOrEqual"),
    "sum": _reduce("ReduceSum"),
    "mean": _reduce("ReduceMean"),
    "layer_norm": _layer_norm,
    "embedding": _embedding,
    "cast": _cast,
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
