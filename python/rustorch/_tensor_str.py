"""``repr``/``str`` of tensors, following PyTorch's ``torch/_tensor_str.py`` rules.

Matched: summarisation above ``threshold`` elements (``edgeitems`` edge items), wrapping at
``linewidth`` columns, the integer / fixed (``precision`` decimals) / scientific choice (or
the forced ``sci_mode``), and the suffix order (size, dtype, grad_fn or requires_grad); the
options are PyTorch's ``set_printoptions`` / ``get_printoptions`` / ``printoptions``, with
the same defaults and profiles. ``Tensor.__format__`` is PyTorch's: a 0-d tensor formats its
``item()`` with the spec, any other tensor accepts only an empty spec (``str(t)``).
Differs: dtypes print as ``rustorch.float64``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from typing import Any


@dataclasses.dataclass
class _PrinterOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrinterOptions()

_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set the options of tensor printing, as ``torch.set_printoptions``.

    Args:
        precision: digits after the decimal point of floats (default 4).
        threshold: element count above which a tensor is summarised (default 1000).
        edgeitems: items kept at the start and end of each summarised dim (default 3).
        linewidth: characters per line before wrapping (default 80).
        profile: ``"default"``, ``"short"`` (precision 2, edgeitems 2) or ``"full"``
            (never summarise); the other arguments override it.
        sci_mode: force (True) or forbid (False) scientific notation; None (the default)
            lets the formatter choose. As in PyTorch, every call sets it (None resets it).
    """
    if profile is not None:
        # PyTorch ignores an unknown profile name silently; so do we.
        for key, value in _PROFILES.get(profile, {}).items():
            setattr(PRINT_OPTS, key, value)
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current print options as a dict that ``set_printoptions(**d)`` accepts
    (``torch._tensor_str.get_printoptions``)."""
    return dataclasses.asdict(PRINT_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs: Any) -> Iterator[None]:
    """Temporarily change the print options (``torch._tensor_str.printoptions``)."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    def __init__(self, values: list[Any], floating: bool) -> None:
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        if not floating:
            for v in values:
                self.max_width = max(self.max_width, len(f"{v}"))
            return
        vals = [v for v in values if math.isfinite(v) and v != 0]
        if not vals:
            return
        absv = [abs(v) for v in vals]
        vmin, vmax = min(absv), max(absv)
        self.int_mode = all(v == math.ceil(v) for v in vals)
        forced = PRINT_OPTS.sci_mode
        self.sci_mode = (
            (vmax / vmin > 1000.0 or vmax > 1.0e8 or vmin < 1.0e-4)
            if forced is None
            else bool(forced)
        )
        precision = PRINT_OPTS.precision
        if self.sci_mode:
            widths = [len(f"{v:.{precision}e}") for v in vals]
        elif self.int_mode:
            widths = [len(f"{v:.0f}") + 1 for v in vals]
        else:
            widths = [len(f"{v:.{precision}f}") for v in vals]
        self.max_width = max([self.max_width, *widths])

    def format(self, value: Any) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{PRINT_OPTS.precision}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{PRINT_OPTS.precision}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _flat(x: Any) -> list[Any]:
    if isinstance(x, list):
        out: list[Any] = []
        for v in x:
            out.extend(_flat(v))
        return out
    return [x]


def _summarized(t: Any) -> list[Any]:
    """The values that are shown when `t` is summarised (edge items of every dim)."""
    if t.dim() == 0:
        return [t.item()]
    n, edge = t.shape[0], PRINT_OPTS.edgeitems
    if t.dim() == 1:
        # PyTorch's ``cat(t[:e], t[-e:])``: with edgeitems=0, ``t[-0:]`` is all of ``t``.
        if n <= 2 * edge or edge == 0:
            return t.tolist()
        return t[:edge].tolist() + t[n - edge :].tolist()
    if edge == 0:
        return []
    idx = list(range(n)) if n <= 2 * edge else [*range(edge), *range(n - edge, n)]
    out: list[Any] = []
    for i in idx:
        out.extend(_summarized(t[i]))
    return out


def _vector(t: Any, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, int(math.floor((PRINT_OPTS.linewidth - indent) / (fmt.max_width + 2))))
    n, edge = t.shape[0], PRINT_OPTS.edgeitems
    if summarize and not edge:
        data = ["..."]
    elif summarize and n > 2 * edge:
        data = [fmt.format(v) for v in t[:edge].tolist()] + [" ..."]
        data += [fmt.format(v) for v in t[n - edge :].tolist()]
    else:
        data = [fmt.format(v) for v in t.tolist()]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor(t: Any, indent: int, summarize: bool, fmt: _Formatter) -> str:
    d = t.dim()
    if d == 0:
        return fmt.format(t.item())
    if d == 1:
        return _vector(t, indent, summarize, fmt)
    n, edge = t.shape[0], PRINT_OPTS.edgeitems
    if summarize and n > 2 * edge:
        rows = [_tensor(t[i], indent + 1, summarize, fmt) for i in range(edge)]
        rows += ["..."] + [_tensor(t[i], indent + 1, summarize, fmt) for i in range(n - edge, n)]
    else:
        rows = [_tensor(t[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (d - 1) + " " * (indent + 1)).join(rows) + "]"


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    last = len(text) - text.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            parts.append(", " + s)
            last += len(s) + 2
    parts.append(")")
    return "".join(parts)


def _str(t: Any) -> str:
    """PyTorch's ``repr`` of a tensor."""
    from . import get_default_dtype

    prefix = "tensor("
    indent = len(prefix)
    suffixes: list[str] = []
    if t.device.type != "cpu":
        # PyTorch prints the device when it is not the default tensor type's (the CPU).
        suffixes.append("device='" + str(t.device) + "'")
    dtype = t.dtype
    name = repr(dtype).split(".")[-1]
    default_float = get_default_dtype()
    default = dtype == default_float or name in ("int64", "bool")
    if t.numel() == 0:
        if t.dim() != 1:
            suffixes.append("size=" + str(tuple(t.shape)))
        if dtype != default_float:
            suffixes.append("dtype=" + repr(dtype))
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append("size=" + str(tuple(t.shape)))
        if not default:
            suffixes.append("dtype=" + repr(dtype))
        x = t.detach()
        summarize = x.numel() > PRINT_OPTS.threshold
        values = _summarized(x) if summarize else _flat(x.tolist())
        fmt = _Formatter(values, dtype.is_floating_point)
        body = _tensor(x, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)


def _format(self: Any, format_spec: str) -> str:
    """``Tensor.__format__`` as PyTorch's: a 0-d plain tensor formats ``item()`` (so
    ``f"{loss:.4f}"`` works); anything else goes to ``object.__format__``, which accepts only
    an empty spec (``str(t)``) and raises TypeError otherwise, like PyTorch."""
    from . import Tensor

    if self.dim() == 0 and type(self) is Tensor:
        return format(self.detach().item(), format_spec)
    return object.__format__(self, format_spec)


def _install_format() -> None:
    from . import Tensor

    Tensor.__format__ = _format  # type: ignore[method-assign]


_install_format()
