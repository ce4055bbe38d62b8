"""The bulk path equals the reference path exactly: the set-based engine (PostgreSQL numeric)
scores every leaf of every object as contracts/scoring.py does, digit for digit, on random values,
targets, missing values and rounding places (docs/scoring.md)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from contracts.scoring import (
    BandsParams,
    LinearParams,
    SatisfactionParams,
    TargetRatioParams,
    marks_earned,
    round_half_up,
    share_bands,
    share_linear,
    share_satisfaction,
    share_target_ratio,
)
from tests.appraisal_svc.api.results_support import to_scoring
from tests.appraisal_svc.api.support import FRAMEWORK, Api, World
from tests.appraisal_svc.api.test_scoring import score_now

D = Decimal
RULES = {i["code"]: i for i in FRAMEWORK["indicators"] if "scoring" in i}
E1 = TargetRatioParams.model_validate(RULES["E1"]["scoring"])
E2 = LinearParams.model_validate(RULES["E2"]["scoring"])
E3 = BandsParams.model_validate(RULES["E3"]["scoring"])
S1 = SatisfactionParams.model_validate(RULES["S1"]["scoring"])
MARKS = {code: D(str(RULES[code]["weight"])) for code in ("E1", "E2", "E3", "S1")}

measures = st.decimals(min_value=-(10**6), max_value=10**6, places=6, allow_nan=False, allow_infinity=False)
small = st.decimals(min_value=-200, max_value=200, places=3, allow_nan=False, allow_infinity=False)
positive = st.decimals(min_value=D("0.000001"), max_value=10**6, places=6)
indices = st.decimals(min_value=0, max_value=100, places=6)
# Values near the targets and thresholds, where ties and clamps happen, as well as anywhere.
values = st.none() | measures | small
objects_values = st.fixed_dictionaries({"E1": values, "E2": values, "E3": values, "S1": st.none() | indices})


def reference(code: str, actual: Decimal | None, target: Decimal | None, baseline: Decimal | None) -> Decimal | None:
    if code == "E1":
        return share_target_ratio(E1, actual=actual, target=target, direction="higher_better")
    if code == "E2":
        return share_linear(E2, actual=actual, target=target, baseline=baseline, direction="higher_better")
    if code == "E3":
        return share_bands(E3, actual=actual, direction="higher_better")
    return share_satisfaction(S1, index=actual)


async def set_inputs(
    api: Api, world: World, places: int, targets: dict[str, Decimal], rows: list[dict[str, Decimal | None]]
) -> None:
    """The plan's places and targets, and exactly these accepted values (None: no value)."""
    plan_id = uuid.UUID(world.plan["id"])
    await api.db.execute(
        text("UPDATE appraisal.plan SET score_places = :p WHERE id = :id"), {"p": places, "id": plan_id}
    )
    for code, target in targets.items():
        await api.db.execute(
            text("UPDATE appraisal.target SET target = :t WHERE plan_id = :id AND indicator_code = :c"),
            {"t": target, "id": plan_id, "c": code},
        )
    # Data points are never deleted: the earlier values step aside as corrections would.
    await api.db.execute(text("UPDATE appraisal.data_point SET current = false WHERE period = '2026' AND current"))
    for obj, row in zip(world.objects.values(), rows, strict=True):
        for metric, value in row.items():
            if value is None:
                continue
            await api.db.execute(
                text(
                    "INSERT INTO appraisal.data_point (id, object_id, metric, period, source, revision, current, "
                    "value, status, submitted_by, submitted_org_path, submitted_at, lock_version) VALUES "
                    "(gen_random_uuid(), :o, :m, '2026', :s, (SELECT coalesce(max(revision), 0) + 1 "
                    "FROM appraisal.data_point WHERE object_id = :o AND metric = :m AND period = '2026' "
                    "AND source = :s), true, :v, 'accepted', 'x', '/gd', now(), 1)"
                ),
                {"o": uuid.UUID(obj), "m": metric, "s": "survey" if metric == "S1" else "unit", "v": value},
            )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    places=st.integers(0, 6),
    e1_target=positive,
    e2_target=st.decimals(min_value=D("50.000001"), max_value=10**6, places=6),
    rows=st.lists(objects_values, min_size=6, max_size=6),
)
async def test_every_leaf_the_engine_scores_equals_the_reference_functions(
    api: Api,
    world: World,
    places: int,
    e1_target: Decimal,
    e2_target: Decimal,
    rows: list[dict[str, Decimal | None]],
) -> None:
    plan = await api.ok("GET", f"/plans/{world.plan['id']}")
    if plan["status"] == "draft":  # the first example brings the plan to scoring, the rest rescore it
        await to_scoring(api, world)
    await set_inputs(api, world, places, {"E1": e1_target, "E2": e2_target}, rows)
    run = await score_now(api, world.plan["id"])
    assert run["status"] == "succeeded", run
    found: dict[tuple[str, str], Any] = {
        (str(r.object_id), r.indicator_code): r
        for r in (
            await api.db.execute(
                text(
                    "SELECT object_id, indicator_code, value, target, baseline, share, earned, missing "
                    "FROM appraisal.result_leaf WHERE run_id = :run AND indicator_code = ANY(:codes)"
                ),
                {"run": uuid.UUID(run["id"]), "codes": list(MARKS)},
            )
        ).all()
    }
    targets = {"E1": (e1_target, D(900)), "E2": (e2_target, D(90))}
    for obj, row in zip(world.objects.values(), rows, strict=True):
        for code, actual in row.items():
            target, baseline = targets.get(code, (None, None))
            expected = reference(code, actual, target, baseline)
            leaf = found[(obj, code)]
            assert leaf.missing == (expected is None), (code, actual, target, leaf)
            if expected is None:
                assert leaf.share is None and leaf.earned == 0
                continue
            # The engine keeps shares to 40 places, the reference to 60 digits: equal to 30 places.
            assert round_half_up(leaf.share, 30) == round_half_up(expected, 30), (code, actual, target)
            assert leaf.earned == marks_earned(MARKS[code], expected, places), (code, actual, target, places)
