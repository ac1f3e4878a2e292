"""Hammers one conversation's lock from this process, as one ``rasa run`` replica would: run it
in two processes at once against one Redis to see whether a lock store keeps them apart.

    python -m deploy.lock_check --redis redis://127.0.0.1:6379 --store atomic --rounds 40

Each round takes the conversation's lock with ``store.lock`` (Rasa's ticket protocol), then does
what a replica does to a tracker while holding it: reads a counter, yields to the event loop,
appends an event and writes the counter back. ``inside`` counts holders of the lock: a value above
1 is an overlap (two replicas processing one conversation at once). Prints one JSON line:
``{"overlaps", "lock_errors", "stalls", "rounds"}`` (a stall: no turn within STALL_S); the counter and the event list are left in Redis for
the caller to check (lost updates, duplicated or missing events).
"""

import argparse
import asyncio
import json
import os
from typing import Dict
from urllib.parse import urlparse

import redis
from rasa.core.lock_store import LockError, RedisLockStore

from components.serving.lock_store import AtomicRedisLockStore

STORES = {"rasa": RedisLockStore, "atomic": AtomicRedisLockStore}
# Seconds a starting worker waits for the "go" signal (both workers start together).
START_TIMEOUT_S = 60
# Seconds one locked update may take, waiting included, before it counts as a stall (a waiter
# whose ticket was overwritten can wait forever in Rasa's loop).
STALL_S = 10


async def hammer(store: RedisLockStore, client: redis.Redis, name: str, conversation: str,
                 rounds: int, tasks: int, lifetime: float) -> Dict[str, int]:
    """``tasks`` concurrent senders doing ``rounds`` locked updates in all."""
    result = {"overlaps": 0, "lock_errors": 0, "stalls": 0, "rounds": 0}
    queue = list(range(rounds))

    async def locked_update(index: int) -> None:
        async with store.lock(conversation, lock_lifetime=lifetime, wait_time_in_seconds=0.002):
            if client.incr(f"{conversation}:inside") > 1:
                result["overlaps"] += 1
            count = int(client.get(f"{conversation}:count") or 0)
            await asyncio.sleep(0.001)  # the turn's work: other coroutines run meanwhile
            client.rpush(f"{conversation}:events", f"{name}-{index}")
            client.set(f"{conversation}:count", count + 1)
            client.decr(f"{conversation}:inside")
            result["rounds"] += 1

    async def sender() -> None:
        while queue:
            index = queue.pop()
            try:
                await asyncio.wait_for(locked_update(index), timeout=STALL_S)
            except LockError:
                result["lock_errors"] += 1
            except asyncio.TimeoutError:  # waited STALL_S for a turn that never came
                result["stalls"] += 1

    await asyncio.gather(*(sender() for _ in range(tasks)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", required=True, help="redis://host:port")
    parser.add_argument("--store", choices=sorted(STORES), default="atomic")
    parser.add_argument("--conversation", default="hammered")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--name", default=str(os.getpid()))
    parser.add_argument("--lifetime", type=float, default=5.0,
                        help="ticket lifetime in seconds (what TICKET_LOCK_LIFETIME sets in Rasa)")
    args = parser.parse_args()
    address = urlparse(args.redis)
    client = redis.Redis(host=address.hostname, port=address.port or 6379, db=0)
    store = STORES[args.store](host=address.hostname, port=address.port or 6379, db=1)
    client.rpush(f"{args.conversation}:ready", args.name)
    if client.blpop([f"{args.conversation}:go:{args.name}"], timeout=START_TIMEOUT_S) is None:
        raise SystemExit("no go signal")
    result = asyncio.run(
        hammer(store, client, args.name, args.conversation, args.rounds, args.tasks, args.lifetime)
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
