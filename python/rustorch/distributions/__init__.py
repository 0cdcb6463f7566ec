"""``rustorch.distributions``: probability distributions with PyTorch's API.

``import rustorch as torch`` then ``torch.distributions.Normal(...)`` etc., with the same
module paths as PyTorch (``torch.distributions.normal.Normal``, ...), shapes, validation
(on by default; ``Distribution.set_default_validate_args``) and errors. Everything is built
from rustorch tensor ops; see each module's docstring for where sampling or linear algebra
differs from PyTorch's kernels. Not provided: transforms and ``TransformedDistribution``,
``MixtureSameFamily``, the relaxed / straight-through distributions, and most
cross-family KL pairs.
"""

from . import constraints, kl
from .bernoulli import Bernoulli
from .beta import Beta
from .binomial import Binomial
from .categorical import Categorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .exponential import Exponential
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .multinomial import Multinomial
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .poisson import Poisson
from .uniform import Uniform

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Dirichlet",
    "Distribution",
    "Exponential",
    "ExponentialFamily",
    "Gamma",
    "Independent",
    "Multinomial",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "Poisson",
    "Uniform",
    "constraints",
    "kl_divergence",
    "register_kl",
]
