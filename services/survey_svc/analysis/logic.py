"""Pure statistics of a campaign, vectorized over responses (numpy; no loop per response):
quality flags, post-stratification and raking weights, trimming, and weighted indices with
confidence intervals from Kish's effective sample size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

Z_95 = 1.959963984540054
SPEEDING_FRACTION = 1 / 3  # under a third of the median duration
STRAIGHT_LINE_SHARE = 0.9  # at least 90% identical answers ...
MIN_GRID_ANSWERS = 5  # ... across a grid of 5 or more
# A weighting cell with fewer valid responses than this is too thin for post-stratification.
MIN_RESPONSES_PER_WEIGHTING_CELL = 5
RAKING_MAX_ITERATIONS = 500
RAKING_TOLERANCE = 1e-10
OVERALL = "overall"


# --- quality ---------------------------------------------------------------------------------


def speeding(durations: FloatArray) -> BoolArray:
    """Faster than a third of the median duration (responses without a duration are never flagged)."""
    known = durations[~np.isnan(durations)]
    if known.size == 0:
        return np.zeros(durations.shape, dtype=bool)
    threshold = float(np.median(known)) * SPEEDING_FRACTION
    with np.errstate(invalid="ignore"):
        return np.asarray(durations < threshold, dtype=bool)


def straight_lining(grid: FloatArray) -> BoolArray:
    """Rows (responses) of one grid's answers (NaN: unanswered) with at least 90% identical
    answers among at least 5 answered items."""
    answered = (~np.isnan(grid)).sum(axis=1)
    values = np.unique(grid[~np.isnan(grid)])
    most_common = np.zeros(grid.shape[0], dtype=np.int64)
    for value in values:  # at most 11 distinct ratings: the loop is over values, not responses
        most_common = np.maximum(most_common, (grid == value).sum(axis=1))
    return np.asarray((answered >= MIN_GRID_ANSWERS) & (most_common >= STRAIGHT_LINE_SHARE * answered), dtype=bool)


def duplicate_device(device: IntArray) -> BoolArray:
    """Every response after the first from one device (code -1: no fingerprint, never a duplicate)."""
    flags = np.zeros(device.shape, dtype=bool)
    known = np.flatnonzero(device >= 0)
    if known.size:
        _, first = np.unique(device[known], return_index=True)
        flags[known] = True
        flags[known[first]] = False
    return flags


# --- weights ---------------------------------------------------------------------------------


def poststratify(cell: IntArray, shares: FloatArray) -> FloatArray:
    """w = population share / sample share of the response's cell, scaled to a mean of 1. Each
    sampled cell's weights then sum to its population share of the total; shares of cells nobody
    answered in are spread over the others (raking is the remedy when that matters)."""
    n = cell.size
    counts = np.bincount(cell, minlength=shares.size).astype(np.float64)
    sampled = counts > 0
    total = shares[sampled].sum()
    if n == 0 or total <= 0:
        return np.ones(n)
    per_cell = np.zeros(shares.size)
    per_cell[sampled] = shares[sampled] / total * n / counts[sampled]
    return np.asarray(per_cell[cell], dtype=np.float64)


def rake(margins: Sequence[tuple[IntArray, FloatArray]]) -> FloatArray:
    """Iterative proportional fitting: weights whose totals match every margin's shares (each
    margin: the category of each response and the population share of each category)."""
    n = margins[0][0].size
    weights = np.ones(n)
    targets = []
    for category, shares in margins:
        present = np.bincount(category, minlength=shares.size) > 0
        target = np.where(present, shares, 0.0)
        targets.append(target / target.sum() * n if target.sum() > 0 else target)
    for _ in range(RAKING_MAX_ITERATIONS):
        worst = 0.0
        for (category, _shares), target in zip(margins, targets, strict=True):
            totals = np.bincount(category, weights=weights, minlength=target.size)
            factor = np.divide(target, totals, out=np.ones_like(target), where=totals > 0)
            weights = weights * factor[category]
            worst = max(worst, float(np.max(np.abs(totals - target))) / n)
        if worst < RAKING_TOLERANCE:
            break
    return weights


def trim(weights: FloatArray, max_ratio: float) -> FloatArray:
    """Cap weights at ``max_ratio`` x the mean weight, keeping their sum (capped weight goes to the rest)."""
    if weights.size == 0:
        return weights
    total = weights.sum()
    cap = max_ratio * total / weights.size
    trimmed = weights.copy()
    capped = np.zeros(weights.size, dtype=bool)
    for _ in range(100):
        capped |= trimmed > cap * (1 + 1e-12)
        free = ~capped
        if not free.any():
            break
        trimmed[capped] = cap
        # Capped weight goes to the others in proportion; that may push more of them over the cap.
        trimmed[free] *= (total - cap * capped.sum()) / trimmed[free].sum()
        if not (trimmed[free] > cap * (1 + 1e-12)).any():
            break
    return trimmed


# --- estimates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimates:
    """One entry per key: n, effective n, index and 95% interval (NaN where suppressed)."""

    n: IntArray
    n_eff: FloatArray
    index: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    suppressed: BoolArray


def estimate(key: IntArray, y: FloatArray, w: FloatArray, n_keys: int, min_cell_size: int) -> Estimates:
    """Weighted mean of ``y`` (0-100) per key; variance = weighted variance / (n_eff - 1) with
    n_eff = (sum w)^2 / sum w^2, so equal weights give the textbook s^2 / n. Keys with fewer than
    ``min_cell_size`` responses are suppressed: no number at all, never a zero."""
    keep = ~np.isnan(y)
    key, y, w = key[keep], y[keep], w[keep]
    n = np.bincount(key, minlength=n_keys).astype(np.int64)
    sw = np.bincount(key, weights=w, minlength=n_keys)
    sw2 = np.bincount(key, weights=w * w, minlength=n_keys)
    swy = np.bincount(key, weights=w * y, minlength=n_keys)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = swy / sw
        centred = y - mean[key]
        variance = np.bincount(key, weights=w * centred * centred, minlength=n_keys) / sw
        n_eff = sw * sw / sw2
        half = Z_95 * np.sqrt(np.maximum(variance, 0.0) / (n_eff - 1.0))
    half = np.where(n_eff > 1.0 + 1e-12, half, np.inf)  # one effective answer: no interval narrower than 0-100
    suppressed = (n < min_cell_size) | (sw <= 0)
    index = np.where(suppressed, np.nan, np.clip(mean, 0.0, 100.0))
    low = np.where(suppressed, np.nan, np.clip(mean - half, 0.0, 100.0))
    high = np.where(suppressed, np.nan, np.clip(mean + half, 0.0, 100.0))
    return Estimates(n, np.where(sw2 > 0, n_eff, 0.0), index, low, high, suppressed)


def row_means(scores: FloatArray, columns: Sequence[int]) -> FloatArray:
    """Each response's mean over ``columns`` of ``scores`` ignoring NaN (NaN when none answered)."""
    block = scores[:, list(columns)]
    answered = (~np.isnan(block)).sum(axis=1)
    total = np.nansum(block, axis=1)
    return np.asarray(
        np.divide(total, answered, out=np.full(total.shape, np.nan), where=answered > 0), dtype=np.float64
    )


# --- a whole campaign ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Valid and invalid responses of one campaign as arrays (one row per response)."""

    cell: IntArray  # index into the campaign's cells (group x region)
    obj: IntArray  # index into the campaign's objects
    scores: FloatArray  # rated answers on the 0-100 scale, one column per rated question, NaN unanswered
    durations: FloatArray
    device: IntArray
    over_quota: BoolArray


@dataclass(frozen=True)
class Design:
    cell_group: IntArray  # group index of each cell
    cell_region: IntArray
    cell_share: FloatArray  # population share of each cell
    n_objects: int
    n_groups: int
    dimensions: list[str]  # dimension names; each maps to columns of Sample.scores
    dimension_columns: list[list[int]]
    grids: list[list[int]] = field(default_factory=list)
    min_cell_size: int = 30
    max_weight_ratio: float = 5.0


@dataclass(frozen=True)
class CellResult:
    obj: int
    dimension: str
    group: int | None  # None: all groups
    n: int
    n_eff: float
    index: float | None
    ci_low: float | None
    ci_high: float | None
    suppressed: bool


@dataclass(frozen=True)
class AnalysisResult:
    method: str
    responses_total: int
    responses_valid: int
    excluded: dict[str, int]
    weight_min: float
    weight_max: float
    design_effect: float
    cells: list[CellResult]


def quality_flags(sample: Sample, design: Design) -> dict[str, BoolArray]:
    lined = np.zeros(sample.cell.size, dtype=bool)
    for columns in design.grids:
        if len(columns) >= MIN_GRID_ANSWERS:
            lined |= straight_lining(sample.scores[:, columns])
    return {
        "speeding": speeding(sample.durations),
        "straight_lining": lined,
        "duplicate_device": duplicate_device(sample.device),
        "over_quota": sample.over_quota.copy(),
    }


def analyse(sample: Sample, design: Design) -> AnalysisResult:
    flags = quality_flags(sample, design)
    excluded = np.zeros(sample.cell.size, dtype=bool)
    for flagged in flags.values():
        excluded |= flagged
    valid = ~excluded
    cell, obj, scores = sample.cell[valid], sample.obj[valid], sample.scores[valid]
    counts = np.bincount(cell, minlength=design.cell_share.size)
    populated = design.cell_share > 0
    if np.all(counts[populated] >= MIN_RESPONSES_PER_WEIGHTING_CELL):
        method, weights = "post_stratified", poststratify(cell, design.cell_share)
    else:
        group_shares = np.asarray(np.bincount(design.cell_group, weights=design.cell_share), dtype=np.float64)
        region_shares = np.asarray(np.bincount(design.cell_region, weights=design.cell_share), dtype=np.float64)
        method = "raked"
        weights = rake([(design.cell_group[cell], group_shares), (design.cell_region[cell], region_shares)])
    weights = trim(weights, design.max_weight_ratio)
    group = design.cell_group[cell]
    columns = [*design.dimension_columns, sorted({c for cs in design.dimension_columns for c in cs})]
    names = [*design.dimensions, OVERALL]
    cells: list[CellResult] = []
    # One estimate per dimension covers every object, all groups together and each group alone:
    # key = object x (groups + 1) + group, where group == n_groups stands for "all groups".
    slots = design.n_groups + 1
    keys = np.concatenate([obj * slots + design.n_groups, obj * slots + group])
    doubled = np.concatenate([weights, weights])
    for name, cols in zip(names, columns, strict=True):
        y = row_means(scores, cols)
        est = estimate(keys, np.concatenate([y, y]), doubled, design.n_objects * slots, design.min_cell_size)
        for o in range(design.n_objects):
            for g in [None, *range(design.n_groups)]:
                k = o * slots + (design.n_groups if g is None else g)
                if g is not None and est.n[k] == 0:
                    continue  # no such respondents for this object: nothing to report
                cells.append(
                    CellResult(
                        obj=o,
                        dimension=name,
                        group=g,
                        n=int(est.n[k]),
                        n_eff=float(est.n_eff[k]),
                        index=None if est.suppressed[k] else float(est.index[k]),
                        ci_low=None if est.suppressed[k] else float(est.ci_low[k]),
                        ci_high=None if est.suppressed[k] else float(est.ci_high[k]),
                        suppressed=bool(est.suppressed[k]),
                    )
                )
    sw, sw2 = float(weights.sum()), float((weights * weights).sum())
    return AnalysisResult(
        method=method,
        responses_total=int(sample.cell.size),
        responses_valid=int(valid.sum()),
        excluded={reason: int(flagged.sum()) for reason, flagged in flags.items()},
        weight_min=float(weights.min()) if weights.size else 0.0,
        weight_max=float(weights.max()) if weights.size else 0.0,
        design_effect=(weights.size * sw2 / (sw * sw)) if sw > 0 else 1.0,
        cells=cells,
    )
