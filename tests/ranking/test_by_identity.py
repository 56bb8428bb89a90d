"""ByIdentity (geo_discovery.ranking.derived): values found by their objects' identity."""

from __future__ import annotations

import threading

from geo_discovery.ranking.derived import ByIdentity


class Thing:
    """An object equal to no other (identity is what counts)."""


def test_the_oldest_entry_goes_first_and_the_rest_stay() -> None:
    """At its size the cache drops its oldest entry only: the members asked since are
    still found (a cache that started over would build them all again)."""
    cache: ByIdentity[int] = ByIdentity(3)
    things = [Thing() for _ in range(5)]
    built: list[int] = []

    def get(i: int, also: object = None) -> int:
        return cache.get(things[i], "v", lambda: built.append(i) or i * 10, also=also)

    for i in range(5):
        assert get(i) == i * 10
    assert built == [0, 1, 2, 3, 4]
    assert [get(i) for i in (2, 3, 4)] == [20, 30, 40]
    assert built == [0, 1, 2, 3, 4], "the last three are kept"
    assert get(0) == 0 and built[-1] == 0, "the oldest went"
    other = Thing()
    assert get(4, also=other) == 40 and built[-1] == 4, "another `also` is another entry"


def test_threads_inserting_at_once_keep_the_size_and_every_answer() -> None:
    cache: ByIdentity[int] = ByIdentity(8)
    things = [Thing() for _ in range(64)]
    wrong: list[int] = []

    def worker(offset: int) -> None:
        for r in range(200):
            i = (r * 7 + offset) % 64
            if cache.get(things[i], None, lambda i=i: i) != i:
                wrong.append(i)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
    assert len(cache) <= 8


def test_a_value_kept_again_takes_no_second_place_in_the_order() -> None:
    """Putting a value again for a kept key replaces it and evicts nothing; the order stays
    that of first insertion, so each later insertion drops exactly one oldest entry."""
    cache: ByIdentity[int] = ByIdentity(3)
    a, b, c, d, e = (Thing() for _ in range(5))
    for i, t in enumerate((a, b, c)):
        cache.put(t, None, i)
    for _ in range(5):  # again and again: no entry goes
        cache.put(b, None, 11)
    assert [cache.find(t, None) for t in (a, b, c)] == [0, 11, 2]
    cache.put(d, None, 3)
    assert cache.find(a, None) is None and len(cache) == 3
    assert [cache.find(t, None) for t in (b, c, d)] == [11, 2, 3]
    cache.put(e, None, 4)
    assert cache.find(b, None) is None and len(cache) == 3
    assert [cache.find(t, None) for t in (c, d, e)] == [2, 3, 4]


def test_an_entry_found_again_is_spared_once_before_it_goes() -> None:
    """At the size, the oldest entry goes unless it was found since it was kept: a member
    asking all the time stays while members asking once come and go. Spared once, it
    goes next time round unless it is found again."""
    cache: ByIdentity[int] = ByIdentity(3)
    a, b, c, d, e, f = (Thing() for _ in range(6))
    for i, t in enumerate((a, b, c)):
        cache.put(t, None, i)
    assert cache.find(a, None) == 0  # the oldest, found again
    cache.put(d, None, 3)  # b goes, not a
    assert cache.find(b, None) is None
    cache.put(e, None, 4)  # c goes (never found): the line is now a, d, e
    cache.put(f, None, 5)  # a was spared once and not found since: it goes now
    assert [cache.find(t, None) for t in (a, b, c)] == [None, None, None]
    assert [cache.find(t, None) for t in (d, e, f)] == [3, 4, 5]
    assert len(cache) == 3


def test_a_member_asking_all_the_time_stays_while_others_cycle_through() -> None:
    """One object found between every insertion of 50 others outlives a cache of 8."""
    cache: ByIdentity[int] = ByIdentity(8)
    regular = Thing()
    cache.put(regular, None, -1)
    for i in range(50):
        assert cache.find(regular, None) == -1, f"dropped after {i} others"
        cache.put(Thing(), None, i)
    assert len(cache) == 8
