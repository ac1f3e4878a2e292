"""One place that decides how many CPU threads torch may use in this process.

torch's intra-op pool is process-wide: every component that calls ``torch.set_num_threads`` changes
it for all the others. Components pass their ``num_threads`` setting here; the process keeps the
largest value asked for (a later, smaller request never slows an earlier component down), and the
call is cheap when nothing changes, so it may sit on a component's load path.

It also sets OpenMP's wait policy to passive (``OMP_WAIT_POLICY``, unless the environment already
sets one). OpenMP's default lets a team's threads spin at every barrier, which is right for one
job alone on a machine and very wrong for a server: while the event loop, the other NLU worker
or another process holds a core, a spinning thread burns it waiting for a partner that is not
running. Measured on 2 loaded cores, one MiniLM sentence took 713 ms (354 ms CPU) with torch's two
threads spinning and 36 ms (18 ms CPU) with passive waiting. libgomp reads the policy once, when
torch loads it, so the package's ``__init__`` imports this module before any component imports
torch.
"""

import os
import threading

OMP_WAIT_POLICY = "PASSIVE"
os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)

_lock = threading.Lock()
_configured = 0


def configure_threads(num_threads: int) -> int:
    """Lets torch use at least ``num_threads`` threads (1 or more); returns the number in force."""
    global _configured
    wanted = max(1, int(num_threads))
    with _lock:
        if wanted > _configured:
            import torch

            torch.set_num_threads(wanted)
            _configured = wanted
        return _configured
