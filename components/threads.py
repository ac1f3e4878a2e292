"""One place that decides how many CPU threads torch may use in this process.

torch's intra-op pool is process-wide: every component that calls ``torch.set_num_threads`` changes
it for all the others. Components pass their ``num_threads`` setting here; the process keeps the
largest value asked for (a later, smaller request never slows an earlier component down), and the
call is cheap when nothing changes, so it may sit on a component's load path.
"""

import threading

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
