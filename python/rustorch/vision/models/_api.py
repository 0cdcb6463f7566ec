"""Pretrained-weight descriptions and the model registry, as ``torchvision.models._api``.

* :class:`Weights` / :class:`WeightsEnum`: the same dataclass and enum base as torchvision
  (``ResNet18_Weights.IMAGENET1K_V1.url``, ``.transforms``, ``.meta``, ``DEFAULT`` alias,
  ``verify`` accepting a member, its name or ``"ResNet18_Weights.IMAGENET1K_V1"``).
* :func:`register_model`, :func:`list_models`, :func:`get_model`, :func:`get_model_builder`,
  :func:`get_model_weights`, :func:`get_weight`: the torchvision registry functions.
* :func:`load_state_dict_from_url`: like ``torch.hub.load_state_dict_from_url`` it looks
  for ``<hub dir>/checkpoints/<file name of the url>`` (hub dir: ``$TORCH_HOME/hub``,
  ``TORCH_HOME`` defaulting to ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``), but it
  never downloads: a missing file raises ``RuntimeError`` naming the path to put it at. The
  file may be a PyTorch checkpoint (zip or legacy layout) or a safetensors file, read by
  :func:`rustorch.load` (``weights_only``: no code from the file runs). As with torch.hub,
  a file already in the cache is not hash-checked.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import warnings
from dataclasses import dataclass
from enum import Enum
from functools import partial
from inspect import signature
from types import ModuleType
from typing import Any, Callable, Optional, TypeVar, Union, get_args, get_type_hints
from urllib.parse import urlparse

from rustorch.nn import Module

__all__ = [
    "Weights",
    "WeightsEnum",
    "register_model",
    "list_models",
    "get_model",
    "get_model_builder",
    "get_model_weights",
    "get_weight",
    "load_state_dict_from_url",
    "get_hub_dir",
]


@dataclass
class Weights:
    """The attributes of one set of pretrained weights (torchvision's ``Weights``).

    Args:
        url: where torchvision downloads the file from; here only its file name is used, to
            find the file in the hub cache.
        transforms: a callable constructing the evaluation preprocessing (a
            ``functools.partial`` of :class:`~rustorch.vision.models._presets.ImageClassification`).
        meta: ``categories`` (class names, or ``None``), ``num_params``, ``min_size``,
            ``recipe`` and ``_metrics`` as in torchvision.
    """

    url: str
    transforms: Callable
    meta: dict[str, Any]

    def __eq__(self, other: Any) -> bool:
        # as torchvision: partials compare by content, so deep copies equal the members
        if not isinstance(other, Weights):
            return NotImplemented
        if self.url != other.url or self.meta != other.meta:
            return False
        if isinstance(self.transforms, partial) and isinstance(other.transforms, partial):
            return (
                self.transforms.func == other.transforms.func
                and self.transforms.args == other.transforms.args
                and self.transforms.keywords == other.transforms.keywords
            )
        return self.transforms == other.transforms

    __hash__ = None  # type: ignore[assignment]


class WeightsEnum(Enum):
    """Base of every ``*_Weights`` enum; members are :class:`Weights` (torchvision's
    ``WeightsEnum``)."""

    @classmethod
    def verify(cls, obj: Any) -> Any:
        """``None``, a member of this enum, or its name (optionally prefixed by the enum's
        name, ``"ResNet18_Weights.DEFAULT"``) -> the member; anything else raises."""
        if obj is not None:
            if type(obj) is str:
                key = obj.replace(cls.__name__ + ".", "")
                try:
                    obj = cls[key]
                except KeyError:
                    raise ValueError(
                        f"Unknown weights '{obj}' for {cls.__name__}; choose one of "
                        f"{', '.join(cls.__members__)}"
                    ) from None
            elif not isinstance(obj, cls):
                raise TypeError(
                    f"Invalid Weight class provided; expected {cls.__name__} but received "
                    f"{obj.__class__.__name__}."
                )
        return obj

    def get_state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The state dict of these weights, from the hub cache (see
        :func:`load_state_dict_from_url`; nothing is downloaded)."""
        return load_state_dict_from_url(self.url, *args, **kwargs)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}.{self._name_}"

    @property
    def url(self) -> str:
        return self.value.url

    @property
    def transforms(self) -> Callable:
        return self.value.transforms

    @property
    def meta(self) -> dict[str, Any]:
        return self.value.meta


# ---------------------------------------------------------------------- hub cache


def get_hub_dir() -> str:
    """``torch.hub.get_dir()``: ``$TORCH_HOME/hub``, where ``TORCH_HOME`` defaults to
    ``$XDG_CACHE_HOME/torch`` (``XDG_CACHE_HOME`` defaulting to ``~/.cache``)."""
    torch_home = os.path.expanduser(
        os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    )
    return os.path.join(torch_home, "hub")


def load_state_dict_from_url(
    url: str,
    model_dir: Optional[str] = None,
    map_location: Any = None,
    progress: bool = True,
    check_hash: bool = False,
    file_name: Optional[str] = None,
    weights_only: bool = True,
) -> dict[str, Any]:
    """Load the state dict that ``torch.hub.load_state_dict_from_url(url)`` would, from the
    local cache only.

    The file is ``<model_dir>/<file_name>``; ``model_dir`` defaults to
    ``<get_hub_dir()>/checkpoints`` and ``file_name`` to the last component of the url's
    path. Differences from torch.hub: nothing is downloaded (a missing file raises
    ``RuntimeError`` naming the expected path), ``progress``/``check_hash``/``weights_only``
    are accepted and have no effect (PyTorch checkpoints are always read without running
    code), and ``map_location`` is applied by moving the loaded tensors.
    """
    if model_dir is None:
        model_dir = os.path.join(get_hub_dir(), "checkpoints")
    filename = file_name or os.path.basename(urlparse(url).path)
    cached_file = os.path.join(model_dir, filename)
    if not os.path.isfile(cached_file):
        raise RuntimeError(
            f"load_state_dict_from_url: pretrained weights file not found: {cached_file}. "
            "rustorch downloads nothing; fetch it yourself from "
            f"{url} and place it at that path (the directory is $TORCH_HOME/hub/checkpoints, "
            "TORCH_HOME defaulting to ~/.cache/torch)."
        )
    return _load_checkpoint_file(cached_file, map_location)


def _load_checkpoint_file(path: str, map_location: Any = None) -> dict[str, Any]:
    import rustorch

    obj = rustorch.load(path, map_location=map_location)
    if not isinstance(obj, dict):
        raise RuntimeError(
            f"load_state_dict_from_url: {path} holds a {type(obj).__name__}, not a state dict"
        )
    return obj


# ---------------------------------------------------------------------- legacy arguments


def _ovewrite_named_param(kwargs: dict[str, Any], param: str, new_value: Any) -> None:
    """torchvision's helper (name kept): set ``kwargs[param]``, or check that a value the
    caller gave equals what the weights need."""
    if param in kwargs:
        if kwargs[param] != new_value:
            raise ValueError(
                f"The parameter '{param}' expected value {new_value} but got {kwargs[param]} "
                "instead."
            )
    else:
        kwargs[param] = new_value


F = TypeVar("F", bound=Callable[..., Any])


def handle_legacy_interface(**weights: tuple[str, Any]) -> Callable[[F], F]:
    """torchvision's decorator for the deprecated ``pretrained=`` keyword.

    ``pretrained=True`` becomes ``weights=<the legacy default>`` (as torchvision: the
    ``IMAGENET1K_V1`` weights, which for ResNet-50/101/152 and MobileNetV2 are *not*
    ``DEFAULT``), ``pretrained=False`` becomes ``weights=None``; both emit torchvision's
    ``UserWarning``s. A positional first argument is read as ``weights`` (torchvision maps
    a positional ``pretrained`` likewise, warning about it).
    """

    def outer(builder: F) -> F:
        @functools.wraps(builder)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if args:
                warnings.warn(
                    "Using 'weights' as positional parameter(s) is deprecated since 0.13 and may "
                    "be removed in the future. Please use keyword parameter(s) instead.",
                    UserWarning,
                    stacklevel=2,
                )
                if len(args) > 2:
                    raise TypeError(
                        f"{builder.__name__}() takes at most 2 positional arguments "
                        f"(weights, progress) but {len(args)} were given"
                    )
                names = ("weights", "progress")
                for n, v in zip(names, args):
                    if n in kwargs:
                        raise TypeError(f"{builder.__name__}() got multiple values for '{n}'")
                    kwargs[n] = v
                args = ()
            for weights_param, (pretrained_param, default) in weights.items():
                sentinel = object()
                weights_arg = kwargs.get(weights_param, sentinel)
                if (
                    (weights_param not in kwargs and pretrained_param not in kwargs)
                    or isinstance(weights_arg, WeightsEnum)
                    or (isinstance(weights_arg, str) and weights_arg != "legacy")
                    or weights_arg is None
                ):
                    continue
                pretrained_positional = weights_arg is not sentinel
                if pretrained_positional:
                    kwargs[pretrained_param] = pretrained_arg = kwargs.pop(weights_param)
                else:
                    pretrained_arg = kwargs[pretrained_param]
                if pretrained_arg:
                    default_weights_arg = default(kwargs) if callable(default) else default
                    if not isinstance(default_weights_arg, WeightsEnum):
                        raise ValueError(f"No weights available for model {builder.__name__}")
                else:
                    default_weights_arg = None
                if not pretrained_positional:
                    warnings.warn(
                        f"The parameter '{pretrained_param}' is deprecated since 0.13 and may "
                        f"be removed in the future, please use '{weights_param}' instead.",
                        UserWarning,
                        stacklevel=2,
                    )
                msg = (
                    f"Arguments other than a weight enum or `None` for '{weights_param}' are "
                    "deprecated since 0.13 and may be removed in the future. The current "
                    f"behavior is equivalent to passing `{weights_param}={default_weights_arg}`."
                )
                if pretrained_arg:
                    msg = (
                        f"{msg} You can also use `{weights_param}="
                        f"{type(default_weights_arg).__name__}.DEFAULT` to get the most "
                        "up-to-date weights."
                    )
                warnings.warn(msg, UserWarning, stacklevel=2)
                del kwargs[pretrained_param]
                kwargs[weights_param] = default_weights_arg
            return builder(**kwargs)

        return inner  # type: ignore[return-value]

    return outer


# ---------------------------------------------------------------------- registry

M = TypeVar("M", bound=Module)

BUILTIN_MODELS: dict[str, Callable[..., Module]] = {}


def register_model(name: Optional[str] = None) -> Callable[[F], F]:
    """Decorator adding a model builder to the registry under ``name`` (default: its
    function name)."""

    def wrapper(fn: F) -> F:
        key = name if name is not None else fn.__name__
        if key in BUILTIN_MODELS:
            raise ValueError(f"An entry is already registered under the name '{key}'.")
        BUILTIN_MODELS[key] = fn
        return fn

    return wrapper


def list_models(
    module: Optional[ModuleType] = None,
    include: Union[str, list[str], None] = None,
    exclude: Union[str, list[str], None] = None,
) -> list[str]:
    """Sorted names of the registered models, optionally only those of ``module`` and
    filtered by ``fnmatch`` patterns ``include``/``exclude`` (torchvision's
    ``list_models``)."""
    all_models = {
        k for k, v in BUILTIN_MODELS.items()
        if module is None or v.__module__.rsplit(".", 1)[0] == module.__name__
        or v.__module__ == module.__name__
    }
    if include:
        models: set[str] = set()
        for pattern in [include] if isinstance(include, str) else include:
            models |= set(fnmatch.filter(all_models, pattern))
    else:
        models = all_models
    if exclude:
        for pattern in [exclude] if isinstance(exclude, str) else exclude:
            models -= set(fnmatch.filter(all_models, pattern))
    return sorted(models)


def get_model_builder(name: str) -> Callable[..., Module]:
    """The builder function registered under ``name`` (case-insensitive)."""
    key = name.lower()
    try:
        return BUILTIN_MODELS[key]
    except KeyError:
        raise ValueError(
            f"get_model_builder: unknown model '{name}'; available: "
            f"{', '.join(sorted(BUILTIN_MODELS))}"
        ) from None


def get_model(name: str, **config: Any) -> Module:
    """Build the registered model ``name`` with the builder's keyword arguments, e.g.
    ``get_model("resnet18", num_classes=10)``."""
    return get_model_builder(name)(**config)


def get_model_weights(name: Union[Callable, str]) -> type[WeightsEnum]:
    """The ``*_Weights`` enum of a model builder or registered model name."""
    fn = get_model_builder(name) if isinstance(name, str) else name
    target = getattr(fn, "__wrapped__", fn)
    sig = signature(target)
    if "weights" not in sig.parameters:
        raise ValueError("The method is missing the 'weights' argument.")
    ann = get_type_hints(target).get("weights", sig.parameters["weights"].annotation)
    if isinstance(ann, type) and issubclass(ann, WeightsEnum):
        return ann
    for t in get_args(ann):
        if isinstance(t, type) and issubclass(t, WeightsEnum):
            return t
    raise ValueError(
        "The WeightsEnum class for the specific method couldn't be retrieved. Make sure the "
        "typing info is correct."
    )


def get_weight(name: str) -> WeightsEnum:
    """The weights member named ``"<Enum>.<member>"``, e.g.
    ``get_weight("ResNet50_Weights.IMAGENET1K_V2")``."""
    try:
        enum_name, value_name = name.split(".")
    except ValueError:
        raise ValueError(f"Invalid weight name provided: '{name}'.") from None
    from rustorch.vision import models

    # as torchvision: the enums of the models package and of its sub-packages (detection)
    namespaces = [models.__dict__] + [
        m.__dict__ for m in models.__dict__.values()
        if isinstance(m, ModuleType) and m.__name__.startswith(models.__name__ + ".")
        and getattr(m, "__file__", "").endswith("__init__.py")
    ]
    enum = next((ns[enum_name] for ns in namespaces if enum_name in ns), None)
    if not (isinstance(enum, type) and issubclass(enum, WeightsEnum)):
        raise ValueError(
            f"The weight enum '{enum_name}' for the specific method couldn't be retrieved."
        )
    try:
        return enum[value_name]
    except KeyError:
        raise ValueError(f"Unknown value '{value_name}' for {enum_name}.") from None
