"""`pdlf.goals.parse_goals`: named sets, explicit lists, bad values, goals outside the range."""

from __future__ import annotations

import numpy as np
import pytest

from pdlf.envs import get_task
from pdlf.errors import ConfigError
from pdlf.goals import GOAL_SETS, parse_goals

SPEC = get_task("halfcheetah_vel")  # range [1, 10] m/s; training goals 1 + 9k/8


def test_explicit_list_keeps_order_and_marks_seen_goals():
    sel = parse_goals(" 5.5, 2.5,1.0 ", SPEC)
    np.testing.assert_array_equal(sel.goals, [5.5, 2.5, 1.0])
    assert sel.goals.dtype == np.float64
    np.testing.assert_array_equal(sel.seen, [True, False, True])  # 5.5 = 1 + 9·4/8, 1.0 = 1 + 0
    assert not sel.outside.any() and not sel.named
    assert sel.label == "goals_5.5_2.5_1"


def test_goals_outside_the_range_are_allowed_and_flagged():
    sel = parse_goals("-2,0.5,1,10,12.5", SPEC)
    np.testing.assert_array_equal(sel.outside, [True, True, False, False, True])  # check_goal's closed range
    assert not sel.seen[[0, 1, 3, 4]].any()


def test_named_sets_and_the_runs_own_training_goals():
    assert parse_goals("train", SPEC).seen.all() and len(parse_goals("train", SPEC).goals) == 8
    own = [2.0, 4.0]  # a run trained on env.goals [2, 4]
    sel = parse_goals("train", SPEC, own)
    np.testing.assert_array_equal(sel.goals, own)
    sel = parse_goals("2,3,4", SPEC, own)
    np.testing.assert_array_equal(sel.seen, [True, False, True])
    assert [parse_goals(name, SPEC).label for name in GOAL_SETS] == list(GOAL_SETS)


def test_long_lists_get_a_short_distinct_label():
    a = parse_goals(",".join(str(1 + 0.5 * i) for i in range(10)), SPEC)
    b = parse_goals(",".join(str(1 + 0.25 * i) for i in range(10)), SPEC)
    assert a.label.startswith("goals10_") and a.label != b.label and len(a.label) < 20


@pytest.mark.parametrize(
    "text, names",
    [
        ("fast", "'fast' is neither a goal set nor a number"),
        ("2.5,abc", "'abc' is neither a goal set nor a number"),
        ("2.5,,3", "empty goal value"),
        ("", "empty goal value"),
        ("1,nan", "'nan' is not a finite number"),
        ("inf", "'inf' is not a finite number"),
    ],
)
def test_bad_values_give_one_line_naming_flag_value_and_forms(text, names):
    with pytest.raises(ConfigError) as err:
        parse_goals(text, SPEC, flag="--goals")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"--goals {text!r}: ") and names in msg
    assert all(name in msg for name in GOAL_SETS) and "comma-separated" in msg and "m/s" in msg


def test_extrapolation_goals_lie_outside_the_range_and_direction_tasks_have_none():
    cheetah = get_task("halfcheetah_vel")  # range [1, 10) m/s: Δ = 9, so Δ/9 = 1 and Δ/18 = 0.5
    sel = parse_goals("extrapolate", cheetah)
    np.testing.assert_allclose(sel.goals, [0.0, 0.5, 10.5, 11.0])
    assert sel.outside.all() and not sel.seen.any()
    with pytest.raises(ConfigError, match="swimmer_dir's goals are directions .*wrap around"):
        parse_goals("extrapolate", get_task("swimmer_dir"))
