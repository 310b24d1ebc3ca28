"""Provider quotas held by the whole fleet: token buckets and concurrency slots shared by every worker.

Each provider limits calsync per scope, and every worker process sends requests in that scope:

- Google Calendar: 600 requests a minute per user and 10,000 a minute per project (the OAuth client or the
  service account's project), over a sliding minute; over either, 403 or 429 `usageLimits`.
  https://developers.google.com/workspace/calendar/api/guides/quota
- Microsoft Graph (Outlook resources): 10,000 requests per 10 minutes and 4 concurrent requests per app per
  mailbox; over them, 429 with Retry-After. https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits
- Exchange (EWS): a budget of server time and a number of concurrent connections per caller (the login), set by
  the server's throttling policy; over it, ErrorServerBusy with BackOffMilliseconds.
  https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange

A `Gate` is what one request must pass: every bucket it counts against (all or none taken, atomically) and, where
the scope limits concurrency, a slot that expires by itself after QUOTA_SLOT_SECONDS, so a killed worker cannot
keep one. A request that would wait up to QUOTA_MAX_WAIT_SECONDS waits; a longer wait raises `Throttled`, a
TransientError whose retry_after defers the run through the sync's own back-off. A provider's own "slow down"
pauses the scope for every worker (`pause`), until a request it lets through again shows it is over (`resume`).

The state lives in Redis (QUOTA_REDIS_URL, by default REDIS_URL), changed only by the Lua scripts below, on Redis's
clock; without Redis (development on SQLite and the filesystem broker) one process holds it in memory, with the
same rules and the same interface.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from redis.exceptions import RedisError

from sync.errors import Throttled, TransientError


@dataclass(frozen=True)
class Bucket:
    """`rate` tokens a second, at most `burst` saved up; a request takes one (a batch one per request in it)."""

    key: str
    rate: float
    burst: float


@dataclass(frozen=True)
class Slots:
    """At most `size` requests in this scope at a time, whichever worker sends them."""

    key: str
    size: int


@dataclass(frozen=True)
class Gate:
    buckets: tuple[Bucket, ...]
    slots: Slots | None = None
    provider: str = ""  # for messages: "Google", "Microsoft", "Exchange"


@dataclass
class Answer:
    admitted: bool
    wait: float  # admitted: sleep this long first (the tokens are reserved); refused: how long until there is room
    at: float = 0.0  # admitted: the moment the request may go, on the store's clock


def scope(provider: str, kind: str, identity: str) -> str:
    """A key for one provider scope. Identities (addresses, logins) are hashed: Redis needs no personal data."""
    digest = hashlib.sha256(identity.strip().lower().encode()).hexdigest()[:20]
    return f"{settings.QUOTA_KEY_PREFIX}{provider}:{kind}:{digest}"


def within(key: str, limit: int, seconds: float) -> Bucket:
    """A bucket that never lets more than `limit` requests through in any `seconds`: a tenth of the limit as the
    burst, the rest spread evenly over the window (burst + rate × window = limit)."""
    burst = max(1, limit // 10)
    return Bucket(key, (limit - burst) / seconds, burst)


# --- the stores -------------------------------------------------------------------------------------------------


class Store(Protocol):
    def take(self, gate: Gate, holders: list[str], *, max_wait: float, cost: int, invited: bool) -> Answer: ...
    def release(self, gate: Gate, holders: list[str]) -> None: ...
    def renew(self, gate: Gate, holders: list[str]) -> None: ...
    def pause(self, gate: Gate, seconds: float) -> None: ...
    def resume(self, gate: Gate) -> None: ...


# KEYS: the buckets, then the slots (if any). ARGV: number of buckets, cost, longest wait, slot size (0: none),
# slot lifetime, invited (1: ignore a pause), number of slots wanted, then rate and burst of each bucket, then the
# holders (one per slot wanted).
# A bucket is a hash: tokens (may go below zero: reserved by admitted requests still sleeping), at (when tokens
# was computed), until (paused by the provider until then).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local n, cost, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local size, life, invited, width = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1', tonumber(ARGV[7])
if size > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[n + 1], '-inf', now)
  if redis.call('ZCARD', KEYS[n + 1]) + width > size then
    return {0, '-1'}
  end
end
local wait, levels = 0, {}
for i = 1, n do
  local rate, burst = tonumber(ARGV[6 + 2 * i]), tonumber(ARGV[7 + 2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at', 'until')
  local tokens = math.min(burst, (tonumber(state[1]) or burst) + math.max(0, now - (tonumber(state[2]) or now)) * rate)
  levels[i] = tokens
  if tokens < cost then wait = math.max(wait, (cost - tokens) / rate) end
  local paused = tonumber(state[3]) or 0
  if not invited and paused > now then wait = math.max(wait, paused - now) end
end
if wait > max_wait then
  return {0, tostring(wait)}
end
for i = 1, n do
  local rate, burst = tonumber(ARGV[6 + 2 * i]), tonumber(ARGV[7 + 2 * i])
  local left = levels[i] - cost
  redis.call('HSET', KEYS[i], 'tokens', tostring(left), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(((burst - left) / rate + 60) * 1000))
end
if size > 0 then
  for i = 1, width do
    redis.call('ZADD', KEYS[n + 1], now + wait + life, ARGV[7 + 2 * n + i])
  end
  redis.call('PEXPIRE', KEYS[n + 1], math.ceil((wait + life) * 1000))
end
return {1, tostring(wait), tostring(now + wait)}
"""

# KEYS: the slots. ARGV: slot lifetime, then the holders. Each holder still there keeps its slot that much longer.
_RENEW = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000))
return 1
"""

# KEYS: the buckets. ARGV: seconds. Every worker's next request in these scopes waits until then.
_PAUSE = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[1])
for i = 1, #KEYS do
  local paused = tonumber(redis.call('HGET', KEYS[i], 'until')) or 0
  if until_ > paused then redis.call('HSET', KEYS[i], 'until', tostring(until_)) end
  if redis.call('PTTL', KEYS[i]) < (ARGV[1] + 60) * 1000 then
    redis.call('PEXPIRE', KEYS[i], math.ceil((ARGV[1] + 60) * 1000))
  end
end
return 1
"""


def _arguments(gate: Gate, holders: list[str], max_wait: float, cost: int,
               invited: bool) -> tuple[list[str], list[Any]]:  # fmt: skip
    keys = [b.key for b in gate.buckets] + ([gate.slots.key] if gate.slots else [])
    argv: list[Any] = [len(gate.buckets), cost, max_wait, gate.slots.size if gate.slots else 0,
                       settings.QUOTA_SLOT_SECONDS, int(invited), len(holders)]  # fmt: skip
    for bucket in gate.buckets:
        argv += [bucket.rate, bucket.burst]
    return keys, argv + holders


log = logging.getLogger(__name__)
UNREACHABLE = "The quota store (Redis) could not be reached; the sync will be retried."


class RedisStore:
    """The fleet's shared state: one round trip per take, release, pause or resume. Redis out of reach: a take
    fails the run as transient (retried with back-off, no error shown); a lost release or pause only costs a
    slot until it expires, or one slow-down not shared."""

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=3)
        self._take = self.redis.register_script(_TAKE)
        self._pause = self.redis.register_script(_PAUSE)
        self._renew = self.redis.register_script(_RENEW)

    def take(self, gate: Gate, holders: list[str], *, max_wait: float, cost: int, invited: bool) -> Answer:
        keys, argv = _arguments(gate, holders, max_wait, cost, invited)
        try:
            admitted, *times = self._take(keys=keys, args=argv)
        except RedisError as exc:
            raise TransientError(UNREACHABLE) from exc
        return Answer(bool(admitted), float(times[0]), float(times[1]) if admitted else 0.0)

    def release(self, gate: Gate, holders: list[str]) -> None:
        if gate.slots is not None and holders:
            try:
                self.redis.zrem(gate.slots.key, *holders)
            except RedisError:
                log.warning("quota slot not released; it expires on its own", exc_info=True)

    def renew(self, gate: Gate, holders: list[str]) -> None:
        if gate.slots is not None and holders:
            try:
                self._renew(keys=[gate.slots.key], args=[settings.QUOTA_SLOT_SECONDS, *holders])
            except RedisError:
                log.warning("quota slot not renewed; it may expire", exc_info=True)

    def pause(self, gate: Gate, seconds: float) -> None:
        try:
            self._pause(keys=[b.key for b in gate.buckets], args=[seconds])
        except RedisError:
            log.warning("provider slow-down not shared with other workers", exc_info=True)

    def resume(self, gate: Gate) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for bucket in gate.buckets:
            pipe.hdel(bucket.key, "until")
        try:
            pipe.execute()
        except RedisError:
            log.warning("provider slow-down not lifted for other workers; it ends on its own", exc_info=True)


@dataclass
class _Level:
    tokens: float
    at: float
    until: float = 0.0


@dataclass
class LocalStore:
    """The same rules in one process, for development without Redis (every worker there is this process)."""

    clock: Any = time.monotonic
    lock: threading.Lock = field(default_factory=threading.Lock)
    levels: dict[str, _Level] = field(default_factory=dict)
    slots: dict[str, dict[str, float]] = field(default_factory=dict)

    def take(self, gate: Gate, holders: list[str], *, max_wait: float, cost: int, invited: bool) -> Answer:
        with self.lock:
            now = self.clock()
            held = self._held(gate, now)
            if gate.slots is not None and len(held) + len(holders) > gate.slots.size:
                return Answer(False, -1.0)
            levels = [self._level(b, now) for b in gate.buckets]
            wait = max([0.0] + [(cost - lv.tokens) / b.rate for b, lv in zip(gate.buckets, levels, strict=True)])
            if not invited:
                wait = max([wait] + [lv.until - now for lv in levels])
            if wait > max_wait:
                return Answer(False, wait)
            for level in levels:
                level.tokens -= cost
            for holder in holders:
                held[holder] = now + wait + settings.QUOTA_SLOT_SECONDS
            return Answer(True, wait, now + wait)

    def _level(self, bucket: Bucket, now: float) -> _Level:
        level = self.levels.setdefault(bucket.key, _Level(bucket.burst, now))
        level.tokens = min(bucket.burst, level.tokens + max(0.0, now - level.at) * bucket.rate)
        level.at = now
        return level

    def _held(self, gate: Gate, now: float) -> dict[str, float]:
        if gate.slots is None:
            return {}
        held = self.slots.setdefault(gate.slots.key, {})
        for holder in [h for h, expiry in held.items() if expiry <= now]:
            del held[holder]
        return held

    def release(self, gate: Gate, holders: list[str]) -> None:
        if gate.slots is not None:
            with self.lock:
                for holder in holders:
                    self.slots.get(gate.slots.key, {}).pop(holder, None)

    def renew(self, gate: Gate, holders: list[str]) -> None:
        if gate.slots is not None:
            with self.lock:
                held = self._held(gate, self.clock())
                for holder in holders:
                    if holder in held:
                        held[holder] = self.clock() + settings.QUOTA_SLOT_SECONDS

    def pause(self, gate: Gate, seconds: float) -> None:
        with self.lock:
            now = self.clock()
            for bucket in gate.buckets:
                level = self._level(bucket, now)
                level.until = max(level.until, now + seconds)

    def resume(self, gate: Gate) -> None:
        with self.lock:
            for bucket in gate.buckets:
                if bucket.key in self.levels:
                    self.levels[bucket.key].until = 0.0


@cache
def _store_for(url: str) -> Store:
    return RedisStore(url) if url else LocalStore()


def store() -> Store:
    return _store_for(settings.QUOTA_REDIS_URL)


# --- passing a gate ---------------------------------------------------------------------------------------------

_POLL_SECONDS = 0.05  # how often a request waiting for a slot asks again


def enter(gate: Gate, *, cost: int = 1, width: int = 1, invited: bool = False) -> list[str]:
    """Wait for room (up to QUOTA_MAX_WAIT_SECONDS) and take it; returns the holders to `leave` with.

    `cost`: tokens taken from each bucket; `width`: slots held (a batch the provider runs several at a time).
    `invited`: a retry the provider asked for after its Retry-After, which this worker has waited out itself; it
    counts against the buckets but does not wait for the pause that same answer set for everyone else.
    """
    wanted = min(width, gate.slots.size) if gate.slots is not None else 0
    holders = [uuid.uuid4().hex for _ in range(wanted)]
    deadline = time.monotonic() + settings.QUOTA_MAX_WAIT_SECONDS
    while True:
        left = deadline - time.monotonic()
        answer = store().take(gate, holders, max_wait=max(0.0, left), cost=cost, invited=invited)
        if answer.admitted:
            if answer.wait > 0:
                time.sleep(answer.wait)
            return holders
        if answer.wait > left or left <= 0:
            raise Throttled(f"{gate.provider or 'The provider'}: throttled, will retry (calsync stays under its "
                            f"request limits).", retry_after=math.ceil(max(answer.wait, 1.0)))  # fmt: skip
        time.sleep(min(_POLL_SECONDS, left))


def leave(gate: Gate, holders: list[str]) -> None:
    store().release(gate, holders)


@contextmanager
def passing(gate: Gate, *, cost: int = 1, width: int = 1, invited: bool = False) -> Iterator[None]:
    """`with passing(gate):` around the one place a client sends a request."""
    holders = enter(gate, cost=cost, width=width, invited=invited)
    try:
        yield
    finally:
        leave(gate, holders)


def hold(gate: Gate) -> str | None:
    """One of the gate's slots, now or never (no wait), for something long-lived (an open connection): its holder,
    to `renew` more often than QUOTA_SLOT_SECONDS (else it lapses, as a dead process's does) and to `leave` with;
    None when they are all taken."""
    holder = uuid.uuid4().hex
    answer = store().take(gate, [holder], max_wait=0.0, cost=0, invited=True)
    return holder if answer.admitted else None


def renew(gate: Gate, holders: list[str]) -> None:
    store().renew(gate, holders)


def pause(gate: Gate, seconds: float) -> None:
    """The provider said "slow down, come back in `seconds`": every worker's requests in this scope wait as long."""
    if seconds > 0:
        store().pause(gate, seconds)


def resume(gate: Gate) -> None:
    """The provider served a request again in this scope: whatever pause it had asked for is over."""
    store().resume(gate)
