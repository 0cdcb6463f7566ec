"""Building blocks used by the models here: ``Conv2dNormActivation`` (defined in
:mod:`rustorch.vision.ops.misc`, as ``torchvision.ops.misc``) and ``_make_divisible``
(``torchvision.models._utils._make_divisible``).
"""

from __future__ import annotations

from typing import Optional

from ..ops.misc import Conv2dNormActivation

__all__ = ["Conv2dNormActivation"]


def _make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """Round ``v`` to a multiple of ``divisor`` without going down by more than 10% (from
    the TensorFlow MobileNet code, as torchvision)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v
