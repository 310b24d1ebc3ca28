"""The quotas' in-process store (development without Redis): the same rules as the Redis scripts, on a clock the
tests move by hand, and `enter` / `passing` over it."""

from __future__ import annotations

import threading
import uuid

import pytest

from integrations import quota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> quota.LocalStore:
    return quota.LocalStore(clock=clock)


def gate(rate: float = 2.0, burst: float = 3, slots: int = 0, key: str = "a") -> quota.Gate:
    return quota.Gate(
        (quota.Bucket(f"bucket-{key}", rate, burst),), quota.Slots(f"slots-{key}", slots) if slots else None
    )


def take(store: quota.LocalStore, g: quota.Gate, max_wait: float = 0.0) -> quota.Answer:
    return store.take(g, [], max_wait=max_wait, cost=1, invited=False)


def test_the_burst_goes_at_once_then_one_token_per_interval(store, clock) -> None:  # type: ignore[no-untyped-def]
    g = gate(rate=2.0, burst=3)
    assert [take(store, g).admitted for _ in range(4)] == [True, True, True, False]
    refused = take(store, g)
    assert not refused.admitted and refused.wait == pytest.approx(0.5)
    clock.now += 0.5
    assert take(store, g).admitted and not take(store, g).admitted


def test_a_short_wait_is_reserved_a_long_one_refused(store, clock) -> None:  # type: ignore[no-untyped-def]
    g = gate(rate=2.0, burst=1)
    assert take(store, g).wait == 0
    # Two waiting requests each reserve their own turn: the second goes half a second after the first.
    first, second = take(store, g, max_wait=2), take(store, g, max_wait=2)
    assert (first.admitted, first.at - clock.now) == (True, pytest.approx(0.5))
    assert (second.admitted, second.at - clock.now) == (True, pytest.approx(1.0))
    late = take(store, g, max_wait=1.2)
    assert not late.admitted and late.wait == pytest.approx(1.5)


def test_a_request_is_admitted_only_if_every_bucket_has_room(store) -> None:  # type: ignore[no-untyped-def]
    user = quota.Bucket("user", 1.0, 1)
    both = quota.Gate((user, quota.Bucket("project", 1.0, 5)))
    assert take(store, both).admitted
    assert not take(store, both).admitted  # the user is out of tokens...
    other = quota.Gate((quota.Bucket("other-user", 1.0, 1), quota.Bucket("project", 1.0, 5)))
    assert take(store, other).admitted  # ...and the refusal took nothing from the project: 3 of 5 left
    assert store.levels["project"].tokens == pytest.approx(3)


def test_a_pause_holds_everyone_but_the_invited_retry_until_resumed(store, clock) -> None:  # type: ignore[no-untyped-def]
    g = gate(rate=10.0, burst=10)
    store.pause(g, 30)
    refused = take(store, g, max_wait=2)
    assert not refused.admitted and refused.wait == pytest.approx(30)
    assert store.take(g, [], max_wait=0, cost=1, invited=True).admitted
    store.resume(g)
    assert take(store, g).admitted
    store.pause(g, 5)
    clock.now += 5
    assert take(store, g).admitted  # a pause ends by itself


def test_slots_are_held_until_released_and_expire_by_themselves(store, clock, settings) -> None:  # type: ignore[no-untyped-def]
    settings.QUOTA_SLOT_SECONDS = 60
    g = gate(rate=100.0, burst=100, slots=4)
    assert store.take(g, ["a", "b", "c"], max_wait=0, cost=1, invited=False).admitted
    assert not store.take(g, ["d", "e"], max_wait=0, cost=1, invited=False).admitted  # a batch that needs two
    assert store.take(g, ["d"], max_wait=0, cost=1, invited=False).admitted
    full = store.take(g, ["e"], max_wait=0, cost=1, invited=False)
    assert not full.admitted and full.wait == -1
    store.release(g, ["a"])
    assert store.take(g, ["e"], max_wait=0, cost=1, invited=False).admitted
    clock.now += 61  # the holders died without releasing
    assert store.take(g, ["f", "g", "h", "i"], max_wait=0, cost=1, invited=False).admitted


def test_enter_waits_a_short_wait_and_refuses_a_long_one_as_throttled(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings.QUOTA_REDIS_URL, settings.QUOTA_MAX_WAIT_SECONDS = "", 1.5
    slept: list[float] = []
    monkeypatch.setattr(quota.time, "sleep", slept.append)
    g = quota.Gate((quota.Bucket(f"enter-{uuid.uuid4().hex}", 1.0, 1),), provider="Google")
    quota.leave(g, quota.enter(g))
    quota.leave(g, quota.enter(g))  # about a second: waited here
    assert len(slept) == 1 and 0.9 < slept[0] <= 1.0
    with pytest.raises(quota.Throttled) as throttled:
        quota.enter(g)  # about two seconds now: the run is deferred instead
    assert throttled.value.retry_after == 2 and str(throttled.value).startswith("Google: throttled, will retry")


def test_threads_sharing_the_local_store_stay_under_the_limit(settings) -> None:  # type: ignore[no-untyped-def]
    """The in-process store under real threads and its real clock: no window over rate × window + burst."""
    store, g, moments = quota.LocalStore(), gate(rate=50.0, burst=5, key="threads"), []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(40):
            answer = store.take(g, [], max_wait=5, cost=1, invited=False)
            with lock:
                moments.append(answer.at if answer.admitted else float("nan"))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    moments.sort()
    for i, start in enumerate(moments):
        within = sum(1 for m in moments[i:] if m <= start + 1.0)
        assert within <= 50 * 1.0 + 5
    assert moments[-1] - moments[0] == pytest.approx((160 - 5) / 50, rel=0.05)  # reserved back to back


def test_redis_out_of_reach_defers_the_sync_as_transient_and_a_lost_release_is_harmless() -> None:
    from sync.errors import TransientError
    from tests.conftest import free_port

    store = quota.RedisStore(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with pytest.raises(TransientError, match="quota store"):
        take(store, gate(slots=1))  # type: ignore[arg-type]
    store.release(gate(slots=1), ["holder"])  # logged, not raised: the slot expires on its own
    store.pause(gate(), 5)
