"""`pdlf.goal_switching`: the tracking measures by hand, and the recorded velocity against the env's reward."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pdlf.errors import ConfigError
from pdlf.goal_switching import TrackRecorder, check_schedule, heading_angle, target_of_steps, tracking_errors


def test_target_follows_the_schedule_from_each_first_step():
    np.testing.assert_array_equal(target_of_steps([(3, 2.0), (1, 1.0)], 5), [1.0, 1.0, 2.0, 2.0, 2.0])


def test_speed_error_uses_the_settled_half_of_each_segment():
    # 8 steps, goal 1 on steps 1-4 and 3 on steps 5-8; the settled halves are steps 3-4 and 7-8
    v = np.array([0, 0, 1.5, 0.5, 0, 0, 3, 2], dtype=np.float64)[:, None, None]
    (err,) = tracking_errors("m/s", [(1, 1.0), (5, 3.0)], v)
    assert err == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)


def test_direction_error_is_the_wrapped_angle_of_the_mean_heading():
    # constant velocity along +y; target +x then -pi: errors pi/2 and pi/2 (wrapped, not 3 pi / 2)
    v = np.tile([0.0, 1.0], (60, 1, 1))  # [T, S = 1, 2]
    np.testing.assert_allclose(heading_angle(v)[:, 0], math.pi / 2)
    (err,) = tracking_errors("rad", [(1, 0.0), (31, -math.pi)], v)
    assert err == pytest.approx(math.pi / 2)


def test_heading_averages_the_trailing_window():
    v = np.zeros((30, 1, 2))
    v[:20, 0] = [1.0, 0.0]
    v[20:, 0] = [0.0, 1.0]
    angle = heading_angle(v, window=20)[:, 0]
    assert angle[19] == 0.0 and angle[29] == pytest.approx(math.atan2(10, 10))  # steps 11-30: 10 of each


@pytest.mark.parametrize("bad", [[], [(2, 1.0)], [(1, 1.0), (1, 2.0)], [(1, 1.0), (20, 2.0)]])
def test_bad_schedules_are_one_clear_error(bad):
    with pytest.raises(ConfigError, match="the first at step 1, all <= 10"):
        check_schedule(bad, 10)


def test_recorded_velocity_is_the_one_the_reward_uses_and_follows_a_goal_switch():
    from pdlf.envs import make_batched

    env = make_batched("halfcheetah_vel", 2, max_steps=20)
    env.reset(np.array([2.0, 5.0]), np.array([0, 1]))
    probe = TrackRecorder(env)
    zero = np.zeros((2, env.act_dim))  # no control cost: reward = -|v_x - goal|
    rewards = []
    for step in range(1, 21):
        if step == 11:
            env.set_goals(np.array([8.0, 1.0]))
        probe.before_step(step, None, None)
        rewards.append(env.step(zero)[1])
        probe.after_step(step, None, rewards[-1])
    v = probe.velocity()[..., 0]
    goals = np.where(np.arange(20)[:, None] < 10, [2.0, 5.0], [8.0, 1.0])
    np.testing.assert_allclose(np.asarray(rewards), -np.abs(v - goals), atol=1e-12)
    assert probe.dt == pytest.approx(0.05)
