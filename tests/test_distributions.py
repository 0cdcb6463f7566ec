"""``distributions``: values (log_prob, cdf/icdf, entropy, moments), shapes, pathwise
gradients, KL divergences and validation errors against ``torch.distributions``; sampling
checked by distribution (moments within a few standard errors, chi-square for discrete
laws) with fixed seeds."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from conftest import LIB_NAME, need_torch, rt, to_np, torch_or_none

if torch_or_none is not None:
    torch_or_none.set_num_threads(1)

D = importlib.import_module(f"{LIB_NAME}.distributions")  # also sets rt.distributions


def T(lib, x, requires_grad=False, dtype="float64"):
    return lib.tensor(np.asarray(x, dtype=np.float64), dtype=getattr(lib, dtype),
                      requires_grad=requires_grad)


COV = [[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 3.0]]

# name -> (constructor given the library, a value in the support)
CASES = {
    "normal": (lambda L: L.distributions.Normal(T(L, [0.0, 1.0]), T(L, [1.0, 2.0])),
               [0.3, -1.0]),
    "normal_scalar": (lambda L: L.distributions.Normal(0.5, 2.0), 0.25),
    "uniform": (lambda L: L.distributions.Uniform(T(L, [0.0, 1.0]), T(L, [1.0, 3.0])),
                [0.3, 2.0]),
    "exponential": (lambda L: L.distributions.Exponential(T(L, [0.5, 2.0])), [0.3, 2.0]),
    "bernoulli_probs": (lambda L: L.distributions.Bernoulli(T(L, [0.2, 0.7, 0.5])),
                        [0.0, 1.0, 1.0]),
    "bernoulli_logits": (lambda L: L.distributions.Bernoulli(logits=T(L, [0.2, -3.0])),
                         [0.0, 1.0]),
    "categorical_probs": (
        lambda L: L.distributions.Categorical(T(L, [[0.2, 0.3, 0.5], [1.0, 1.0, 2.0]])),
        [2.0, 0.0]),
    "categorical_logits": (
        lambda L: L.distributions.Categorical(logits=T(L, [[0.2, -1.3, 0.5], [1.0, 1.0, 2.0]])),
        [[1.0, 0.0], [2.0, 2.0]]),
    "one_hot": (
        lambda L: L.distributions.OneHotCategorical(T(L, [[0.2, 0.3, 0.5], [1.0, 1.0, 2.0]])),
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
    "multinomial": (
        lambda L: L.distributions.Multinomial(5, T(L, [[0.2, 0.3, 0.5], [1.0, 1.0, 2.0]])),
        [[0.0, 2.0, 3.0], [5.0, 0.0, 0.0]]),
    "multinomial_logits": (
        lambda L: L.distributions.Multinomial(4, logits=T(L, [0.1, -2.0, 0.7, 1.0])),
        [1.0, 0.0, 2.0, 1.0]),
    "binomial": (lambda L: L.distributions.Binomial(T(L, [5.0, 10.0]), T(L, [0.2, 0.9])),
                 [3.0, 7.0]),
    "binomial_logits": (lambda L: L.distributions.Binomial(8, logits=T(L, [0.3, -2.0])),
                        [8.0, 0.0]),
    "poisson": (lambda L: L.distributions.Poisson(T(L, [0.5, 20.0, 3.0])), [0.0, 17.0, 5.0]),
    "mvn_cov": (lambda L: L.distributions.MultivariateNormal(
        T(L, [0.0, 1.0, 2.0]), covariance_matrix=T(L, COV)), [[0.3, 0.1, -1.0], [1, 1, 1]]),
    "mvn_prec": (lambda L: L.distributions.MultivariateNormal(
        T(L, [[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]]), precision_matrix=T(L, COV)),
        [0.3, 0.1, -1.0]),
    "mvn_tril": (lambda L: L.distributions.MultivariateNormal(
        T(L, [0.0, 1.0]), scale_tril=T(L, [[[1.5, 0.0], [0.3, 0.7]], [[1.0, 0.0], [-2.0, 3.0]]])),
        [[0.3, 0.1]]),
    "gamma": (lambda L: L.distributions.Gamma(T(L, [0.5, 3.0]), T(L, [1.0, 2.0])), [0.3, 2.0]),
    "beta": (lambda L: L.distributions.Beta(T(L, [0.5, 3.0]), T(L, [1.0, 2.0])), [0.3, 0.9]),
    "dirichlet": (lambda L: L.distributions.Dirichlet(T(L, [[0.5, 3.0, 1.0], [2.0, 2.0, 2.0]])),
                  [[0.3, 0.2, 0.5], [0.1, 0.1, 0.8]]),
    "independent": (lambda L: L.distributions.Independent(
        L.distributions.Normal(T(L, [[0.0, 1.0]]), T(L, [[1.0, 2.0]])), 1), [0.3, -1.0]),
}


def close(a, b, rtol=1e-7, atol=1e-9, msg=""):
    a, b = to_np(a), to_np(b)
    assert a.shape == b.shape, f"{msg}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=msg)


def msg_of(exc):
    return str(exc.value).replace(LIB_NAME + ".", "torch.")


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_shapes_match_torch(name):
    torch = need_torch()
    make, value = CASES[name]
    ours, theirs = make(rt), make(torch)
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    assert tuple(ours.event_shape) == tuple(theirs.event_shape)
    assert repr(ours).replace(LIB_NAME + ".", "torch.") == repr(theirs)
    assert ours.has_rsample == theirs.has_rsample
    assert ours.has_enumerate_support == theirs.has_enumerate_support
    close(ours.log_prob(T(rt, value)), theirs.log_prob(T(torch, value)), msg="log_prob")
    for attr in ("mean", "variance", "stddev", "mode"):
        try:
            expected = getattr(theirs, attr)
        except NotImplementedError:
            continue
        got = getattr(ours, attr)
        assert rt.is_floating_point(got) == torch.is_floating_point(expected), attr
        close(got, expected, msg=attr)
    try:
        expected = theirs.entropy()
    except NotImplementedError:
        expected = None
    if expected is not None:
        close(ours.entropy(), expected, msg="entropy")
    for shape in ((), (5,), (2, 3)):
        s_ours, s_theirs = ours.sample(shape), theirs.sample(shape)
        assert tuple(s_ours.shape) == tuple(s_theirs.shape)
        assert str(s_ours.dtype).replace(LIB_NAME, "torch") == str(s_theirs.dtype)
        assert not s_ours.requires_grad
    expanded = ours.expand((4,) + tuple(ours.batch_shape))
    assert tuple(expanded.batch_shape) == (4,) + tuple(ours.batch_shape)
    assert tuple(expanded.sample((2,)).shape) == tuple(
        theirs.expand((4,) + tuple(theirs.batch_shape)).sample((2,)).shape)
    if np.ndim(value) <= len(ours.batch_shape) + len(ours.event_shape):  # no sample dims
        close(expanded.log_prob(T(rt, value)),
              theirs.expand((4,) + tuple(theirs.batch_shape)).log_prob(T(torch, value)))


def test_float32_parameters_keep_their_dtype():
    n = D.Normal(rt.tensor([0.0, 1.0]), 2.0)
    assert n.scale.dtype == rt.float32 and n.sample((3,)).dtype == rt.float32
    assert n.log_prob(rt.tensor([0.5, 0.5])).dtype == rt.float32
    assert D.Poisson(rt.tensor([2.0])).sample().dtype == rt.float32
    assert D.Binomial(3, rt.tensor([0.5])).sample().dtype == rt.float32
    assert D.Categorical(rt.tensor([0.5, 0.5])).sample().dtype == rt.int64
    assert D.Normal(0.0, 1.0).loc.dtype == rt.get_default_dtype()


@pytest.mark.parametrize("name", ["normal", "uniform", "exponential"])
def test_cdf_icdf_match_torch(name):
    torch = need_torch()
    make, value = CASES[name]
    ours, theirs = make(rt), make(torch)
    close(ours.cdf(T(rt, value)), theirs.cdf(T(torch, value)), msg="cdf")
    q = [[0.01, 0.5], [0.9, 0.999]]
    close(ours.icdf(T(rt, q)), theirs.icdf(T(torch, q)), rtol=1e-9, msg="icdf")


def test_normal_icdf_float32_and_gradient():
    torch = need_torch()
    q = [1e-6, 0.02, 0.3, 0.5, 0.8, 0.999999]
    close(D.Normal(0.0, 1.0).icdf(T(rt, q, dtype="float32")),
          torch.distributions.Normal(0.0, 1.0).icdf(T(torch, q, dtype="float32")), rtol=2e-6)
    for lib in (rt, torch):
        x = T(lib, q, requires_grad=True)
        lib.distributions.Normal(1.0, 2.0).icdf(x).sum().backward()
        if lib is rt:
            ours = x.grad
        else:
            close(ours, x.grad, rtol=1e-8, msg="d icdf")


def test_enumerate_support_matches_torch():
    torch = need_torch()
    for name in ("bernoulli_probs", "categorical_probs", "one_hot", "binomial_logits"):
        make, _ = CASES[name]
        for expand in (True, False):
            close(make(rt).enumerate_support(expand), make(torch).enumerate_support(expand),
                  msg=name)
    # Binomial with one total_count: entropy enumerates the support.
    make = lambda L: L.distributions.Binomial(6, T(L, [0.1, 0.5, 0.97]))  # noqa: E731
    close(make(rt).entropy(), make(torch).entropy())


def test_log_prob_and_entropy_gradients_match_torch():
    torch = need_torch()

    def grads(lib):
        loc = T(lib, [0.2, -1.0], requires_grad=True)
        scale = T(lib, [0.7, 1.5], requires_grad=True)
        logits = T(lib, [[0.1, 0.5, -0.3], [1.0, 0.0, 0.0]], requires_grad=True)
        probs = T(lib, [0.3, 0.8], requires_grad=True)
        rate = T(lib, [2.5, 0.4], requires_grad=True)
        tril = T(lib, [[1.5, 0.0], [0.3, 0.7]], requires_grad=True)
        d = lib.distributions
        total = (d.Normal(loc, scale).log_prob(T(lib, [0.0, 1.0])).sum()
                 + d.Normal(loc, scale).entropy().sum()
                 + d.Categorical(logits=logits).log_prob(T(lib, [2.0, 1.0])).sum()
                 + d.Categorical(logits=logits).entropy().sum()
                 + d.Bernoulli(probs).log_prob(T(lib, [1.0, 0.0])).sum()
                 + d.Binomial(7, probs).log_prob(T(lib, [3.0, 6.0])).sum()
                 + d.Poisson(rate).log_prob(T(lib, [3.0, 0.0])).sum()
                 + d.MultivariateNormal(loc, scale_tril=tril).log_prob(T(lib, [0.5, 0.5]))
                 + d.Gamma(rate, scale).log_prob(T(lib, [0.5, 2.0])).sum()
                 + d.Gamma(rate, scale).entropy().sum()
                 + d.Beta(rate, scale).log_prob(T(lib, [0.5, 0.2])).sum()
                 + d.Dirichlet(rate.exp()).entropy())
        total.backward()
        return [t.grad for t in (loc, scale, logits, probs, rate, tril)]

    for a, b in zip(grads(rt), grads(torch)):
        close(a, b, rtol=1e-7)


def test_rsample_is_pathwise():
    rt.manual_seed(0)
    loc = T(rt, [0.5, -2.0], requires_grad=True)
    scale = T(rt, [1.0, 3.0], requires_grad=True)
    x = D.Normal(loc, scale).rsample((1000,))
    assert x.requires_grad and tuple(x.shape) == (1000, 2)
    x.mean(0).sum().backward()
    close(loc.grad, [1.0, 1.0])  # d mean(loc + eps * scale) / d loc
    eps = (x.detach() - loc.detach()) / scale.detach()
    close(scale.grad, eps.mean(0))
    # Uniform: d/dlow (low + u (high - low)) = 1 - u.
    low = T(rt, 0.0, requires_grad=True)
    high = T(rt, 2.0, requires_grad=True)
    u = D.Uniform(low, high).rsample((500,))
    u.sum().backward()
    close(low.grad + high.grad, 500.0)
    # MultivariateNormal: loc + L eps.
    mloc = T(rt, [1.0, 2.0], requires_grad=True)
    tril = T(rt, [[2.0, 0.0], [0.5, 1.0]], requires_grad=True)
    s = D.MultivariateNormal(mloc, scale_tril=tril).rsample((7,))
    assert tuple(s.shape) == (7, 2)
    s.sum().backward()
    close(mloc.grad, [7.0, 7.0])
    assert tril.grad is not None
    rate = T(rt, [2.0], requires_grad=True)
    D.Exponential(rate).rsample((4,)).sum().backward()
    assert rate.grad is not None and float(rate.grad[0]) < 0
    assert not D.Normal(loc, scale).sample().requires_grad


@pytest.mark.parametrize("pair", ["normal", "categorical", "bernoulli", "one_hot", "uniform",
                                  "exponential", "poisson", "binomial", "mvn", "independent"])
def test_kl_divergence_matches_torch(pair):
    torch = need_torch()
    makers = {
        "normal": lambda L: (L.distributions.Normal(T(L, [0.0, 1.0]), T(L, [1.0, 2.0])),
                             L.distributions.Normal(T(L, [0.5, -1.0]), T(L, [0.3, 2.0]))),
        "categorical": lambda L: (
            L.distributions.Categorical(T(L, [[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])),
            L.distributions.Categorical(logits=T(L, [[0.0, 1.0, -1.0], [0.3, 0.2, 0.1]]))),
        "bernoulli": lambda L: (L.distributions.Bernoulli(T(L, [0.2, 0.0, 1.0, 0.5])),
                                L.distributions.Bernoulli(T(L, [0.6, 0.3, 0.4, 0.0]))),
        "one_hot": lambda L: (L.distributions.OneHotCategorical(T(L, [0.2, 0.3, 0.5])),
                              L.distributions.OneHotCategorical(T(L, [0.5, 0.25, 0.25]))),
        "uniform": lambda L: (L.distributions.Uniform(T(L, [0.0, 0.0]), T(L, [1.0, 2.0])),
                              L.distributions.Uniform(T(L, [-1.0, 0.5]), T(L, [2.0, 3.0]))),
        "exponential": lambda L: (L.distributions.Exponential(T(L, [0.5, 2.0])),
                                  L.distributions.Exponential(T(L, [1.5, 0.2]))),
        "poisson": lambda L: (L.distributions.Poisson(T(L, [0.5, 2.0])),
                              L.distributions.Poisson(T(L, [1.5, 0.2]))),
        "binomial": lambda L: (L.distributions.Binomial(T(L, [5.0, 6.0]), T(L, [0.3, 0.5])),
                               L.distributions.Binomial(5, T(L, [0.6, 0.1]))),
        "mvn": lambda L: (
            L.distributions.MultivariateNormal(T(L, [[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]),
                                               covariance_matrix=T(L, COV)),
            L.distributions.MultivariateNormal(T(L, [1.0, 0.0, 0.0]),
                                               precision_matrix=T(L, COV))),
        "independent": lambda L: tuple(
            L.distributions.Independent(L.distributions.Normal(T(L, m), T(L, s)), 1)
            for m, s in (([[0.0, 1.0]], [[1.0, 2.0]]), ([[1.0, 0.0]], [[0.5, 0.7]]))),
    }
    p, q = makers[pair](rt)
    tp, tq = makers[pair](torch)
    close(D.kl_divergence(p, q), torch.distributions.kl_divergence(tp, tq), msg=pair)


def test_register_kl_and_missing_pair():
    torch = need_torch()
    for lib in (rt, torch):
        class MyNormal(lib.distributions.Normal):
            """A subclass, so the most specific registered rule is looked up."""

        @lib.distributions.register_kl(MyNormal, lib.distributions.Normal)
        def _kl(p, q, lib=lib):
            return lib.zeros(())

        assert float(lib.distributions.kl_divergence(MyNormal(0.0, 1.0),
                                                     lib.distributions.Normal(1.0, 1.0))) == 0.0
        assert float(lib.distributions.kl_divergence(lib.distributions.Normal(0.0, 1.0),
                                                     MyNormal(1.0, 1.0))) == 0.5
    cases = [lambda L: L.distributions.kl_divergence(
        L.distributions.Categorical(L.tensor([0.5, 0.5])), L.distributions.Normal(0.0, 1.0))]
    for make in cases:
        with pytest.raises(NotImplementedError) as theirs:
            make(torch)
        with pytest.raises(NotImplementedError) as ours:
            make(rt)
        assert msg_of(ours) == str(theirs.value)


# --------------------------------------------------------------------------------------
# sampling by distribution
# --------------------------------------------------------------------------------------

N = 20000


def check_moments(x, mean, var, n_se=4.0):
    """Sample mean within ``n_se`` standard errors; sample variance within ``n_se`` standard
    errors of a variance (normal-theory width, doubled for heavier tails)."""
    x = to_np(x).astype(np.float64)
    mean, var = np.broadcast_to(mean, x.shape[1:]), np.broadcast_to(var, x.shape[1:])
    n = x.shape[0]
    se_mean = np.sqrt(var / n)
    assert np.all(np.abs(x.mean(0) - mean) <= n_se * se_mean + 1e-12), (x.mean(0), mean)
    se_var = 2 * var * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(x.var(0, ddof=1) - var) <= n_se * se_var + 1e-12), (x.var(0), var)


def chi2_ok(counts, probs):
    """Pearson's chi-square over cells with expected count >= 5 (the rest pooled), against
    the Wilson-Hilferty approximation of the 1e-4 upper quantile."""
    counts = np.asarray(counts, dtype=np.float64)
    expected = np.asarray(probs, dtype=np.float64) * counts.sum()
    keep = expected >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:  # pool the sparse tail into the last kept cell
        obs[-2] += obs[-1]
        exp[-2] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    stat = ((obs - exp) ** 2 / exp).sum()
    k = len(obs) - 1
    crit = k * (1 - 2 / (9 * k) + 3.72 * math.sqrt(2 / (9 * k))) ** 3
    return stat, crit


def pmf_poisson(lam, kmax):
    return np.array([math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)) for k in range(kmax)])


def pmf_binomial(n, p, kmax):
    return np.array([math.comb(n, k) * p**k * (1 - p) ** (n - k) if k <= n else 0.0
                     for k in range(kmax)])


def test_gamma_family_rsample_gradients():
    rate = T(rt, [2.0, 0.5], requires_grad=True)
    x = D.Gamma(T(rt, [3.0, 1.0]), rate).rsample((5,))
    x.sum().backward()  # pathwise in rate: d(g / rate) / d rate = -x / rate
    close(rate.grad, -(x.detach() / rate.detach()).sum(0))
    conc = T(rt, [3.0, 1.0], requires_grad=True)
    if LIB_NAME == "torch":
        D.Gamma(conc, 1.0).rsample().sum().backward()
        assert conc.grad is not None
    else:  # the implicit reparameterisation gradient is not implemented
        for make in (lambda: D.Gamma(conc, 1.0), lambda: D.Dirichlet(conc),
                     lambda: D.Beta(conc, 1.0)):
            with pytest.raises(NotImplementedError):
                make().rsample()
            assert not make().sample().requires_grad


def test_continuous_sampling_moments():
    rt.manual_seed(1)
    check_moments(D.Normal(T(rt, [0.5, -2.0]), T(rt, [1.0, 3.0])).sample((N,)),
                  [0.5, -2.0], [1.0, 9.0])
    check_moments(D.Uniform(T(rt, [0.0, -1.0]), T(rt, [1.0, 3.0])).sample((N,)),
                  [0.5, 1.0], [1 / 12, 16 / 12])
    check_moments(D.Exponential(T(rt, [0.5, 4.0])).sample((N,)), [2.0, 0.25], [4.0, 1 / 16])
    conc, rate = np.array([0.3, 1.0, 7.5]), np.array([1.0, 2.0, 0.5])
    x = D.Gamma(T(rt, conc), T(rt, rate)).sample((N,))
    assert bool((x > 0).all())
    check_moments(x, conc / rate, conc / rate**2)
    b = D.Beta(T(rt, [0.5, 4.0]), T(rt, [2.0, 1.5])).sample((N,))
    a1, a0 = np.array([0.5, 4.0]), np.array([2.0, 1.5])
    check_moments(b, a1 / (a1 + a0), a1 * a0 / ((a1 + a0) ** 2 * (a1 + a0 + 1)))
    alpha = np.array([1.0, 2.0, 3.0])
    dirichlet = D.Dirichlet(T(rt, alpha)).sample((N,))
    close(dirichlet.sum(-1), np.ones(N), rtol=1e-12)
    a0 = alpha.sum()
    check_moments(dirichlet, alpha / a0, alpha * (a0 - alpha) / (a0**2 * (a0 + 1)))


def test_multivariate_normal_sample_covariance():
    rt.manual_seed(2)
    loc = np.array([1.0, -1.0, 0.5])
    x = to_np(D.MultivariateNormal(T(rt, loc), covariance_matrix=T(rt, COV)).sample((N,)))
    check_moments(x, loc, np.diag(COV))
    cov = np.cov(x.T)
    # Standard error of a covariance entry: sqrt((s_ii s_jj + s_ij^2) / n).
    c = np.array(COV)
    se = np.sqrt((np.outer(np.diag(c), np.diag(c)) + c**2) / N)
    assert np.all(np.abs(cov - c) <= 4 * se)


def test_bernoulli_and_categorical_frequencies():
    rt.manual_seed(3)
    x = to_np(D.Bernoulli(T(rt, [0.1, 0.5, 0.0, 1.0])).sample((N,)))
    assert set(np.unique(x)) <= {0.0, 1.0}
    check_moments(x[:, :2], [0.1, 0.5], [0.09, 0.25])
    assert x[:, 2].sum() == 0 and x[:, 3].sum() == N
    p = np.array([0.1, 0.0, 0.6, 0.3])
    draws = to_np(D.Categorical(T(rt, p * 3)).sample((N,)))
    counts = np.bincount(draws, minlength=4)
    assert counts[1] == 0
    stat, crit = chi2_ok(counts, p)
    assert stat < crit, (stat, crit)
    one_hot = to_np(D.OneHotCategorical(T(rt, p)).sample((N,)))
    assert np.all(one_hot.sum(-1) == 1)
    stat, crit = chi2_ok(one_hot.sum(0), p)
    assert stat < crit


@pytest.mark.parametrize("rate", [0.7, 4.0, 9.5, 13.0, 60.0])
def test_poisson_sampling_chi_square(rate):
    rt.manual_seed(4)
    draws = to_np(D.Poisson(T(rt, rate)).sample((N,)))
    assert np.all(draws == np.round(draws)) and draws.min() >= 0
    kmax = int(rate + 12 * math.sqrt(rate) + 12)
    counts = np.bincount(draws.astype(np.int64), minlength=kmax)[:kmax]
    assert counts.sum() == N  # nothing beyond 12 standard deviations
    stat, crit = chi2_ok(counts, pmf_poisson(rate, kmax))
    assert stat < crit, (stat, crit)


@pytest.mark.parametrize("n,p", [(1, 0.3), (10, 0.3), (30, 0.8), (200, 0.6), (1000, 0.02)])
def test_binomial_sampling_chi_square(n, p):
    rt.manual_seed(5)
    draws = to_np(D.Binomial(n, T(rt, p)).sample((N,)))
    assert np.all(draws == np.round(draws)) and draws.min() >= 0 and draws.max() <= n
    counts = np.bincount(draws.astype(np.int64), minlength=n + 1)
    stat, crit = chi2_ok(counts, pmf_binomial(n, p, n + 1))
    assert stat < crit, (stat, crit)


def test_binomial_and_poisson_batched_parameters():
    rt.manual_seed(6)
    counts = T(rt, [[0.0], [5.0], [100.0]])
    probs = T(rt, [0.0, 0.25, 1.0])
    x = to_np(D.Binomial(counts, probs).sample((4000,)))
    assert x.shape == (4000, 3, 3)
    n, p = to_np(counts), to_np(probs)
    assert np.all(x[:, :, 0] == 0) and np.all(x[:, :, 2] == n.reshape(1, 3))
    check_moments(x[:, 1:, 1], (n * p)[1:, 1], (n * p * (1 - p))[1:, 1])
    rates = np.array([0.0, 2.0, 25.0])
    y = to_np(D.Poisson(T(rt, rates)).sample((4000,)))
    assert np.all(y[:, 0] == 0)
    check_moments(y[:, 1:], rates[1:], rates[1:])


def test_multinomial_sampling():
    rt.manual_seed(7)
    p = np.array([0.2, 0.0, 0.5, 0.3])
    x = to_np(D.Multinomial(10, T(rt, [p, p[::-1]])).sample((N // 4,)))
    assert x.shape == (N // 4, 2, 4)
    assert np.all(x.sum(-1) == 10) and x[:, 0, 1].sum() == 0
    check_moments(x[:, 0], 10 * p, 10 * p * (1 - p))
    check_moments(x[:, 1], 10 * p[::-1], 10 * p[::-1] * (1 - p[::-1]))


# --------------------------------------------------------------------------------------
# validation and errors
# --------------------------------------------------------------------------------------

VALIDATION_CASES = [
    lambda L: L.distributions.Normal(L.tensor([0.0, 1.0]), L.tensor([1.0, -1.0])),
    lambda L: L.distributions.Normal(0.0, 0.0),
    lambda L: L.distributions.Uniform(L.tensor([0.0, 2.0]), L.tensor([1.0, 1.0])),
    lambda L: L.distributions.Bernoulli(L.tensor([0.5, 1.5])),
    lambda L: L.distributions.Categorical(L.tensor([0.5, -0.5, 1.0])),
    lambda L: L.distributions.Poisson(L.tensor([-1.0])),
    lambda L: L.distributions.Binomial(L.tensor([2.5]), L.tensor([0.5])),
    lambda L: L.distributions.Exponential(L.tensor(0.0)),
    lambda L: L.distributions.MultivariateNormal(
        L.zeros(2), scale_tril=L.tensor([[1.0, 0.0], [0.5, -1.0]])),
    lambda L: L.distributions.MultivariateNormal(
        L.zeros(2), covariance_matrix=L.tensor([[1.0, 2.0], [2.0, 1.0]])),
    lambda L: L.distributions.MultivariateNormal(
        L.zeros(2), covariance_matrix=L.tensor([[1.0, 0.5], [0.0, 1.0]])),
    lambda L: L.distributions.Normal(0.0, 1.0).log_prob(L.tensor(float("nan"))),
    lambda L: L.distributions.Bernoulli(L.tensor([0.3, 0.4])).log_prob(L.tensor([1.0, 0.5])),
    lambda L: L.distributions.Categorical(L.tensor([0.5, 0.5])).log_prob(L.tensor(2)),
    lambda L: L.distributions.Poisson(L.tensor([1.0])).log_prob(L.tensor([-1.0])),
    lambda L: L.distributions.Binomial(3, L.tensor([0.5])).log_prob(L.tensor([4.0])),
    lambda L: L.distributions.Uniform(0.0, 1.0).log_prob(L.tensor(1.5)),
    lambda L: L.distributions.Exponential(L.tensor([1.0])).log_prob(L.tensor([-0.5])),
    lambda L: L.distributions.Multinomial(3, L.tensor([0.5, 0.5])).log_prob(
        L.tensor([3.0, 1.0])),
    lambda L: L.distributions.Normal(L.zeros(3), 1.0).log_prob(L.zeros(2)),
    lambda L: L.distributions.MultivariateNormal(L.zeros(2), L.eye(2)).log_prob(L.zeros(3)),
    lambda L: L.distributions.Normal(0.0, 1.0).log_prob(0.5),
    lambda L: L.distributions.Bernoulli(probs=L.tensor(0.5), logits=L.tensor(0.0)),
    lambda L: L.distributions.Categorical(),
    lambda L: L.distributions.Categorical(L.tensor(1.0)),
    lambda L: L.distributions.MultivariateNormal(L.tensor(0.0), L.eye(1)),
    lambda L: L.distributions.MultivariateNormal(L.zeros(2)),
    lambda L: L.distributions.Independent(L.distributions.Normal(L.zeros(2), 1.0), 2),
]


@pytest.mark.parametrize("i", range(len(VALIDATION_CASES)))
def test_validation_errors_match_torch(i):
    torch = need_torch()
    make = VALIDATION_CASES[i]
    with pytest.raises(ValueError) as theirs:
        make(torch)
    with pytest.raises(ValueError) as ours:
        make(rt)
    assert msg_of(ours) == str(theirs.value)


def test_validation_can_be_switched_off():
    torch = need_torch()
    # Per instance.
    n = D.Normal(0.0, -1.0, validate_args=False)
    assert math.isnan(float(n.log_prob(rt.tensor(0.0))))
    assert float(D.Poisson(rt.tensor(2.0), validate_args=False).log_prob(rt.tensor(0.5))) < 0
    # Globally, as PyTorch's default (on) is restored afterwards.
    D.Distribution.set_default_validate_args(False)
    try:
        D.Bernoulli(rt.tensor([1.5]))
        D.Normal(0.0, 1.0).log_prob(rt.tensor(float("nan")))
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Bernoulli(rt.tensor([1.5]))
    with pytest.raises(ValueError) as ours:
        D.Distribution.set_default_validate_args(1.5)
    with pytest.raises(ValueError) as theirs:
        torch.distributions.Distribution.set_default_validate_args(1.5)
    assert str(ours.value) == str(theirs.value)
    # A non-positive-definite covariance with validation off: the Cholesky error.
    with pytest.raises(RuntimeError) as ours:
        D.MultivariateNormal(rt.zeros(2), rt.tensor([[1.0, 2.0], [2.0, 1.0]]),
                             validate_args=False)
    with pytest.raises(RuntimeError) as theirs:
        torch.distributions.MultivariateNormal(torch.zeros(2),
                                               torch.tensor([[1.0, 2.0], [2.0, 1.0]]),
                                               validate_args=False)
    assert msg_of(ours) == str(theirs.value)


def test_other_errors_match_torch():
    torch = need_torch()
    cases = [
        (NotImplementedError, lambda L: L.distributions.Multinomial(L.tensor(3),
                                                                    L.tensor([0.5, 0.5]))),
        (NotImplementedError, lambda L: L.distributions.Binomial(
            L.tensor([2.0, 3.0]), L.tensor([0.5, 0.5])).entropy()),
        (NotImplementedError, lambda L: L.distributions.Binomial(
            L.tensor([2.0, 3.0]), L.tensor([0.5, 0.5])).enumerate_support()),
        (NotImplementedError, lambda L: L.distributions.Distribution(validate_args=False).mode),
    ]
    for exc, make in cases:
        with pytest.raises(exc) as theirs:
            make(torch)
        with pytest.raises(exc) as ours:
            make(rt)
        assert msg_of(ours) == str(theirs.value).replace("torch.distributions", LIB_NAME
                                                         + ".distributions").replace(
            LIB_NAME + ".", "torch.")


def test_module_paths_resolve():
    for mod, cls in [("multinomial", "Multinomial"), ("binomial", "Binomial"),
                     ("poisson", "Poisson"), ("normal", "Normal"),
                     ("categorical", "Categorical"), ("bernoulli", "Bernoulli"),
                     ("uniform", "Uniform"), ("exponential", "Exponential"),
                     ("multivariate_normal", "MultivariateNormal"), ("gamma", "Gamma"),
                     ("beta", "Beta"), ("dirichlet", "Dirichlet"),
                     ("one_hot_categorical", "OneHotCategorical"),
                     ("independent", "Independent"), ("distribution", "Distribution"),
                     ("kl", "kl_divergence")]:
        module = importlib.import_module(f"{LIB_NAME}.distributions.{mod}")
        assert getattr(module, cls) is getattr(D, cls)
    assert D.constraints.positive.check(rt.tensor([1.0, -1.0])).tolist() == [True, False]
    assert repr(D.constraints.interval(0.0, 1.0)) == "Interval(lower_bound=0.0, upper_bound=1.0)"
    assert repr(D.constraints.real_vector) == "IndependentConstraint(Real(), 1)"
    assert isinstance(D.Normal(0.0, 1.0), D.ExponentialFamily)
    assert D.Normal.arg_constraints["scale"] is D.constraints.positive
    assert D.constraints.is_dependent(D.Uniform.support)
