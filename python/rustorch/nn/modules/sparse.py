"""Embedding tables, matching ``torch.nn.modules.sparse``.

``Embedding`` and ``EmbeddingBag`` with PyTorch's arguments, initialisation (``normal_``,
the padding row zeroed), ``from_pretrained`` and ``repr``. Sparse gradients do not exist
here: ``sparse=True`` raises ``NotImplementedError``.
"""

from __future__ import annotations

from typing import Any, Optional

import rustorch
from rustorch import Tensor
from rustorch.nn import functional as F
from rustorch.nn import init
from rustorch.nn._functional_sparse import _no_sparse, _padding_idx
from rustorch.nn.parameter import Parameter

from .linear import _factory_kwargs
from .module import Module

__all__ = ["Embedding", "EmbeddingBag"]


def _zero_padding_row(module: Module) -> None:
    """Zero the table's padding row (PyTorch's ``_fill_padding_idx_with_zero``)."""
    if module.padding_idx is not None:
        with rustorch.no_grad():
            module.weight[module.padding_idx].fill_(0)


def _table(
    module: Module,
    num_embeddings: int,
    embedding_dim: int,
    _weight: Optional[Tensor],
    freeze: bool,
    factory_kwargs: dict[str, Any],
) -> None:
    if _weight is None:
        module.weight = Parameter(
            rustorch.empty((num_embeddings, embedding_dim), **factory_kwargs),
            requires_grad=not freeze,
        )
        module.reset_parameters()
    else:
        assert list(_weight.shape) == [num_embeddings, embedding_dim], (
            "Shape of weight does not match num_embeddings and embedding_dim"
        )
        module.weight = Parameter(_weight, requires_grad=not freeze)


class Embedding(Module):
    r"""A table of ``num_embeddings`` vectors of size ``embedding_dim`` (``torch.nn.Embedding``).

    Initialised from :math:`\mathcal{N}(0, 1)` with ``padding_idx``'s row zeroed; that row
    gets no gradient. ``max_norm`` renormalises the rows a batch reads, in place.
    """

    __constants__ = [
        "num_embeddings",
        "embedding_dim",
        "padding_idx",
        "max_norm",
        "norm_type",
        "scale_grad_by_freq",
        "sparse",
    ]

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: Optional[int] = None,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Optional[Tensor] = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        super().__init__()
        _no_sparse(sparse)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _padding_idx(num_embeddings, padding_idx)
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        _table(self, num_embeddings, embedding_dim, _weight, _freeze, factory_kwargs)

    def reset_parameters(self) -> None:
        """``normal_`` the table, then zero the padding row (PyTorch's order)."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        _zero_padding_row(self)

    def forward(self, input: Tensor) -> Tensor:
        """The rows ``input`` indexes: ``input.shape + (embedding_dim,)``."""
        return F.embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        s = "{num_embeddings}, {embedding_dim}"
        if self.padding_idx is not None:
            s += ", padding_idx={padding_idx}"
        if self.max_norm is not None:
            s += ", max_norm={max_norm}"
        if self.norm_type != 2:
            s += ", norm_type={norm_type}"
        if self.scale_grad_by_freq is not False:
            s += ", scale_grad_by_freq={scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s.format(**self.__dict__)

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: Optional[int] = None,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An ``Embedding`` over the given 2-D table (frozen unless ``freeze=False``)."""
        assert embeddings.dim() == 2, "Embeddings parameter is expected to be 2-dimensional"
        rows, cols = embeddings.shape
        return cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=embeddings,
            _freeze=freeze,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
        )


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings (``torch.nn.EmbeddingBag``).

    ``forward(input, offsets=None, per_sample_weights=None)``: see
    :func:`rustorch.nn.functional.embedding_bag`.
    """

    __constants__ = [
        "num_embeddings",
        "embedding_dim",
        "max_norm",
        "norm_type",
        "scale_grad_by_freq",
        "mode",
        "sparse",
        "include_last_offset",
        "padding_idx",
    ]

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Optional[Tensor] = None,
        include_last_offset: bool = False,
        padding_idx: Optional[int] = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        super().__init__()
        _no_sparse(sparse)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.padding_idx = _padding_idx(num_embeddings, padding_idx)
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset
        _table(self, num_embeddings, embedding_dim, _weight, False, factory_kwargs)

    def reset_parameters(self) -> None:
        """``normal_`` the table, then zero the padding row."""
        init.normal_(self.weight)
        _zero_padding_row(self)

    def forward(
        self,
        input: Tensor,
        offsets: Optional[Tensor] = None,
        per_sample_weights: Optional[Tensor] = None,
    ) -> Tensor:
        """One reduced row per bag."""
        return F.embedding_bag(
            input,
            self.weight,
            offsets,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.mode,
            self.sparse,
            per_sample_weights,
            self.include_last_offset,
            self.padding_idx,
        )

    def extra_repr(self) -> str:
        s = "{num_embeddings}, {embedding_dim}"
        if self.max_norm is not None:
            s += ", max_norm={max_norm}"
        if self.norm_type != 2:
            s += ", norm_type={norm_type}"
        if self.scale_grad_by_freq is not False:
            s += ", scale_grad_by_freq={scale_grad_by_freq}"
        s += ", mode={mode}"
        if self.padding_idx is not None:
            s += ", padding_idx={padding_idx}"
        return s.format(**{k: repr(v) if k == "mode" else v for k, v in self.__dict__.items()})

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: Optional[int] = None,
    ) -> EmbeddingBag:
        """An ``EmbeddingBag`` over the given 2-D table (frozen unless ``freeze=False``)."""
        assert embeddings.dim() == 2, "Embeddings parameter is expected to be 2-dimensional"
        rows, cols = embeddings.shape
        bag = cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=embeddings,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            mode=mode,
            sparse=sparse,
            include_last_offset=include_last_offset,
            padding_idx=padding_idx,
        )
        bag.weight.requires_grad = not freeze
        return bag
