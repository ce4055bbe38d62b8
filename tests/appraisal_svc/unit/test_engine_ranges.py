"""How a parallel scoring run cuts its objects into the ranges its parts take from a queue."""

from hypothesis import given
from hypothesis import strategies as st

from services.appraisal_svc.scoring.engine import range_sizes


@given(objects=st.integers(min_value=0, max_value=200_000), parts=st.integers(min_value=1, max_value=8))
def test_the_ranges_hold_every_object_once_and_none_is_empty(objects: int, parts: int) -> None:
    sizes = range_sizes(objects, parts)
    assert sum(sizes) == objects
    assert all(size > 0 for size in sizes)
    assert len(sizes) <= 3 * parts


@given(objects=st.integers(min_value=100, max_value=200_000), parts=st.integers(min_value=1, max_value=8))
def test_each_part_starts_with_a_large_range_and_the_last_third_comes_in_small_ones(objects: int, parts: int) -> None:
    sizes = range_sizes(objects, parts)
    first, rest = sizes[:parts], sizes[parts:]
    # The parts choose values for their first range while the run ranks every object.
    assert len(set(first)) == 1 and abs(sum(first) - objects * 2 / 3) <= parts
    # The small ranges differ by one object at most, and each is a quarter of a first one or less.
    assert len(rest) == 2 * parts and max(rest) - min(rest) <= 1
    assert max(rest) <= first[0] / 4 + 2


def test_a_plan_of_10000_objects_on_two_parts() -> None:
    assert range_sizes(10_000, 2) == [3333, 3333, 834, 834, 833, 833]
