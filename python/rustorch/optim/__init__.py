"""Optimization algorithms and learning-rate schedulers (``torch.optim``)."""

from rustorch.optim import lr_scheduler
from rustorch.optim.adadelta import Adadelta
from rustorch.optim.adagrad import Adagrad
from rustorch.optim.adam import Adam
from rustorch.optim.adamax import Adamax
from rustorch.optim.adamw import AdamW
from rustorch.optim.asgd import ASGD
from rustorch.optim.lbfgs import LBFGS
from rustorch.optim.nadam import NAdam
from rustorch.optim.optimizer import Optimizer
from rustorch.optim.radam import RAdam
from rustorch.optim.rmsprop import RMSprop
from rustorch.optim.rprop import Rprop
from rustorch.optim.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "ASGD",
    "Rprop",
    "LBFGS",
    "lr_scheduler",
]
