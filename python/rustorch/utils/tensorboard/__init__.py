"""``torch.utils.tensorboard`` for rustorch: :class:`SummaryWriter` writes TensorBoard event
files itself (no ``tensorboard`` or ``protobuf`` needed); see :mod:`.writer`."""

from .writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "SummaryWriter"]
