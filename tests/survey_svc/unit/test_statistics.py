"""Invariants of weighting and estimation (hypothesis), a hand-computed example and a samplics reference."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.survey_svc.analysis import logic

cells_and_shares = st.integers(1, 8).flatmap(
    lambda c: st.tuples(
        st.lists(st.integers(0, c - 1), min_size=c, max_size=300).filter(lambda xs: len(set(xs)) == c),
        st.lists(st.floats(0.01, 100, allow_nan=False), min_size=c, max_size=c),
    )
)


@given(cells_and_shares)
def test_post_stratified_weights_sum_to_population_shares(data) -> None:
    cells, shares = data
    cell, share = np.array(cells, dtype=np.int64), np.array(shares)
    w = logic.poststratify(cell, share)
    by_cell = np.bincount(cell, weights=w, minlength=share.size) / w.sum()
    assert np.allclose(by_cell, share / share.sum(), atol=1e-9)
    assert math.isclose(w.mean(), 1.0)


@given(
    # Every group x region combination answered: otherwise a solution need not exist at all.
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=60).map(
        lambda extra: [(g, r) for g in range(3) for r in range(4)] + extra
    ),
    st.lists(st.floats(0.05, 10), min_size=3, max_size=3),
    st.lists(st.floats(0.05, 10), min_size=4, max_size=4),
)
@settings(deadline=None, max_examples=60)
def test_raking_reproduces_both_margins(rows, group_shares, region_shares) -> None:
    group = np.array([g for g, _ in rows], dtype=np.int64)
    region = np.array([r for _, r in rows], dtype=np.int64)
    gs, rs = np.array(group_shares), np.array(region_shares)
    w = logic.rake([(group, gs), (region, rs)])
    assert np.allclose(np.bincount(group, weights=w) / w.sum(), gs / gs.sum(), atol=1e-6)
    assert np.allclose(np.bincount(region, weights=w) / w.sum(), rs / rs.sum(), atol=1e-6)


@given(st.lists(st.floats(0.01, 100), min_size=1, max_size=200), st.floats(1.5, 10))
def test_trimming_caps_weights_and_keeps_their_sum(weights, ratio) -> None:
    w = np.array(weights)
    trimmed = logic.trim(w, ratio)
    assert math.isclose(trimmed.sum(), w.sum(), rel_tol=1e-9)
    assert trimmed.max() <= ratio * w.mean() * (1 + 1e-9) or np.allclose(trimmed, trimmed[0])


@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from([0.0, 25.0, 50.0, 75.0, 100.0]), st.floats(0.1, 10)),
        min_size=1,
        max_size=300,
    ),
    st.integers(1, 20),
)
def test_index_in_range_interval_contains_it_and_small_cells_are_suppressed(rows, min_cell) -> None:
    key = np.array([k for k, _, _ in rows], dtype=np.int64)
    y = np.array([v for _, v, _ in rows])
    w = np.array([x for _, _, x in rows])
    est = logic.estimate(key, y, w, 5, min_cell)
    for k in range(5):
        if est.n[k] < min_cell:
            assert est.suppressed[k] and math.isnan(est.index[k]) and math.isnan(est.ci_low[k])
            continue
        assert 0 <= est.ci_low[k] <= est.index[k] <= est.ci_high[k] <= 100
        assert est.n_eff[k] <= est.n[k] + 1e-9


def test_index_and_interval_match_a_hand_computed_example() -> None:
    # Likert answers 5, 4, 4, 2 -> 100, 75, 75, 25 with weights 1, 1, 2, 2.
    y = np.array([100.0, 75.0, 75.0, 25.0])
    w = np.array([1.0, 1.0, 2.0, 2.0])
    est = logic.estimate(np.zeros(4, dtype=np.int64), y, w, 1, 1)
    mean = (100 + 75 + 150 + 50) / 6  # 62.5
    variance = (1 * 37.5**2 + 1 * 12.5**2 + 2 * 12.5**2 + 2 * 37.5**2) / 6  # 781.25
    n_eff = 36 / 10  # (sum w)^2 / sum w^2 = 3.6
    half = 1.959963984540054 * math.sqrt(variance / (n_eff - 1))
    assert est.index[0] == pytest.approx(mean)
    assert est.n_eff[0] == pytest.approx(3.6)
    assert (est.ci_low[0], est.ci_high[0]) == pytest.approx((mean - half, mean + half))


def test_estimates_agree_with_samplics() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from samplics import PopParam, TaylorEstimator
    rng = np.random.default_rng(7)
    y = rng.integers(1, 6, 400).astype(float) * 25 - 25
    for w in (np.ones(400), rng.uniform(0.5, 3.0, 400)):
        reference = TaylorEstimator(PopParam.mean)
        reference.estimate(y=y, samp_weight=w, remove_nan=True)
        ours = logic.estimate(np.zeros(400, dtype=np.int64), y, w, 1, 1)
        assert ours.index[0] == pytest.approx(float(reference.point_est), rel=1e-12)
        our_se = (ours.ci_high[0] - ours.index[0]) / logic.Z_95
        # Equal weights: the same standard error; unequal: Kish's approximation stays within 5%.
        assert our_se == pytest.approx(float(reference.stderror), rel=1e-9 if w.std() == 0 else 0.05)


def test_quality_flags_on_constructed_responses() -> None:
    durations = np.array([300.0, 310, 290, 60, np.nan, 305])
    assert logic.speeding(durations).tolist() == [False, False, False, True, False, False]
    grid = np.array(
        [
            [4, 4, 4, 4, 4],  # straight line
            [4, 4, 4, 4, 3],  # 80%: not
            [5, 5, 5, 5, np.nan],  # only 4 answered: too few to judge
            [1, 2, 3, 4, 5],
        ],
        dtype=float,
    )
    assert logic.straight_lining(grid).tolist() == [True, False, False, False]
    device = np.array([3, -1, 3, 7, -1, 7, 7], dtype=np.int64)
    assert logic.duplicate_device(device).tolist() == [False, False, True, False, False, True, True]


def test_a_campaign_without_a_sampled_cell_is_raked_and_flagged_responses_are_excluded() -> None:
    n = 40
    sample = logic.Sample(
        cell=np.array([0] * 20 + [1] * 20, dtype=np.int64),
        obj=np.zeros(n, dtype=np.int64),
        scores=np.tile([[75.0, 50.0]], (n, 1)),
        durations=np.array([300.0] * 39 + [10.0]),
        device=np.arange(n, dtype=np.int64),
        over_quota=np.array([False] * 38 + [True, False]),
    )
    design = logic.Design(
        cell_group=np.array([0, 1, 0], dtype=np.int64),
        cell_region=np.array([0, 0, 1], dtype=np.int64),
        cell_share=np.array([0.5, 0.3, 0.2]),  # the third cell has nobody
        n_objects=1,
        n_groups=2,
        dimensions=["a", "b"],
        dimension_columns=[[0], [1]],
        min_cell_size=5,
    )
    result = logic.analyse(sample, design)
    assert result.method == "raked" and result.responses_valid == 38
    assert result.excluded["speeding"] == 1 and result.excluded["over_quota"] == 1
    overall = next(c for c in result.cells if c.dimension == "overall" and c.group is None)
    assert overall.index == pytest.approx(62.5) and overall.n == 38
