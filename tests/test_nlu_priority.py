"""The media worker of nlu_offload yields the CPU to text: its thread, and the library threads it
starts (torch's OpenMP team here), run at the configured nice value while the text workers keep
normal priority. Checked in a fresh interpreter, since install() patches Rasa's MessageProcessor
for the whole process."""

import concurrent.futures
import json
import os
import subprocess
import sys
import threading

import pytest

from tests.conftest import ROOT

PROBE = r"""
import json, os, threading
import torch
from components.channels import nlu_offload

def nice_here():
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

def torch_work():
    torch.set_num_threads(2)
    a = torch.rand(512, 512)
    for _ in range(20):
        a = (a @ a).softmax(dim=1)
    return nice_here()

def thread_nices():
    values = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/stat") as stat:
            values.append(int(stat.read().rsplit(")", 1)[1].split()[16]))
    return values

nlu_offload.install()
pools = nlu_offload._pools
media = pools.media.submit(torch_work).result()
text = pools.text.submit(nice_here).result()
print(json.dumps({"media": media, "text": text, "loop": nice_here(), "threads": thread_nices()}))
"""


def probe(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "2", **env},
    )


@pytest.mark.skipif(not hasattr(os, "setpriority") or not os.path.isdir("/proc/self/task"), reason="needs Linux")
def test_media_worker_and_its_library_threads_run_at_low_priority() -> None:
    run = probe()
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["media"] == 10
    assert result["text"] == 0 and result["loop"] == 0
    # The media thread and the OpenMP worker it started for its matrix products.
    assert result["threads"].count(10) >= 2, result["threads"]


def test_media_nice_and_worker_counts_are_configurable_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from components.channels import nlu_offload

    monkeypatch.setenv("MM_NLU_MEDIA_NICE", "7")
    nice = nlu_offload._media_nice()
    with concurrent.futures.ThreadPoolExecutor(1, initializer=nlu_offload._lower_media_thread_priority, initargs=(nice,)) as pool:
        assert pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result() == 7
    for bad, message in [("fast", "got 'fast'"), ("25", "got '25'"), ("-5", "got '-5'")]:
        monkeypatch.setenv("MM_NLU_MEDIA_NICE", bad)
        with pytest.raises(ValueError, match=f"MM_NLU_MEDIA_NICE must be a nice value from 0 to 19, {message}"):
            nlu_offload._media_nice()
    monkeypatch.setenv("MM_NLU_TEXT_WORKERS", "0")
    with pytest.raises(ValueError, match="MM_NLU_TEXT_WORKERS must be a number of threads from 1 to 256, got '0'"):
        nlu_offload._workers("MM_NLU_TEXT_WORKERS", 2)
