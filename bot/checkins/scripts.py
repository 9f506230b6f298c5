"""Lua scripts of bot/checkins/subscriptions.py for batched dispatch and sending: each is one round trip.

The key names come in KEYS from bot/checkins/subscriptions.py, the only module that knows them.
Scripts built with guarded() take FORGET's tombstone as their last key and the work's epoch as
their last argument (bot/storage/tombstone.py): they write nothing for a person erased since.
"""
from bot.storage.tombstone import guarded

# Claim a slot's marker (compare-and-set) only while the subscription still wants this slot
# from this job (ARGV[4], ARGV[5]): a STOP, a re-dispatch or a FORGET since the read wins.
# -1: not wanted.
CLAIM = guarded("""
if ARGV[4] ~= '' then
  local s = redis.call('HMGET', KEYS[2], 'status', 'inflight', 'job')
  if s[1] ~= 'active' or s[2] ~= ARGV[4] or (ARGV[5] ~= '' and s[3] ~= ARGV[5]) then return -1 end
end
local cur = redis.call('GET', KEYS[1])
if not ((cur == false and ARGV[1] == '') or cur == ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1""")
# Twilio took the text: the slot's marker, the SID for status callbacks, replies open, settled.
SENT = guarded("""
redis.call('SET', KEYS[3], 'sent:' .. ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[5])
redis.call('SADD', KEYS[5], ARGV[3])
redis.call('EXPIRE', KEYS[5], ARGV[5])
redis.call('SET', KEYS[6], ARGV[2], 'EX', ARGV[6])
if redis.call('HGET', KEYS[1], 'inflight') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], 'inflight', 'inflight_due', 'kind', 'job')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'count', 1)
return 1""")
# The dispatcher's writes for a whole batch in one call (bot/checkins/dispatch.py): each subject's slot
# goes in flight, leased to the batch job (and listed in its set, KEYS[3]), and the
# subscription moves to its next slot. One ARGV per subject: subject, slot, slot's due time,
# kind, next slot, next due time, joined by \31.
DISPATCHED = """
local job, lease_until, ttl = ARGV[1], ARGV[2], ARGV[3]
for i = 0, (#KEYS - 3) / 2 - 1 do
  local sub, jobs, e = KEYS[4 + 2 * i], KEYS[5 + 2 * i], {}
  for v in string.gmatch(ARGV[4 + i], '[^\\31]+') do e[#e + 1] = v end
  redis.call('HSET', sub, 'status', 'active', 'inflight', e[2], 'inflight_due', e[3],
             'kind', e[4], 'job', job, 'slot', e[5], 'due', e[6])
  redis.call('HDEL', sub, 'paused_until', 'reason')
  redis.call('ZADD', KEYS[1], e[6], e[1])
  redis.call('ZADD', KEYS[2], lease_until, e[1])
  redis.call('SADD', jobs, job)
  redis.call('EXPIRE', jobs, ttl)
  redis.call('SADD', KEYS[3], e[1])
end
redis.call('EXPIRE', KEYS[3], ttl)
return (#KEYS - 3) / 2"""
# The dispatcher's reads for a whole batch in one call: per subject one string of its fields
# (ARGV up to the '' separator), due and lease scores, joined by \31 ('' where there is none).
READ = """
local sep, out = 1, {}
while ARGV[sep] ~= '' do sep = sep + 1 end
for i = 3, #KEYS do
  local subject = ARGV[sep + i - 2]
  local row = redis.call('HMGET', KEYS[i], unpack(ARGV, 1, sep - 1))
  row[#row + 1] = redis.call('ZSCORE', KEYS[1], subject)
  row[#row + 1] = redis.call('ZSCORE', KEYS[2], subject)
  for j = 1, sep + 1 do if not row[j] then row[j] = '' end end
  out[#out + 1] = table.concat(row, '\\31')
end
return out"""
# Leave a batch: -1 when it has no set (a one-person job, or finished), else who is left.
LEAVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('SCARD', KEYS[1])"""

# Compare-and-set (or delete, for '') a slot's send marker: only the attempt that saw the old
# value may change it.
CAS = """
local cur = redis.call('GET', KEYS[1])
if not ((cur == false and ARGV[1] == '') or cur == ARGV[1]) then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1])
else redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return 1"""
# Settle the check-in in flight: the slot's marker says how (ARGV[3]), and the subscription
# lets go of it if it is still this slot (a later dispatch may own the hash).
# KEYS: subscription, leases, marker, tombstone. ARGV: subject, slot, outcome, ttl, epoch.
SETTLE = guarded("""
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
if redis.call('HGET', KEYS[1], 'inflight') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], 'inflight', 'inflight_due', 'kind', 'job')
redis.call('ZREM', KEYS[2], ARGV[1])
return 1""")
# Development's outbox (the console sender): one text for `flask chat` to show.
OUTBOX = guarded("""
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1""")
# Change a field only on a hash that still exists (never resurrect a forgotten person).
FIELD_IF = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[1] == 'set' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) return 0 end
return redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[3])"""
