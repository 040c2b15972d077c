"""`pdlf.stats.finite_stats`: mean, std and count over the finite values only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pdlf.stats import FiniteStats, finite_stats, quiet_nanmean


def test_nan_inf_and_none_are_left_out_of_hand_computed_values():
    s = finite_stats([1.0, np.nan, 4.0, np.inf, None, -np.inf, 7.0])
    # finite values 1, 4, 7: mean 4, population variance (9 + 0 + 9) / 3 = 6
    assert s.count == 3 and s.mean == pytest.approx(4.0) and s.std == pytest.approx(math.sqrt(6.0))
    assert s.format(2) == "4.00 ± 2.45"


def test_any_shape_is_flattened():
    s = finite_stats(np.array([[2.0, np.nan], [4.0, 6.0]]))
    assert (s.count, s.mean) == (3, pytest.approx(4.0)) and s.std == pytest.approx(math.sqrt(8.0 / 3.0))


@pytest.mark.parametrize("values", [[], [np.nan, np.inf], [None]])
def test_no_finite_value_gives_none_and_count_zero(values):
    s = finite_stats(values)
    assert s == FiniteStats(None, None, 0) and s.format() == "n/a"


def test_quiet_nanmean_keeps_all_nan_slices_nan_without_warning(recwarn):
    out = quiet_nanmean(np.array([[1.0, np.nan], [3.0, np.nan]]), axis=0)
    assert out[0] == 2.0 and np.isnan(out[1]) and not recwarn.list
