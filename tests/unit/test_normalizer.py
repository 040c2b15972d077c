"""The observation normaliser: raw goal columns, mergeable statistics, freezing, and what the
rollout loop feeds it (alive, non-diverged, selected rows; never the goal columns)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pdlf.normalizer import DeviceObsStats, FrozenNorm, ObsNormalizer, ObsStats
from pdlf.rollout import rollout


def _stats(rows) -> ObsStats:
    rows = np.asarray(rows, dtype=np.float64)
    s = ObsStats.zeros(rows.shape[1])
    s.add_batch(rows)
    return s


# ------------------------------------------------------------------------------ goal columns
def test_goal_columns_are_never_normalised_nor_clipped():
    norm = ObsNormalizer(obs_dim=5, goal_dim=2, clip=5.0)
    assert norm.n_norm == 3 and norm.stats.sum.shape == (3,)
    rng = np.random.default_rng(0)
    norm.update(_stats(rng.normal(3.0, 2.0, size=(50, 3))))
    frozen = norm.freeze()
    assert frozen.mean.shape == (3,) and frozen.std.shape == (3,)
    obs = np.array([[3.0, 1.0, 5.0, 37.5, -0.25], [100.0, -100.0, 3.0, -12.0, 8.0]])
    out = frozen.apply(obs)
    assert out.dtype == np.float32 and out.shape == obs.shape
    np.testing.assert_array_equal(out[:, 3:], obs[:, 3:].astype(np.float32))  # raw, beyond ±clip too
    expected = np.clip((obs[:, :3] - frozen.mean) / frozen.std, -5.0, 5.0).astype(np.float32)
    np.testing.assert_array_equal(out[:, :3], expected)
    assert np.any(out[:, :3] != obs[:, :3].astype(np.float32))  # the other columns were normalised


# ------------------------------------------------------------------------------ merging
def test_merged_adds_counts_sums_and_squares_and_leaves_operands_alone():
    a, b = _stats([[1.0, 2.0], [3.0, -1.0]]), _stats([[0.5, 4.0]])
    m = a.merged(b)
    assert m.count == 3.0
    np.testing.assert_array_equal(m.sum, [4.5, 5.0])
    np.testing.assert_array_equal(m.sumsq, [1 + 9 + 0.25, 4 + 1 + 16])
    assert a.count == 2.0 and b.count == 1.0  # a new object, operands untouched
    np.testing.assert_array_equal(a.sum, [4.0, 1.0])


def test_merging_in_any_order_or_partition_gives_the_same_mean_and_std():
    rng = np.random.default_rng(1)
    rows = rng.normal([5.0, -2.0, 0.0], [3.0, 0.1, 10.0], size=(97, 3))

    def frozen_from(parts):
        norm = ObsNormalizer(obs_dim=4, goal_dim=1)
        for p in parts:
            norm.update(_stats(p))
        return norm.freeze()

    whole = frozen_from([rows])
    np.testing.assert_allclose(whole.mean, rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(whole.std, rows.std(axis=0), rtol=1e-9)
    for cuts in ([10, 50], [1, 2, 3, 90], [48]):
        parts = np.split(rows, cuts)
        for order in (parts, parts[::-1], [parts[i] for i in rng.permutation(len(parts))]):
            f = frozen_from(order)
            np.testing.assert_allclose(f.mean, whole.mean, rtol=1e-12)
            np.testing.assert_allclose(f.std, whole.std, rtol=1e-9)
    # merging ObsStats directly, in a tree instead of a chain
    p = [_stats(x) for x in np.split(rows, [20, 40, 60])]
    tree = p[0].merged(p[1]).merged(p[2].merged(p[3]))
    assert tree.count == 97
    np.testing.assert_allclose(tree.sum, rows.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(tree.sumsq, np.square(rows).sum(axis=0), rtol=1e-12)


def test_add_batch_mask_selects_rows():
    s = ObsStats.zeros(2)
    s.add_batch(np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 8.0]]), np.array([True, False, True]))
    assert s.count == 2
    np.testing.assert_array_equal(s.sum, [5.0, 9.0])
    np.testing.assert_array_equal(s.sumsq, [17.0, 65.0])
    s.add_batch(np.ones((2, 2)), np.array([False, False]))  # nothing selected: unchanged
    assert s.count == 2


# ------------------------------------------------------------------------------ freeze
@pytest.mark.parametrize("rows", [0, 1])
def test_freeze_is_the_identity_before_two_rows(rows):
    norm = ObsNormalizer(obs_dim=3, goal_dim=1, clip=5.0)
    if rows:
        norm.update(_stats([[7.0, -3.0]]))
    f = norm.freeze()
    np.testing.assert_array_equal(f.mean, [0.0, 0.0])
    np.testing.assert_array_equal(f.std, [1.0, 1.0])
    obs = np.array([[1.5, -2.25, 9.0]])
    np.testing.assert_array_equal(f.apply(obs), obs.astype(np.float32))


def test_freeze_mean_and_std_by_hand_with_clipping():
    norm = ObsNormalizer(obs_dim=3, goal_dim=1, clip=2.0)
    norm.update(_stats([[1.0, 2.0], [3.0, 6.0]]))
    norm.update(_stats([[5.0, 10.0]]))
    f = norm.freeze()
    # column 0: 1, 3, 5 -> mean 3, population variance (4 + 0 + 4) / 3
    # column 1: 2, 6, 10 -> mean 6, population variance (16 + 0 + 16) / 3
    np.testing.assert_allclose(f.mean, [3.0, 6.0], rtol=1e-15)
    np.testing.assert_allclose(f.std, [math.sqrt(8 / 3), math.sqrt(32 / 3)], rtol=1e-12)
    assert f.clip == 2.0 and f.n_norm == 2
    s0, s1 = math.sqrt(8 / 3), math.sqrt(32 / 3)
    obs = np.array([[4.0, 6.0 - s1, 0.5], [3.0 + 10 * s0, 6.0 - 3 * s1, -9.0], [3.0 - 2.5 * s0, 6.0 + 2 * s1, 9.0]])
    out = f.apply(obs)
    expected = np.array([[1 / s0, -1.0, 0.5], [2.0, -2.0, -9.0], [-2.0, 2.0, 9.0]], dtype=np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    assert out[1, 0] == 2.0 and out[1, 1] == -2.0 and out[2, 0] == -2.0  # clipped exactly at ±clip


def test_default_clip_is_five():
    norm = ObsNormalizer(obs_dim=2, goal_dim=1)
    norm.update(_stats([[0.0], [2.0]]))  # mean 1, std 1
    out = norm.freeze().apply(np.array([[100.0, 0.0], [-100.0, 0.0], [4.0, 0.0]]))
    np.testing.assert_array_equal(out[:, 0], [5.0, -5.0, 3.0])


def test_std_floor_for_an_exactly_constant_column():
    norm = ObsNormalizer(obs_dim=3, goal_dim=1)
    rows = np.column_stack([np.zeros(5), np.arange(5.0)])
    norm.update(_stats(rows))
    f = norm.freeze()
    assert f.std[0] == 1.0 and f.mean[0] == 0.0  # floor, not 0 (no division by zero)
    out = f.apply(np.array([[0.5, 2.0, 1.0]]))
    assert np.all(np.isfinite(out)) and out[0, 0] == 0.5


@pytest.mark.parametrize("value,n", [(0.7, 3), (-3.7, 7), (1000.1, 3)])
def test_std_floor_for_a_constant_nonzero_column(value, n):
    norm = ObsNormalizer(obs_dim=2, goal_dim=1)
    norm.update(_stats(np.full((n, 1), value)))
    f = norm.freeze()
    assert f.std[0] == 1.0
    assert abs(float(f.apply(np.array([[value + 0.01, 0.0]]))[0, 0])) < 0.1


def test_disabled_normaliser_freezes_to_none_and_ignores_updates():
    norm = ObsNormalizer(obs_dim=3, goal_dim=1, enabled=False)
    norm.update(_stats([[1.0, 2.0], [3.0, 4.0]]))
    assert norm.freeze() is None
    assert norm.stats.count == 0


def test_state_dict_round_trip_is_exact_and_independent():
    rng = np.random.default_rng(2)
    a = ObsNormalizer(obs_dim=4, goal_dim=1, clip=3.0)
    a.update(_stats(rng.normal(size=(11, 3))))
    state = a.state_dict()
    b = ObsNormalizer(obs_dim=4, goal_dim=1, clip=3.0)
    b.load_state_dict(state)
    fa, fb = a.freeze(), b.freeze()
    np.testing.assert_array_equal(fa.mean, fb.mean)
    np.testing.assert_array_equal(fa.std, fb.std)
    assert b.stats.count == 11
    # neither the saved dict nor the loaded normaliser aliases the original's arrays
    more = _stats(rng.normal(size=(4, 3)))
    a.update(more)
    state["sum"][:] = 1e9
    assert b.stats.count == 11 and np.all(np.abs(b.stats.sum) < 1e3)
    b.update(more)
    np.testing.assert_array_equal(a.freeze().mean, b.freeze().mean)
    np.testing.assert_array_equal(a.freeze().std, b.freeze().std)


# ------------------------------------------------------------------------------ the rollout loop
BIG = 1.0e6  # what a row shows once it must no longer be counted


class _StatsEnv:
    """B rows; before action ``k`` (1-based) row ``b`` shows ``[10 b + k, -(b + 1) k / 2, goal_b]``.

    Row ``b`` ends after step ``ends[b]``; from then on it shows ``BIG`` in every column, as does a
    row whose agent diverged (the env is told through ``poison``)."""

    goal_dim = 1

    def __init__(self, ends):
        self.ends = np.asarray(ends)
        self.batch_size = len(ends)
        self.max_steps = int(self.ends.max())
        self.done = np.zeros(self.batch_size, dtype=bool)
        self.poison = np.zeros(self.batch_size, dtype=bool)

    def _obs(self):
        b = np.arange(self.batch_size, dtype=np.float64)
        k = self.t + 1
        obs = np.column_stack([10 * b + k, -(b + 1) * k / 2, self.goals])
        obs[self.done | self.poison] = BIG
        return obs

    def reset(self, goals, seeds):
        self.goals = np.asarray(goals, dtype=np.float64)
        self.t = 0
        self.done[:] = False
        self.poison[:] = False
        return self._obs()

    def step(self, action):
        assert np.all(np.isfinite(action))  # the loop hands the env zeros for a diverged row
        self.t += 1
        self.done[:] = self.t >= self.ends
        return self._obs(), np.zeros(self.batch_size), self.done.copy()


class _NaNAgent:
    """Duck-typed agent: zero actions, NaN for row ``row`` from action ``at`` (1-based) on."""

    def __init__(self, env, row, at):
        self.env, self.row, self.at = env, row, at
        self.inputs = []

    def reset(self, genomes, seeds):
        self.k = 0

    def act(self, x, reward=None):
        self.k += 1
        self.inputs.append(x.clone())
        a = torch.zeros(x.shape[0], 2)
        if self.k >= self.at:
            a[self.row] = float("nan")
            self.env.poison[self.row] = True
        return a


def test_rollout_collects_stats_only_from_alive_non_diverged_selected_rows_never_goals():
    ends = [5, 2, 5, 5]  # row 1 ends after step 2
    env = _StatsEnv(ends)
    agent = _NaNAgent(env, row=2, at=3)  # row 2 diverges at action 3
    goals = np.array([100.0, 101.0, 102.0, 103.0])
    select = np.array([True, True, True, False])  # row 3 is not collected
    res = rollout(agent, env, torch.zeros(4, 1), goals, np.zeros(4, dtype=np.int64), collect_stats=select)
    assert res.diverged.tolist() == [False, False, True, False]
    counted = {0: range(1, 6), 1: range(1, 3), 2: range(1, 4)}  # (row, obs before action k)
    rows = np.array([[10 * b + k, -(b + 1) * k / 2] for b, ks in counted.items() for k in ks])
    s = res.obs_stats
    assert s.sum.shape == (2,)  # the goal column is not collected
    assert s.count == len(rows) == 10
    np.testing.assert_allclose(s.sum, rows.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.sumsq, np.square(rows).sum(axis=0), rtol=1e-12)


def test_rollout_collect_stats_true_and_false():
    env = _StatsEnv([3, 3])
    agent = _NaNAgent(env, row=0, at=99)  # never diverges
    res = rollout(agent, env, torch.zeros(2, 1), np.array([7.0, 8.0]), np.zeros(2, dtype=np.int64))
    assert res.obs_stats is None
    res = rollout(agent, env, torch.zeros(2, 1), np.array([7.0, 8.0]), np.zeros(2, dtype=np.int64), collect_stats=True)
    rows = np.array([[10 * b + k, -(b + 1) * k / 2] for b in range(2) for k in range(1, 4)])
    assert res.obs_stats.count == 6
    np.testing.assert_allclose(res.obs_stats.sum, rows.sum(axis=0))


def test_rollout_feeds_the_agent_normalised_observations_with_the_raw_goal():
    env = _StatsEnv([2, 2])
    agent = _NaNAgent(env, row=0, at=99)
    norm = FrozenNorm(mean=np.array([1.0, -1.0]), std=np.array([4.0, 0.5]), clip=5.0, n_norm=2)
    rollout(agent, env, torch.zeros(2, 1), np.array([50.0, -60.0]), np.zeros(2, dtype=np.int64), norm=norm)
    first = agent.inputs[0].numpy()
    raw = np.array([[1.0, -0.5, 50.0], [11.0, -1.0, -60.0]])
    expected = np.column_stack([np.clip((raw[:, :2] - norm.mean) / norm.std, -5, 5), raw[:, 2]])
    np.testing.assert_allclose(first, expected.astype(np.float32))
    assert first[0, 2] == 50.0 and first[1, 2] == -60.0


def test_apply_tensor_matches_apply_and_keeps_the_goal_raw():
    norm = FrozenNorm(mean=np.array([1.0, -1.0]), std=np.array([4.0, 0.5]), clip=5.0, n_norm=2)
    obs = np.array([[1.0, -0.5, 50.0], [11.0, -9.0, -60.0], [-30.0, 2.0, 0.25]])
    out = norm.apply_tensor(torch.from_numpy(obs).float())
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), norm.apply(obs), rtol=1e-6)
    np.testing.assert_array_equal(out.numpy()[:, 2], obs[:, 2].astype(np.float32))
    assert out.numpy()[2, 0] == -5.0 and out.numpy()[1, 1] == -5.0  # clipped to ±clip


def test_device_obs_stats_equal_the_host_statistics_of_the_masked_rows():
    rng = np.random.default_rng(3)
    host, dev = ObsStats.zeros(4), DeviceObsStats(4, torch.device("cpu"))
    for _ in range(3):
        obs, mask = rng.normal(size=(6, 4)), rng.random(6) < 0.5
        host.add_batch(obs, mask)
        dev.add_batch(torch.from_numpy(obs).float(), torch.from_numpy(mask))
    got = dev.to_host()
    assert got.count == host.count > 0
    np.testing.assert_allclose(got.sum, host.sum, rtol=1e-6, atol=1e-6)  # the rows as float32
    np.testing.assert_allclose(got.sumsq, host.sumsq, rtol=1e-6, atol=1e-6)
