"""The map's bounded sample of a large buffer (capture/sampler.py): size, stability, age strata, priority, eviction."""

import numpy as np
import pytest

from better_rl_widget.capture.sampler import MapSample


def stream(sample: MapSample, capacity: int, total: int, batch: int = 1000, priority=None):
    """Feed a ring buffer's writes; yields (insertion index after the batch, Admitted). Tracks lane → (slot, n)."""
    held: dict[int, tuple[int, int]] = {}
    for start in range(0, total, batch):
        n = np.arange(start, min(start + batch, total))
        slots = n % capacity
        adm = sample.admit(slots, min(n[-1] + 1, capacity), None if priority is None else priority(slots))
        for lane in adm.removed.tolist():
            held.pop(lane)
        by_slot = dict(zip(slots.tolist(), n.tolist(), strict=True))
        for s, lane in zip(adm.slots.tolist(), adm.lanes.tolist(), strict=True):
            held[lane] = (s, by_slot[s])
        yield int(n[-1]) + 1, adm, held


def test_small_buffers_are_drawn_whole():
    s = MapSample(1000, 5000)
    assert s.identity and s.lanes == 1000
    adm = s.admit(np.arange(10), 10)
    assert np.array_equal(adm.lanes, np.arange(10)) and np.array_equal(s.slot_of(np.arange(3)), np.arange(3))


def test_bounded_at_any_capacity_and_stratified_by_age():
    cap, m = 1_000_000, 2000
    s = MapSample(cap, m)
    peak = 0
    for total, _, held in stream(s, cap, 1_400_000, batch=5000):  # noqa: B007 - the last total is read below
        peak = max(peak, len(held))
        assert s.drawn == len(held) <= m
    assert peak <= m and len(held) >= 0.95 * m
    ages = np.array([total - 1 - n for _, n in held.values()])
    assert ages.max() < cap  # every drawn row is still in the buffer
    # Even by insertion age: each tenth of the buffer holds a tenth of the map (within 3 %).
    counts = np.histogram(ages, bins=10, range=(0, cap))[0]
    assert np.all(np.abs(counts - len(held) / 10) <= 0.03 * len(held) / 10 + 2), counts
    # the map's lanes name the buffer's slots both ways
    lanes = np.array(list(held))
    assert np.array_equal(s.slot_of(lanes), np.array([held[lane][0] for lane in lanes]))
    assert np.array_equal(s.lane_of(s.slot_of(lanes)), lanes)


def test_drawn_rows_stay_until_their_slot_is_overwritten_once_full():
    cap, m = 50_000, 1000
    s = MapSample(cap, m)
    gen = stream(s, cap, 200_000, batch=500)
    for total, _, _ in gen:  # fill the buffer first (while it fills, the sample thins)
        if total >= cap:
            break
    flicker = 0
    turned_over = 0
    prev = dict(next(gen)[2])
    for total, _, held in gen:
        for lane, (slot, n) in prev.items():
            if held.get(lane) != (slot, n):  # the row left the map (its lane is free or shows another row)
                # ... only because the buffer overwrote its slot (insertion n + cap has happened)
                flicker += n + cap >= total
                turned_over += 1
        prev = dict(held)
    assert flicker == 0
    assert turned_over > 2 * m  # the sample really turned over with the buffer
    assert s.overflow == 0


def test_thinning_while_filling_keeps_the_map_spread():
    cap, m = 100_000, 1000
    s = MapSample(cap, m)
    for total, _, held in stream(s, cap, 30_000, batch=1000):  # noqa: B007 - the last values are read below
        pass
    ages = np.array([total - 1 - n for _, n in held.values()])
    counts = np.histogram(ages, bins=5, range=(0, total))[0]
    assert len(held) >= 0.95 * m and counts.min() >= 0.9 * len(held) / 5, counts


def test_priority_option_draws_in_proportion_to_priority():
    cap, m = 100_000, 4000
    s = MapSample(cap, m, by="priority")
    pri = np.where(np.arange(cap) % 2 == 0, 4.0, 1.0)  # even slots 4x the priority of odd ones
    for _, _, held in stream(s, cap, 200_000, batch=1000, priority=lambda slots: pri[slots]):  # noqa: B007 - read below
        pass
    slots = np.array([sl for sl, _ in held.values()])
    even, odd = int((slots % 2 == 0).sum()), int((slots % 2 == 1).sum())
    assert len(held) <= m
    assert 3.0 < even / odd < 5.0, (even, odd)


def test_priority_changes_move_rows_in_and_out():
    cap, m = 20_000, 500
    s = MapSample(cap, m, by="priority")
    for _ in stream(s, cap, cap, batch=1000, priority=lambda slots: np.ones(len(slots))):
        pass
    drawn = s.slot_of(np.arange(m))
    drawn = drawn[drawn >= 0]
    # the drawn rows lose all priority: they leave; some undrawn rows gain a lot: they enter
    enter, leave = s.reconsider(drawn[:50], np.zeros(50))
    assert len(enter) == 0 and len(leave) == 50 and np.all(s.lane_of(drawn[:50]) == -1)
    undrawn = np.setdiff1d(np.arange(cap), drawn)[:400]
    enter, leave = s.reconsider(undrawn, np.full(len(undrawn), 1e6))
    free = m - s.drawn
    adm = s.enter(enter)
    assert len(enter) > 0 and len(adm.lanes) == min(len(enter), free) and s.drawn == m
    assert s.overflow == len(enter) - free  # the rest could not be drawn: counted, not lost silently


def test_overwriting_a_drawn_slot_with_an_undrawn_row_frees_its_lane():
    cap, m = 10_000, 100
    s = MapSample(cap, m)
    for _ in stream(s, cap, cap, batch=cap):
        pass
    lane = 0
    slot = int(s.slot_of(np.array([lane]))[0])
    # Overwrite slot until a write is not drawn: the lane is released and the slot no longer maps to it.
    for _ in range(200):
        adm = s.admit(np.array([slot]), cap)
        if lane in adm.removed.tolist():
            break
    assert s.lane_of(np.array([slot]))[0] == -1 and s.slot_of(np.array([lane]))[0] == -1


@pytest.mark.parametrize("bad", [dict(capacity=0, max_points=10), dict(capacity=10, max_points=0),
                                 dict(capacity=10, max_points=5, by="random")])
def test_bad_arguments_are_named(bad):
    by = bad.pop("by", "age")
    with pytest.raises(ValueError, match=r"capacity|max_points|sample"):
        MapSample(bad["capacity"], bad["max_points"], by=by)
