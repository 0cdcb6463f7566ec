"""Error types and messages, plus a bounded hypothesis fuzz: random shapes (including zero
sizes), dtypes and dims (including out of range) through many ops. Every call must return
tensors or raise RuntimeError/IndexError/TypeError/ValueError/NotImplementedError, and where
PyTorch is installed it must agree with PyTorch on whether the call is valid and on the
result's shape and dtype."""

import re

import numpy as np
import pytest
from conftest import DTYPE_NAMES, dtype_name, make_tensor, rand_array, rt, torch_or_none
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# ---------------------------------------------------------------- explicit errors -----

ERRORS = [
    ("add_shape", lambda L: L.ones(2, 3) + L.ones(2, 4), RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"),
    ("mul_shape", lambda L: L.ones(2, 3) * L.ones(3, 2), RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"),
    ("inplace_shape", lambda L: L.ones(3).add_(L.ones(2)), RuntimeError, None),
    ("mm_shape", lambda L: L.ones(2, 3) @ L.ones(4, 5), RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
    ("matmul_1d", lambda L: L.matmul(L.ones(3), L.ones(4)), RuntimeError, None),
    ("matmul_batch", lambda L: L.ones(2, 3, 4) @ L.ones(3, 5, 6), RuntimeError, None),
    ("matmul_0d", lambda L: L.matmul(L.tensor(1.0), L.ones(3)), RuntimeError, None),
    ("bmm_shape", lambda L: L.bmm(L.ones(2, 3, 4), L.ones(2, 5, 6)), RuntimeError, None),
    ("index_oob", lambda L: L.ones(3)[3], IndexError,
     "index 3 is out of bounds for dimension 0 with size 3"),
    ("index_oob_neg", lambda L: L.ones(2, 3)[-3], IndexError,
     "index -3 is out of bounds for dimension 0 with size 2"),
    ("index_oob_dim1", lambda L: L.ones(2, 3)[0, 5], IndexError,
     "index 5 is out of bounds for dimension 1 with size 3"),
    ("index_too_many", lambda L: L.ones(2, 3)[0, 0, 0], IndexError, None),
    ("index_tensor_oob", lambda L: L.ones(2, 3)[L.tensor([5])], IndexError, None),
    ("index_mask_shape", lambda L: L.ones(2, 3)[L.tensor([True, False, True])], IndexError,
     None),
    ("setitem_oob", lambda L: L.ones(3).__setitem__(5, 1.0), IndexError, None),
    ("dim_oob_sum", lambda L: L.ones(2, 3).sum(dim=2), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    ("dim_oob_softmax", lambda L: L.ones(2, 3).softmax(-3), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got -3)"),
    ("dim_oob_transpose", lambda L: L.ones(2, 3).transpose(0, 2), IndexError, None),
    ("dim_oob_squeeze", lambda L: L.ones(2, 3).squeeze(5), IndexError, None),
    ("dim_oob_unsqueeze", lambda L: L.ones(2, 3).unsqueeze(3), IndexError, None),
    ("dim_oob_cat", lambda L: L.cat([L.ones(2), L.ones(2)], dim=1), IndexError, None),
    ("select_oob", lambda L: L.ones(2, 3).select(1, 3), IndexError, None),
    ("view_size", lambda L: L.ones(2, 3).view(5), RuntimeError,
     "shape '[5]' is invalid for input of size 6"),
    ("view_size_-1", lambda L: L.ones(2, 3).view(-1, 4), RuntimeError,
     "shape '[-1, 4]' is invalid for input of size 6"),
    ("view_two_-1", lambda L: L.ones(2, 3).view(-1, -1), RuntimeError,
     "only one dimension can be inferred"),
    ("view_strides", lambda L: L.ones(2, 3).t().view(6), RuntimeError,
     "view size is not compatible with input tensor's size and stride"),
    ("reshape_size", lambda L: L.ones(2, 3).reshape(4), RuntimeError, None),
    ("expand_bad", lambda L: L.ones(2, 3).expand(3, 3), RuntimeError, None),
    ("expand_fewer_dims", lambda L: L.ones(2, 3).expand(3), RuntimeError, None),
    ("permute_dup", lambda L: L.ones(2, 3).permute(0, 0), RuntimeError, None),
    ("permute_len", lambda L: L.ones(2, 3).permute(0), RuntimeError, None),
    ("narrow_oob", lambda L: L.ones(2, 3).narrow(1, 2, 5), RuntimeError, None),
    ("cat_shapes", lambda L: L.cat([L.ones(2, 3), L.ones(3, 2)]), RuntimeError, None),
    ("stack_shapes", lambda L: L.stack([L.ones(2, 3), L.ones(3, 2)]), RuntimeError, None),
    ("gather_oob", lambda L: L.ones(2, 3).gather(1, L.tensor([[5]])), RuntimeError, None),
    ("gather_float_index", lambda L: L.ones(2, 3).gather(1, L.ones(2, 3)), RuntimeError, None),
    ("index_select_oob", lambda L: L.ones(2, 3).index_select(1, L.tensor([3])),
     (IndexError, RuntimeError), None),
    ("topk_k", lambda L: L.ones(2, 3).topk(4), RuntimeError, None),
    ("split_zero", lambda L: L.ones(2, 3).chunk(0), RuntimeError, None),
    ("unflatten_bad", lambda L: L.ones(2, 3).unflatten(1, (2, 2)), RuntimeError, None),
    ("negative_size", lambda L: L.ones(-1), RuntimeError, None),
    ("arange_step0", lambda L: L.arange(0, 10, 0), RuntimeError, None),
    ("item_many", lambda L: L.ones(2).item(), RuntimeError,
     "a Tensor with 2 elements cannot be converted to Scalar"),
    ("bool_ambiguous", lambda L: bool(L.ones(2)), RuntimeError,
     "Boolean value of Tensor with more than one value is ambiguous"),
    ("int_requires_grad", lambda L: L.tensor([1, 2], requires_grad=True), RuntimeError,
     "Only Tensors of floating point"),
    ("int_requires_grad_", lambda L: L.tensor([1, 2]).requires_grad_(), RuntimeError, None),
    ("inplace_int_float", lambda L: L.tensor([1, 2]).add_(1.5), RuntimeError,
     "result type Float can't be cast to the desired output type Long"),
    ("mean_int", lambda L: L.tensor([1, 2]).mean(), RuntimeError, None),
    ("ragged", lambda L: L.tensor([[1, 2], [3]]), ValueError, None),
    ("len_0d", lambda L: len(L.tensor(1.0)), TypeError, "len() of a 0-d tensor"),
    ("iter_0d", lambda L: iter(L.tensor(1.0)), TypeError, "iteration over a 0-d tensor"),
    ("zeros_str", lambda L: L.zeros("a"), TypeError, None),
    ("zeros_float_size", lambda L: L.zeros(2.5), TypeError, None),
    ("dtype_str", lambda L: L.ones(2, dtype="float32"), TypeError, None),
    ("add_str", lambda L: L.ones(2) + "a", TypeError, None),
    ("tensor_object", lambda L: L.tensor(object()), (TypeError, RuntimeError), None),
    ("cat_empty", lambda L: L.cat([]), (ValueError, RuntimeError), None),
    ("index_float", lambda L: L.ones(3)[1.5], (TypeError, IndexError), None),
]


@pytest.mark.parametrize("name, call, exc, match", ERRORS, ids=[e[0] for e in ERRORS])
def test_error(name, call, exc, match):
    with pytest.raises(exc, match=re.escape(match) if match else None):
        call(rt)


def test_failed_inplace_leaves_tensor_unchanged():
    x = rt.tensor([1, 2, 3])
    with pytest.raises(RuntimeError):
        x.add_(1.5)
    assert x.tolist() == [1, 2, 3]
    y = rt.ones(2, 3)
    with pytest.raises(RuntimeError):
        y += rt.ones(2, 4)
    assert y.tolist() == [[1.0] * 3] * 2


# ---------------------------------------------------------------- fuzz -----------------

ALLOWED = (RuntimeError, IndexError, TypeError, ValueError, NotImplementedError)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
dtypes = st.sampled_from(DTYPE_NAMES)
dims = st.integers(-4, 4)


def _is_tensor_result(out, lib):
    if isinstance(out, lib.Tensor):
        return True
    if isinstance(out, (tuple, list)):
        return all(_is_tensor_result(o, lib) for o in out)
    return False


def _leaves(out):
    if isinstance(out, (tuple, list)):
        return [leaf for o in out for leaf in _leaves(o)]
    return [out]


def _run(lib, fn, arrays):
    tensors = [make_tensor(lib, a) for a in arrays]
    try:
        return True, fn(lib, *tensors)
    except ALLOWED as e:
        return False, e


def fuzz_check(fn, *arrays):
    ok, out = _run(rt, fn, arrays)
    if ok:
        assert _is_tensor_result(out, rt), f"returned {type(out)}"
        for t in _leaves(out):
            t.shape, t.dtype  # noqa: B018 - touching metadata must not fail
    if torch_or_none is None:
        return
    t_ok, t_out = _run(torch_or_none, fn, arrays)
    if isinstance(out, NotImplementedError):
        return
    if not t_ok:
        if "not implemented for" in str(t_out):
            return  # a dtype PyTorch has no kernel for; supporting it is fine
        assert not ok, f"PyTorch raised {type(t_out).__name__}: {t_out}; {rt.__name__} returned"
        return
    if not ok:
        return  # an unsupported-but-valid case must at least raise an allowed exception
    mine, ref = _leaves(out), _leaves(t_out)
    assert len(mine) == len(ref)
    for m, r in zip(mine, ref):
        assert tuple(m.shape) == tuple(r.shape), f"shape {tuple(m.shape)} != {tuple(r.shape)}"
        assert dtype_name(m.dtype) == dtype_name(r.dtype), f"dtype {m.dtype} != {r.dtype}"


def _arr(shape, dtype, seed=0):
    return rand_array(shape, dtype, seed=seed)


UNARY_OPS = {
    "sum_dim": lambda L, x, d, e, k: x.sum(dim=d),
    "sum_dims": lambda L, x, d, e, k: x.sum(dim=(d, e), keepdim=True),
    "mean_dim": lambda L, x, d, e, k: x.mean(d),
    "prod_dim": lambda L, x, d, e, k: x.prod(d),
    "amax": lambda L, x, d, e, k: x.amax(dim=d),
    "max_dim": lambda L, x, d, e, k: x.max(dim=d),
    "min_full": lambda L, x, d, e, k: x.min(),
    "argmax": lambda L, x, d, e, k: x.argmax(dim=d, keepdim=True),
    "argmin_full": lambda L, x, d, e, k: x.argmin(),
    "var": lambda L, x, d, e, k: x.var(dim=d),
    "std_full": lambda L, x, d, e, k: x.std(),
    "norm": lambda L, x, d, e, k: x.norm(dim=d),
    "logsumexp": lambda L, x, d, e, k: L.logsumexp(x, dim=d),
    "softmax": lambda L, x, d, e, k: x.softmax(d),
    "log_softmax": lambda L, x, d, e, k: L.log_softmax(x, d),
    "cumsum": lambda L, x, d, e, k: x.cumsum(d),
    "all": lambda L, x, d, e, k: x.all(dim=d),
    "any": lambda L, x, d, e, k: x.any(),
    "view": lambda L, x, d, e, k: x.view(d, -1),
    "view_exact": lambda L, x, d, e, k: x.view(k, e),
    "reshape": lambda L, x, d, e, k: x.reshape(-1, k),
    "permute": lambda L, x, d, e, k: x.permute(*([d, e, k][: x.dim()])),
    "transpose": lambda L, x, d, e, k: x.transpose(d, e),
    "t": lambda L, x, d, e, k: x.t(),
    "squeeze": lambda L, x, d, e, k: x.squeeze(d),
    "unsqueeze": lambda L, x, d, e, k: x.unsqueeze(d),
    "flatten": lambda L, x, d, e, k: x.flatten(d, e),
    "unflatten": lambda L, x, d, e, k: x.unflatten(d, (k, -1)),
    "narrow": lambda L, x, d, e, k: x.narrow(d, e, k),
    "select": lambda L, x, d, e, k: x.select(d, e),
    "index_int": lambda L, x, d, e, k: x[d],
    "index_2": lambda L, x, d, e, k: x[d, e],
    "index_slice": lambda L, x, d, e, k: x[:, d:e:max(k, 1)],
    "index_none": lambda L, x, d, e, k: x[None, ..., d],
    "index_list": lambda L, x, d, e, k: x[[d, e]],
    "setitem": lambda L, x, d, e, k: x.__setitem__((d, e), 1) or x,
    "expand": lambda L, x, d, e, k: x.expand(k, *x.shape),
    "expand_bad": lambda L, x, d, e, k: x.expand(*([k] * x.dim())),
    "split": lambda L, x, d, e, k: x.split(k, dim=d),
    "chunk": lambda L, x, d, e, k: x.chunk(k, dim=d),
    "unbind": lambda L, x, d, e, k: x.unbind(d),
    "topk": lambda L, x, d, e, k: x.topk(k, dim=d),
    "sort": lambda L, x, d, e, k: x.sort(dim=d, descending=True),
    "cat_self": lambda L, x, d, e, k: L.cat([x, x], dim=d),
    "stack_self": lambda L, x, d, e, k: L.stack([x, x], dim=d),
    "clamp": lambda L, x, d, e, k: x.clamp(min=d, max=e),
    "neg_abs": lambda L, x, d, e, k: (-x).abs(),
    "exp": lambda L, x, d, e, k: x.exp(),
    "to_float64": lambda L, x, d, e, k: x.to(L.float64),
    "contiguous_t": lambda L, x, d, e, k: x.mT.contiguous(),
    "nonzero": lambda L, x, d, e, k: x.nonzero(),
    "masked_select": lambda L, x, d, e, k: x.masked_select(x > 0),
    "where": lambda L, x, d, e, k: L.where(x > 0, x, d),
}


@FUZZ
@given(op=st.sampled_from(sorted(UNARY_OPS)), shape=shapes, dtype=dtypes, d=dims, e=dims,
       k=st.integers(-1, 4))
def test_fuzz_unary_ops(op, shape, dtype, d, e, k):
    fn = UNARY_OPS[op]
    fuzz_check(lambda L, x: fn(L, x, d, e, k), _arr(shape, dtype))


BINARY_OPS = {
    "add": lambda L, a, b, d: a + b,
    "sub": lambda L, a, b, d: a - b,
    "mul": lambda L, a, b, d: L.mul(a, b),
    "div": lambda L, a, b, d: a / b,
    "eq": lambda L, a, b, d: a == b,
    "lt": lambda L, a, b, d: a < b,
    "and": lambda L, a, b, d: a & b,
    "maximum": lambda L, a, b, d: L.maximum(a, b),
    "where": lambda L, a, b, d: L.where(a > 0, a, b),
    "matmul": lambda L, a, b, d: a @ b,
    "cat": lambda L, a, b, d: L.cat([a, b], dim=d),
    "stack": lambda L, a, b, d: L.stack([a, b], d),
    "expand_as": lambda L, a, b, d: a.expand_as(b),
    "view_as": lambda L, a, b, d: a.view_as(b),
    "copy_": lambda L, a, b, d: a.copy_(b),
    "iadd": lambda L, a, b, d: a.add_(b),
    "masked_fill": lambda L, a, b, d: a.masked_fill(b > 0, 0),
    "clamp_t": lambda L, a, b, d: a.clamp(min=b),
    "lerp": lambda L, a, b, d: L.lerp(a, b, 0.5),
}


@FUZZ
@given(op=st.sampled_from(sorted(BINARY_OPS)), sa=shapes, sb=shapes, dtype_a=dtypes,
       same_dtype=st.booleans(), dtype_b=dtypes, d=dims)
def test_fuzz_binary_ops(op, sa, sb, dtype_a, same_dtype, dtype_b, d):
    fn = BINARY_OPS[op]
    db = dtype_a if same_dtype else dtype_b
    fuzz_check(lambda L, a, b: fn(L, a, b, d), _arr(sa, dtype_a, 1), _arr(sb, db, 2))


INDEX_OPS = {
    "gather": lambda L, x, i, d: x.gather(d, i),
    "scatter_value": lambda L, x, i, d: x.scatter(d, i, 1.5 if x.is_floating_point() else 1),
    "scatter_add": lambda L, x, i, d: x.scatter_add(d, i, x),
    "index_select": lambda L, x, i, d: x.index_select(d, i.flatten()),
    "advanced": lambda L, x, i, d: x[i],
    "advanced_2": lambda L, x, i, d: x[:, i],
    "one_hot_like": lambda L, x, i, d: L.eye(5)[i],
    "setitem_adv": lambda L, x, i, d: x.__setitem__(i, 0) or x,
}


@FUZZ
@given(op=st.sampled_from(sorted(INDEX_OPS)), shape=shapes, ishape=shapes, dtype=dtypes,
       d=dims, lo=st.integers(-4, 0), hi=st.integers(1, 5))
def test_fuzz_index_ops(op, shape, ishape, dtype, d, lo, hi):
    fn = INDEX_OPS[op]
    idx = np.random.default_rng(3).integers(lo, hi, ishape).astype(np.int64)
    fuzz_check(lambda L, x, i: fn(L, x, i, d), _arr(shape, dtype), idx)


@FUZZ
@given(shape=shapes, dtype=dtypes,
       ops=st.lists(st.sampled_from(["t", "neg_abs", "unsqueeze", "index_slice", "transpose",
                                     "expand", "sum_dim", "flatten", "narrow", "mT"]),
                    min_size=1, max_size=4),
       d=dims, e=dims, k=st.integers(0, 3))
def test_fuzz_op_chains(shape, dtype, ops, d, e, k):
    """Chains of views and ops: strides of views of views must stay coherent."""
    extra = {"mT": lambda L, x, d, e, k: x.mT}

    def fn(L, x):
        for name in ops:
            x = extra.get(name, UNARY_OPS.get(name))(L, x, d, e, k)
        return x.contiguous() * 1

    fuzz_check(fn, _arr(shape, dtype))
