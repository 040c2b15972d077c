"""Searcher specifics: PGPE's gradient by hand and against evotorch, its sigma clamp, OpenAI-ES's
weight decay, CMA-ES on an ill-conditioned problem, fitness sanitising and name errors."""

from __future__ import annotations

import math

import pytest
import torch

from pdlf.config import ESConfig
from pdlf.errors import ConfigError, UnknownNameError
from pdlf.es.searchers import STRATEGIES, ExplicitPopulation, make_searcher, sanitize_fitness
from pdlf.es.strategies import openai_es, pgpe
from pdlf.es.strategies.shaping import centered_ranks, nes_utilities

# Two antithetic directions around centre (0, 0) with sigma (1, 1):
#   e0 = (1, 2):   x0 = ( 1,  2)  x1 = (-1, -2)
#   e1 = (0.5, 1): x2 = (.5,  1)  x3 = (-.5, -1)
# fitness (3, 1, 0, 2) -> ranks (3, 1, 0, 2) -> centred ranks u = r/3 - 1/2 = (1/2, -1/6, -1/2, 1/6)
#   u+ = (1/2, -1/2), u- = (-1/6, 1/6)
#   g_mu    = [ (u+ - u-)/2 = (1/3, -1/3) ] . (e0, e1) / 2 = ((1/3 - 1/6), (2/3 - 1/3)) / 2 = (1/12, 1/6)
#   g_sigma = [ (u+ + u-)/2 = (1/6, -1/6) ] . ((e² - 1)/1 = ((0, 3), (-3/4, 0))) / 2
#           = ((0 + 1/8), (1/2 - 0)) / 2 = (1/16, 1/4)
HAND_SAMPLES = torch.tensor([[1.0, 2.0], [-1.0, -2.0], [0.5, 1.0], [-0.5, -1.0]])
HAND_FITNESS = torch.tensor([3.0, 1.0, 0.0, 2.0], dtype=torch.float64)


def test_centred_ranks_and_nes_utilities_by_hand():
    assert torch.allclose(centered_ranks(HAND_FITNESS), torch.tensor([0.5, -1 / 6, -0.5, 1 / 6]))
    # P = 4: raw_i = max(0, log 3 - log(4 - rank_i)) -> best log 3, second log 1.5, others 0
    raw = torch.tensor([math.log(3), 0.0, 0.0, math.log(1.5)])
    assert torch.allclose(nes_utilities(HAND_FITNESS), (raw / raw.sum() - 0.25).float())
    # ties are broken by member index, never by the sort's whim
    assert centered_ranks(torch.zeros(4, dtype=torch.float64)).tolist() == pytest.approx([-0.5, -1 / 6, 1 / 6, 0.5])


def test_pgpe_gradient_matches_the_hand_computation():
    g_mu, g_sigma = pgpe.gradients(torch.zeros(2), torch.ones(2), HAND_SAMPLES, HAND_FITNESS)
    assert torch.allclose(g_mu, torch.tensor([1 / 12, 1 / 6]), atol=1e-7)
    assert torch.allclose(g_sigma, torch.tensor([1 / 16, 1 / 4]), atol=1e-7)


def test_pgpe_sgd_tell_steps_by_the_hand_gradient():
    es = ESConfig(searcher="pgpe", popsize=4, sigma_init=1.0, optimizer="sgd", center_lr=0.5, sigma_lr=0.4)
    state = pgpe.init(es, torch.zeros(2))
    new = pgpe.tell(es, state, ExplicitPopulation(0, 4, 0, HAND_SAMPLES), HAND_FITNESS)
    assert torch.allclose(new["center"], 0.5 * torch.tensor([1 / 12, 1 / 6]), atol=1e-7)
    # sigma + 0.4 * (1/16, 1/4) = (1.025, 1.1): within ±20 %, so unclamped
    assert torch.allclose(new["sigma"], torch.tensor([1.025, 1.1]), atol=1e-7)
    assert torch.equal(state["center"], torch.zeros(2)), "tell must not modify its input state"


@pytest.mark.parametrize("optimizer", ["adam", "clipup", "sgd"])
def test_pgpe_matches_evotorch_symmetric_separable_gaussian(optimizer):
    from evotorch import optimizers
    from evotorch.distributions import SymmetricSeparableGaussian
    from evotorch.tools import modify_tensor

    n, p = 5, 8
    es = ESConfig(searcher="pgpe", popsize=p, sigma_init=0.5, center_lr=0.05, sigma_lr=3.0, optimizer=optimizer, seed=3)
    ours = make_searcher(es, torch.linspace(-1, 1, n))
    dist = SymmetricSeparableGaussian(
        parameters={"mu": torch.linspace(-1, 1, n), "sigma": torch.full((n,), 0.5),
                    "divide_mu_grad_by": "num_directions", "divide_sigma_grad_by": "num_directions"},
        dtype=torch.float32,
    )
    opt = {"adam": lambda: optimizers.Adam(solution_length=n, dtype=torch.float32, stepsize=0.05),
           "clipup": lambda: optimizers.ClipUp(solution_length=n, dtype=torch.float32, stepsize=0.05, max_speed=0.1),
           "sgd": lambda: None}[optimizer]()
    gen = torch.Generator().manual_seed(0)
    clamped = 0
    for g in range(6):
        pop = ours.ask(g)
        samples = pop.samples()
        assert torch.allclose(samples[0::2] + samples[1::2], 2 * dist.parameters["mu"], atol=1e-5), "antithetic pairs"
        # a linear objective plus noise: a steady gradient direction, so ClipUp's speed limit bites
        fitness = samples.double().sum(1) + 0.1 * torch.randn(p, generator=gen, dtype=torch.float64)
        grads = dist.compute_gradients(samples, fitness.float(), objective_sense="max", ranking_method="centered")
        rates = {"sigma": 3.0} if opt is not None else {"sigma": 3.0, "mu": 0.05}
        new = dist.update_parameters(grads, learning_rates=rates, optimizers={"mu": opt} if opt is not None else {})
        sigma = modify_tensor(dist.parameters["sigma"], new.parameters["sigma"], max_change=0.2)
        clamped += int((sigma != new.parameters["sigma"]).sum())
        dist = new.modified_copy(sigma=sigma)
        ours.tell(pop, fitness)
        assert torch.allclose(ours.center(), dist.parameters["mu"], rtol=1e-5, atol=1e-6), g
        assert torch.allclose(ours.state["sigma"], dist.parameters["sigma"], rtol=1e-5, atol=1e-6), g
    assert 0 < clamped < 6 * n, "the comparison must exercise both clamped and free sigma updates"
    if optimizer == "clipup":
        speed = float(ours.state["opt"]["velocity"].norm())
        assert speed == pytest.approx(0.1), "the comparison must exercise ClipUp's max speed"


@pytest.mark.parametrize("name", ["snes", "xnes", "cem"])
def test_snes_xnes_cem_match_evotorch_distributions(name):
    from evotorch.distributions import ExpGaussian, ExpSeparableGaussian, SeparableGaussian
    from evotorch.tools import modify_tensor

    n, p = 4, 10
    es = ESConfig(searcher=name, popsize=p, sigma_init=0.5, center_lr=0.3, sigma_lr=0.2, parents=0.5, seed=6)
    ours = make_searcher(es, torch.linspace(-1, 1, n))
    gen = torch.Generator().manual_seed(1)
    for g in range(4):
        pop = ours.ask(g)
        mu = ours.state["center"].float()
        fitness = torch.randn(p, generator=gen, dtype=torch.float64)
        if name == "snes":
            dist = ExpSeparableGaussian(parameters={"mu": mu, "sigma": ours.state["sigma"]}, dtype=torch.float32)
            rates, ranking = {"mu": 0.3, "sigma": 0.2}, "nes"
        elif name == "xnes":  # evotorch's A is the transpose of ours (x = mu + A z)
            a = ours.state["A"].T.float()
            dist = ExpGaussian(parameters={"mu": mu, "sigma": a, "sigma_inv": torch.inverse(a)}, dtype=torch.float32)
            rates, ranking = {"mu": 0.3, "sigma": 0.2}, "nes"
        else:
            dist = SeparableGaussian(parameters={"mu": mu, "sigma": ours.state["sigma"], "parenthood_ratio": 0.5},
                                     dtype=torch.float32)
            rates, ranking = {"mu": 1.0, "sigma": 1.0}, "centered"
        grads = dist.compute_gradients(pop.samples(), fitness.float(), objective_sense="max", ranking_method=ranking)
        new = dist.update_parameters(grads, learning_rates=rates)
        ours.tell(pop, fitness)
        assert torch.allclose(ours.center(), new.parameters["mu"], rtol=1e-4, atol=1e-5), g
        want_sigma = new.parameters["sigma"]
        if name == "cem":
            want_sigma = modify_tensor(dist.parameters["sigma"], want_sigma, max_change=0.2)
            assert torch.allclose(ours.state["sigma"], want_sigma, rtol=1e-4, atol=1e-5), g
        elif name == "snes":
            assert torch.allclose(ours.state["sigma"], want_sigma, rtol=1e-4, atol=1e-5), g
        else:
            assert torch.allclose(ours.state["A"].T.float(), want_sigma, rtol=1e-4, atol=1e-5), g


def test_pgpe_sigma_change_is_bounded_by_max_sigma_change():
    es = ESConfig(searcher="pgpe", popsize=16, sigma_init=0.1, sigma_lr=50.0, seed=1)
    for max_change, expect_bounded in ((0.2, True), (0.0, False)):
        s = make_searcher(ESConfig(**{**es.__dict__, "max_sigma_change": max_change}), torch.zeros(20))
        old = s.state["sigma"].clone()
        pop = s.ask(0)
        s.tell(pop, -(pop.genomes().double() ** 2).sum(1))
        ratio = s.state["sigma"] / old
        if expect_bounded:
            assert float(ratio.min()) >= 0.8 - 1e-6 and float(ratio.max()) <= 1.2 + 1e-6
            assert bool(((ratio - 0.8).abs() < 1e-5).any() | ((ratio - 1.2).abs() < 1e-5).any()), "clamp never bit"
        else:
            assert float((ratio - 1).abs().max()) > 0.2 + 1e-3


def test_openai_es_weight_decay_pulls_the_centre_towards_zero():
    center = torch.linspace(1.0, 3.0, 6)
    plain = ESConfig(searcher="openai_es", popsize=8, sigma_init=0.1, center_lr=0.05, seed=2)
    decayed = ESConfig(**{**plain.__dict__, "weight_decay": 0.5})
    pop = make_searcher(plain, center).ask(0)
    fitness = torch.arange(8, dtype=torch.float64)
    g0 = openai_es.gradient(plain, center, pop, fitness)
    g1 = openai_es.gradient(decayed, center, pop, fitness)
    assert torch.allclose(g1 - g0, -0.5 * center, atol=1e-6)

    # on a fitness that ignores the genome, only the decay has a direction: the centre shrinks
    norms = {}
    for es in (plain, decayed):
        s = make_searcher(es, center)
        gen = torch.Generator().manual_seed(5)
        for g in range(30):
            p = s.ask(g)
            s.tell(p, torch.randn(8, generator=gen, dtype=torch.float64))
        norms[es.weight_decay] = s.stats()["center_norm"]
    assert norms[0.5] < 0.5 * float(center.norm()) < norms[0.0]
    assert s.stats()["sigma_min"] == pytest.approx(0.1) and s.stats()["sigma_max"] == pytest.approx(0.1)


def test_cmaes_adapts_its_covariance_on_a_rotated_ellipsoid():
    n = 6
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    scales = torch.logspace(0, 3, n, dtype=torch.float64)  # condition number 1e6

    def f(x):
        return -(((x.double() - 0.5) @ q) * scales).pow(2).sum(1)

    s = make_searcher(ESConfig(searcher="cmaes", popsize=12, sigma_init=0.5, seed=4), torch.zeros(n))
    for g in range(250):
        pop = s.ask(g)
        s.tell(pop, f(pop.genomes()))
    assert float(f(s.state["center"][None].float())) > -1e-6
    c = s.state["C"]
    ratio = torch.linalg.eigvalsh(c)
    assert float(ratio.max() / ratio.min()) > 1e4, "C must have learnt the ill-conditioning"


def test_sanitize_fitness_ranks_nan_and_inf_members_worst():
    fitness, n_bad = sanitize_fitness(torch.tensor([1.0, float("nan"), -float("inf"), float("inf"), -3.0]))
    assert n_bad == 3 and fitness.dtype == torch.float64
    assert bool(torch.isfinite(fitness).all())
    assert float(fitness[[1, 2, 3]].max()) < -3.0
    assert fitness[[0, 4]].tolist() == [1.0, -3.0]
    ranks = centered_ranks(fitness)
    assert set(ranks.argsort()[:3].tolist()) == {1, 2, 3}
    all_bad, n = sanitize_fitness(torch.tensor([float("nan"), float("nan")]))
    assert n == 2 and all_bad.tolist() == [-1.0, -1.0]
    clean, n = sanitize_fitness(torch.tensor([2.0, 1.0]))
    assert n == 0 and clean.tolist() == [2.0, 1.0]


def test_unknown_searcher_names_say_did_you_mean():
    with pytest.raises(UnknownNameError, match=r"unknown searcher 'pgep': did you mean 'pgpe'"):
        STRATEGIES.get("pgep")
    with pytest.raises(ConfigError, match=r"did you mean 'openai_es'"):
        make_searcher(ESConfig(searcher="openai-es"), torch.zeros(3))


@pytest.mark.parametrize("name, limit", [("xnes", 2000), ("cmaes", 5000)])
def test_full_covariance_searchers_refuse_large_genomes(name, limit):
    with pytest.raises(ConfigError, match=f"at most {limit} genes"):
        make_searcher(ESConfig(searcher=name), torch.zeros(limit + 1))


def test_config_validates_the_new_fields():
    with pytest.raises(ConfigError, match="es.weight_decay"):
        ESConfig(weight_decay=-0.1).validate()
    with pytest.raises(ConfigError, match="OpenAI-ES samples antithetic pairs"):
        ESConfig(searcher="openai_es", popsize=7).validate()
    with pytest.raises(ConfigError, match="es.max_sigma_change"):
        ESConfig(max_sigma_change=1.5).validate()


def test_explicit_population_clips_its_rows_to_the_bounds():
    m = torch.tensor([[-2.0, 0.5], [3.0, -0.5]])
    bounds = (torch.tensor([-1.0, -float("inf")]), torch.tensor([1.0, 0.0]))
    pop = ExplicitPopulation(0, 2, 0, m, bounds)
    assert pop.genomes().tolist() == [[-1.0, 0.0], [1.0, -0.5]]
    assert pop.genomes([1]).tolist() == [[1.0, -0.5]]
    assert torch.equal(ExplicitPopulation(0, 2, 0, m).genomes(), m)
