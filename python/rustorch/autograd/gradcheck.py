"""Finite-difference gradient checks (``torch.autograd.gradcheck``/``gradgradcheck``).

Central differences in float64 on every input element, compared with the analytical
vector-Jacobian products from the engine, column by column of the Jacobian. As PyTorch's,
it runs ``func`` on the inputs' device (a GPU too); the Jacobians are compared on the host.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import _C


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _host(t: Any) -> np.ndarray:
    """A tensor's values as a flat float64 NumPy array (copied to the host from a GPU)."""
    return t.detach().cpu().numpy().astype(np.float64).ravel()


def _differentiable(inputs: Sequence[Any]) -> list[int]:
    return [i for i, t in enumerate(inputs) if isinstance(t, _C.Tensor) and t.requires_grad]


def _numerical_jacobian(
    fn: Callable[..., Any], inputs: tuple[Any, ...], eps: float
) -> list[list[np.ndarray]]:
    """jac[i][k]: d out_k / d input_i as a (numel_in, numel_out) array."""
    from .grad_mode import no_grad

    outs0 = [_host(o) for o in _as_tuple(fn(*inputs))]
    jac: list[list[np.ndarray]] = []
    for i in _differentiable(inputs):
        x = inputs[i]
        flat = x.detach().reshape(-1)
        cols = [np.zeros((x.numel(), o.size)) for o in outs0]
        for j in range(x.numel()):
            # Perturb under no_grad, evaluate with recording on (fn may itself differentiate).
            with no_grad():
                orig = flat[j].item()
                flat[j] = orig + eps
            plus = [_host(o) for o in _as_tuple(fn(*inputs))]
            with no_grad():
                flat[j] = orig - eps
            minus = [_host(o) for o in _as_tuple(fn(*inputs))]
            with no_grad():
                flat[j] = orig
            for k in range(len(outs0)):
                cols[k][j] = (plus[k] - minus[k]) / (2 * eps)
        jac.append(cols)
    return jac


def _analytical_jacobian(fn: Callable[..., Any], inputs: tuple[Any, ...]) -> list[list[np.ndarray]]:
    outs = _as_tuple(fn(*inputs))
    diff = [inputs[i] for i in _differentiable(inputs)]
    jac = [[np.zeros((t.numel(), o.numel())) for o in outs] for t in diff]
    for k, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for m in range(o.numel()):
            g = _C.zeros(o.numel(), dtype=o.dtype, device=o.device)
            g[m] = 1.0
            grads = _C.grad([o], diff, [g.reshape(o.shape)], retain_graph=True, allow_unused=True)
            for i, gi in enumerate(grads):
                if gi is not None:
                    jac[i][k][:, m] = _host(gi)
    return jac


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    **kwargs: Any,
) -> bool:
    """True when analytical and numerical Jacobians agree; raises (like PyTorch's
    ``GradcheckError``, a ``RuntimeError``) otherwise when ``raise_exception``."""
    inputs = _as_tuple(inputs)
    num = _numerical_jacobian(func, inputs, eps)
    ana = _analytical_jacobian(func, inputs)
    for i, (n_cols, a_cols) in enumerate(zip(num, ana)):
        for k, (n, a) in enumerate(zip(n_cols, a_cols)):
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                if raise_exception:
                    raise RuntimeError(
                        f"Jacobian mismatch for output {k} with respect to input {i},\n"
                        f"numerical:{n}\nanalytical:{a}\n"
                    )
                return False
    return True


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    **kwargs: Any,
) -> bool:
    """Checks second derivatives: gradcheck of the function mapping inputs to the
    (create_graph) gradients of ``func`` against fixed random upstream gradients."""
    inputs = _as_tuple(inputs)
    outs = _as_tuple(func(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            _C.tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device) for o in outs
        )
    grad_outputs = _as_tuple(grad_outputs)
    diff_idx = _differentiable(inputs)

    def first_grads(*xs: Any) -> Any:
        o = _as_tuple(func(*xs))
        diff = [xs[i] for i in diff_idx]
        gs = _C.grad(list(o), diff, list(grad_outputs), create_graph=True, allow_unused=True)
        return tuple(g if g is not None else _C.zeros_like(d) for g, d in zip(gs, diff))

    return gradcheck(
        first_grads, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception
    )
