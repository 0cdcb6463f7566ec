"""``nn.DataParallel`` on one device."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ..modules.module import Module


class DataParallel(Module):
    """Runs ``module`` on its one device (``torch.nn.DataParallel`` with a single device):
    outputs, gradients and the ``module.``-prefixed state dict are those of the plain
    module. Replicating over several GPUs in one process is not supported: PyTorch itself
    recommends ``DistributedDataParallel`` instead, and more than one ``device_ids`` raises
    ``NotImplementedError``."""

    def __init__(
        self,
        module: Module,
        device_ids: Optional[Sequence[Any]] = None,
        output_device: Any = None,
        dim: int = 0,
    ) -> None:
        super().__init__()
        if device_ids is not None and len(device_ids) > 1:
            raise NotImplementedError(
                "DataParallel over several devices is not supported; use "
                "nn.parallel.DistributedDataParallel with one process per device"
            )
        self.module = module
        self.device_ids = list(device_ids) if device_ids is not None else []
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)
