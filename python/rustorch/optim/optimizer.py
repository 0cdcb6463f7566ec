"""The optimizer base class, matching ``torch.optim.Optimizer``."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain
from typing import Any, Callable, Iterable, Optional, Union

import rustorch
from rustorch import Tensor
from rustorch.nn.parameter import is_lazy
from rustorch.utils._misc import is_floating, typename
from rustorch.utils.hooks import RemovableHandle

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Singleton class representing a required parameter for an Optimizer."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

ParamsT = Union[Iterable[Tensor], Iterable[dict[str, Any]], Iterable[tuple[str, Tensor]]]


def _enable_grad() -> Any:
    enable_grad = getattr(rustorch, "enable_grad", None)
    return enable_grad() if enable_grad is not None else contextlib.nullcontext()


# Set by ``rustorch.profiler`` while a profiler records (None otherwise): a callable
# ``(name, args) -> context manager`` wrapped around each outer ``step`` call, named
# ``Optimizer.step#SGD.step`` as PyTorch's profiler names it.
_profiler_range: Callable[[str, tuple], Any] | None = None


def _step_wrapper(func: Callable[..., Any], no_grad: bool) -> Callable[..., Any]:
    """Wrap an optimizer's ``step``: run the step pre/post hooks around it and, for the
    built-in optimizers, run the update under ``no_grad`` (PyTorch's
    ``_use_grad_for_differentiable``). A ``step`` reached through ``super().step()`` from an
    outer wrapped ``step`` runs bare, so hooks fire once per call."""

    @functools.wraps(func)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if self.__dict__.get("_rustorch_in_step", False):
            if no_grad:
                with rustorch.no_grad():
                    return func(self, *args, **kwargs)
            return func(self, *args, **kwargs)
        if _profiler_range is not None:
            with _profiler_range(f"Optimizer.step#{type(self).__name__}.step", ()):
                return _run(self, *args, **kwargs)
        return _run(self, *args, **kwargs)

    def _run(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        self._resolve_lazy_params()
        for pre_hook in list(self._optimizer_step_pre_hooks.values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(
                        f"{func} must return None or a tuple of (new_args, new_kwargs), "
                        f"but got {result}."
                    )
        self.__dict__["_rustorch_in_step"] = True
        try:
            if no_grad:
                with rustorch.no_grad():
                    out = func(self, *args, **kwargs)
            else:
                out = func(self, *args, **kwargs)
        finally:
            self.__dict__["_rustorch_in_step"] = False
        for post_hook in list(self._optimizer_step_post_hooks.values()):
            post_hook(self, args, kwargs)
        return out

    wrapper._is_step_wrapper = True  # type: ignore[attr-defined]
    return wrapper


class Optimizer:
    r"""Base class for all optimizers (``torch.optim.Optimizer``).

    .. warning::
        Parameters need to be specified as collections that have a deterministic
        ordering that is consistent between runs. Examples of objects that don't
        satisfy those properties are sets and iterators over values of dictionaries.

    Args:
        params (iterable): an iterable of :class:`rustorch.Tensor` s or
            :class:`dict` s. Specifies what Tensors should be optimized.
        defaults: (dict): a dict containing default values of optimization
            options (used when a parameter group doesn't specify them).

    ``param_groups``, ``defaults``, ``state`` (a ``defaultdict(dict)`` keyed by parameter),
    :meth:`state_dict` / :meth:`load_state_dict` (parameters as integer ids, PyTorch's
    format), :meth:`zero_grad` and the step hooks behave as in PyTorch. Subclasses implement
    ``step`` and are wrapped so the body runs under ``no_grad``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_is_step_wrapper", False):
            builtin = cls.__module__.startswith("rustorch.optim")
            cls.step = _step_wrapper(step, no_grad=builtin)  # type: ignore[method-assign]

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: dict[int, Callable] = OrderedDict()
        self._optimizer_step_post_hooks: dict[int, Callable] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: dict[int, Callable] = OrderedDict()
        self._optimizer_state_dict_post_hooks: dict[int, Callable] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: dict[int, Callable] = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: dict[int, Callable] = OrderedDict()

        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be "
                "an iterable of Tensors or dicts, but got " + typename(params)
            )

        self.state: defaultdict[Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]

        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "defaults": self.defaults,
            "state": self.state,
            "param_groups": self.param_groups,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in (
            "_optimizer_step_pre_hooks",
            "_optimizer_step_post_hooks",
            "_optimizer_state_dict_pre_hooks",
            "_optimizer_state_dict_post_hooks",
            "_optimizer_load_state_dict_pre_hooks",
            "_optimizer_load_state_dict_post_hooks",
        ):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            format_string += "\n"
            format_string += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    format_string += f"    {key}: {group[key]}\n"
        format_string += ")"
        return format_string

    def _resolve_lazy_params(self) -> None:
        """Replace materialised ``UninitializedParameter`` placeholders in ``param_groups``
        (and ``state``) by the parameters that replaced them in their modules.

        PyTorch materialises a lazy parameter in place, so an optimizer created before a
        lazy module's first forward already holds the real parameter; rustorch creates a new
        one (see ``rustorch.nn.parameter.UninitializedTensorMixin``), and this keeps the
        optimizer pointing at it. A no-op unless a group ever held a placeholder.
        """
        if not self.__dict__.get("_has_lazy_params", False):
            return
        remaining = False
        for group in self.param_groups:
            params = group["params"]
            for i, p in enumerate(params):
                if not is_lazy(p):
                    continue
                new = p._resolved()
                if new is not p:
                    params[i] = new
                    if p in self.state:
                        self.state[new] = self.state.pop(p)
                if is_lazy(new):
                    remaining = True
        self.__dict__["_has_lazy_params"] = remaining

    # ------------------------------------------------------------------ hooks ---------

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        r"""Register ``hook(optimizer, args, kwargs)`` called before each ``step``."""
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        r"""Register ``hook(optimizer, args, kwargs)`` called after each ``step``."""
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    def register_state_dict_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        r"""Register ``hook(optimizer)`` called before :meth:`state_dict`."""
        handle = RemovableHandle(self._optimizer_state_dict_pre_hooks)
        self._optimizer_state_dict_pre_hooks[handle.id] = hook
        if prepend:
            self._optimizer_state_dict_pre_hooks.move_to_end(handle.id, last=False)  # type: ignore[attr-defined]
        return handle

    def register_state_dict_post_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        r"""Register ``hook(optimizer, state_dict)`` called after :meth:`state_dict`."""
        handle = RemovableHandle(self._optimizer_state_dict_post_hooks)
        self._optimizer_state_dict_post_hooks[handle.id] = hook
        if prepend:
            self._optimizer_state_dict_post_hooks.move_to_end(handle.id, last=False)  # type: ignore[attr-defined]
        return handle

    def register_load_state_dict_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        r"""Register ``hook(optimizer, state_dict)`` called before :meth:`load_state_dict`."""
        handle = RemovableHandle(self._optimizer_load_state_dict_pre_hooks)
        self._optimizer_load_state_dict_pre_hooks[handle.id] = hook
        if prepend:
            self._optimizer_load_state_dict_pre_hooks.move_to_end(handle.id, last=False)  # type: ignore[attr-defined]
        return handle

    def register_load_state_dict_post_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        r"""Register ``hook(optimizer)`` called after :meth:`load_state_dict`."""
        handle = RemovableHandle(self._optimizer_load_state_dict_post_hooks)
        self._optimizer_load_state_dict_post_hooks[handle.id] = hook
        if prepend:
            self._optimizer_load_state_dict_post_hooks.move_to_end(handle.id, last=False)  # type: ignore[attr-defined]
        return handle

    # ------------------------------------------------------------------ state dict ----

    def state_dict(self) -> dict[str, Any]:
        r"""Return the state of the optimizer as a :class:`dict`, in PyTorch's format.

        ``state`` maps integer parameter ids (positions in the order the parameters appear
        across ``param_groups``) to the per-parameter state dicts; ``param_groups`` holds each
        group's options with ``params`` replaced by those ids.
        """
        self._resolve_lazy_params()
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)

        # Save order indices instead of Tensors
        param_mappings: dict[int, int] = {}
        start_index = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update(
                {
                    id(p): i
                    for i, p in enumerate(group["params"], start_index)
                    if id(p) not in param_mappings
                }
            )
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        # Remap state to use order indices as keys
        packed_state = {
            (param_mappings[id(k)] if isinstance(k, Tensor) else k): v
            for k, v in self.state.items()
        }

        state_dict = {
            "state": packed_state,
            "param_groups": param_groups,
        }

        for post_hook in self._optimizer_state_dict_post_hooks.values():
            hook_result = post_hook(self, state_dict)
            if hook_result is not None:
                state_dict = hook_result
        return state_dict

    @staticmethod
    def _process_value_according_to_param_policy(
        param: Tensor, value: Tensor, param_id: int, param_groups: list[dict[Any, Any]],
        key: Any = None,
    ) -> Tensor:
        # Floating-point state is cast to the parameter's dtype (and device); ``step`` is
        # kept as it is; other tensors only follow the device.
        if key == "step":
            return value
        if is_floating(param):
            if value.dtype != param.dtype:
                value = value.to(param.dtype)
        if str(value.device) != str(param.device):
            value = value.to(param.device)
        return value

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        r"""Load the optimizer state (an object returned by :meth:`state_dict`).

        Raises ``ValueError`` with PyTorch's messages when the number or the sizes of the
        parameter groups differ.
        """
        self._resolve_lazy_params()
        # shallow copy, to be consistent with module API
        state_dict = state_dict.copy()

        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            hook_result = pre_hook(self, state_dict)
            if hook_result is not None:
                state_dict = hook_result

        # Validate the state_dict
        groups = self.param_groups

        # Deepcopy as we write into saved_groups later to update state
        saved_groups = deepcopy(state_dict["param_groups"])

        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        param_lens = (len(g["params"]) for g in groups)
        saved_lens = (len(g["params"]) for g in saved_groups)
        if any(p_len != s_len for p_len, s_len in zip(param_lens, saved_lens)):
            raise ValueError(
                "loaded state dict contains a parameter group "
                "that doesn't match the size of optimizer's group"
            )

        # Update the state
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )

        def _cast(
            param: Tensor, value: Any, param_id: Any = None, param_groups: Any = None,
            key: Any = None,
        ) -> Any:
            r"""Make a deep copy of value, casting all tensors to device of param."""
            if isinstance(value, Tensor):
                return Optimizer._process_value_according_to_param_policy(
                    param, value, param_id, param_groups, key
                )
            elif isinstance(value, dict):
                return {
                    k: _cast(param, v, param_id=param_id, param_groups=param_groups, key=k)
                    for k, v in value.items()
                }
            elif isinstance(value, (list, tuple)):
                return type(value)(
                    _cast(param, v, param_id=param_id, param_groups=param_groups) for v in value
                )
            else:
                return value

        # Copy state assigned to params (and cast tensors to appropriate types).
        # State that is not assigned to params is copied as is (needed for
        # backward compatibility).
        state: defaultdict[Tensor, dict[Any, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(
                    param, v, param_id=k, param_groups=state_dict["param_groups"]
                )
            else:
                state[k] = v

        # Update parameter groups, setting their 'params' value
        def update_group(group: dict[str, Any], new_group: dict[str, Any]) -> dict[str, Any]:
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})

        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    # ------------------------------------------------------------------ grads & groups -

    def zero_grad(self, set_to_none: bool = True) -> None:
        r"""Reset the gradients of all optimized tensors (to ``None`` by default)."""
        self._resolve_lazy_params()
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        if grad.grad_fn is not None:
                            grad = grad.detach()
                            p.grad = grad
                        elif grad.requires_grad:
                            grad.requires_grad_(False)
                        grad.zero_()

    def step(self, closure: Optional[Callable[[], float]] = None) -> Optional[float]:
        r"""Perform a single optimization step (implemented by subclasses).

        Args:
            closure (Callable): A closure that reevaluates the model and
                returns the loss. Optional for most optimizers.
        """
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        r"""Add a param group to the :class:`Optimizer` s ``param_groups``.

        Missing options are filled from ``defaults``; a required option that is missing, a
        non-tensor or non-leaf parameter, a set of parameters, or a parameter already in
        another group raise PyTorch's errors.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")

        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. "
                "Please use a list instead."
            )
        else:
            param_group["params"] = list(params)

        extracted_param_tensors = []
        extracted_param_names = []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                param_name = param[0]
                extracted_param_names.append(param_name)
                extracted_param_tensors.append(param[1])
            else:
                extracted_param_tensors.append(param)

        param_group["params"] = extracted_param_tensors
        if len(extracted_param_names) != 0:
            if len(extracted_param_names) == len(extracted_param_tensors):
                param_group["param_names"] = extracted_param_names
            else:
                raise ValueError(
                    "all optimizer params should be with/without names. "
                    "Some param names are missing"
                )

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, "
                    "but one of the params is " + typename(param)
                )
            if not self.defaults.get("differentiable", None) and not (
                param.is_leaf or getattr(param, "retains_grad", False)
            ):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required "
                    f"optimization parameter {name}"
                )
            else:
                param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )

        param_set: set[int] = set()
        for group in self.param_groups:
            param_set.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                current_group_txt = (
                    "with names" if "param_names" in param_group else "without names"
                )
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {current_group_txt} to the optimizer"
                )

        if not param_set.isdisjoint({id(p) for p in param_group["params"]}):
            raise ValueError("some parameters appear in more than one parameter group")

        self.param_groups.append(param_group)
        if any(is_lazy(p) for p in param_group["params"]):
            self.__dict__["_has_lazy_params"] = True


def _get_scalar_value(x: Any) -> float:
    """``step`` may be a 0-dim tensor (PyTorch's format) or a Python number."""
    if isinstance(x, Tensor):
        return x.item()
    return x
