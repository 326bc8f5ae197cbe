"""The Lua scripts that make each shared step atomic. Each touches the keys of one slot only (see
``app.bus.redis_keys``), so they run unchanged on one Redis and on a Redis Cluster.

A public event takes up to three steps, in order: CLAIM its nick on the server (a join, an entry
into a room or a nick change), PUBLISH it in its room, and RELEASE the nick after a departure's
last leave (or the old one after a nick change's last room). Each is idempotent, so a batch
retried after a lost reply changes nothing twice.
"""

from __future__ import annotations

from enum import IntEnum

HOLDER = """
local function holder(hash, k, proc, conn)
  local v = redis.call('HGET', hash, k)
  if not v then return nil end
  local m = cjson.decode(v)
  return m.proc == proc and tostring(m.conn) == conn
end
"""
"""nil: nobody holds key ``k``; true: this member does; false: someone else does."""


class Published(IntEnum):
    """The first field of PUBLISH's reply."""

    NEW = 0  # the second field is the event's id in its room
    REPEATED = 1  # a retry of an event already published: the id it got then
    REFUSED = 2  # the second field says why: "absent" (the sender is not in the room)


# KEYS: presence, rooms. ARGV: nick key, member record, process, connection, room arrived in ("" for
# a nick change), now. Returns "ok" or "taken". A nick change keeps the old nick too, until its
# last room has the change (RELEASE): nobody can take the old nick while a room still shows it.
CLAIM = (
    HOLDER
    + """
local key, proc, conn = ARGV[1], ARGV[3], ARGV[4]
if holder(KEYS[1], key, proc, conn) == false then return 'taken' end
redis.call('HSET', KEYS[1], key, ARGV[2])
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5]) end
return 'ok'
"""
)

# KEYS: presence. ARGV: nick key, process, connection. Frees a departed member's nick, or the one
# a member changed from.
RELEASE = (
    HOLDER
    + """
if holder(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
"""
)

# KEYS: counter, stream, said, members, dedup. ARGV: kind, record, floor, maxlen, process,
# connection, nick key, old nick key, member record, room, bell channel.
# Someone arriving (join, enter) holds their nick on the server already (CLAIM came first);
# everything else must come from a member of the room under that nick (after a nick change,
# under the old one). The dedup key lives 300 s: far longer than any retry.
PUBLISH = (
    HOLDER
    + """
local done = redis.call('GET', KEYS[5])
if done then return {1, tonumber(done)} end
local kind, proc, conn, key, oldkey = ARGV[1], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if kind ~= 'join' and kind ~= 'enter' and not holder(KEYS[4], kind == 'nick' and oldkey or key, proc, conn) then
  return {2, 'absent'}
end
local id = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[3])
if id <= floor then
  id = floor + 1
  redis.call('SET', KEYS[1], id)
end
local t = redis.call('TIME')
local ts = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], id .. '-0', 'e', ARGV[2], 'ts', ts)
if kind == 'message' or kind == 'action' or kind == 'topic' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], id .. '-0', 'e', ARGV[2], 'ts', ts)
end
if kind == 'nick' then redis.call('HDEL', KEYS[4], oldkey) end
if kind == 'join' or kind == 'enter' or kind == 'nick' then redis.call('HSET', KEYS[4], key, ARGV[9]) end
if kind == 'leave' or kind == 'part' then redis.call('HDEL', KEYS[4], key) end
redis.call('SET', KEYS[5], id, 'EX', 300)
redis.call('PUBLISH', ARGV[11], ARGV[10] .. ' ' .. id)
return {0, id}
"""
)

# A private event for another process's member, into that process's inbox stream (which
# expires an hour after its last use, so a dead process's inbox does not linger), and the
# doorbell for that inbox. KEYS: dedup, inbox. ARGV: record, member, bell channel, doorbell.
FORWARD = """
if redis.call('SET', KEYS[1], 1, 'NX', 'EX', 300) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', 'e', ARGV[1], 'to', ARGV[2])
  redis.call('EXPIRE', KEYS[2], 3600)
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
"""

# After Redis lost its data (a restart without persistence, a failover to a lagging replica), put
# this process's members back: into a hash (KEYS[1]: the server's presence, or a room's members)
# from pairs of nick key and member record; for a room, KEYS[2] is its counter, never to go below
# ARGV[1], an id already delivered.
RESTORE = """
if KEYS[2] then
  local c = tonumber(redis.call('GET', KEYS[2]) or '0')
  if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1]) end
end
for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS: the room registry. ARGV: a room this process forgot, and when. Takes it out of the
# registry unless someone arrived in it since (a later score), so that a process starting later
# loads the rooms worth keeping, not the empty ones a stranger made.
UNREGISTER = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
"""
