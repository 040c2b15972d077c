"""The contract every registered searcher keeps (pdlf/es/strategies/, pdlf/es/searchers.py):
populations are small recipes that rebuild bit-identical rows anywhere, states are plain data that
resume bit-identically, the search improves a quadratic, and bounds have one meaning."""

from __future__ import annotations

import pickle

import pytest
import torch

from pdlf.config import SEARCHERS, ESConfig
from pdlf.errors import CheckpointError
from pdlf.es.searchers import STRATEGIES, GaussianPopulation, make_searcher

L, P = 10, 8
NAMES = STRATEGIES.names()
LR = {"pgpe": 0.1, "snes": 0.5, "xnes": 0.5, "cem": 0.1, "cmaes": 0.1, "openai_es": 0.1}


def es_for(name: str, **changes) -> ESConfig:
    base = {"searcher": name, "popsize": P, "seed": 7, "sigma_init": 0.3, "center_lr": LR[name]}
    return ESConfig(**{**base, **changes})


def quadratic(x: torch.Tensor) -> torch.Tensor:
    """Fitness [P] float64 of rows [P, L]: -||x - 1||², best at all-ones."""
    return -((x.double() - 1.0) ** 2).sum(dim=1)


def run(searcher, generations: range) -> list[GaussianPopulation]:
    pops = []
    for g in generations:
        pop = searcher.ask(g)
        searcher.tell(pop, quadratic(pop.genomes()))
        pops.append(pop)
    return pops


def assert_plain(value, where: str = "state") -> None:
    """Only tensors, numbers, strings, None and lists/tuples/dicts of those (no library objects)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{where} has a non-string key {k!r}"
            assert_plain(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            assert_plain(v, f"{where}[{i}]")
    else:
        assert value is None or type(value) in (torch.Tensor, int, float, bool, str), (
            f"{where} is a {type(value).__module__}.{type(value).__name__}, not plain data"
        )


def assert_same(a, b, where: str = "state") -> None:
    """Recursive bit-for-bit equality of two plain states."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    else:
        assert a == b, where


def test_registry_matches_the_config_names():
    assert sorted(NAMES) == sorted(SEARCHERS)


@pytest.mark.parametrize("name", NAMES)
def test_ask_gives_a_population_of_the_right_shape(name):
    pop = make_searcher(es_for(name), torch.zeros(L)).ask(3)
    assert (pop.generation, pop.popsize) == (3, P)
    assert isinstance(pop.seed, int)
    rows = pop.genomes()
    assert rows.shape == (P, L) and rows.dtype == torch.float32
    assert pop.genomes([2, 5]).shape == (2, L)
    assert len({tuple(r.tolist()) for r in rows}) == P, "members must differ"


@pytest.mark.parametrize("name", NAMES)
def test_a_worker_rebuilds_any_members_rows_bit_for_bit(name):
    searcher = make_searcher(es_for(name), torch.zeros(L))
    run(searcher, range(2))  # a non-trivial scale (full-covariance searchers: a non-diagonal factor)
    pop = searcher.ask(2)
    driver = pop.genomes()
    worker_copy = pickle.loads(pickle.dumps(pop))
    for members in ([0], [P - 1], [5, 1, 3], list(range(P))[::-1], [2, 2, 6]):
        assert torch.equal(worker_copy.genomes(members), driver[members]), members
    assert torch.equal(worker_copy.genomes(torch.tensor([4, 0])), driver[[4, 0]])


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_and_generation_give_the_same_population_and_others_differ(name):
    a, b = make_searcher(es_for(name), torch.zeros(L)), make_searcher(es_for(name), torch.zeros(L))
    assert torch.equal(a.ask(4).genomes(), b.ask(4).genomes())
    assert not torch.equal(a.ask(4).genomes(), a.ask(5).genomes())
    other_seed = make_searcher(es_for(name, seed=8), torch.zeros(L))
    assert not torch.equal(a.ask(4).genomes(), other_seed.ask(4).genomes())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_is_plain_data_and_resumes_bit_identically(name):
    uninterrupted = make_searcher(es_for(name), torch.zeros(L))
    run(uninterrupted, range(3))
    saved = pickle.dumps(uninterrupted.state_dict())
    assert_plain(pickle.loads(saved))

    resumed = make_searcher(es_for(name), torch.zeros(L))
    resumed.load_state_dict(pickle.loads(saved))
    for g in (3, 4):
        pop_a, pop_b = uninterrupted.ask(g), resumed.ask(g)
        assert torch.equal(pop_a.genomes(), pop_b.genomes())
        fitness = quadratic(pop_a.genomes())
        uninterrupted.tell(pop_a, fitness)
        resumed.tell(pop_b, fitness)
    assert_same(uninterrupted.state_dict(), resumed.state_dict())
    assert uninterrupted.stats() == resumed.stats()


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_and_load_state_dict_copy_the_state(name):
    searcher = make_searcher(es_for(name), torch.zeros(L))
    run(searcher, range(2))
    center = searcher.center()
    saved = searcher.state_dict()
    saved["state"]["center"].add_(1.0)  # a caller editing its copy must not move the searcher
    assert torch.equal(searcher.center(), center)
    restored = make_searcher(es_for(name), torch.zeros(L))
    source = searcher.state_dict()
    restored.load_state_dict(source)
    source["state"]["center"].add_(1.0)
    assert torch.equal(restored.center(), center)


@pytest.mark.parametrize("name", NAMES)
def test_a_few_generations_improve_the_centre_on_a_quadratic(name):
    searcher = make_searcher(es_for(name), torch.zeros(L))
    start = float(quadratic(searcher.center()[None]))
    run(searcher, range(40))
    end = float(quadratic(searcher.center()[None]))
    assert end > 0.5 * start, (start, end)  # start = -10; at least halve the distance²
    stats = searcher.stats()
    assert set(stats) == {"sigma_mean", "sigma_min", "sigma_max", "center_norm"}
    assert all(isinstance(v, float) for v in stats.values())


@pytest.mark.parametrize("name", NAMES)
def test_bounds_clip_genomes_and_centre_but_not_the_update(name):
    lo = torch.full((L,), -float("inf"))
    hi = torch.full((L,), float("inf"))
    lo[:4], hi[:4] = -0.1, 0.1  # tight: most samples of these genes fall outside
    hi[4:6] = 0.05              # one-sided
    bounded = make_searcher(es_for(name), torch.zeros(L), (lo, hi))
    free = make_searcher(es_for(name), torch.zeros(L))

    pop_b, pop_f = bounded.ask(0), free.ask(0)
    assert torch.equal(pop_b.samples(), pop_f.samples())
    rows = pop_b.genomes()
    assert bool(((rows >= lo) & (rows <= hi)).all())
    assert torch.equal(rows, torch.clamp(pop_f.genomes(), lo, hi))
    assert not torch.equal(rows, pop_f.genomes()), "the bounds must bite in this test"
    assert torch.equal(pickle.loads(pickle.dumps(pop_b)).genomes([3, 1]), rows[[3, 1]])

    # same fitness to both: the update uses the unclipped samples, then only the centre is clamped
    fitness = quadratic(pop_f.genomes() * 3.0)
    bounded.tell(pop_b, fitness)
    free.tell(pop_f, fitness)
    assert torch.equal(bounded.center(), torch.clamp(free.center(), lo, hi))
    assert torch.equal(torch.as_tensor(bounded.spec.sigma(bounded.state)), torch.as_tensor(free.spec.sigma(free.state)))
    for g in range(1, 6):
        pop = bounded.ask(g)
        bounded.tell(pop, quadratic(pop.genomes() * 3.0))
        c = bounded.center()
        assert bool(((c >= lo) & (c <= hi)).all()), g


@pytest.mark.parametrize("name", NAMES)
def test_initial_centre_outside_the_bounds_is_clamped(name):
    lo, hi = torch.full((L,), -1.0), torch.full((L,), 1.0)
    searcher = make_searcher(es_for(name), torch.full((L,), 5.0), (lo, hi))
    assert torch.equal(searcher.center(), hi)


@pytest.mark.parametrize("name", NAMES)
def test_loading_another_searchers_or_lengths_state_fails_with_one_line(name):
    other = next(n for n in NAMES if n != name)
    state = make_searcher(es_for(other), torch.zeros(L)).state_dict()
    with pytest.raises(CheckpointError, match=f"es.searcher={other}") as err:
        make_searcher(es_for(name), torch.zeros(L)).load_state_dict(state)
    assert "\n" not in str(err.value)
    longer = make_searcher(es_for(name), torch.zeros(L + 1)).state_dict()
    with pytest.raises(CheckpointError, match=f"{L + 1} genes"):
        make_searcher(es_for(name), torch.zeros(L)).load_state_dict(longer)
    with pytest.raises(CheckpointError, match="older pdlf"):
        make_searcher(es_for(name), torch.zeros(L)).load_state_dict({"cma": object()})
