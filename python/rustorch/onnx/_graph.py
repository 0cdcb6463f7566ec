"""The ONNX graph of a trace: ``GraphBuilder`` collects values, initializers and nodes and
dispatches each record to its mapping (``_ops``), then builds the model."""

from __future__ import annotations

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

    def __init__(self, opset: int, export_params: bool, fold: bool,
                 mappings: dict[str, Callable], multi: dict[str, Callable],
                 elementwise: frozenset[str]) -> None:
        """``mappings``: one-output op -> its mapping; ``multi``: ops of several outputs;
        ``elementwise``: ops whose uniform constant operands may be one number."""
        self.mappings, self.multi, self.elementwise = mappings, multi, elementwise
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
        # Names of constants that change with the inputs (shape or values) -> the error a
        # node reading them raises.
        self.varying: dict[str, str] = {}
        # The current op's dims that change along the dynamic axes (inputs, outputs), from a
        # second trace with the dynamic axes one longer; empty sets without dynamic axes.
        self.dyn_in: list[set[int]] = []
        self.dyn_out: list[set[int]] = []
        self.twin_in: list[tuple[int, ...]] = []
        self.twin_out: list[tuple[int, ...]] = []
        self.twin_tensors: list[rustorch.Tensor | None] = []
        self.current: list[tuple[int, ...]] = []  # the op's output shapes
        self.operand_shapes: list[tuple[int, ...]] = []  # as broadcast, numbers as ()
        # Graph values read so far -> their shapes in both traces (sources of dynamic sizes).
        self.shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
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

    def add_input(self, name: str, t: rustorch.Tensor, twin_shape: tuple[int, ...]) -> None:
        """A graph input; ``twin_shape`` is its shape in the second trace."""
        self.names[rustorch._C._trace_id(t)] = name
        self.inputs.append((name, t))
        self.shapes[name] = (tuple(t.shape), twin_shape)

    def add_param(self, name: str, t: rustorch.Tensor) -> None:
        tid = rustorch._C._trace_id(t)
        self.names[tid] = name
        if self.export_params:
            self.initializers[name] = _np(t)
            self.constant.add(tid)
        else:
            self.inputs.append((name, t))

    def value(self, tid: int, t: rustorch.Tensor, op: str,
              twin: rustorch.Tensor | None = None) -> str:
        """The name of an op's input: a known value, or a constant the model made itself;
        ``twin`` is that tensor in the second trace, where it must be the same (else a
        node reading it is an error: it was computed from the inputs by an op the trace does
        not record, or shaped after a dynamic axis)."""
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
        reason = _differs(t, twin)
        if reason:
            self.varying[name] = f"'{op}' reads {reason}"
        return name

    def scalar_operand(self, i: int, ins: list, out: rustorch.Tensor) -> str | None:
        """A constant operand ``i`` of an element-wise op holding one value throughout, as a
        0-d constant when broadcasting the other operands already gives the output's shape
        (so a filled tensor shaped like the input, e.g. ``zeros(x.shape)``, stays dynamic)."""
        tid, t = ins[i]
        if tid in self.names or tid in self.transposed or t.requires_grad or t.numel() == 0:
            return None
        v = _np(t)
        if not (v == v.flat[0]).all():
            return None
        twin = self.twin_tensors[i]
        if twin is not None and not (twin.numel() > 0 and (_np(twin) == v.flat[0]).all()):
            return None  # its value changes with the inputs
        shape: tuple[int, ...] = ()
        for j, s in enumerate(self.operand_shapes):
            if j != i:
                shape = np.broadcast_shapes(shape, s)
        if shape != tuple(out.shape):
            return None
        self.operand_shapes[i] = ()
        return self.const(np.array(v.flat[0], v.dtype))

    def set_twin(self, ins: list, outs: list, twin: tuple[list, list] | None) -> None:
        """Records which dims of the op's inputs and outputs follow the dynamic axes."""
        self.operand_shapes = [tuple(t.shape) for _, t in ins]
        self.current = [tuple(t.shape) for _, t in outs]
        if twin is None:
            self.dyn_in = [set() for _ in ins]
            self.dyn_out = [set() for _ in outs]
            self.twin_in = [tuple(t.shape) for _, t in ins]
            self.twin_out = [tuple(t.shape) for _, t in outs]
            self.twin_tensors = [None for _ in ins]
            return
        self.twin_tensors = [t for _, t in twin[0]]
        self.twin_in = [tuple(t.shape) for _, t in twin[0]]
        self.twin_out = [tuple(t.shape) for _, t in twin[1]]
        self.dyn_in = [_changed(t.shape, s) for (_, t), s in zip(ins, self.twin_in)]
        self.dyn_out = [_changed(t.shape, s) for (_, t), s in zip(outs, self.twin_out)]

    def add_op(self, op: str, ins: list, outs: list, attrs: dict[str, Any],
               twin: tuple[list, list] | None = None) -> None:
        """Appends the nodes of one recorded op; ``twin`` is its record in the second trace
        (other input values, the dynamic axes longer)."""
        self.set_twin(ins, outs, twin)
        if op in self.multi:
            names = [self.value(tid, t, op, u) for (tid, t), u in zip(ins, self.twin_tensors)]
            out_names = [self.fresh(op) for _ in outs]
            self.multi[op](self, names, ins, [t for _, t in outs], attrs, out_names)
            for (tid, _), name in zip(outs, out_names):
                self.names[tid] = name
            return
        ((out_id, out),) = outs
        if op == "alias":  # an in-place op wrote its result into the handle `out`
            (tid, t), = ins
            self.names[out_id] = self.value(tid, t, op, self.twin_tensors[0])
            if tid in self.constant:
                self.constant.add(out_id)
            else:
                self.constant.discard(out_id)
            return
        same = [j for j, (tid, _) in enumerate(ins) if tid == out_id]
        if same and self.twin_in[same[0]] == self.twin_out[0]:
            return  # the op returned its input (a reshape to the same shape), in both traces
        if op == "transpose" and ins[0][1].dim() == 2 and ins[0][0] in self.constant:
            # A weight's transpose (nn.Linear's): Gemm reads the weight with transB.
            self.transposed[out_id] = ins[0]
            self.constant.add(out_id)
            return
        if op == "addmm" and ins[2][0] in self.transposed:
            ins = [ins[0], ins[1], self.transposed[ins[2][0]]]
            attrs = {**attrs, "transB": 1}
        scalars = [self.scalar_operand(i, ins, out) if op in self.elementwise else None
                   for i in range(len(ins))]
        names = [s or self.value(tid, t, op, u)
                 for s, (tid, t), u in zip(scalars, ins, self.twin_tensors)]
        known = [s is not None or tid in self.constant for s, (tid, _) in zip(scalars, ins)]
        for name, known_value, (_, t), twin_shape in zip(names, known, ins, self.twin_in):
            if not known_value:
                self.shapes[name] = (tuple(t.shape), twin_shape)
        inherited = next((self.varying[n] for n in names if n in self.varying), None)
        # Constants fold, except one that follows a dynamic axis computed from fixed ones
        # (a parameter expanded to the batch), whose op must run in the graph.
        if self.fold and ins and all(known) and (not self.dyn_out[0] or inherited):
            self.names[out_id] = self.const(_np(out), op)
            self.constant.add(out_id)
            if inherited:
                self.varying[self.names[out_id]] = inherited
            return
        mapping = self.mappings.get(op)
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
        for name, error in self.varying.items():
            if name in used:
                raise RuntimeError(f"rustorch.onnx.export: {error}")
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


def _differs(t: rustorch.Tensor, twin: rustorch.Tensor | None) -> str:
    """Why a constant made in the first trace is not one (``''`` when it is): ``twin`` is
    the same tensor in the second trace."""
    if twin is None:
        return ""
    if tuple(t.shape) != tuple(twin.shape):
        return (
            f"a constant of shape {list(t.shape)} that follows a dynamic axis (a tensor made "
            "outside the traced ops from a size, e.g. zeros(x.shape)); it cannot be exported "
            "with these dynamic_axes"
        )
    if t.dtype == twin.dtype and t.dtype != rustorch.bfloat16 and np.array_equal(
            _np(t), _np(twin), equal_nan=t.is_floating_point()):
        return ""
    return (
        f"a {t.dtype} tensor of shape {list(t.shape)} whose values change with the inputs "
        "but that no recorded op made (an op the exporter does not record, e.g. argmax or "
        "a cast, computed it from an input); it would be exported as a constant"
    )


def _changed(shape: Any, other: tuple[int, ...]) -> set[int]:
    """The dims where two traces' shapes differ."""
    return {i for i, (x, y) in enumerate(zip(shape, other)) if x != y}


def _onnx() -> Any:
    import onnx

    return onnx
