"""The shared queue: Redis Streams, one consumer group read by every gateway process.

Keys (all under ``prefix``; Redis 7 or later, standalone or one primary, not Cluster:
the scripts derive key names from the prefix)
- ``seq``: the counter item ids come from; a dead letter keeps its item's id.
- ``item:{id}``: a live item (destination, event_id, payload, created_ms, attempts,
  due_ms, last_error, and ``sid``, its stream entry id, while it is in the stream).
- ``q:{destination}``: the destination's stream; an entry carries only the item id and
  is read through the consumer group ``delivery``, each process being one consumer.
- ``delayed:{destination}``: items backing off after ``retry``, scored by due epoch ms.
- ``dead:{id}``, ``dead-index`` and ``dead-index:{destination}``: the dead-letter store
  (a hash per dead letter, indexes scored by id).
- ``consent``: the consent records, a stream whose entry ids follow ``at_ms``.
- ``totals`` (rows, bytes of live items), ``depth`` and ``dead-count`` (per destination),
  ``destinations`` (every destination ever queued): counters shared by every process.

Invariants
- Every change touching more than one key is one Lua script, so it is atomic: a script
  validates before its first write and cannot fail after it, and Redis refuses a script
  before it runs when over ``maxmemory`` (scripts declare ``#!lua``): nothing is ever
  half-written. ``put`` is one script and one round trip: bounds checked, items
  written and added to their streams, dead-on-arrival entries buried, consent records
  appended; an acknowledged event always has its record. How durable a returned ``put``
  is depends on Redis's persistence (``appendonly yes`` with ``appendfsync always`` is
  the counterpart of SQLite's ``synchronous: full``; ``everysec`` may lose the last
  second on a crash of the Redis host).
- A live item is in exactly one place: unread in its stream (due), pending in the group
  (leased), in its delayed set (backing off); a dead letter is in the dead-letter store
  only; ``ack`` deletes it. Settling acks the entry and deletes it from the stream in
  the same script, so every stream entry is either unread or pending, and (the group
  reads in order) every pending entry precedes every unread one.
- A lease is a pending entry: it expires when the entry has been idle ``lease_secs``,
  and the next ``lease`` of any process claims it (``XAUTOCLAIM``) and counts an
  attempt, like an expired lease in SQLite. Consumer names must be unique among live
  processes: a process restarted under its name knows its old leases are stale, and
  ``start`` marks them idle since the epoch, so they are due at once, and removes
  consumers idle for a day that hold nothing.
- Item ids are unique across processes (one counter); a replayed dead letter becomes a
  new item with a new id, its event id, payload and ``created_ms``, like in SQLite.
- ``depth`` and ``dead_letter_count`` read a cache that every counting script's reply
  refreshes and a background task re-reads each second: other processes' changes show
  within a second.

Where it differs from SQLite (through the ``Store`` Protocol)
- A lease's length is judged when the item is claimed, by the claiming ``lease``'s
  ``lease_secs``, not fixed when it was leased: the same as long as every process uses
  the same ``lease_secs``. ``next_due_ms`` uses the length of this process's last
  lease of the destination; before its first one it counts every lease as expired, so
  a worker's first lease may come back empty.
- Order: a lease hands out expired leases first, then entries in the order they joined
  the stream; a retry joins it when a lease finds it due, not at its due time (SQLite
  orders by due time throughout).
- ``replay`` and ``purge`` apply atomically per ``_CHUNK`` dead letters, not in one
  transaction: an error midway leaves the earlier chunks done (each dead letter moved
  or kept whole); running the command again finishes it.
- Consent records are read in the order they were written; records of concurrent puts
  may cross by a few milliseconds of ``at_ms`` (SQLite sorts by ``at_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import OutOfMemoryError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from destinations.base import QueuedEvent
from gateway.consent_records import ConsentRecord, Query
from gateway.errors import QueueFull, QueueUnavailable
from gateway.pipeline.route import QueueEntry
from gateway.queue.base import DeadLetter
from gateway.queue.dead_letters import DeadLetterQuery

#: dead letters replayed or purged per script: bounds how long one call holds Redis
_CHUNK = 1000
#: how often the depth and dead-letter caches are re-read from Redis
_REFRESH_SECS = 1.0
#: connections per process; past them operations wait (up to the timeout) for one
_MAX_CONNECTIONS = 64
_TIMEOUT_SECS = 5.0
#: a consumer idle this long with nothing leased is removed from the group at a start
_FORGET_CONSUMER_MS = 24 * 3600 * 1000
_DEAD_FIELDS = ("destination", "event_id", "attempts", "created_ms", "failed_ms", "reason")

# Helpers every writing script starts with. ARGV[1] is always the key prefix.
_PRELUDE = """
local p = ARGV[1]
local GROUP = 'delivery'
local grouped = {}

-- a destination's stream, its group created on first use: at id 0, so entries added
-- before the group existed are read (BUSYGROUP, the group exists, is no error)
local function stream(dest)
  local key = p .. ':q:' .. dest
  if not grouped[key] then
    redis.pcall('XGROUP', 'CREATE', key, GROUP, '0', 'MKSTREAM')
    grouped[key] = true
  end
  return key
end

local function item(id)
  return p .. ':item:' .. id
end

local function counts()
  return redis.call('HGETALL', p .. ':depth'), redis.call('HGETALL', p .. ':dead-count')
end

-- make a live item due: a new entry at the end of its stream
local function enqueue(id, dest, due)
  local sid = redis.call('XADD', stream(dest), '*', 'id', id)
  redis.call('HSET', item(id), 'sid', sid, 'due_ms', due)
end

-- take a live item out of its stream (leased or not) or out of its delayed set
local function unqueue(id, dest, sid)
  if sid then
    local key = stream(dest)
    redis.call('XACK', key, GROUP, sid)
    redis.call('XDEL', key, sid)
  else
    redis.call('ZREM', p .. ':delayed:' .. dest, id)
  end
end

local function count_live(dest, rows, bytes)
  redis.call('HINCRBY', p .. ':depth', dest, rows)
  redis.call('HINCRBY', p .. ':totals', 'rows', rows)
  redis.call('HINCRBY', p .. ':totals', 'bytes', bytes)
end

local function bury(id, dest, event_id, payload, created, attempts, failed, reason)
  redis.call('HSET', p .. ':dead:' .. id, 'destination', dest, 'event_id', event_id,
    'payload', payload, 'created_ms', created, 'attempts', attempts, 'failed_ms', failed,
    'reason', reason)
  redis.call('ZADD', p .. ':dead-index', id, id)
  redis.call('ZADD', p .. ':dead-index:' .. dest, id, id)
  redis.call('HINCRBY', p .. ':dead-count', dest, 1)
end

local function unbury(id, dest)
  redis.call('DEL', p .. ':dead:' .. id)
  redis.call('ZREM', p .. ':dead-index', id)
  redis.call('ZREM', p .. ':dead-index:' .. dest, id)
  redis.call('HINCRBY', p .. ':dead-count', dest, -1)
end
"""

# ARGV: prefix, now, max_rows, max_bytes, n entries, n records, then 5 fields per entry
# (destination, event_id, payload, '1' if dead on arrival else '0', reason) and 10 per
# record (at_ms, client_key, event_id, event_name, '1' if it has a region, region,
# regime, signals_digest, verdicts, config_version). Returns {0} when a bound is reached.
_PUT = """
local now = tonumber(ARGV[2])
local n, m = tonumber(ARGV[5]), tonumber(ARGV[6])
local first_record = 7 + n * 5
local rows, bytes = 0, 0
for i = 7, first_record - 1, 5 do
  if ARGV[i + 3] == '0' then
    rows = rows + 1
    bytes = bytes + #ARGV[i + 2]
  end
end
if n > 0 then
  local totals = redis.call('HMGET', p .. ':totals', 'rows', 'bytes')
  if (tonumber(totals[1]) or 0) + rows > tonumber(ARGV[3])
      or (tonumber(totals[2]) or 0) + bytes > tonumber(ARGV[4]) then
    return {0}
  end
end
for i = 7, first_record - 1, 5 do
  local dest = ARGV[i]
  local id = redis.call('INCR', p .. ':seq')
  if ARGV[i + 3] == '1' then
    bury(id, dest, ARGV[i + 1], ARGV[i + 2], now, 0, now, ARGV[i + 4])
  else
    redis.call('HSET', item(id), 'destination', dest, 'event_id', ARGV[i + 1],
      'payload', ARGV[i + 2], 'created_ms', now, 'attempts', 0)
    enqueue(id, dest, now)
    redis.call('HINCRBY', p .. ':depth', dest, 1)
    redis.call('SADD', p .. ':destinations', dest)
  end
end
if rows > 0 then
  redis.call('HINCRBY', p .. ':totals', 'rows', rows)
  redis.call('HINCRBY', p .. ':totals', 'bytes', bytes)
end
if m > 0 then
  -- entry ids carry at_ms (so a purge is XTRIM MINID), never below the stream's last id
  -- (which XADD would refuse): a record's id is never earlier than its at_ms
  local key = p .. ':consent'
  local last = 0
  if redis.call('EXISTS', key) == 1 then
    local info = redis.call('XINFO', 'STREAM', key)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        last = tonumber(string.match(info[i + 1], '^%d+'))
      end
    end
  end
  for i = first_record, first_record + m * 10 - 1, 10 do
    local at = math.max(tonumber(ARGV[i]), last)
    local fields = {'at_ms', ARGV[i], 'client_key', ARGV[i + 1], 'event_id', ARGV[i + 2],
      'event_name', ARGV[i + 3], 'regime', ARGV[i + 6], 'signals_digest', ARGV[i + 7],
      'verdicts', ARGV[i + 8], 'config_version', ARGV[i + 9]}
    if ARGV[i + 4] == '1' then
      fields[#fields + 1] = 'region'
      fields[#fields + 1] = ARGV[i + 5]
    end
    redis.call('XADD', key, string.format('%d-*', at), unpack(fields))
    last = at
  end
end
return {1, counts()}
"""

# ARGV: prefix, destination, consumer, limit, lease_ms, now. Returns {id, attempts,
# created_ms, payload} per leased item.
_LEASE = """
local dest, consumer = ARGV[2], ARGV[3]
local limit, lease_ms, now = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local key = stream(dest)
local delayed = p .. ':delayed:' .. dest
-- due retries go back to the stream; a bounded number per call keeps it short, and
-- next_due_ms reports the rest as due, so the next lease moves them
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
for i = 1, #due, 2 do
  redis.call('ZREM', delayed, due[i])
  enqueue(due[i], dest, due[i + 1])
end
-- expired leases first (any consumer's), then entries never read
local entries = {}
local cursor = '0-0'
repeat
  local claimed = redis.call('XAUTOCLAIM', key, GROUP, consumer, lease_ms, cursor,
    'COUNT', limit - #entries)
  cursor = claimed[1]
  for _, entry in ipairs(claimed[2]) do
    entries[#entries + 1] = entry
  end
until cursor == '0-0' or #entries >= limit
if #entries < limit then
  local read = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', limit - #entries,
    'STREAMS', key, '>')
  if read then
    for _, entry in ipairs(read[1][2]) do
      entries[#entries + 1] = entry
    end
  end
end
local leased = {}
for _, entry in ipairs(entries) do
  local id = entry[2][2]
  local fields = redis.call('HMGET', item(id), 'created_ms', 'payload')
  if fields[2] then
    local attempts = redis.call('HINCRBY', item(id), 'attempts', 1)
    leased[#leased + 1] = {tonumber(id), attempts, tonumber(fields[1]), fields[2]}
  else
    -- its item was evicted (a Redis not set to noeviction): drop the entry, or every
    -- lease would claim it again
    redis.call('XACK', key, GROUP, entry[1])
    redis.call('XDEL', key, entry[1])
  end
end
return leased
"""

# ARGV: prefix, ids...
_ACK = """
for i = 2, #ARGV do
  local id = ARGV[i]
  local fields = redis.call('HMGET', item(id), 'destination', 'sid')
  if fields[1] then
    unqueue(id, fields[1], fields[2])
    count_live(fields[1], -1, -redis.call('HSTRLEN', item(id), 'payload'))
    redis.call('DEL', item(id))
  end
end
return {0, counts()}
"""

# ARGV: prefix, due_ms, reason, ids...
_RETRY = """
local due, reason = ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local id = ARGV[i]
  local fields = redis.call('HMGET', item(id), 'destination', 'sid')
  if fields[1] then
    unqueue(id, fields[1], fields[2])
    redis.call('HDEL', item(id), 'sid')
    redis.call('HSET', item(id), 'due_ms', due, 'last_error', reason)
    redis.call('ZADD', p .. ':delayed:' .. fields[1], due, id)
  end
end
return 0
"""

# ARGV: prefix, now, reason, ids...
_DEAD_LETTER = """
local now, reason = ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', item(id), 'destination', 'sid', 'event_id', 'payload',
    'created_ms', 'attempts')
  if f[1] then
    unqueue(id, f[1], f[2])
    count_live(f[1], -1, -#f[4])
    redis.call('DEL', item(id))
    bury(id, f[1], f[3], f[4], f[5], f[6], now, reason)
  end
end
return {0, counts()}
"""

# ARGV: prefix, now, dead letter ids... Returns the destination of each one moved.
_REPLAY = """
local now = ARGV[2]
local moved = {}
for i = 3, #ARGV do
  local f = redis.call('HMGET', p .. ':dead:' .. ARGV[i], 'destination', 'event_id', 'payload',
    'created_ms')
  if f[1] then
    local id = redis.call('INCR', p .. ':seq')
    redis.call('HSET', item(id), 'destination', f[1], 'event_id', f[2], 'payload', f[3],
      'created_ms', f[4], 'attempts', 0)
    enqueue(id, f[1], now)
    count_live(f[1], 1, #f[3])
    redis.call('SADD', p .. ':destinations', f[1])
    unbury(ARGV[i], f[1])
    moved[#moved + 1] = f[1]
  end
end
return {moved, counts()}
"""

# ARGV: prefix, dead letter ids... Returns how many were deleted.
_PURGE = """
local removed = 0
for i = 2, #ARGV do
  local dest = redis.call('HGET', p .. ':dead:' .. ARGV[i], 'destination')
  if dest then
    unbury(ARGV[i], dest)
    removed = removed + 1
  end
end
return {removed, counts()}
"""

# ARGV: prefix, consumer, forget_ms. The consumer's pending entries are left by an
# earlier process of the same name, which is gone: mark them idle since the epoch, so
# they are due now. Consumers idle longer than forget_ms and holding nothing are
# forgotten: processes named by host and pid would otherwise pile up in the group.
_RECOVER = """
local consumer, forget_ms = ARGV[2], tonumber(ARGV[3])
for _, dest in ipairs(redis.call('SMEMBERS', p .. ':destinations')) do
  local key = stream(dest)
  for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', key, GROUP)) do
    local name, pending, idle
    for i = 1, #info, 2 do
      if info[i] == 'name' then name = info[i + 1]
      elseif info[i] == 'pending' then pending = info[i + 1]
      elseif info[i] == 'idle' then idle = info[i + 1] end
    end
    if name ~= consumer and pending == 0 and idle > forget_ms then
      redis.call('XGROUP', 'DELCONSUMER', key, GROUP, name)
    end
  end
  local start = '-'
  while true do
    local pending = redis.call('XPENDING', key, GROUP, start, '+', 500, consumer)
    if #pending == 0 then
      break
    end
    local claim = {'XCLAIM', key, GROUP, consumer, 0}
    for _, entry in ipairs(pending) do
      claim[#claim + 1] = entry[1]
    end
    claim[#claim + 1] = 'TIME'
    claim[#claim + 1] = 0
    claim[#claim + 1] = 'JUSTID'
    redis.call(unpack(claim))
    start = '(' .. pending[#pending][1]
  end
end
return {0, counts()}
"""

# ARGV: prefix, destination, now, lease_ms (0 when unknown: every lease counts as
# expired, and the lease that follows learns the length). The earliest of: the oldest
# unread entry's due time, the end of the most idle lease, the first delayed item.
_NEXT_DUE = """#!lua flags=no-writes
local p, dest = ARGV[1], ARGV[2]
local now, lease_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local best = false
local function consider(t)
  if t and (not best or t < best) then
    best = t
  end
end
local first = redis.call('ZRANGE', p .. ':delayed:' .. dest, 0, 0, 'WITHSCORES')
if first[2] then
  consider(tonumber(first[2]))
end
local key = p .. ':q:' .. dest
if redis.call('EXISTS', key) == 1 then
  local after = '-'
  local summary = redis.pcall('XPENDING', key, 'delivery')
  if type(summary) == 'table' and not summary.err and summary[1] > 0 then
    -- every unread entry comes after the last pending one
    after = '(' .. summary[3]
    local start, idle = '-', 0
    repeat
      local page = redis.call('XPENDING', key, 'delivery', start, '+', 1000)
      for _, entry in ipairs(page) do
        idle = math.max(idle, entry[3])
      end
      if #page > 0 then
        start = '(' .. page[#page][1]
      end
    until #page < 1000
    consider(now - idle + lease_ms)
  end
  local unread = redis.call('XRANGE', key, after, '+', 'COUNT', 1)
  if unread[1] then
    local due = redis.call('HGET', p .. ':item:' .. unread[1][2][2], 'due_ms')
    consider(tonumber(due) or now)
  end
end
return best
"""

_COUNTS = """#!lua flags=no-writes
return {0, redis.call('HGETALL', ARGV[1] .. ':depth'),
  redis.call('HGETALL', ARGV[1] .. ':dead-count')}
"""


def _writing(body: str) -> str:
    # '#!lua' without allow-oom: Redis refuses the script up front when over maxmemory,
    # instead of failing at a write halfway through
    return "#!lua\n" + _PRELUDE + body


def _now_ms() -> int:
    return int(time.time() * 1000)


def _describe(err: RedisError) -> str:
    """A short reason for ``err``: never the URL, never a command's arguments."""
    if isinstance(err, OutOfMemoryError) or str(err).startswith("OOM"):
        return "redis is out of memory (maxmemory)"
    if isinstance(err, ResponseError):
        return f"redis refused the command ({str(err).split(' ', 1)[0]})"
    if isinstance(err, RedisTimeoutError):
        return "redis did not answer in time"
    return f"redis is unreachable ({type(err).__name__})"


@contextlib.contextmanager
def _unavailable(doing: str) -> Iterator[None]:
    try:
        yield
    except RedisError as err:
        raise QueueUnavailable(f"{doing}: {_describe(err)}") from err


def _pairs(flat: Sequence[Any]) -> dict[str, int]:
    """A Redis ``HGETALL`` reply (flat list) as names to counts."""
    return {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def _selects(query: DeadLetterQuery, dead: DeadLetter) -> bool:
    """Whether ``query`` selects ``dead``: ``DeadLetterQuery.where`` in Python (its ids
    are where the candidates come from)."""
    return (
        (query.destination is None or dead.destination == query.destination)
        and (query.reason is None or query.reason in dead.reason)
        and (query.since_ms is None or dead.failed_ms >= query.since_ms)
        and (query.until_ms is None or dead.failed_ms < query.until_ms)
    )


def _limit(limit: int | None) -> int | None:
    # a negative LIMIT means none in SQLite, whose reads these mirror
    return None if limit is None or limit < 0 else limit


class RedisStore:
    """The ``Store`` over Redis Streams; see the module docstring for its invariants."""

    #: other processes' puts do not set this process's wakeups: workers poll this often
    poll_secs = 0.5

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gateway",
        consumer: str,
        max_rows: int,
        max_bytes: int,
    ) -> None:
        self.prefix = prefix
        self.consumer = consumer
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        # no retries: a put whose reply was lost may have been written, and the client
        # retries a 503 anyway; failing fast answers it sooner
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=_MAX_CONNECTIONS,
            timeout=_TIMEOUT_SECS,
            socket_timeout=_TIMEOUT_SECS,
            socket_connect_timeout=_TIMEOUT_SECS,
            retry=Retry(NoBackoff(), 0),
        )
        self._redis = Redis.from_pool(pool)
        self._put = self._redis.register_script(_writing(_PUT))
        self._lease = self._redis.register_script(_writing(_LEASE))
        self._ack = self._redis.register_script(_writing(_ACK))
        self._retry = self._redis.register_script(_writing(_RETRY))
        self._dead_letter = self._redis.register_script(_writing(_DEAD_LETTER))
        self._replay = self._redis.register_script(_writing(_REPLAY))
        self._purge = self._redis.register_script(_writing(_PURGE))
        self._recover = self._redis.register_script(_writing(_RECOVER))
        self._next_due = self._redis.register_script(_NEXT_DUE)
        self._counts = self._redis.register_script(_COUNTS)
        self._depth: dict[str, int] = {}
        self._dead: dict[str, int] = {}
        #: bumped by every update of the two above
        self._counts_version = 0
        #: the lease length last used per destination, which ``next_due_ms`` needs
        self._lease_ms: dict[str, int] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._refresher: asyncio.Task[None] | None = None

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect, and make the leases an earlier process of this consumer name left
        due at once (other consumers' expire after the lease time)."""
        with _unavailable("cannot open queue"):
            await self._redis.ping()
            recover = [self.prefix, self.consumer, _FORGET_CONSUMER_MS]
            self._set_counts(await self._recover(args=recover))
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def close(self) -> None:
        """Stop refreshing the counts and close the connections."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await self._redis.aclose()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(_REFRESH_SECS)
            # while Redis is unreachable the cache keeps its last values; the operations
            # themselves report the outage
            with contextlib.suppress(RedisError):
                version = self._counts_version
                reply = await self._counts(args=[self.prefix])
                # an operation's reply that came in meanwhile is newer than this one
                if version == self._counts_version:
                    self._set_counts(reply)

    def _set_counts(self, reply: Sequence[Any]) -> None:
        self._depth = _pairs(reply[1])
        self._dead = _pairs(reply[2])
        self._counts_version += 1

    # -- the Store operations ----------------------------------------------------

    async def put(
        self, entries: Sequence[QueueEntry], records: Sequence[ConsentRecord] = ()
    ) -> None:
        """Add ``entries`` (those with a ``dead_letter`` reason straight to the dead
        letters) and ``records`` in one script; ``QueueFull`` past the bounds."""
        if not entries and not records:
            return
        args: list[Any] = [
            self.prefix,
            _now_ms(),
            self.max_rows,
            self.max_bytes,
            len(entries),
            len(records),
        ]
        for e in entries:
            dead = e.dead_letter is not None
            args += (e.destination, e.event_id, e.payload, int(dead), e.dead_letter or "")
        for r in records:
            args += (
                *r[:4],
                int(r.region is not None),
                r.region or "",
                r.regime,
                r.signals_digest,
                r.verdicts,
                r.config_version,
            )
        with _unavailable("queue write failed"):
            reply = await self._put(args=args)
        if not reply[0]:
            raise QueueFull("queue bound reached")
        self._set_counts(reply)
        for destination in {e.destination for e in entries if e.dead_letter is None}:
            self.wakeup(destination).set()

    async def lease(self, destination: str, limit: int, lease_secs: float) -> list[QueuedEvent]:
        """Up to ``limit`` due items of ``destination``: expired leases, then unread
        entries (due retries are moved back first); each counts an attempt."""
        lease_ms = int(lease_secs * 1000)
        self._lease_ms[destination] = lease_ms
        if limit <= 0:
            return []
        with _unavailable("queue read failed"):
            rows = await self._lease(
                args=[self.prefix, destination, self.consumer, limit, lease_ms, _now_ms()]
            )
        rows.sort(key=lambda row: row[0])
        return [
            QueuedEvent(item_id, destination, attempts, created, orjson.loads(payload))
            for item_id, attempts, created, payload in rows
        ]

    async def ack(self, ids: Sequence[int]) -> None:
        """Delivered: delete the items."""
        if ids:
            with _unavailable("queue write failed"):
                self._set_counts(await self._ack(args=[self.prefix, *ids]))

    async def retry(self, ids: Sequence[int], delay_secs: float, reason: str) -> None:
        """Out of the stream into the delayed set, due in ``delay_secs``."""
        if ids:
            due = _now_ms() + int(delay_secs * 1000)
            with _unavailable("queue write failed"):
                await self._retry(args=[self.prefix, due, reason, *ids])

    async def dead_letter(self, ids: Sequence[int], reason: str) -> None:
        """Move the items to the dead-letter store with ``reason``."""
        if ids:
            with _unavailable("queue write failed"):
                self._set_counts(
                    await self._dead_letter(args=[self.prefix, _now_ms(), reason, *ids])
                )

    async def next_due_ms(self, destination: str) -> int | None:
        """When the earliest item of ``destination`` is due: an unread entry's due time,
        the end of the oldest lease, or the first retry's; None when none is queued."""
        lease_ms = self._lease_ms.get(destination, 0)
        with _unavailable("queue read failed"):
            due = await self._next_due(args=[self.prefix, destination, _now_ms(), lease_ms])
        return None if due is None else int(due)

    async def dead_letters(self, destination: str | None = None) -> list[DeadLetter]:
        """The dead-letter store, optionally for one destination, by id."""
        return await self.read_dead_letters(DeadLetterQuery(destination=destination))

    async def replay(self, query: DeadLetterQuery) -> int:
        """Move the dead letters ``query`` selects back into the queue, due now, with
        their event ids, payloads and ``created_ms`` and a fresh attempt count; returns
        how many. Applied in atomic chunks of ``_CHUNK``: each dead letter moves whole."""
        selected = [dead.id for dead in await self.read_dead_letters(query)]
        moved = 0
        for start in range(0, len(selected), _CHUNK):
            chunk = selected[start : start + _CHUNK]
            with _unavailable("queue write failed"):
                reply = await self._replay(args=[self.prefix, _now_ms(), *chunk])
            self._set_counts(reply)
            moved += len(reply[0])
            for destination in {d.decode() for d in reply[0]}:
                self.wakeup(destination).set()
        return moved

    async def purge(self, query: DeadLetterQuery) -> int:
        """Delete the dead letters ``query`` selects for good; returns how many."""
        selected = [dead.id for dead in await self.read_dead_letters(query)]
        removed = 0
        for start in range(0, len(selected), _CHUNK):
            with _unavailable("queue write failed"):
                reply = await self._purge(args=[self.prefix, *selected[start : start + _CHUNK]])
            self._set_counts(reply)
            removed += reply[0]
        return removed

    async def purge_consent_records(self, before_ms: int) -> int:
        """Delete consent records older than ``before_ms`` (entry ids follow ``at_ms``)."""
        with _unavailable("queue write failed"):
            return int(
                await self._redis.xtrim(self._key("consent"), minid=before_ms, approximate=False)
            )

    async def ping(self) -> None:
        """Raise ``QueueUnavailable`` unless Redis accepts a write."""
        with _unavailable("queue unavailable"):
            await self._redis.set(self._key("heartbeat"), _now_ms())

    def depth(self) -> Mapping[str, int]:
        """Live items per destination, every process's (from the cache)."""
        return {d: n for d, n in self._depth.items() if n > 0}

    def dead_letter_count(self) -> Mapping[str, int]:
        """Dead letters per destination (from the cache)."""
        return dict(self._dead)

    def wakeup(self, destination: str) -> asyncio.Event:
        """Set by this process's puts and replays for ``destination``."""
        if (event := self._wakeups.get(destination)) is None:
            event = self._wakeups[destination] = asyncio.Event()
        return event

    # -- reads for the CLI -------------------------------------------------------

    async def read_dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        """The dead letters ``query`` selects, oldest first."""
        limit = _limit(query.limit)
        found: list[DeadLetter] = []
        with _unavailable("queue read failed"):
            async for ids in self._candidates(query):
                loaded = await self._load_dead(ids)
                found += [d for d in loaded if d is not None and _selects(query, d)]
                if limit is not None and len(found) >= limit:
                    break
        return found[:limit]

    async def read_dead_letter(self, dead_id: int) -> tuple[DeadLetter, dict[str, Any]] | None:
        """One dead letter and the governed event it holds, or None."""
        with _unavailable("queue read failed"):
            fields = await self._redis.hmget(
                self._key(f"dead:{dead_id}"), [*_DEAD_FIELDS, "payload"]
            )
        if fields[0] is None:
            return None
        return _dead_letter(dead_id, fields), orjson.loads(fields[-1])

    async def read_consent_records(self, query: Query) -> list[dict[str, Any]]:
        """Records matching ``query``, oldest first (in the order they were written),
        shaped like ``consent_records.read``'s."""
        limit = _limit(query.limit)
        found: list[dict[str, Any]] = []
        # an entry id is never earlier than its at_ms, so none at or after since_ms
        # comes before that id; the upper bound gives no such guarantee
        start: str | bytes = "-" if query.since_ms is None else str(query.since_ms)
        with _unavailable("queue read failed"):
            while limit is None or len(found) < limit:
                page = await self._redis.xrange(self._key("consent"), start, "+", count=_CHUNK)
                if not page:
                    break
                for _, fields in page:
                    record = _consent_record(fields)
                    if (
                        (query.client_key is None or record.client_key == query.client_key)
                        and (query.event_id is None or record.event_id == query.event_id)
                        and (query.since_ms is None or record.at_ms >= query.since_ms)
                        and (query.until_ms is None or record.at_ms < query.until_ms)
                    ):
                        found.append(
                            {**record._asdict(), "verdicts": orjson.loads(record.verdicts)}
                        )
                start = b"(" + page[-1][0]
        return found[:limit]

    async def _candidates(self, query: DeadLetterQuery) -> AsyncIterator[list[int]]:
        """Ids of dead letters ``query`` may select, ascending, in chunks."""
        if query.ids:
            ids = sorted(set(query.ids))
            for start in range(0, len(ids), _CHUNK):
                yield ids[start : start + _CHUNK]
            return
        index = self._key("dead-index")
        if query.destination is not None:
            index += f":{query.destination}"
        low = "-inf"
        while chunk := [
            int(i) for i in await self._redis.zrangebyscore(index, low, "+inf", 0, _CHUNK)
        ]:
            yield chunk
            low = f"({chunk[-1]}"

    async def _load_dead(self, ids: Sequence[int]) -> list[DeadLetter | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for dead_id in ids:
                pipe.hmget(self._key(f"dead:{dead_id}"), _DEAD_FIELDS)
            replies = await pipe.execute()
        return [
            None if fields[0] is None else _dead_letter(dead_id, fields)
            for dead_id, fields in zip(ids, replies, strict=True)
        ]


def _dead_letter(dead_id: int, fields: Sequence[bytes]) -> DeadLetter:
    """A ``DeadLetter`` from its hash's ``_DEAD_FIELDS``."""
    destination, event_id, attempts, created_ms, failed_ms, reason = fields[:6]
    return DeadLetter(
        dead_id,
        destination.decode(),
        event_id.decode(),
        int(attempts),
        int(created_ms),
        int(failed_ms),
        reason.decode(),
    )


def _consent_record(fields: Mapping[bytes, bytes]) -> ConsentRecord:
    region = fields.get(b"region")
    return ConsentRecord(
        int(fields[b"at_ms"]),
        fields[b"client_key"].decode(),
        fields[b"event_id"].decode(),
        fields[b"event_name"].decode(),
        None if region is None else region.decode(),
        fields[b"regime"].decode(),
        fields[b"signals_digest"].decode(),
        fields[b"verdicts"],
        fields[b"config_version"].decode(),
    )
