"""Variable-length sequences for recurrent layers, matching ``torch.nn.utils.rnn``.

A :class:`PackedSequence` holds the steps of a batch of sequences sorted longest first, time
step after time step: ``data`` is ``[sum(batch_sizes), *]`` and ``batch_sizes[t]`` says how
many sequences are still running at step ``t`` (an int64 CPU tensor, as in PyTorch).
Packing and unpacking are index operations, so gradients flow through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import rustorch
from rustorch import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceBase):
    """The data and ``batch_sizes`` of a packed sequence (``nn.utils.rnn.PackedSequence``).

    Made by :func:`pack_padded_sequence` or :func:`pack_sequence`, never by hand; the
    recurrent layers accept it in place of a padded input and give their output back packed.
    ``sorted_indices`` orders the original batch longest first and ``unsorted_indices`` undoes
    it (both ``None`` when the batch came sorted).
    """

    def __new__(
        cls,
        data: Tensor,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> PackedSequence:
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is not None:
            if batch_sizes.device.type != "cpu":
                raise ValueError(
                    "batch_sizes should always be on CPU. Instances of PackedSequence should never "
                    "be created manually. They should be instantiated by functions like "
                    "pack_sequence and pack_padded_sequences in nn.utils.rnn. "
                    "https://pytorch.org/docs/stable/nn.html#torch.nn.utils.rnn.pack_sequence"
                )
            return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)
        # PackedSequence(data_and_batch_sizes_tuple), the legacy form.
        data, batch_sizes = data  # type: ignore[misc]
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """Move or cast ``data`` (and the index tensors to its device), as ``Tensor.to``."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        dev = data.device
        sorted_indices = None if self.sorted_indices is None else self.sorted_indices.to(dev)
        unsorted_indices = None if self.unsorted_indices is None else self.unsorted_indices.to(dev)
        return type(self)(data, self.batch_sizes, sorted_indices, unsorted_indices)

    def cuda(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` on a GPU."""
        return self.to(*args, device="cuda", **kwargs)

    def cpu(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` on the CPU."""
        return self.to(*args, device="cpu", **kwargs)

    def double(self) -> PackedSequence:
        return self.to(dtype=rustorch.float64)

    def float(self) -> PackedSequence:
        return self.to(dtype=rustorch.float32)

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on a GPU."""
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return self.data.is_pinned()


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation of ``0..n`` (``None`` stays ``None``)."""
    if permutation is None:
        return None
    output = rustorch.empty_like(permutation)
    output.scatter_(
        0, permutation, rustorch.arange(0, permutation.numel(), device=permutation.device)
    )
    return output


def _lengths_list(lengths: Tensor | Sequence[int]) -> list[int]:
    if isinstance(lengths, Tensor):
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def _pack_index(batch_sizes: list[int], batch: int) -> list[int]:
    """For each row of packed data, its row in a time-major ``[steps * batch]`` layout."""
    return [t * batch + r for t, bs in enumerate(batch_sizes) for r in range(bs)]


def pack_padded_sequence(
    input: Tensor,
    lengths: Tensor | Sequence[int],
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack a padded batch of variable-length sequences (``nn.utils.rnn.pack_padded_sequence``).

    ``input`` is ``[T, B, *]`` (``[B, T, *]`` with ``batch_first``); ``lengths`` (a list or a
    1-D CPU int64 tensor) gives each sequence's length. With ``enforce_sorted`` the lengths
    must be decreasing; otherwise the batch is sorted here and the permutation kept in the
    result, as PyTorch does.
    """
    lens = _lengths_list(lengths)
    if isinstance(lengths, Tensor) and lengths.device.type != "cpu":
        raise RuntimeError(
            "'lengths' argument should be a 1D CPU int64 tensor, but got 1D "
            f"{lengths.device.type} Long tensor"
        )
    if enforce_sorted:
        for i in range(1, len(lens)):
            if lens[i] > lens[i - 1]:
                raise RuntimeError(
                    "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                    "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                    "pack_sequence to sidestep this requirement if you do not need ONNX "
                    "exportability."
                )
        sorted_indices = None
        order = list(range(len(lens)))
    else:
        order = sorted(range(len(lens)), key=lambda i: -lens[i])
        sorted_indices = rustorch.tensor(order, dtype=rustorch.int64, device=input.device)
    if batch_first:
        input = input.transpose(0, 1)
    steps, batch = input.shape[0], input.shape[1]
    if len(lens) != batch:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} "
            f"(batch_size={batch})"
        )
    sorted_lens = [lens[i] for i in order]
    if sorted_lens and sorted_lens[-1] <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in "
            "'lengths' that is <= 0"
        )
    if sorted_lens and sorted_lens[0] > steps:
        raise RuntimeError(
            f"Expected sequence length to be at most {steps}, but got {sorted_lens[0]}"
        )
    if sorted_indices is not None:
        input = input.index_select(1, sorted_indices)
    max_len = sorted_lens[0] if sorted_lens else 0
    batch_sizes = [sum(1 for n in sorted_lens if n > t) for t in range(max_len)]
    rows = input.reshape(steps * batch, *input.shape[2:])
    index = rustorch.tensor(
        _pack_index(batch_sizes, batch), dtype=rustorch.int64, device=input.device
    )
    data = rows.index_select(0, index)
    return PackedSequence(
        data, rustorch.tensor(batch_sizes, dtype=rustorch.int64), sorted_indices, None
    )


def _padded(
    sequence: PackedSequence, padding_value: float, total_length: int | None
) -> tuple[Tensor, list[int]]:
    """A packed sequence's data as time-major ``[T, B, *]`` (sorted order) and batch sizes."""
    batch_sizes = [int(v) for v in sequence.batch_sizes.tolist()]
    data = sequence.data
    steps = len(batch_sizes)
    batch = batch_sizes[0] if batch_sizes else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being {steps}"
            )
        steps = total_length
    # Row N of the extended data is the padding: every padded position reads it.
    fill = rustorch.full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    extended = rustorch.cat([data, fill], 0)
    src = [data.shape[0]] * (steps * batch)
    for p, pos in enumerate(_pack_index(batch_sizes, batch)):
        src[pos] = p
    index = rustorch.tensor(src, dtype=rustorch.int64, device=data.device)
    padded = extended.index_select(0, index).reshape(steps, batch, *data.shape[1:])
    return padded, batch_sizes


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """A :class:`PackedSequence` as a padded batch and lengths (``pad_packed_sequence``).

    The batch comes back in its original order (``unsorted_indices`` applied); ``total_length``
    pads to that many steps.
    """
    padded, batch_sizes = _padded(sequence, padding_value, total_length)
    batch = padded.shape[1]
    lengths = [sum(1 for bs in batch_sizes if bs > r) for r in range(batch)]
    lengths_t = rustorch.tensor(lengths, dtype=rustorch.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths_t = lengths_t[sequence.unsorted_indices.cpu()]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, lengths_t


def pad_sequence(
    sequences: Tensor | Iterable[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack tensors ``[L_i, *]`` into ``[T, B, *]`` padded (``nn.utils.rnn.pad_sequence``).

    The padding is ``padding_value``.

    ``batch_first`` gives ``[B, T, *]``; ``padding_side='left'`` puts the padding first.
    The result has the first sequence's dtype, as PyTorch's.
    """
    if padding_side not in ("left", "right"):
        raise RuntimeError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    seqs = list(sequences.unbind(0)) if isinstance(sequences, Tensor) else list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    max_len = max(s.shape[0] for s in seqs)
    trailing = seqs[0].shape[1:]
    dtype = seqs[0].dtype
    rows = []
    for s in seqs:
        s = s.to(dtype)
        pad_len = max_len - s.shape[0]
        if pad_len:
            pad = rustorch.full((pad_len, *trailing), padding_value, dtype=dtype, device=s.device)
            s = rustorch.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        rows.append(s)
    return rustorch.stack(rows, 0 if batch_first else 1)


def unpad_sequence(
    padded_sequences: Tensor, lengths: Tensor | Sequence[int], batch_first: bool = False
) -> list[Tensor]:
    """Split a padded batch back into its sequences (``torch.nn.utils.rnn.unpad_sequence``)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:n] for seq, n in zip(padded_sequences, _lengths_list(lengths))]


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of variable-length tensors (``torch.nn.utils.rnn.pack_sequence``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The tensors a :class:`PackedSequence` holds (``nn.utils.rnn.unpack_sequence``)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
