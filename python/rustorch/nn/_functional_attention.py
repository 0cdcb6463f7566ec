"""Attention of ``torch.nn.functional``: ``scaled_dot_product_attention`` and
``multi_head_attention_forward``.

Both follow PyTorch's reference ("math") implementation: a product for the scores, the
attention weights, a product with the values. The weights (scale, mask, softmax and dropout)
are one fused op of the core, ``_C._attention_softmax`` (``src/ops/attention.rs``: one
kernel pass per row on each backend, one more in backward; differentiable to any order), so
both run on every device. PyTorch's semantics are kept: a boolean ``attn_mask`` of
``scaled_dot_product_attention`` marks the positions that *take part*, while the boolean
masks of multi-head attention (``attn_mask``, ``key_padding_mask``) mark those *left out*.
"""

from __future__ import annotations

import math
from typing import Optional

import rustorch
from rustorch import _C, Tensor

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Optional[Tensor] = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: Optional[float] = None,
    enable_gqa: bool = False,
) -> Tensor:
    r"""``softmax(Q Kᵀ · scale + mask) V`` (``F.scaled_dot_product_attention``).

    ``query`` is ``(…, L, E)``, ``key`` ``(…, S, E)``, ``value`` ``(…, S, Ev)``; ``scale``
    defaults to :math:`1/\sqrt{E}`; a boolean ``attn_mask`` keeps the ``True`` positions, a
    float one is added; ``is_causal`` keeps the lower triangle; ``enable_gqa`` repeats the key
    and value heads (dim −3) to the query's head count; ``dropout_p`` applies dropout to the
    attention weights (always, as PyTorch: pass 0 in evaluation).
    """
    scale_factor = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    if enable_gqa and query.dim() >= 3:
        groups = query.size(-3) // key.size(-3)
        if groups > 1:
            key = _repeat_heads(key, groups)
            value = _repeat_heads(value, groups)
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
            "is_causal=True"
        )
    scores = query.matmul(key.transpose(-2, -1))
    # PyTorch's _safe_softmax: a query whose keys are all masked out gets zero weights.
    weights = _C._attention_softmax(scores, attn_mask, is_causal, scale_factor, dropout_p, True)
    return weights.matmul(value)


def _repeat_heads(t: Tensor, groups: int) -> Tensor:
    """``t.repeat_interleave(groups, dim=-3)``: each head ``groups`` times in a row."""
    shape = list(t.shape)
    heads = shape[-3]
    expanded = t.unsqueeze(-3).expand(*shape[:-3], heads, groups, shape[-2], shape[-1])
    return expanded.reshape(*shape[:-3], heads * groups, shape[-2], shape[-1])


def _float_mask(mask: Optional[Tensor], dtype: rustorch.dtype, name: str) -> Optional[Tensor]:
    """A boolean mask (``True`` = left out) as an additive float one, as ``F._canonical_mask``."""
    if mask is None:
        return None
    if mask.dtype == rustorch.bool:
        return rustorch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf")
        )
    if not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {name} are supported")
    return mask


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Optional[Tensor],
    in_proj_bias: Optional[Tensor],
    bias_k: Optional[Tensor],
    bias_v: Optional[Tensor],
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Optional[Tensor],
    training: bool = True,
    key_padding_mask: Optional[Tensor] = None,
    need_weights: bool = True,
    attn_mask: Optional[Tensor] = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Optional[Tensor] = None,
    k_proj_weight: Optional[Tensor] = None,
    v_proj_weight: Optional[Tensor] = None,
    static_k: Optional[Tensor] = None,
    static_v: Optional[Tensor] = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Optional[Tensor]]:
    """Multi-head attention over ``(L, N, E)`` inputs (``F.multi_head_attention_forward``).

    Returns the output ``(L, N, E)`` and, with ``need_weights``, the attention weights
    ``(N, L, S)`` averaged over heads (``(N, H, L, S)`` unless ``average_attn_weights``).
    Unbatched ``(L, E)`` inputs give unbatched results. ``static_k``/``static_v`` are not
    supported.
    """
    from rustorch.nn import functional as F

    if static_k is not None or static_v is not None:
        raise NotImplementedError(
            "multi_head_attention_forward: static_k/static_v are not supported"
        )
    is_batched = query.dim() == 3
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    assert embed_dim == embed_dim_to_check, (
        f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
    )
    head_dim = embed_dim // num_heads
    assert head_dim * num_heads == embed_dim, (
        f"embed_dim {embed_dim} not divisible by num_heads {num_heads}"
    )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        # As PyTorch: the hint stands for the mask, which is not read (a causal mask is
        # applied). With a padding mask or the weights asked for, the mask is used instead.
        attn_mask = None
    else:
        is_causal = False
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(
                f"key's sequence and batch dims {key.shape[:2]} do not match value's "
                f"{value.shape[:2]}"
            )
    elif key.shape != value.shape:
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")

    # Input projections: one product when query, key and value are the same tensor.
    if not use_separate_proj_weight:
        assert in_proj_weight is not None
        if query is key and key is value:
            q, k, v = F.linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
        else:
            w_q, w_k, w_v = in_proj_weight.chunk(3)
            b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
    else:
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q = F.linear(query, q_proj_weight, b_q)
        k = F.linear(key, k_proj_weight, b_k)
        v = F.linear(value, v_proj_weight, b_v)

    attn_mask = _float_mask(attn_mask, q.dtype, "attn_mask")
    key_padding_mask = _float_mask(key_padding_mask, q.dtype, "key_padding_mask")
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                    f"{(tgt_len, src_len)}."
                )
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                    f"{(bsz * num_heads, tgt_len, src_len)}."
                )
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    if bias_k is not None and bias_v is not None:
        k = rustorch.cat([k, bias_k.repeat(1, bsz, 1)])
        v = rustorch.cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))

    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if add_zero_attn:
        zeros = rustorch.zeros(bsz * num_heads, 1, head_dim, dtype=k.dtype, device=k.device)
        k = rustorch.cat([k, zeros], dim=1)
        v = rustorch.cat([v, zeros], dim=1)
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))
    src_len = k.size(1)

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(
                f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                f"{tuple(key_padding_mask.shape)}"
            )
        kpm = (
            key_padding_mask.reshape(bsz, 1, 1, src_len)
            .expand(bsz, num_heads, 1, src_len)
            .reshape(bsz * num_heads, 1, src_len)
        )
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    if not training:
        dropout_p = 0.0
    scores = q.matmul(k.transpose(-2, -1))
    # Returning the weights, PyTorch takes softmax (NaN where every key is masked out);
    # without them, scaled_dot_product_attention's safe softmax (zeros there).
    weights = _C._attention_softmax(
        scores, attn_mask, is_causal, math.sqrt(1.0 / head_dim), dropout_p, not need_weights
    )
    out = weights.matmul(v)  # (N·H, L, head_dim)
    out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
    out = F.linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if not is_batched:
        out = out.squeeze(1)
    if not need_weights:
        return out, None
    weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
    if average_attn_weights:
        weights = weights.mean(dim=1)
    if not is_batched:
        weights = weights.squeeze(0)
    return out, weights
