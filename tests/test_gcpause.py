"""Bulk work under paused_gc leaves what it built in the oldest generation,
where only a full collection scans it, and leaves the collector as it was."""

from __future__ import annotations

import gc
import weakref

from deployctl.gcpause import paused_gc


class Node:
    def __init__(self) -> None:
        self.children: list[Node] = []


def test_what_the_paused_work_built_is_moved_to_the_oldest_generation() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        tree = [Node() for _ in range(2_000)]
    assert gc.isenabled()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(node) in oldest for node in tree)
    assert gc.get_freeze_count() == 0


def test_cycles_made_under_the_pause_are_still_freed_by_a_full_collection() -> None:
    with paused_gc():
        loop = Node()
        loop.children.append(loop)
    ref = weakref.ref(loop)
    del loop
    assert ref() is not None  # a cycle: reference counting alone cannot free it
    gc.collect()
    assert ref() is None


def test_objects_frozen_by_someone_else_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            _ = [Node() for _ in range(100)]
        # Not unfrozen (that leaves 0), nothing new frozen (the 100 nodes):
        # the count may only drop a little, when another thread of this
        # process (a moto server) frees a frozen object meanwhile.
        assert frozen - 50 <= gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def test_a_nested_pause_leaves_the_collector_to_the_outer_one() -> None:
    with paused_gc():
        with paused_gc():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
