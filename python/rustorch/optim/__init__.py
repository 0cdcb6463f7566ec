"""Optimization algorithms and learning-rate schedulers (``torch.optim``)."""

from rustorch.optim import lr_scheduler
from rustorch.optim.adagrad import Adagrad
from rustorch.optim.adam import Adam
from rustorch.optim.adamw import AdamW
from rustorch.optim.optimizer import Optimizer
from rustorch.optim.rmsprop import RMSprop
from rustorch.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
