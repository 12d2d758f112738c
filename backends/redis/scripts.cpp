// The Lua scripts of the Redis store: conditional set and erase, version
// blocks, and listing over the sorted-set index (skipping expired keys).

#include "backends/redis/scripts.hpp"

#include <hiredis/hiredis.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

// Shared by the scripts: the version and expiry in a packed value's header;
// the live version of a packed value at `now`, or nil.
#define LIVE_VERSION_LUA                                                       \
  "local function header(cur)\n"                                               \
  "  local a = string.find(cur, ':', 1, true)\n"                               \
  "  local b = string.find(cur, ':', a + 1, true)\n"                           \
  "  return string.sub(cur, 1, a - 1), tonumber(string.sub(cur, a + 1, b - 1))\n"\
  "end\n"                                                                      \
  "local function live_version(cur, now)\n"                                    \
  "  if not cur then return nil end\n"                                         \
  "  local ver, exp = header(cur)\n"                                           \
  "  if exp ~= 0 and exp <= now then return nil end\n"                         \
  "  return ver\n"                                                             \
  "end\n"                                                                      \
  "local function check(kind, expected, ver)\n"                                \
  "  if kind == '2' and ver then return -1 end\n"                              \
  "  if kind == '1' then\n"                                                    \
  "    if not ver then return -2 end\n"                                        \
  "    if ver ~= expected then return -3 end\n"                                \
  "  end\n"                                                                    \
  "  return 0\n"                                                               \
  "end\n"

// Publishes a change on the store's channel, inside the write (see
// scripts.hpp: "Change messages").
#define CHANGE_LUA                                                             \
  "local function publish_put(chan, v, exp, key, value)\n"                     \
  "  redis.call('PUBLISH', chan,\n"                                            \
  "    'p' .. v .. ':' .. exp .. ':' .. #key .. ':' .. key .. value)\n"        \
  "end\n"                                                                      \
  "local function publish_delete(chan, key)\n"                                 \
  "  redis.call('PUBLISH', chan, 'd' .. key)\n"                                \
  "end\n"

} // namespace

// Capacity: the live keys are the index members minus those whose expiry
// (the expiry sorted set, scored by expires_at) has passed at ARGV[3]. Only
// a write that adds to that count (a key with no live version that is not
// already counted, e.g. a stale index member) is refused when full.
//
// Every command saved here is server CPU per write: the version comes from
// the client's block (redis_version_block_script), the index is touched
// only when the key has no live value (a live value always has its member),
// and the expiry set only when the old or the new value has an expiry (or
// the old one is gone, so its expiry member may linger). The reply is the
// new version, prefixed with 'c' when the key had no live value (created).
const char* const redis_set_script = LIVE_VERSION_LUA CHANGE_LUA
  "local cur = redis.call('GET', KEYS[1])\n"
  "local ver = live_version(cur, tonumber(ARGV[3]))\n"
  "local bad = check(ARGV[1], ARGV[2], ver)\n"
  "if bad ~= 0 then return bad end\n"
  "local max = tonumber(ARGV[8])\n"
  "if not ver and max > 0 then\n"
  "  local live = redis.call('ZCARD', KEYS[2])\n"
  "    - redis.call('ZCOUNT', KEYS[4], '-inf', ARGV[3])\n"
  "  local exp = redis.call('ZSCORE', KEYS[4], ARGV[6])\n"
  "  local counted = redis.call('ZSCORE', KEYS[2], ARGV[6])\n"
  "    and not (exp and tonumber(exp) <= tonumber(ARGV[3]))\n"
  "  if not counted and live >= max then return -4 end\n"
  "end\n"
  "local v = ARGV[7]\n"
  "local packed = v .. ':' .. ARGV[4] .. ':' .. ARGV[5]\n"
  "if ARGV[4] ~= '0' then\n"
  "  redis.call('SET', KEYS[1], packed, 'PXAT', ARGV[4])\n"
  "  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[6])\n"
  "else\n"
  "  redis.call('SET', KEYS[1], packed)\n"
  "  local _, old_exp = nil, 1\n"
  "  if cur then _, old_exp = header(cur) end\n"
  "  if old_exp ~= 0 then redis.call('ZREM', KEYS[4], ARGV[6]) end\n"
  "end\n"
  "publish_put(ARGV[9], v, ARGV[4], ARGV[6], ARGV[5])\n"
  "if not ver then\n"
  "  redis.call('ZADD', KEYS[2], 0, ARGV[6])\n"
  "  return 'c' .. v\n"
  "end\n"
  "return v\n";

const char* const redis_erase_script = LIVE_VERSION_LUA CHANGE_LUA
  "local ver = live_version(redis.call('GET', KEYS[1]), tonumber(ARGV[3]))\n"
  "local bad = check(ARGV[1], ARGV[2], ver)\n"
  "if bad ~= 0 then return bad end\n"
  "redis.call('DEL', KEYS[1])\n"
  "redis.call('ZREM', KEYS[2], ARGV[4])\n"
  "redis.call('ZREM', KEYS[3], ARGV[4])\n"
  "if ver then\n"
  "  publish_delete(ARGV[5], ARGV[4])\n"
  "  return 1\n"
  "end\n"
  "return 0\n";

// The same bookkeeping per op as the set and erase scripts, run only after
// every op's condition held. Capacity is judged on the outcome: the live
// count after the erases and creations of the transaction, so a transaction
// that removes one key and creates another fits a full store.
const char* const redis_transaction_script = LIVE_VERSION_LUA CHANGE_LUA
  "local now = tonumber(ARGV[1])\n"
  "local chan = ARGV[#ARGV]\n"
  "local max = tonumber(ARGV[2])\n"
  "local n = #KEYS - 2\n"
  "local curs, vers = {}, {}\n"
  "for i = 1, n do\n"
  "  local a = 2 + (i - 1) * 7\n"
  "  local cur = redis.call('GET', KEYS[2 + i])\n"
  "  local ver = live_version(cur, now)\n"
  "  local bad = check(ARGV[a + 2], ARGV[a + 3], ver)\n"
  "  if bad ~= 0 then return {bad, i, ver or ''} end\n"
  "  curs[i], vers[i] = cur or false, ver or false\n"
  "end\n"
  "if max > 0 then\n"
  "  local live = redis.call('ZCARD', KEYS[1])\n"
  "    - redis.call('ZCOUNT', KEYS[2], '-inf', now)\n"
  "  local added = 0\n"
  "  for i = 1, n do\n"
  "    local a = 2 + (i - 1) * 7\n"
  "    local key = ARGV[a + 6]\n"
  "    if ARGV[a + 1] == '0' and not vers[i] then\n"
  "      local exp = redis.call('ZSCORE', KEYS[2], key)\n"
  "      local counted = redis.call('ZSCORE', KEYS[1], key)\n"
  "        and not (exp and tonumber(exp) <= now)\n"
  "      if not counted then added = added + 1 end\n"
  "    elseif ARGV[a + 1] == '1' and vers[i] then\n"
  "      live = live - 1\n"
  "    end\n"
  "  end\n"
  "  if added > 0 and live + added > max then return {-4} end\n"
  "end\n"
  "local out = {0}\n"
  "for i = 1, n do\n"
  "  local a = 2 + (i - 1) * 7\n"
  "  local vk, key = KEYS[2 + i], ARGV[a + 6]\n"
  "  if ARGV[a + 1] == '1' then\n"
  "    redis.call('DEL', vk)\n"
  "    redis.call('ZREM', KEYS[1], key)\n"
  "    redis.call('ZREM', KEYS[2], key)\n"
  "    if vers[i] then publish_delete(chan, key) end\n"
  "    out[#out + 1] = vers[i] and 1 or 0\n"
  "  else\n"
  "    local v, exp = ARGV[a + 7], ARGV[a + 4]\n"
  "    local packed = v .. ':' .. exp .. ':' .. ARGV[a + 5]\n"
  "    if exp ~= '0' then\n"
  "      redis.call('SET', vk, packed, 'PXAT', exp)\n"
  "      redis.call('ZADD', KEYS[2], exp, key)\n"
  "    else\n"
  "      redis.call('SET', vk, packed)\n"
  "      local _, old_exp = nil, 1\n"
  "      if curs[i] then _, old_exp = header(curs[i]) end\n"
  "      if old_exp ~= 0 then redis.call('ZREM', KEYS[2], key) end\n"
  "    end\n"
  "    publish_put(chan, v, exp, key, ARGV[a + 5])\n"
  "    if vers[i] then out[#out + 1] = v\n"
  "    else\n"
  "      redis.call('ZADD', KEYS[1], 0, key)\n"
  "      out[#out + 1] = 'c' .. v\n"
  "    end\n"
  "  end\n"
  "end\n"
  "return out\n";

// The floor: the server's clock in microseconds, and the highest version
// this client drew before. A counter that went back (a replica promoted
// before the INCRBY of a block reached it, an older snapshot restored) would
// hand out blocks again that clients still draw from; raising it to the
// clock puts it past every block drawn more than a block's worth of
// microseconds before (a failover takes seconds). Lua numbers are doubles:
// exact to 2^53, some 285 years of microseconds; '%.0f' writes every digit.
const char* const redis_version_block_script =
  "local t = redis.call('TIME')\n"
  "local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
  "local drawn = tonumber(ARGV[1])\n"
  "if drawn > floor then floor = drawn end\n"
  "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0\n"
  "if cur < floor then\n"
  "  redis.call('SET', KEYS[1], string.format('%.0f', floor))\n"
  "end\n"
  "return redis.call('INCRBY', KEYS[1], ARGV[2])\n";

// GETRANGE reads only the header: listing never loads values.
const char* const redis_list_script = LIVE_VERSION_LUA
  "local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2],\n"
  "                           'LIMIT', 0, tonumber(ARGV[3]))\n"
  "local now = tonumber(ARGV[4])\n"
  "local live = {}\n"
  "for _, m in ipairs(members) do\n"
  "  local head = redis.call('GETRANGE', ARGV[5] .. m, 0, 47)\n"
  "  if head == '' then\n"
  "    redis.call('ZREM', KEYS[1], m)\n"
  "    redis.call('ZREM', KEYS[2], m)\n"
  "  elseif live_version(head, now) then live[#live + 1] = m end\n"
  "end\n"
  "return {#members, members[#members] or '', live}\n";

const char* const redis_batch_within_script =
  "local budget = tonumber(ARGV[1])\n"
  "local out = {}\n"
  "local bytes = 0\n"
  "for i = 1, #KEYS do\n"
  "  local v = redis.call('GET', KEYS[i])\n"
  "  if v then\n"
  "    bytes = bytes + #v\n"
  "    if i > 1 and bytes > budget then break end\n"
  "  end\n"
  "  out[i] = v or false\n"
  "end\n"
  "return out\n";

const char* const redis_prune_script =
  "local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+',\n"
  "                           'LIMIT', 0, tonumber(ARGV[2]))\n"
  "local removed = 0\n"
  "for _, m in ipairs(members) do\n"
  "  if redis.call('EXISTS', ARGV[3] .. m) == 0 then\n"
  "    redis.call('ZREM', KEYS[1], m)\n"
  "    redis.call('ZREM', KEYS[2], m)\n"
  "    removed = removed + 1\n"
  "  end\n"
  "end\n"
  "return {removed, #members, members[#members] or ''}\n";

bool is_noscript(const redisReply* r) {
  return r->type == REDIS_REPLY_ERROR
         && std::string_view{r->str, r->len}.substr(0, 8) == "NOSCRIPT";
}

caf::expected<redis_reply> checked(caf::expected<redis_reply> r) {
  if (r && (*r)->type == REDIS_REPLY_ERROR)
    return redis_error("redis script: ", r->get());
  return r;
}

namespace {

redis_args eval_args(std::string_view head, std::string_view body,
                     const redis_args& keys, const redis_args& args,
                     std::string& numkeys) {
  numkeys = std::to_string(keys.size());
  redis_args out{head, body, numkeys};
  out.insert(out.end(), keys.begin(), keys.end());
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

} // namespace

caf::error load_script(redis_connection& conn, redis_script& script) {
  auto loaded = checked(conn.command({"SCRIPT", "LOAD", script.text}));
  if (!loaded)
    return std::move(loaded.error());
  script.sha.assign((*loaded)->str, (*loaded)->len);
  return {};
}

caf::expected<redis_reply> run_script(redis_connection& conn,
                                      redis_script& script,
                                      const redis_args& keys,
                                      const redis_args& args) {
  std::string numkeys;
  if (script.sha.empty())
    if (auto err = load_script(conn, script))
      return err;
  auto r = conn.command(eval_args("EVALSHA", script.sha, keys, args, numkeys));
  if (r && is_noscript(r->get()))
    r = conn.command(eval_args("EVAL", script.text, keys, args, numkeys));
  return checked(std::move(r));
}

} // namespace solver_state
