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
are recorded as numbers. With ``dynamic_axes`` the model is traced a second time with the
named input axes one longer, and what changed tells which sizes follow them: a reshape's
changing dims become ONNX's ``0`` (copied from its input), ``-1``, or the leading sizes of a
value that has them (``Shape``); an expand keeps its input's own sizes. A size the model
takes from a dynamic axis that cannot be written so (a slice to ``x.shape[1]``, a constant
shaped like the input) raises ``RuntimeError`` naming the op rather than export a graph that
only runs at the traced size (PyTorch's tracer records some of these symbolically).
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

import rustorch

from ._ops import GraphBuilder

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


def _axes(spec: Any) -> list[int]:
    if spec is None:
        return []
    return sorted(spec) if isinstance(spec, dict) else sorted(spec)


def _grow(t: rustorch.Tensor, axes: list[int]) -> rustorch.Tensor:
    """``t`` one longer along each of ``axes`` (its first slice repeated at the end)."""
    for axis in axes:
        t = rustorch.cat([t, t.narrow(axis, 0, 1)], axis)
    return t


# Ops whose recorded attributes may follow a dynamic axis: their mappings read the sizes.
_SIZED = frozenset(("reshape", "flatten", "expand"))


def _check_twins(records: list, twins: list) -> None:
    """The second trace (dynamic axes one longer) must run the same ops, with the same
    attributes where a mapping writes them into the graph."""
    ops, twin_ops = [r[0] for r in records], [r[0] for r in twins]
    if ops != twin_ops:
        raise RuntimeError(
            "rustorch.onnx.export: the model runs other ops when its dynamic axes change size "
            "(the trace records one run's ops); export it without these dynamic_axes"
        )
    for (op, ins, _, attrs), (_, twin_ins, _, twin_attrs) in zip(records, twins):
        if op not in _SIZED and attrs != twin_attrs:
            key = next(k for k in attrs if attrs[k] != twin_attrs.get(k))
            raise RuntimeError(
                f"rustorch.onnx.export: '{op}' takes its {key} from a size that follows a "
                f"dynamic axis ({attrs[key]} here, {twin_attrs.get(key)} one longer); the "
                "trace records numbers, so it cannot be exported with these dynamic_axes"
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
        twins = None
        grown = [_grow(a, _axes(dynamic_axes.get(n))) for a, n in zip(inputs, in_names)]
        if any(g is not a for g, a in zip(grown, inputs)):
            try:
                _, twins = _trace(model, _traceable(grown))
            except Exception as e:
                raise RuntimeError(
                    "rustorch.onnx.export: the model failed with its dynamic axes one longer "
                    f"(traced to see which sizes follow them): {e}"
                ) from e
            _check_twins(records, twins)
    finally:
        model.train(was_training)
    outs = _outputs(out)
    builder = GraphBuilder(opset, export_params, do_constant_folding)
    for name, t in zip(in_names, traced_inputs):
        builder.add_input(name, t)
    seen = set()
    for name, t in model.state_dict(keep_vars=True).items():
        if rustorch._C._trace_id(t) not in seen:
            seen.add(rustorch._C._trace_id(t))
            builder.add_param(name, t)
    for i, (op, ins, results, attrs) in enumerate(records):
        twin = None if twins is None else (twins[i][1], twins[i][2])
        builder.add_op(op, ins, results, attrs, twin)
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
