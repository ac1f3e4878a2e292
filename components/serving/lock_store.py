"""A Redis lock store whose ticket operations are atomic, for several ``rasa run`` replicas.

Rasa 3.6's ``RedisLockStore`` changes a conversation's ticket lock with a plain GET, a change in
Python and a SET (RasaHQ/rasa#9213). Two replicas that receive messages of one conversation at
the same moment can both read the same lock and write it back: both get the same ticket number,
or one overwrites the other's ticket, and then both process the conversation at once, so the
tracker gets events twice or out of order. ``update_lock`` (drop expired tickets) and ``cleanup``
(finish a ticket, delete the lock when nobody waits) race the same way.

``AtomicRedisLockStore`` keeps Rasa's stored format (the JSON ``TicketLock.dumps`` writes, under
the same keys) and Rasa's waiting loop, and runs every change as one Lua script inside Redis, so
a read and the write that depends on it can never interleave with another replica's. Register it
in endpoints.yml by module path::

    lock_store:
      type: components.serving.lock_store.AtomicRedisLockStore
      url: ${REDIS_HOST}
      port: ${REDIS_PORT}
      db: 1
      key_prefix: shop

The keys are RedisLockStore's (``url``/``host``, ``port``, ``db``, ``username``, ``password``,
``use_ssl``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_ca_certs``, ``key_prefix``,
``socket_timeout``). Expiry times are the replicas' clocks, as in Rasa: keep them in sync (NTP).
"""

import logging
import time
from typing import Any, Dict, Optional, Text

from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# Shared Lua helpers: the lock is Rasa's JSON {"conversation_id": ..., "tickets": [<ticket JSON
# string>, ...]}; each ticket string is {"number": n, "expires": t}. The encoder writes the list
# itself, because cjson would write an empty Lua table as {} where Rasa expects [].
_LUA_COMMON = """
local function load(raw)
  local lock = cjson.decode(raw)
  local tickets = {}
  for _, text in ipairs(lock["tickets"] or {}) do
    table.insert(tickets, cjson.decode(text))
  end
  return lock["conversation_id"], tickets
end
local function live(tickets, now)
  local kept = {}
  for _, ticket in ipairs(tickets) do
    if tonumber(ticket["expires"]) >= now then table.insert(kept, ticket) end
  end
  return kept
end
local function dump(conversation_id, tickets)
  local parts = {}
  for _, ticket in ipairs(tickets) do
    local text = '{"number": ' .. string.format('%d', ticket["number"])
      .. ', "expires": ' .. string.format('%.6f', ticket["expires"]) .. '}'
    table.insert(parts, cjson.encode(text))
  end
  return '{"conversation_id": ' .. cjson.encode(conversation_id) .. ', "tickets": ['
    .. table.concat(parts, ', ') .. ']}'
end
"""

# KEYS[1] lock key; ARGV: conversation id, now, lifetime -> the new ticket number.
_ISSUE_TICKET = _LUA_COMMON + """
local now = tonumber(ARGV[2])
local tickets = {}
local raw = redis.call('GET', KEYS[1])
if raw then
  local _
  _, tickets = load(raw)
  tickets = live(tickets, now)
end
local number = 0
if #tickets > 0 then number = tonumber(tickets[#tickets]["number"]) + 1 end
table.insert(tickets, {number = number, expires = now + tonumber(ARGV[3])})
redis.call('SET', KEYS[1], dump(ARGV[1], tickets))
return number
"""

# KEYS[1] lock key; ARGV: now -> drops expired tickets (an absent lock stays absent).
_REMOVE_EXPIRED = _LUA_COMMON + """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local conversation_id, tickets = load(raw)
redis.call('SET', KEYS[1], dump(conversation_id, live(tickets, tonumber(ARGV[1]))))
return 1
"""

# KEYS[1] lock key; ARGV: ticket number, now, delete_when_idle (1/0) -> removes the ticket and,
# when asked and no live ticket is left, the lock (Rasa's cleanup, in one step).
_FINISH_TICKET = _LUA_COMMON + """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local conversation_id, tickets = load(raw)
local number = tonumber(ARGV[1])
local kept = {}
for _, ticket in ipairs(live(tickets, tonumber(ARGV[2]))) do
  if tonumber(ticket["number"]) ~= number then table.insert(kept, ticket) end
end
if #kept == 0 and ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  return 2
end
redis.call('SET', KEYS[1], dump(conversation_id, kept))
return 1
"""

# endpoints.yml keys passed to RedisLockStore (``url`` is its ``host``).
_REDIS_KEYS = (
    "port", "db", "username", "password", "use_ssl", "ssl_certfile", "ssl_keyfile",
    "ssl_ca_certs", "key_prefix", "socket_timeout",
)


def redis_settings(endpoint_config: Optional[EndpointConfig]) -> Dict[str, Any]:
    """RedisLockStore's keyword arguments from a ``lock_store`` endpoint config."""
    if endpoint_config is None:
        return {}
    settings: Dict[str, Any] = {
        key: endpoint_config.kwargs[key]
        for key in _REDIS_KEYS
        if endpoint_config.kwargs.get(key) not in (None, "")
    }
    host = endpoint_config.url or endpoint_config.kwargs.get("host")
    if host:
        settings["host"] = host
    return settings


class AtomicRedisLockStore(RedisLockStore):
    """RedisLockStore with every ticket change done atomically inside Redis (Lua scripts)."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **settings: Any) -> None:
        """From ``endpoint_config`` (how Rasa builds a lock store named by module path) or from
        RedisLockStore's keyword arguments."""
        super().__init__(**{**redis_settings(endpoint_config), **settings})
        self._issue = self.red.register_script(_ISSUE_TICKET)
        self._remove_expired = self.red.register_script(_REMOVE_EXPIRED)
        self._finish = self.red.register_script(_FINISH_TICKET)

    def _key(self, conversation_id: Text) -> Text:
        return self.key_prefix + conversation_id

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """The next ticket of the conversation's lock (created if absent), in one step."""
        try:
            return int(
                self._issue(
                    keys=[self._key(conversation_id)],
                    args=[conversation_id, repr(time.time()), repr(float(lock_lifetime))],
                )
            )
        except Exception as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: Text) -> None:
        """Drops expired tickets without touching tickets issued meanwhile."""
        self._remove_expired(keys=[self._key(conversation_id)], args=[repr(time.time())])

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        """Removes ``ticket_number`` from the lock, keeping everyone else's tickets."""
        self._finish(
            keys=[self._key(conversation_id)],
            args=[int(ticket_number), repr(time.time()), "0"],
        )

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Finishes the ticket and deletes the lock if nobody waits, as one step (Rasa's version
        could delete a lock another replica had just taken a ticket on)."""
        self._finish(
            keys=[self._key(conversation_id)],
            args=[int(ticket_number), repr(time.time()), "1"],
        )
