"""Anomaly rules on plain numbers: the reference the set-based SQL in anomaly.py must agree with.

- robust z against the peers of the same metric and period: 0.6745 (x - median) / MAD; when MAD is
  0 (more than half the peers report the same value) the mean absolute deviation takes its place,
  scaled by 1.2533 so that both estimate one standard deviation (Iglewicz and Hoaglin); when that
  is 0 too, every peer agrees and nothing is an outlier.
- change against the object's own previous period beyond a relative tolerance.
- disagreement with the authoritative value beyond a relative tolerance.
- submission after the plan's deadline.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence

MAD_SCALE = 0.6745
MEAN_AD_SCALE = 1.253314


def robust_z(value: float, peers: Sequence[float]) -> float | None:
    """The modified z-score of ``value`` among ``peers`` (which include it); None when undefined."""
    median = statistics.median(peers)
    deviations = [abs(p - median) for p in peers]
    mad = statistics.median(deviations)
    if mad > 0:
        return MAD_SCALE * (value - median) / mad
    mean_ad = sum(deviations) / len(deviations)
    if mean_ad > 0:
        return (value - median) / (MEAN_AD_SCALE * mean_ad)
    return None


def is_peer_outlier(value: float, peers: Sequence[float], *, threshold: float, min_peers: int) -> bool:
    if len(peers) < min_peers:
        return False
    z = robust_z(value, peers)
    return z is not None and abs(z) > threshold


def relative_change(value: float, reference: float) -> float | None:
    """|value - reference| / |reference|; None when the reference is 0 (any change is infinite)."""
    if reference == 0:
        return None
    return abs(value - reference) / abs(reference)


def beyond(value: float, reference: float, tolerance: float) -> bool:
    change = relative_change(value, reference)
    return value != reference if change is None else change > tolerance


def is_late(submitted_at: dt.datetime, deadline: dt.datetime) -> bool:
    return submitted_at > deadline
