"""ONNX export: ``rustorch.onnx.export``, PyTorch's signature.

The model runs once on the example ``args`` under the engine's op-recording mode (each op
called from Python is recorded with its inputs, output and attributes; ops an op runs inside
itself are not); :mod:`._ops` maps each record to ONNX operators, and the file is written with
the ``onnx`` package (``pip install rustorch[onnx]``), which must be installed.

Matches PyTorch: the model runs in evaluation mode (``training=TrainingMode.EVAL``) and is
restored after; parameters and buffers become initializers under their ``state_dict``
names (``export_params=False`` makes them graph inputs instead); ops over constants only are
folded into constants (``do_constant_folding=True``); ``dynamic_axes`` names the axes that
may change (a ``{input_or_output_name: {axis: name}}`` or ``{name: [axes]}`` dict).

Differs: the trace records ops, not Python code, so sizes a model computes from a tensor
are recorded as numbers. So the model is traced a second time, on the inputs' values in
another order and, along ``dynamic_axes``, longer (each axis name by its own amount), and
what changed tells which sizes follow the dynamic axes: a reshape's or an expand's become
ONNX's ``0``/``-1`` or sizes read with ``Shape`` off a value that has them. What cannot be
written so raises ``RuntimeError`` naming the op rather than export a graph that is wrong on
other inputs: a size taken from a dynamic axis into an op's attributes (a slice to
``x.shape[1]``), a constant shaped after one (``zeros(x.shape)``, unless it holds one value
and broadcasting restores its shape), a tensor that changes with the inputs but was made by
an op the trace does not record (PyTorch's tracer records some of these symbolically).
``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` export as ONNX's ``RNN``/``LSTM``/``GRU`` (one per
layer and direction; not packed sequences, not ``proj_size``); attention, ``nn.Embedding``,
layer norm and the Transformer layers as the ONNX operators of their parts (``MatMul``,
``Softmax``, ``Where``, ``Gather``, ``LayerNormalization``). A model using an op without a
mapping, or one the trace does not record, raises ``RuntimeError`` naming it.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

import rustorch

from ._graph import GraphBuilder
from ._ops import ELEMENTWISE, MAPPINGS, MULTI

__all__ = ["export"]

# PyTorch's other export arguments, accepted at their defaults only.
_DEFAULT_ONLY = frozenset((
    "training", "operator_export_type", "keep_initializers_as_inputs", "custom_opsets",
    "export_modules_as_functions", "autograd_inlining", "dynamo", "external_data", "report",
    "optimize", "verify", "profile", "dump_exported_program", "artifacts_dir", "fallback",
    "dynamic_shapes",
))


def _as_tuple(args: Any) -> tuple:
    if isinstance(args, rustorch.Tensor):
        return (args,)
    if isinstance(args, list):
        return tuple(args)
    if isinstance(args, tuple):
        return args
    raise TypeError(
        "rustorch.onnx.export: args must be a Tensor or a tuple of Tensors, got "
        f"{type(args).__name__}"
    )


def _outputs(out: Any) -> list:
    if isinstance(out, rustorch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)) and all(isinstance(o, rustorch.Tensor) for o in out):
        return list(out)
    raise RuntimeError(
        "rustorch.onnx.export: the model must return a Tensor or a tuple of Tensors, got "
        f"{type(out).__name__}"
    )


def _traceable(inputs: tuple) -> list:
    """Fresh copies of the inputs; float ones need a gradient, so that a tensor an op the
    trace does not record made from them still says so (its grad_fn names the op)."""
    out = []
    for a in inputs:
        t = a.detach()
        if t.is_floating_point():
            t = t.clone().requires_grad_(True) * 1.0
        out.append(t)
    return out


def _trace(model: rustorch.nn.Module, inputs: list) -> tuple[Any, list]:
    """Runs ``model`` once under the op-recording mode: its output and the records."""
    rustorch._C._trace_start()
    try:
        with rustorch.enable_grad():
            out = model(*inputs)
    finally:
        records = rustorch._C._trace_stop()
    return out, records


# How much longer the second trace makes each dynamic axis: distinct odd amounts, so that
# two axes of one size, or a size and its half, still tell apart.
_GROWTHS = (3, 5, 7, 11, 13, 17, 19, 23)


def _growth(dynamic_axes: dict[str, Any], in_names: list[str]) -> dict[str, dict[int, int]]:
    """Each input's dynamic axes -> how much longer to make them: one amount per axis name
    (``{axis: name}``), or per axis index for a list of axes (``[0]`` on two inputs is
    one batch)."""
    keys: dict[Any, int] = {}
    out: dict[str, dict[int, int]] = {}
    for name in in_names:
        spec = dynamic_axes.get(name)
        if spec is None:
            continue
        named = spec.items() if isinstance(spec, dict) else ((a, None) for a in spec)
        for axis, label in named:
            key = label if label is not None else ("axis", axis)
            if key not in keys:
                keys[key] = _GROWTHS[len(keys) % len(_GROWTHS)]
            out.setdefault(name, {})[axis] = keys[key]
    return out


def _other(t: rustorch.Tensor, growth: dict[int, int]) -> rustorch.Tensor:
    """An input for the second trace: ``t``'s values in another order (so every value is
    still one the model accepts, e.g. a token id), longer along its dynamic axes (its first
    slice repeated)."""
    if t.numel() > 1:
        order = np.random.default_rng(0).permutation(t.numel())
        t = t.reshape(-1)[rustorch.from_numpy(order)].reshape(t.shape)
    for axis, n in growth.items():
        t = rustorch.cat([t] + [t.narrow(axis, 0, 1)] * n, axis)
    return t


# Ops whose recorded attributes may follow a dynamic axis: their mappings read the sizes.
_SIZED = frozenset(("reshape", "flatten", "expand"))


def _check_twins(records: list, twins: list) -> None:
    """The second trace must run the same ops, with the same attributes where a mapping
    writes them into the graph."""
    ops, twin_ops = [r[0] for r in records], [r[0] for r in twins]
    if ops != twin_ops:
        raise RuntimeError(
            "rustorch.onnx.export: the model runs other ops on other inputs (its control flow "
            "depends on their values or on the dynamic axes' sizes); the trace records one "
            "run's ops"
        )
    for (op, ins, _, attrs), (_, twin_ins, _, twin_attrs) in zip(records, twins):
        if op not in _SIZED and attrs != twin_attrs:
            key = next(k for k in attrs if attrs[k] != twin_attrs.get(k))
            raise RuntimeError(
                f"rustorch.onnx.export: '{op}' takes its {key} from the inputs ({attrs[key]} "
                f"here, {twin_attrs.get(key)} with other inputs: a size that follows a "
                "dynamic axis, or a value); the trace records numbers, so it cannot be "
                "exported so"
            )
        if any(t.dim() != u.dim() for (_, t), (_, u) in zip(ins, twin_ins)):
            raise RuntimeError(
                f"rustorch.onnx.export: '{op}' reads tensors whose rank changes with the "
                "dynamic axes"
            )


def export(
    model: rustorch.nn.Module,
    args: Any,
    f: str | os.PathLike | io.IOBase,
    *,
    export_params: bool = True,
    verbose: bool = False,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    opset_version: int | None = None,
    dynamic_axes: dict[str, Any] | None = None,
    do_constant_folding: bool = True,
    **kwargs: Any,
) -> None:
    """Export ``model`` run on ``args`` to the ONNX file (or binary file object) ``f``.

    As ``torch.onnx.export`` (the TorchScript-based exporter's arguments); ``opset_version``
    defaults to 17. Other keyword arguments PyTorch accepts (``training``,
    ``operator_export_type``, ``dynamo``, ...) are accepted only at their defaults.
    """
    for name, value in kwargs.items():
        if name not in _DEFAULT_ONLY:
            raise TypeError(f"export() got an unexpected keyword argument '{name}'")
        at_default = value in (None, False) or (name == "training" and str(value).endswith("EVAL"))
        if not at_default:
            raise NotImplementedError(f"rustorch.onnx.export: {name}={value!r} is not supported")
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "rustorch.onnx.export needs the onnx package: pip install rustorch[onnx]"
        ) from e
    opset = 17 if opset_version is None else int(opset_version)
    inputs = _as_tuple(args)
    for a in inputs:
        if not isinstance(a, rustorch.Tensor):
            raise TypeError(
                f"rustorch.onnx.export: args must be Tensors, got {type(a).__name__}"
            )
    in_names = list(input_names or [])
    in_names += [f"input_{i}" if i else "input" for i in range(len(in_names), len(inputs))]
    dynamic_axes = dynamic_axes or {}
    was_training = model.training
    model.eval()
    try:
        traced_inputs = _traceable(inputs)
        out, records = _trace(model, traced_inputs)
        growth = _growth(dynamic_axes, in_names)
        others = _traceable([_other(a, growth.get(n, {})) for a, n in zip(inputs, in_names)])
        try:
            _, twins = _trace(model, others)
        except Exception as e:
            raise RuntimeError(
                "rustorch.onnx.export: the model failed on other inputs (traced a second "
                "time, with other values and the dynamic axes longer, to tell which values "
                f"and sizes follow the inputs): {e}"
            ) from e
        _check_twins(records, twins)
    finally:
        model.train(was_training)
    outs = _outputs(out)
    builder = GraphBuilder(opset, export_params, do_constant_folding, MAPPINGS, MULTI,
                           ELEMENTWISE)
    for name, t, other in zip(in_names, traced_inputs, others):
        builder.add_input(name, t, tuple(other.shape))
    seen = set()
    for name, t in model.state_dict(keep_vars=True).items():
        if rustorch._C._trace_id(t) not in seen:
            seen.add(rustorch._C._trace_id(t))
            builder.add_param(name, t)
    for (op, ins, results, attrs), (_, twin_ins, twin_results, _) in zip(records, twins):
        builder.add_op(op, ins, results, attrs, (twin_ins, twin_results))
    out_names = list(output_names or [])
    out_names += [f"output_{i}" if i else "output" for i in range(len(out_names), len(outs))]
    for name, t in zip(out_names, outs):
        builder.add_output(name, t)
    model_proto = builder.build(dynamic_axes, onnx)
    if verbose:
        print(onnx.helper.printable_graph(model_proto.graph))
    onnx.checker.check_model(model_proto)
    if isinstance(f, (str, os.PathLike)):
        onnx.save_model(model_proto, os.fspath(f))
    else:
        f.write(model_proto.SerializeToString())
