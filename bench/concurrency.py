"""Concurrency benchmark: many parallel conversations with text, photo and voice messages through
the REST channel (MediaRestInput) of a real `rasa run`.

It starts the action server and `rasa run` itself (localhost only), drives N conversations at
once, each a short scripted mix of text, photo uploads (multipart) and voice uploads (flite
speech), then reads every conversation's tracker to check that it holds all its user messages,
in order, with their attachments. Reports throughput, p50/p95 latency (overall and per kind),
errors and empty replies (must be zero; a turn sent while its conversation is paused for a human
is rightly silent and counted apart) and the tracker check. Before the load it sends each kind of
message alone, one at a time, in the same run: their latency is the baseline the text p95 under
load is compared with (at most 1.5 s and at most 5x alone), and the servers' CPU seconds per
message give the CPU-bound ideal throughput (the load's CPU time spread over every core).
``--json OUT`` writes the report; the exit code is 0 only when every target holds.

    .venv/bin/python -m bench.concurrency --model models/<model>.tar.gz --json bench/reports/concurrency.json
    .venv/bin/python -m bench.concurrency --train --conversations 50   # trains config.yml first

Customers arrive over ``--ramp`` seconds (default 10: 5 new conversations a second for 50) and then
send each turn the moment the previous one is answered, with no think time, so media keeps the
CPU saturated for the whole run. ``--ramp 0`` starts every conversation at the same instant: its
50 simultaneous first messages measure text queueing behind text (50 x the CPU of a text message,
spread over the cores), which no split between text and media can shorten.

Bounded: at most 500 conversations x 20 turns, a per-request timeout and an overall deadline.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import requests

from bench import servers
from components.evaluation.stats import percentile

ROOT = servers.ROOT
IMAGES = sorted((ROOT / "data" / "media" / "images").glob("*.*"))
TEXTS = [
    "hello",
    "where is my order",
    "my order 12345 hasn't arrived yet",
    "I want to return something",
    "thanks",
    "can I talk to a person",
    "my payment failed",
]
PHOTO_TEXTS = ["my parcel arrived like this", "this is not what I ordered", "", "I get this error"]
VOICE_PHRASES = ["where is my order", "I want to return my shoes", "hello, I need some help please"]
MAX_CONVERSATIONS = 500
MAX_TURNS = 20


def make_voices(folder: Path) -> List[Tuple[str, bytes]]:
    """(phrase, WAV bytes) spoken by flite."""
    voices = []
    for i, phrase in enumerate(VOICE_PHRASES):
        path = folder / f"voice{i}.wav"
        subprocess.run(["flite", "-t", phrase, "-o", str(path)], check=True)
        voices.append((phrase, path.read_bytes()))
    return voices


def script(conversation: int, turns: int, voices: List[Tuple[str, bytes]]) -> List[Dict[str, Any]]:
    """One conversation's turns: text first, then a seeded mix of text, photo and voice."""
    rng = random.Random(conversation)
    steps: List[Dict[str, Any]] = [{"kind": "text", "text": "hello"}]
    kinds = ["text", "photo", "voice"]
    for turn in range(1, turns):
        kind = kinds[(conversation + turn) % 3] if turn < 4 else rng.choice(kinds)
        if kind == "text":
            steps.append({"kind": "text", "text": rng.choice(TEXTS)})
        elif kind == "photo":
            image = rng.choice(IMAGES)
            steps.append({"kind": "photo", "text": rng.choice(PHOTO_TEXTS), "file": image.name, "data": image.read_bytes()})
        else:
            phrase, wav = rng.choice(voices)
            steps.append({"kind": "voice", "text": "", "file": "voice.wav", "data": wav, "phrase": phrase})
    return steps


async def send(session: aiohttp.ClientSession, url: str, sender: str, step: Dict[str, Any]) -> Tuple[float, Optional[str], int]:
    """(latency s, error or None, number of bot messages) for one turn."""
    started = time.perf_counter()
    try:
        if step["kind"] == "text":
            request = session.post(url, json={"sender": sender, "message": step["text"]})
        else:
            form = aiohttp.FormData()
            form.add_field("sender", sender)
            form.add_field("message", step["text"])
            mime = "audio/wav" if step["kind"] == "voice" else ("image/png" if step["file"].endswith(".png") else "image/jpeg")
            form.add_field("file", step["data"], filename=step["file"], content_type=mime)
            request = session.post(url, data=form)
        async with request as reply:
            body = await reply.text()
            latency = time.perf_counter() - started
            if reply.status != 200:
                return latency, f"HTTP {reply.status}: {body[:200]}", 0
            messages = json.loads(body)
            return latency, None, len(messages) if isinstance(messages, list) else 0
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
        return time.perf_counter() - started, f"{type(exc).__name__}: {exc}", 0


async def drive(server: str, conversations: List[Tuple[str, List[Dict[str, Any]]]], concurrency: int, request_timeout: float,
                ramp_s: float = 0.0) -> List[Dict[str, Any]]:
    """Runs every conversation (turns in order, conversations in parallel); one record per turn.
    Conversation i starts ``i * ramp_s / len(conversations)`` seconds after the first; each turn
    is sent as soon as the previous one was answered (no think time)."""
    url = f"{server}/webhooks/rest/webhook"
    records: List[Dict[str, Any]] = []
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def run(index: int, sender: str, steps: List[Dict[str, Any]]) -> None:
            await asyncio.sleep(index * ramp_s / len(conversations))
            async with gate:
                for index, step in enumerate(steps):
                    latency, error, replies = await send(session, url, sender, step)
                    records.append({"sender": sender, "turn": index, "kind": step["kind"], "latency_s": latency, "error": error, "replies": replies})

        await asyncio.gather(*(run(i, sender, steps) for i, (sender, steps) in enumerate(conversations)))
    return records


def paused_turns(events: List[Dict[str, Any]]) -> List[bool]:
    """For each user message of a tracker: was the conversation handed to a human (paused) when it
    arrived? The bot rightly stays silent then, so an empty reply is not a lost message."""
    paused, result = False, []
    for event in events:
        kind = event.get("event")
        if kind == "pause":
            paused = True
        elif kind in ("resume", "restart", "session_started"):
            paused = False
        elif kind == "user":
            result.append(paused)
    return result


def check_trackers(server: str, conversations: List[Tuple[str, List[Dict[str, Any]]]]) -> Tuple[List[str], set]:
    """Problems found (a tracker missing messages, out of order, or without an attachment) and the
    (sender, turn) pairs that arrived while the conversation was paused for a human."""
    problems, paused = [], set()
    for sender, steps in conversations:
        tracker = requests.get(f"{server}/conversations/{sender}/tracker", timeout=60).json()
        users = [e for e in tracker.get("events", []) if e.get("event") == "user"]
        paused.update((sender, turn) for turn, was_paused in enumerate(paused_turns(tracker.get("events", []))) if was_paused)
        if len(users) != len(steps):
            problems.append(f"{sender}: {len(users)} user events, expected {len(steps)}")
            continue
        times = [e.get("timestamp", 0) for e in users]
        if times != sorted(times):
            problems.append(f"{sender}: user events not in time order")
        for event, step in zip(users, steps):
            attachments = (event.get("metadata") or {}).get("attachments") or []
            if (event.get("text") or "") != step["text"]:
                problems.append(f"{sender}: expected text {step['text']!r}, tracker has {event.get('text')!r}")
                break
            expected = {"text": None, "photo": "image", "voice": "audio"}[step["kind"]]
            kinds = [a.get("type") for a in attachments]
            if (expected is None and kinds) or (expected is not None and kinds != [expected]):
                problems.append(f"{sender}: turn {step['kind']} has attachments {kinds}")
                break
            if expected and not (event.get("parse_data") or {}).get("media_references"):
                problems.append(f"{sender}: {step['kind']} not resolved by the pipeline: {(event.get('parse_data') or {}).get('attachment_errors')}")
                break
    return problems, paused


def summarise(records: List[Dict[str, Any]], wall: float, paused: set) -> Dict[str, Any]:
    latencies = [r["latency_s"] for r in records if r["error"] is None]
    by_kind = {}
    for kind in ("text", "photo", "voice"):
        values = [r["latency_s"] for r in records if r["kind"] == kind and r["error"] is None]
        by_kind[kind] = {
            "requests": sum(1 for r in records if r["kind"] == kind),
            "p50_s": round(percentile(values, 50), 3),
            "p95_s": round(percentile(values, 95), 3),
        }
    errors = [r for r in records if r["error"] is not None]
    return {
        "requests": len(records),
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(records) / wall, 2) if wall else None,
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "max_s": round(max(latencies), 3) if latencies else None,
        "mean_s": round(statistics.mean(latencies), 3) if latencies else None,
        "by_kind": by_kind,
        "errors": len(errors),
        "error_samples": [r["error"] for r in errors[:5]],
        "empty_replies": sum(1 for r in records if r["error"] is None and r["replies"] == 0
                             and (r["sender"], r["turn"]) not in paused),
        "turns_while_paused_for_a_human": sum(1 for r in records if (r["sender"], r["turn"]) in paused),
    }


def train(work: Path, env: Dict[str, str]) -> Path:
    """Trains the project's assistant (config.yml, domain.yml, data/) into ``work``."""
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
         "--out", str(work), "--fixed-model-name", "bench"],
        cwd=ROOT, env=env, check=True,
    )
    return work / "bench.tar.gz"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="trained model (.tar.gz)")
    source.add_argument("--train", action="store_true", help="train config.yml first")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=4, help="messages per conversation")
    parser.add_argument("--concurrency", type=int, default=None, help="conversations in flight (default: all)")
    parser.add_argument("--ramp", type=float, default=10.0, dest="ramp_s",
                        help="seconds over which the conversations start (0: all at the same instant)")
    parser.add_argument("--request-timeout", type=float, default=180.0)
    parser.add_argument("--deadline", type=float, default=1200.0, help="overall limit for the load phase, seconds")
    parser.add_argument("--alone", type=int, default=8, help="messages of each kind sent alone first (baseline)")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    if not 1 <= args.conversations <= MAX_CONVERSATIONS or not 1 <= args.turns <= MAX_TURNS:
        parser.error(f"--conversations 1..{MAX_CONVERSATIONS}, --turns 1..{MAX_TURNS}")
    concurrency = args.concurrency or args.conversations

    work = Path(tempfile.mkdtemp(prefix="bench-concurrency-"))
    cache = {"RASA_CACHE_DIRECTORY": str(work / "rasa-cache")}
    uploads = os.path.join("var", "media", "uploads", f"bench-{uuid.uuid4().hex[:8]}")
    try:
        model = train(work, servers.service_env(**cache)) if args.train else args.model.resolve()
        with contextlib.ExitStack() as running:
            action_service = running.enter_context(
                servers.action_server(f"sqlite:///{work / 'shop.sqlite3'}", work / "actions.log", **cache))
            # Every simulated customer connects from 127.0.0.1, so the per-address upload quota
            # (meant for one real client) is raised to the run's size.
            (work / "credentials.yml").write_text(
                f"components.channels.rest.MediaRestInput:\n  media_folder: {uploads}\n"
                f"  upload_max_files: {args.conversations * args.turns + 100}\n"
                f"  upload_max_bytes: 10000000000\n")
            (work / "endpoints.yml").write_text(servers.endpoints_text(action_service.url))
            rasa = running.enter_context(servers.rasa_server(
                model, work / "credentials.yml", work / "endpoints.yml", work / "rasa.log",
                TICKET_LOCK_LIFETIME="600", **cache))
            action_service.wait_until_up(120)
            server = rasa.wait_until_up(600)
            pids = [rasa.process.pid, action_service.process.pid]
            return measure(server, args, concurrency, model, work, pids)
    finally:
        shutil.rmtree(ROOT / uploads, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alone(server: str, pids: List[int], voices: List[Tuple[str, bytes]], run_id: str, timeout: float,
          per_kind: int) -> Dict[str, Dict[str, float]]:
    """Each kind of message sent with nothing else running (one at a time): latency p50/p95 and
    the CPU seconds the servers spent per message, the baseline of the load run."""
    steps = {kind: [] for kind in ("text", "photo", "voice")}
    for i in range(200):
        for step in script(i, 4, voices)[1:]:
            if len(steps[step["kind"]]) < per_kind:
                steps[step["kind"]].append(step)
    result: Dict[str, Dict[str, float]] = {}
    for kind, kind_steps in steps.items():
        latencies, cpu = [], []
        for i, step in enumerate(kind_steps):
            before = sum(process_cpu_s(pid) for pid in pids)
            records = asyncio.run(drive(server, [(f"alone-{run_id}-{kind}-{i}", [step])], 1, timeout))
            cpu.append(sum(process_cpu_s(pid) for pid in pids) - before)
            latencies.append(records[0]["latency_s"])
        result[kind] = {
            "messages": len(kind_steps),
            "p50_s": round(percentile(latencies, 50), 3),
            "p95_s": round(percentile(latencies, 95), 3),
            "cpu_s_per_message": round(statistics.mean(cpu), 4),
        }
    return result


# What bench/concurrency.py must show (issue: "text never waits behind media").
TEXT_P95_MAX_S = 1.5
TEXT_P95_MAX_RATIO = 5.0


def measure(server: str, args: argparse.Namespace, concurrency: int, model: Path, work: Path,
            pids: List[int]) -> int:
    """Warms up, measures each kind alone, drives the conversations, checks the trackers, prints
    (and writes) the report; 0 when every target holds."""
    voices = make_voices(work)
    run_id = uuid.uuid4().hex[:6]
    conversations = [(f"bench-{run_id}-{i:03d}", script(i, args.turns, voices)) for i in range(args.conversations)]
    # Warm-up: the first photo and voice message load the image and speech models.
    warm = script(1, 3, voices)
    asyncio.run(drive(server, [(f"warmup-{run_id}", warm)], 1, args.request_timeout))
    baseline = alone(server, pids, voices, run_id, args.request_timeout, args.alone)

    started = time.perf_counter()
    records = asyncio.run(asyncio.wait_for(drive(server, conversations, concurrency, args.request_timeout, args.ramp_s), args.deadline))
    wall = time.perf_counter() - started
    problems, paused = check_trackers(server, conversations)
    report = summarise(records, wall, paused)
    # The CPU-bound ideal: the load's messages cost this much CPU when sent alone; spread over
    # every core with no waiting at all, that is the shortest the run could take.
    cores = os.cpu_count() or 1
    ideal_wall = sum(baseline[r["kind"]]["cpu_s_per_message"] for r in records) / cores
    text_p95 = report["by_kind"]["text"]["p95_s"]
    text_alone_p95 = baseline["text"]["p95_s"]
    targets = {
        "errors": report["errors"] == 0,
        "empty_replies": report["empty_replies"] == 0,
        "trackers_complete_and_ordered": not problems,
        f"text_p95_at_most_{TEXT_P95_MAX_S}_s": text_p95 <= TEXT_P95_MAX_S,
        f"text_p95_at_most_{TEXT_P95_MAX_RATIO:g}x_alone": text_p95 <= TEXT_P95_MAX_RATIO * text_alone_p95,
    }
    report.update({
        "conversations": args.conversations,
        "turns_per_conversation": args.turns,
        "ramp_s": args.ramp_s,
        "concurrency": concurrency,
        "alone": baseline,
        "text_p95_ratio_to_alone": round(text_p95 / text_alone_p95, 2) if text_alone_p95 else None,
        "cpu_bound_ideal_wall_s": round(ideal_wall, 2),
        "cpu_bound_ideal_throughput_rps": round(len(records) / ideal_wall, 2) if ideal_wall else None,
        "throughput_share_of_ideal": round(ideal_wall / wall, 3) if wall else None,
        "trackers_complete_and_ordered": not problems,
        "tracker_problems": problems[:10],
        "targets": targets,
        "meets_targets": all(targets.values()),
        "model": str(model),
        "cpu_count": cores,
        "nlu_workers": {"media": os.environ.get("MM_NLU_MEDIA_WORKERS", "1"), "text": os.environ.get("MM_NLU_TEXT_WORKERS", "2"),
                        "media_nice": os.environ.get("MM_NLU_MEDIA_NICE", "10")},
    })
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["meets_targets"] else 1

if __name__ == "__main__":
    sys.exit(main())
