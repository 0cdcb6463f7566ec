"""``repr``/``str`` of tensors, following PyTorch's ``torch/_tensor_str.py`` rules.

Matched: summarisation above 1000 elements (3 edge items), 80-column wrapping, the integer /
fixed (4 decimals) / scientific choice, and the suffix order (size, dtype, grad_fn or
requires_grad). Differs: dtypes print as ``rustorch.float64``.
"""

from __future__ import annotations

import math
from typing import Any

THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80
PRECISION = 4


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
        if self.int_mode:
            if vmax / vmin > 1000.0 or vmax > 1.0e8:
                self.sci_mode = True
                widths = [len(f"{v:.{PRECISION}e}") for v in vals]
            else:
                widths = [len(f"{v:.0f}") + 1 for v in vals]
        elif vmax / vmin > 1000.0 or vmax > 1.0e8 or vmin < 1.0e-4:
            self.sci_mode = True
            widths = [len(f"{v:.{PRECISION}e}") for v in vals]
        else:
            widths = [len(f"{v:.{PRECISION}f}") for v in vals]
        self.max_width = max([self.max_width, *widths])

    def format(self, value: Any) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{PRECISION}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{PRECISION}f}"
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
    n = t.shape[0]
    idx = list(range(n)) if n <= 2 * EDGEITEMS else [*range(EDGEITEMS), *range(n - EDGEITEMS, n)]
    if t.dim() == 1:
        return [t[i].item() for i in idx]
    out: list[Any] = []
    for i in idx:
        out.extend(_summarized(t[i]))
    return out


def _vector(t: Any, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, int(math.floor((LINEWIDTH - indent) / (fmt.max_width + 2))))
    n = t.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        data = [fmt.format(v) for v in t[:EDGEITEMS].tolist()] + [" ..."]
        data += [fmt.format(v) for v in t[n - EDGEITEMS :].tolist()]
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
    n = t.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        rows = [_tensor(t[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)]
        rows += ["..."] + [
            _tensor(t[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)
        ]
    else:
        rows = [_tensor(t[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (d - 1) + " " * (indent + 1)).join(rows) + "]"


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    last = len(text) - text.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            parts.append(", " + s)
            last += len(s) + 2
    parts.append(")")
    return "".join(parts)


def _str(t: Any) -> str:
    """PyTorch's ``repr`` of a tensor."""
    prefix = "tensor("
    indent = len(prefix)
    suffixes: list[str] = []
    dtype = t.dtype
    name = repr(dtype).split(".")[-1]
    default = name in ("float32", "int64", "bool")
    if t.numel() == 0:
        if t.dim() != 1:
            suffixes.append("size=" + str(tuple(t.shape)))
        if name != "float32":
            suffixes.append("dtype=" + repr(dtype))
        body = "[]"
    else:
        if not default:
            suffixes.append("dtype=" + repr(dtype))
        x = t.detach()
        summarize = x.numel() > THRESHOLD
        values = _summarized(x) if summarize else _flat(x.tolist())
        fmt = _Formatter(values, dtype.is_floating_point)
        body = _tensor(x, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
