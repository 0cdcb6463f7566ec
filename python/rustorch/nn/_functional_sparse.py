"""Embeddings of ``torch.nn.functional``: ``embedding`` and ``embedding_bag``.

``embedding`` is one op of the Rust core (rows gathered forward; the gradient added into the
rows backward, none into ``padding_idx``'s, scaled by index frequency on request).
``max_norm`` renormalises the rows the batch reads, in place and without history, before the
lookup, as PyTorch's ``embedding_renorm_``. ``embedding_bag`` looks the bags up with
``embedding`` and reduces each bag (``sum``, ``mean``, ``max``) with tensor ops over a padded
``[bags, longest]`` view of them, so its gradients come from those ops. Sparse gradients are
not supported: ``sparse=True`` raises ``NotImplementedError``.
"""

from __future__ import annotations

from typing import Optional

import rustorch
from rustorch import Tensor

__all__ = ["embedding", "embedding_bag"]


def _no_sparse(sparse: bool) -> None:
    if sparse:
        raise NotImplementedError(
            "sparse=True is not supported: rustorch has no sparse tensors; use sparse=False "
            "(dense gradients)"
        )


def _renorm_(weight: Tensor, input: Tensor, max_norm: float, norm_type: float) -> None:
    """Scale the rows ``input`` reads whose ``norm_type``-norm exceeds ``max_norm`` down to
    it (``max_norm / (norm + 1e-7)``), in place, as ``torch.embedding_renorm_``."""
    with rustorch.no_grad():
        idx = input.reshape(-1).long()
        rows = weight.index_select(0, idx)
        norms = rows.norm(p=norm_type, dim=1, keepdim=True)
        scale = rustorch.where(
            norms > max_norm, max_norm / (norms + 1e-7), rustorch.ones_like(norms)
        )
        weight[idx] = rows * scale


def _padding_idx(n: int, padding_idx: Optional[int]) -> Optional[int]:
    """``padding_idx`` checked against a table of ``n`` rows, negative values wrapped."""
    if padding_idx is None:
        return None
    if padding_idx > 0:
        assert padding_idx < n, "Padding_idx must be within num_embeddings"
    elif padding_idx < 0:
        assert padding_idx >= -n, "Padding_idx must be within num_embeddings"
        padding_idx = n + padding_idx
    return padding_idx


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: Optional[int] = None,
    max_norm: Optional[float] = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Look up the rows of ``weight`` that ``input`` indexes (``torch.nn.functional.embedding``).

    The output is ``input.shape + (embedding_dim,)``; ``padding_idx``'s row gets no gradient;
    ``max_norm`` renormalises the rows read, in place; ``scale_grad_by_freq`` divides each
    row's gradient by its index's count in the batch.
    """
    _no_sparse(sparse)
    padding_idx = _padding_idx(weight.size(0), padding_idx)
    if max_norm is not None:
        _renorm_(weight, input, max_norm, norm_type)
    return rustorch._C._embedding(input, weight, padding_idx, scale_grad_by_freq)


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Optional[Tensor] = None,
    max_norm: Optional[float] = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Optional[Tensor] = None,
    include_last_offset: bool = False,
    padding_idx: Optional[int] = None,
) -> Tensor:
    """Sums, means or maxima of bags of embeddings (``torch.nn.functional.embedding_bag``).

    A 2-D ``input`` is one bag per row; a 1-D ``input`` is cut into bags at ``offsets``
    (``include_last_offset``: the last offset closes the last bag). ``per_sample_weights``
    scales each looked-up row (``mode='sum'`` only); entries equal to ``padding_idx`` are left
    out of their bag; an empty bag gives zeros.
    """
    _no_sparse(sparse)
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch "
                "of fixed length sequences. However, found offsets of type "
                f"{type(offsets).__name__}"
            )
        bags, length = input.shape
        index = input
        valid = rustorch.ones(bags, length, dtype=rustorch.bool, device=input.device)
        psw = per_sample_weights
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        starts = [int(v) for v in offsets.tolist()]
        n = input.size(0)
        if starts and starts[0] != 0:
            raise RuntimeError(
                "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
                f"from position 0. However, got {starts[0]}"
            )
        if starts and starts[-1] > n:
            raise RuntimeError(
                f"offsets[-1] can not be greater than input's length {n} but got offsets[-1] of "
                f"{starts[-1]}"
            )
        ends = starts[1:] + [n]
        if include_last_offset:
            starts, ends = starts[:-1], ends[:-1]
        length = max([e - s for s, e in zip(starts, ends)] + [1])
        pos = [[s + k if s + k < e else 0 for k in range(length)] for s, e in zip(starts, ends)]
        ok = [[s + k < e for k in range(length)] for s, e in zip(starts, ends)]
        pos_t = rustorch.tensor(pos, dtype=rustorch.int64, device=input.device).reshape(
            len(pos), length
        )
        index = input[pos_t.reshape(-1)].reshape(len(pos), length) if n else pos_t
        valid = rustorch.tensor(ok, dtype=rustorch.bool, device=input.device).reshape(
            len(pos), length
        )
        psw = None
        if per_sample_weights is not None:
            psw = per_sample_weights[pos_t.reshape(-1)].reshape(len(pos), length)
    else:
        raise ValueError(
            f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}"
        )
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
            "GitHub."
        )
    padding_idx = _padding_idx(weight.size(0), padding_idx)
    if padding_idx is not None:
        valid = valid & (index != padding_idx)
    if max_norm is not None:
        _renorm_(weight, index[valid], max_norm, norm_type)
    rows = rustorch._C._embedding(index, weight, None, scale_grad_by_freq)
    mask = valid.unsqueeze(-1).to(rows.dtype)
    if psw is not None:
        rows = rows * psw.unsqueeze(-1).to(rows.dtype)
    if mode == "max":
        filled = rows.masked_fill(~valid.unsqueeze(-1), float("-inf"))
        # `max` over the bag, not `amax`: its gradient goes to the first largest row only,
        # as PyTorch's, where `amax` would share it between tied rows.
        out = filled.max(dim=1).values
        empty = ~valid.any(dim=1, keepdim=True)
        return out.masked_fill(empty, 0.0)
    total = (rows * mask).sum(dim=1)
    if mode == "sum":
        return total
    count = valid.sum(dim=1, keepdim=True).clamp(min=1).to(rows.dtype)
    return total / count
