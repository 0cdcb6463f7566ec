"""``torch.version``: the package version and the CUDA version the CUDA backend targets
(the Python extension always includes the backend; it finds CUDA at run time)."""

from __future__ import annotations

from typing import Optional

__version__ = "0.1.0"
# The CUDA backend loads the CUDA 13 driver API and NVRTC at run time (src/cuda/loader.rs).
cuda: Optional[str] = "13.0"
hip: Optional[str] = None
debug = False
git_version = "unknown"
