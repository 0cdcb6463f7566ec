"""Recurrent layers, matching ``torch.nn.modules.rnn``.

Each layer and direction runs as one fused op (``rustorch._C._rnn_layer``): the input
projection of every step in one product, then per step the recurrent product and one fused
cell update, with backward through time in the same shape. This module stacks the layers
and directions, applies dropout between layers, and handles ``batch_first``, unbatched
inputs and :class:`~rustorch.nn.utils.rnn.PackedSequence` as ``torch.nn.RNNBase`` does.
Parameter names, shapes, gate order, initialisation and ``repr`` are PyTorch's, so a PyTorch
``state_dict`` loads unchanged.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import rustorch
from rustorch import _C, Tensor
from rustorch.nn import functional as F
from rustorch.nn import init
from rustorch.nn.parameter import Parameter
from rustorch.nn.utils.rnn import PackedSequence, _pack_index, _padded

from .linear import _factory_kwargs
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _apply_permutation(tensor: Tensor, permutation: Tensor, dim: int = 1) -> Tensor:
    return tensor.index_select(dim, permutation)


class RNNBase(Module):
    """Base class of :class:`RNN`, :class:`LSTM` and :class:`GRU` (``torch.nn.RNNBase``)."""

    __constants__ = [
        "mode",
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "proj_size",
    ]

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1

        if (
            not isinstance(dropout, numbers.Number)
            or not 0 <= dropout <= 1
            or isinstance(dropout, bool)
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                "element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=2,
            )
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if proj_size > 0 and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        gate_size = _GATES[mode] * hidden_size

        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                real_hidden_size = proj_size if proj_size > 0 else hidden_size
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                w_ih = Parameter(rustorch.empty((gate_size, layer_input_size), **factory_kwargs))
                w_hh = Parameter(rustorch.empty((gate_size, real_hidden_size), **factory_kwargs))
                b_ih = Parameter(rustorch.empty(gate_size, **factory_kwargs))
                b_hh = Parameter(rustorch.empty(gate_size, **factory_kwargs))
                layer_params: tuple[Tensor, ...]
                if proj_size == 0:
                    layer_params = (w_ih, w_hh, b_ih, b_hh) if bias else (w_ih, w_hh)
                else:
                    w_hr = Parameter(rustorch.empty((proj_size, hidden_size), **factory_kwargs))
                    layer_params = (w_ih, w_hh, b_ih, b_hh, w_hr) if bias else (w_ih, w_hh, w_hr)
                suffix = "_reverse" if direction == 1 else ""
                param_names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    param_names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if proj_size > 0:
                    param_names += ["weight_hr_l{}{}"]
                param_names = [x.format(layer, suffix) for x in param_names]
                for name, param in zip(param_names, layer_params):
                    setattr(self, name, param)
                self._flat_weights_names.extend(param_names)
                self._all_weights.append(param_names)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction, in PyTorch's order."""
        return [[getattr(self, weight) for weight in weights] for weights in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch compatibility (cuDNN's packed weight buffer)."""

    def reset_parameters(self) -> None:
        """Every weight and bias from :math:`\\mathcal{U}(-1/\\sqrt{H}, 1/\\sqrt{H})`.

        Drawn in registration order from the global RNG, as PyTorch does.
        """
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # ---- argument checks (PyTorch's messages) ---------------------------------------------

    def check_input(self, input: Tensor, batch_sizes: Tensor | None) -> None:
        w_dtype = self._flat_weights[0].dtype
        if input.dtype != w_dtype:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({w_dtype}). "
                f"Convert input: input.to({w_dtype}), or convert model: model.to({input.dtype})"
            )
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise RuntimeError(
                f"input must have {expected_input_dim} dimensions, got {input.dim()}"
            )
        if self.input_size != input.size(-1):
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {input.size(-1)}"
            )

    def get_expected_hidden_size(
        self, input: Tensor, batch_sizes: Tensor | None
    ) -> tuple[int, int, int]:
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, mini_batch, hidden)

    def check_hidden_size(
        self,
        hx: Tensor,
        expected_hidden_size: tuple[int, int, int],
        msg: str = "Expected hidden size {}, got {}",
    ) -> None:
        if tuple(hx.size()) != expected_hidden_size:
            raise RuntimeError(msg.format(expected_hidden_size, list(hx.size())))

    def check_forward_args(self, input: Tensor, hidden: Tensor, batch_sizes: Tensor | None) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx: Tensor, permutation: Tensor | None) -> Tensor:
        if permutation is None:
            return hx
        return _apply_permutation(hx, permutation)

    # ---- the stack of layers ------------------------------------------------------------------

    def _run(
        self, input: Tensor, hx: Tensor, cx: Tensor | None, batch_sizes: list[int] | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The layers over a time-major ``[T, B, input]``: (output, h_n, c_n)."""
        num_directions = 2 if self.bidirectional else 1
        per = 4 if self.bias else 2
        weights = self._flat_weights
        stride = per + (1 if self.proj_size > 0 else 0)
        h_out: list[Tensor] = []
        c_out: list[Tensor] = []
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                w = weights[k * stride : (k + 1) * stride]
                b_ih, b_hh = (w[2], w[3]) if self.bias else (None, None)
                w_hr = w[-1] if self.proj_size > 0 else None
                out, h, c = _C._rnn_layer(
                    self.mode,
                    layer_input,
                    w[0],
                    w[1],
                    b_ih,
                    b_hh,
                    w_hr,
                    hx[k],
                    None if cx is None else cx[k],
                    batch_sizes,
                    direction == 1,
                )
                outputs.append(out)
                h_out.append(h)
                if c is not None:
                    c_out.append(c)
            layer_input = outputs[0] if num_directions == 1 else rustorch.cat(outputs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        c_n = rustorch.stack(c_out, 0) if c_out else None
        return layer_input, rustorch.stack(h_out, 0), c_n

    def _forward(
        self, input: Tensor | PackedSequence, hx: Any
    ) -> tuple[Tensor | PackedSequence, Tensor, Tensor | None]:
        """The shared forward: (output, h_n, c_n) with ``hx`` a tensor or LSTM's pair."""
        lstm = self.mode == "LSTM"
        num_directions = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        name = {"LSTM": "LSTM", "GRU": "GRU"}.get(self.mode, "RNN")
        packed = isinstance(input, PackedSequence)
        if packed:
            data, bs_tensor, sorted_indices, unsorted_indices = input
            self.check_input(data, bs_tensor)
            padded, batch_sizes = _padded(input, 0.0, None)
            x = padded
            batch = batch_sizes[0]
            is_batched = True
        else:
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead"
                )
            is_batched = input.dim() == 3
            batch_dim = 0 if self.batch_first else 1
            if not is_batched:
                input = input.unsqueeze(batch_dim)
            self.check_input(input, None)
            x = input.transpose(0, 1) if self.batch_first else input
            batch = x.size(1)
            batch_sizes = None
            sorted_indices = unsorted_indices = None
            bs_tensor = None
        shape_h = (self.num_layers * num_directions, batch, real_hidden)
        shape_c = (self.num_layers * num_directions, batch, self.hidden_size)
        kw = {"dtype": x.dtype, "device": x.device}
        if hx is None:
            h0 = rustorch.zeros(shape_h, **kw)
            c0 = rustorch.zeros(shape_c, **kw) if lstm else None
        else:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise RuntimeError("LSTM: hx must be a tuple (h_0, c_0)")
                h0, c0 = hx
            else:
                h0, c0 = hx, None
            want = 3 if is_batched else 2
            form = "batched 3-D" if is_batched else "unbatched 2-D"
            if lstm and (h0.dim() != want or c0.dim() != want):
                raise RuntimeError(
                    f"For {form} input, hx and cx should also be {want}-D but got "
                    f"({h0.dim()}-D, {c0.dim()}-D) tensors"
                )
            if not lstm and h0.dim() != want:
                raise RuntimeError(
                    f"For {form} input, hx should also be {want}-D but got {h0.dim()}-D tensor"
                )
            if not is_batched:
                h0 = h0.unsqueeze(1)
                c0 = None if c0 is None else c0.unsqueeze(1)
            if sorted_indices is not None:
                h0 = _apply_permutation(h0, sorted_indices)
                c0 = None if c0 is None else _apply_permutation(c0, sorted_indices)
            if lstm:
                self.check_hidden_size(h0, shape_h, "Expected hidden[0] size {}, got {}")
                self.check_hidden_size(c0, shape_c, "Expected hidden[1] size {}, got {}")
            else:
                self.check_hidden_size(h0, shape_h)
        out, h_n, c_n = self._run(x, h0, c0, batch_sizes)
        if unsorted_indices is not None:
            h_n = _apply_permutation(h_n, unsorted_indices)
            c_n = None if c_n is None else _apply_permutation(c_n, unsorted_indices)
        if packed:
            assert batch_sizes is not None
            steps = len(batch_sizes)
            rows = out.reshape(steps * batch, out.size(-1))
            index = rustorch.tensor(
                _pack_index(batch_sizes, batch), dtype=rustorch.int64, device=out.device
            )
            result = PackedSequence(
                rows.index_select(0, index), bs_tensor, sorted_indices, unsorted_indices
            )
            return result, h_n, c_n
        if self.batch_first:
            out = out.transpose(0, 1)
        if not is_batched:
            out = out.squeeze(1 if not self.batch_first else 0)
            h_n = h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        return out, h_n, c_n


class RNN(RNNBase):
    r"""A multi-layer Elman RNN with tanh or ReLU (``torch.nn.RNN``).

    :math:`h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})`, with
    ``nonlinearity='relu'`` ReLU instead. Arguments, parameter names and shapes are PyTorch's;
    ``forward(input, hx=None)`` returns ``(output, h_n)``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(
                f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(mode, *args, **kwargs)

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | None = None
    ) -> tuple[Any, Tensor]:
        """Run the layers over ``input``.

        ``input`` is ``[T, B, input_size]`` (``[B, T, …]`` with ``batch_first``),
        ``[T, input_size]`` unbatched, or a :class:`PackedSequence`.
        """
        out, h_n, _ = self._forward(input, hx)
        return out, h_n


class LSTM(RNNBase):
    r"""A multi-layer long short-term memory RNN (``torch.nn.LSTM``).

    Gates in PyTorch's order ``i, f, g, o``: :math:`c_t = f \odot c_{t-1} + i \odot g`,
    :math:`h_t = o \odot \tanh(c_t)`, projected by ``weight_hr`` when ``proj_size > 0``.
    ``forward(input, (h_0, c_0)=None)`` returns ``(output, (h_n, c_n))``. With
    ``proj_size`` the layer runs as a composite of tensor ops rather than the fused kernel.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def get_expected_cell_size(
        self, input: Tensor, batch_sizes: Tensor | None
    ) -> tuple[int, int, int]:
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, mini_batch, self.hidden_size)

    def forward(
        self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Any, tuple[Tensor, Tensor]]:
        """Run the layers; see :class:`RNN` for the input forms."""
        out, h_n, c_n = self._forward(input, hx)
        assert c_n is not None
        return out, (h_n, c_n)


class GRU(RNNBase):
    r"""A multi-layer gated recurrent unit RNN (``torch.nn.GRU``).

    Gates in PyTorch's order ``r, z, n``: :math:`n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot
    (W_{hn} h_{t-1} + b_{hn}))`, :math:`h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}`.
    ``forward(input, hx=None)`` returns ``(output, h_n)``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | None = None
    ) -> tuple[Any, Tensor]:
        """Run the layers; see :class:`RNN` for the input forms."""
        out, h_n, _ = self._forward(input, hx)
        return out, h_n


class RNNCellBase(Module):
    """Base class of the single-step cells (``torch.nn.RNNCellBase``)."""

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(
            rustorch.empty((num_chunks * hidden_size, input_size), **factory_kwargs)
        )
        self.weight_hh = Parameter(
            rustorch.empty((num_chunks * hidden_size, hidden_size), **factory_kwargs)
        )
        if bias:
            self.bias_ih = Parameter(rustorch.empty(num_chunks * hidden_size, **factory_kwargs))
            self.bias_hh = Parameter(rustorch.empty(num_chunks * hidden_size, **factory_kwargs))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        """Every parameter from :math:`\\mathcal{U}(-1/\\sqrt{H}, 1/\\sqrt{H})`, as PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _step(
        self, mode: str, input: Tensor, hx: Tensor | None, cx: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """One step of the cell through the fused layer op (a sequence of length one)."""
        name = {"LSTM": "LSTMCell", "GRU": "GRUCell"}.get(mode, "RNNCell")
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for what, t in (("hx", hx), ("cx", cx)):
            if t is not None and t.dim() not in (1, 2):
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {t.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if input.size(1) != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}"
            )
        kw = {"dtype": input.dtype, "device": input.device}
        batch = input.size(0)
        states = []
        for t in (hx, cx) if mode == "LSTM" else (hx,):
            if t is None:
                t = rustorch.zeros(batch, self.hidden_size, **kw)
            elif not is_batched:
                t = t.unsqueeze(0)
            if t.size(0) != batch:
                raise RuntimeError(
                    f"Input batch size {batch} doesn't match hidden0 batch size {t.size(0)}"
                )
            if t.size(1) != self.hidden_size:
                raise RuntimeError(
                    f"hidden0 has inconsistent hidden_size: got {t.size(1)}, "
                    f"expected {self.hidden_size}"
                )
            states.append(t)
        _, h, c = _C._rnn_layer(
            mode,
            input.unsqueeze(0),
            self.weight_ih,
            self.weight_hh,
            self.bias_ih,
            self.bias_hh,
            None,
            states[0],
            states[1] if mode == "LSTM" else None,
            None,
            False,
        )
        if not is_batched:
            h = h.squeeze(0)
            c = None if c is None else c.squeeze(0)
        return h, c


class RNNCell(RNNCellBase):
    r"""An Elman RNN cell with tanh or ReLU (``torch.nn.RNNCell``).

    :math:`h' = \tanh(x W_{ih}^T + b_{ih} + h W_{hh}^T + b_{hh})`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step: ``input`` ``[B, input_size]`` (or ``[input_size]``), ``hx`` ``[B, H]``."""
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._step(mode, input, hx, None)[0]


class LSTMCell(RNNCellBase):
    """A long short-term memory cell (``torch.nn.LSTMCell``); ``forward`` returns ``(h', c')``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """One step from ``(h, c)`` (zeros when ``hx`` is None)."""
        h0, c0 = (None, None) if hx is None else hx
        h, c = self._step("LSTM", input, h0, c0)
        assert c is not None
        return h, c


class GRUCell(RNNCellBase):
    """A gated recurrent unit cell (``torch.nn.GRUCell``)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step from ``hx`` (zeros when None)."""
        return self._step("GRU", input, hx, None)[0]
