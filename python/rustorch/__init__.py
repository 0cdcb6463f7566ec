"""rustorch: a Rust tensor engine with autograd and a PyTorch-shaped API.

``import rustorch as torch`` and write PyTorch. Tensors, their ops and the autograd engine
live in the Rust extension ``rustorch._C``; this package adds the Python-level pieces
PyTorch also keeps in Python (``Size``, ``device``, grad-mode context managers, ``nn``,
``optim``, data loading) and module-level functions that forward to tensor methods.
"""

from __future__ import annotations

import builtins as _builtins
import math as _math
import threading as _threading
from typing import Any

from . import _C

# Kernels split work OpenMP-style: the thread that issues ops runs one part itself instead of
# parking while pool threads wake up (see src/cpu/threads.rs). Only Python's main thread
# qualifies, since the pool's thread must live as long as the process.
if _threading.current_thread() is _threading.main_thread():
    _C._use_calling_thread_in_pool()

from ._C import (  # noqa: E402
    Tensor,
    arange,
    as_tensor,
    bucketize,
    cat,
    cdist,
    dtype,
    einsum,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    get_num_threads,
    initial_seed,
    linspace,
    meshgrid,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    result_type,
    searchsorted,
    set_num_threads,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)
from ._C import manual_seed as _manual_seed
from ._out import write_out as _write_out  # noqa: E402

float16: dtype = _C.float16
bfloat16: dtype = _C.bfloat16
float32: dtype = _C.float32
float64: dtype = _C.float64
int64: dtype = _C.int64
int32: dtype = _C.int32
int16: dtype = _C.int16
int8: dtype = _C.int8
uint8: dtype = _C.uint8
bool: dtype = _C.bool  # noqa: A001 - PyTorch's name

memory_format = _C.memory_format
contiguous_format: memory_format = _C.contiguous_format
preserve_format: memory_format = _C.preserve_format
channels_last: memory_format = _C.channels_last
channels_last_3d: memory_format = _C.channels_last_3d
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16


class Size(tuple):
    """``torch.Size``: a tuple of ints that prints as ``rustorch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"rustorch.Size({list(self)})"

    # Slices, concatenation and repetition stay a Size, as PyTorch's. Indexing is on every
    # op's path: the slice test and tuple's own lookup are bound once (no `super()`).
    def __getitem__(self, key: Any, _get: Any = tuple.__getitem__, _slice: type = slice) -> Any:
        if key.__class__ is _slice:
            return Size(_get(self, key))
        return _get(self, key)

    def __add__(self, other: Any) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(self) + other)

    def __radd__(self, other: Any) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(other + tuple(self))

    def __mul__(self, n: Any) -> Any:
        if not isinstance(n, _builtins.int):
            return NotImplemented
        return Size(tuple(self) * n)

    __rmul__ = __mul__

    def numel(self) -> _builtins.int:
        n = 1
        for s in self:
            n *= s
        return n


class device:
    """``torch.device``: ``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``,
    ``device("cuda", 1)`` or ``device(1)`` (a CUDA ordinal). The string is parsed by the
    engine, with PyTorch's errors; a bare ``"cuda"`` keeps ``index=None``."""

    def __init__(self, type: Any, index: _builtins.int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, _builtins.int) and not isinstance(type, _builtins.bool):
            type, index = "cuda", type
        kind, parsed = _C._parse_device(str(type))
        if parsed is not None and index is not None:
            raise RuntimeError(
                "type (string) must not include an index because index was passed "
                f"explicitly: {type}"
            )
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type: str = kind
        self.index: _builtins.int | None = parsed if parsed is not None else index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> _builtins.bool:
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> _builtins.int:
        return hash((self.type, self.index))

    def __reduce__(self) -> tuple[Any, ...]:
        return (device, (self.type, self.index))

    def __enter__(self) -> device:
        """``with device("cuda"):`` makes this the default device of creation functions
        inside the block, as PyTorch's device context manager."""
        self._previous = _C._set_default_device(str(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        _C._set_default_device(self.__dict__.pop("_previous", "cpu"))


_Device = device

inf = _math.inf
nan = _math.nan
pi = _math.pi
e = _math.e
newaxis = None


def set_default_device(device: Any) -> None:
    """The device creation functions use when given none (per thread; None resets to CPU)."""
    _C._set_default_device("cpu" if device is None else str(_Device(device)))


def get_default_device() -> _Device:
    """The device creation functions use when given none."""
    return _Device(_C._get_default_device())


Generator = _C.Generator
default_generator: Generator = _C._default_generator()


def manual_seed(seed: _builtins.int) -> Generator:
    """Seeds the CPU generator (xoshiro256**, see ``rustorch._C``) and every GPU's
    (Philox), as PyTorch; returns the CPU one."""
    _manual_seed(_builtins.int(seed))
    return default_generator


def seed() -> _builtins.int:
    return initial_seed()


_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: _builtins.bool, *,
                                 warn_only: _builtins.bool = False) -> None:
    """Records the mode, as PyTorch's. Differs: no op raises or warns under it. Every CPU
    op here is deterministic already; on CUDA, the accumulating index ops (``index_add_``,
    ``index_put_(accumulate=True)``, scatter-adds) and ``roi_align``'s backward add with
    atomics, as PyTorch's, which would raise there."""
    if not isinstance(mode, _builtins.bool):
        raise TypeError("_set_deterministic_algorithms(): argument 'mode' (position 1) must be "
                        f"bool, not {type(mode).__name__}")
    _deterministic.update(mode=mode, warn_only=_builtins.bool(warn_only))


def are_deterministic_algorithms_enabled() -> _builtins.bool:
    """Whether ``use_deterministic_algorithms(True)`` is in effect."""
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> _builtins.bool:
    """Whether the deterministic mode was set with ``warn_only=True``."""
    return _deterministic["warn_only"]


def is_tensor(obj: Any) -> _builtins.bool:
    return isinstance(obj, Tensor)


def is_floating_point(t: Tensor) -> _builtins.bool:
    return t.is_floating_point()


def numel(t: Tensor) -> _builtins.int:
    return t.numel()


def get_default_dtype() -> dtype:
    """The default float dtype (float32 unless ``set_default_dtype`` changed it)."""
    return _C._get_default_dtype()


def set_default_dtype(d: dtype) -> None:
    """``torch.set_default_dtype``: the dtype of Python floats, of float tensors created
    without a dtype (``tensor([1.5])``, ``zeros``, ``rand``, ``nn`` parameters) and of
    float-valued ops of integer tensors; for the whole process, as PyTorch. Only floating
    dtypes are accepted (``TypeError`` otherwise)."""
    _C._set_default_dtype(d)


def isclose(input: Tensor, other: Tensor, rtol: _builtins.float = 1e-05,
            atol: _builtins.float = 1e-08, equal_nan: _builtins.bool = False) -> Tensor:
    """``torch.isclose``: ``|input − other| ≤ atol + rtol·|other|`` elementwise."""
    return input.isclose(other, rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(input: Tensor, other: Tensor, rtol: _builtins.float = 1e-05,
             atol: _builtins.float = 1e-08, equal_nan: _builtins.bool = False) -> _builtins.bool:
    """``torch.allclose``: whether ``isclose`` holds everywhere."""
    return input.allclose(other, rtol=rtol, atol=atol, equal_nan=equal_nan)


def set_float32_matmul_precision(precision: str) -> None:
    """``"highest"`` (float32 products in full precision, the default) or ``"high"`` /
    ``"medium"`` (CUDA float32 products may use TF32), as PyTorch."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision: {precision}")
    _C._cuda_set_allow_tf32(precision != "highest")


def get_float32_matmul_precision() -> str:
    return "high" if _C._cuda_get_allow_tf32() else "highest"


def _forward_to_method(name: str) -> Any:
    def fn(input: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{name}(): argument 'input' (position 1) must be Tensor, not "
                f"{type(input).__name__}"
            )
        out = kwargs.pop("out", None)
        r = getattr(input, name)(*args, **kwargs)
        return r if out is None else _write_out(name, r, out)

    fn.__name__ = name
    fn.__doc__ = (
        f"``rustorch.{name}(input, ...)``: same as ``input.{name}(...)`` (PyTorch's signature);"
        " ``out=`` gets the result (see ``rustorch._out``)."
    )
    return fn


_METHOD_FUNCTIONS = """
abs absolute neg negative exp log log1p expm1 sqrt rsqrt sin cos tanh sigmoid erf reciprocal
tan asin acos atan arcsin arccos arctan sinh cosh asinh acosh atanh arcsinh arccosh arctanh
log2 log10 exp2 fmod atan2 arctan2 lgamma digamma
diagonal diag diag_embed trace ravel mv flip fliplr flipud roll rot90 kron cross index_add
index_copy index_fill index_put unique unique_consecutive
square relu sign floor ceil trunc round isnan isinf isfinite clamp clip lerp masked_fill
sum mean prod max min amax amin argmax argmin var std norm logsumexp softmax log_softmax
cumsum cumprod cummax cummin logcumsumexp histc bincount
all any matmul mm bmm dot outer addmm baddbmm addbmm addmv addr addcmul addcdiv view_as reshape
transpose swapaxes t permute
squeeze unsqueeze flatten unflatten narrow select unbind split chunk gather scatter
scatter_add index_select masked_select nonzero sort argsort topk maximum minimum eq ne lt
le gt ge equal bitwise_and bitwise_or bitwise_xor bitwise_not logical_not logical_and
logical_or floor_divide remainder true_divide div divide mul multiply sub subtract
clone detach numpy_unsupported silu gelu softplus triu tril multinomial bernoulli
movedim moveaxis count_nonzero take
""".split()
for _name in _METHOD_FUNCTIONS:
    if not _name.endswith("_unsupported"):
        globals()[_name] = _forward_to_method(_name)


def repeat_interleave(
    input: Tensor, repeats: Any = None, dim: Any = None, *, output_size: Any = None
) -> Tensor:
    """``rustorch.repeat_interleave``; with ``repeats`` omitted, ``input`` holds the counts and
    the result repeats each index that many times (PyTorch's one-argument form)."""
    if repeats is None:
        positions = arange(input.numel(), device=input.device)
        return positions.repeat_interleave(input, output_size=output_size)
    return input.repeat_interleave(repeats, dim, output_size=output_size)


def add(input: Any, other: Any, *, alpha: Any = None, out: Any = None) -> Tensor:
    """``rustorch.add(input, other, alpha=1)``; ``input`` may be a number."""
    if not isinstance(input, Tensor):
        r = other.mul(alpha).add(input) if alpha is not None else other.__radd__(input)
    else:
        r = input.add(other, alpha=alpha)
    return _write_out("add", r, out)


def pow(input: Any, exponent: Any, *, out: Any = None) -> Tensor:  # noqa: A001
    """``rustorch.pow``; either side may be a number."""
    r = exponent.__rpow__(input) if not isinstance(input, Tensor) else input.pow(exponent)
    return _write_out("pow", r, out)


def polygamma(n: _builtins.int, input: Tensor) -> Tensor:
    """``torch.polygamma(n, input)``: ψ⁽ⁿ⁾, the n-th derivative of ``digamma``."""
    return input.polygamma(n)


def reshape(input: Tensor, shape: Any) -> Tensor:
    return input.reshape(shape)


class _DLPackCapsule:
    """A bare DLPack capsule (PyTorch's legacy form of ``from_dlpack``'s argument) as an
    object with the ``__dlpack__`` protocol, for NumPy to import."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __dlpack__(self, **_: Any) -> Any:
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # kDLCPU


def from_dlpack(ext: Any) -> Tensor:
    """Imports a CPU array through DLPack (``torch.from_dlpack``): an object with
    ``__dlpack__`` or a DLPack capsule, which can be consumed only once; memory is shared
    where NumPy can view it. As PyTorch, anything else (an already consumed capsule, an
    object whose ``__dlpack__`` returns no capsule) raises ``RuntimeError``."""
    import numpy as np

    if type(ext).__name__ == "PyCapsule":
        ext = _DLPackCapsule(ext)
    try:
        array = np.from_dlpack(ext)
    except (AttributeError, TypeError, ValueError) as e:
        raise RuntimeError(
            "from_dlpack received an invalid capsule. Note that DLTensor capsules can be "
            "consumed only once, so you might have already constructed a tensor from it once."
        ) from e
    return from_numpy(array)


from . import accelerator, autograd, backends, cuda, futures, return_types  # noqa: E402
from .autograd.anomaly_mode import (  # noqa: E402
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
)
from .autograd.grad_mode import (  # noqa: E402
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)

_C._set_python_types(Size, return_types)

from . import nn, optim, testing, utils, version, vision  # noqa: E402
from ._dtype_info import finfo, iinfo  # noqa: E402
from ._legacy import CPU_TYPES as _CPU_TYPES  # noqa: E402
from ._legacy import set_default_tensor_type  # noqa: E402
from ._unsupported import (  # noqa: E402
    complex,
    istft,
    polar,
    sparse_coo_tensor,
    sparse_csr_tensor,
    spmm,
    stft,
    view_as_complex,
    view_as_real,
)

globals().update(_CPU_TYPES)
from . import amp, distributed, distributions, linalg, multiprocessing, onnx, profiler  # noqa: E402
from ._compile import compile  # noqa: E402, A004
from ._tensor_str import get_printoptions, printoptions, set_printoptions  # noqa: E402
from .amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402
from .linalg._toplevel import (  # noqa: E402
    cholesky,
    cholesky_inverse,
    cholesky_solve,
    det,
    inverse,
    logdet,
    matrix_power,
    pinverse,
    qr,
    slogdet,
    svd,
)
from .serialization import load, save  # noqa: E402

__version__ = version.__version__
