"""The inbox's atomic steps, as Lua: two staff members acting on one ticket at once never both
win. Each takes the ticket hash (and its thread) as KEYS; results are small arrays.
"""
from __future__ import annotations

# Claim an unclaimed ticket. ARGV: staff, now. -> {1 or 2 (2: its first claim), owner};
# {0, owner} when someone has it; {-1} gone; {-2} closed.
CLAIM = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {-1, ''} end
if st == 'closed' then return {-2, ''} end
if st == 'claimed' then return {0, redis.call('HGET', KEYS[1], 'owner') or ''} end
redis.call('HSET', KEYS[1], 'status', 'claimed', 'owner', ARGV[1], 'owed', ARGV[2])
redis.call('HDEL', KEYS[1], 'snoozed')
local first = redis.call('HSETNX', KEYS[1], 'claimed', ARGV[2])
return {1 + first, ARGV[1]}"""

# A staff reply: the owner's (an unclaimed ticket is claimed by replying). KEYS: ticket,
# thread. ARGV: staff, now, entry, ttl. -> {1, index, first reply?, claimed now?, first claim?};
# {0, owner} someone else has it; {-1} gone; {-2} closed.
REPLY = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {-1, ''} end
if st == 'closed' then return {-2, ''} end
local took, first_claim = 0, 0
if st == 'waiting' then
  redis.call('HSET', KEYS[1], 'status', 'claimed', 'owner', ARGV[1])
  redis.call('HDEL', KEYS[1], 'snoozed')
  first_claim = redis.call('HSETNX', KEYS[1], 'claimed', ARGV[2])
  took = 1
else
  local owner = redis.call('HGET', KEYS[1], 'owner') or ''
  if owner ~= ARGV[1] then return {0, owner} end
end
local n = redis.call('RPUSH', KEYS[2], ARGV[3]) - 1
redis.call('HSET', KEYS[1], 's' .. n, 'queued', 'last_staff', ARGV[2])
redis.call('HDEL', KEYS[1], 'owed')
local first = redis.call('HSETNX', KEYS[1], 'first_reply', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return {1, n, first, took, first_claim}"""

# Hand a ticket to someone else, or back to the queue (ARGV[3] == ''). Only its owner or an
# admin (ARGV[4] == '1') may. ARGV: actor, now, to, admin. -> {1, old owner}; {0, owner}; -1; -2.
TRANSFER = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {-1, ''} end
if st == 'closed' then return {-2, ''} end
local owner = redis.call('HGET', KEYS[1], 'owner') or ''
if ARGV[4] ~= '1' and owner ~= ARGV[1] then return {0, owner} end
if ARGV[3] == '' then
  redis.call('HSET', KEYS[1], 'status', 'waiting')
  redis.call('HDEL', KEYS[1], 'owner', 'owed')
else
  redis.call('HSET', KEYS[1], 'status', 'claimed', 'owner', ARGV[3], 'owed', ARGV[2])
  redis.call('HSETNX', KEYS[1], 'claimed', ARGV[2])
end
return {1, owner}"""

# Close a ticket once. KEYS: ticket, the person's open pointer. ARGV: now, by, actor, admin
# ('1' lets an admin, or a timer, close any ticket; '' leaves no owner check).
# -> {1}; {0, owner} not theirs; {-1} gone; {-2} already closed.
CLOSE = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {-1, ''} end
if st == 'closed' then return {-2, ''} end
local owner = redis.call('HGET', KEYS[1], 'owner') or ''
if ARGV[4] ~= '1' and st == 'claimed' and owner ~= ARGV[3] then return {0, owner} end
redis.call('HSET', KEYS[1], 'status', 'closed', 'closed', ARGV[1], 'closed_by', ARGV[2])
redis.call('HDEL', KEYS[1], 'owed', 'snoozed')
local ptr = redis.call('GET', KEYS[2])
if ptr and string.match(ptr, '^[^|]+') == ARGV[5] then redis.call('DEL', KEYS[2]) end
return {1, owner}"""

# A message's delivery state moves forward only (a late "sent" never hides "delivered").
# KEYS: ticket. ARGV: field, state, rank of state.
STATUS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ranks = {queued = 0, sending = 1, accepted = 1, sent = 2, delivered = 3, read = 4,
               undelivered = 5, failed = 5, opted_out = 5}
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and (ranks[cur] or 0) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1"""
STATUS_RANKS = {"queued": 0, "sending": 1, "accepted": 1, "sent": 2, "delivered": 3, "read": 4,
                "undelivered": 5, "failed": 5, "opted_out": 5}

# Publish one change to the console: the channel's random name is made once per database.
# KEYS: channel name key, version key. ARGV: a new random name, channel prefix, payload JSON
# without the version (its closing brace is added here). -> the new version.
NOTIFY = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local name = redis.call('GET', KEYS[1])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2] .. name, ARGV[3] .. ',"v":' .. v .. '}')
return v"""
