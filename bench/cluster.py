"""Scale-out bench: the whole stack on this machine (deploy/stack.py: PostgreSQL, the atomic
Redis lock store, an S3 server, an action server, 2 ``rasa run`` replicas, HAProxy), mixed
text / photo / voice conversations, one replica SIGKILLed mid-run and restarted.

    python bench/cluster.py --model models/final.tar.gz --replicas 2 --json bench/reports/cluster.json

Phases, in one run: ``one_replica`` (conversations sent to replica 1 directly), ``two_replicas``
(the same number through HAProxy), then ``failover`` (``--conversations`` through HAProxy; when a
third of its turns are done replica 2 is killed with SIGKILL and started again). Every turn has a
unique text. Photo conversations upload through one replica and send the follow-up, with the
upload's reference, to the other replica (the uploading replica's local copy is deleted first, as
on separate machines, so the other can only read it from the bucket).

Checked afterwards in PostgreSQL (Rasa's ``events`` table): every user message that got a 2xx is
stored exactly once and in the order it was sent (``lost_messages``, ``duplicated_messages``,
``out_of_order_conversations``); conversations begun before the kill that went on after it;
photos read across replicas. Printed as a table, written as JSON.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.servers import ROOT  # noqa: E402
from deploy.stack import Stack  # noqa: E402

IMAGES = sorted((ROOT / "data" / "media" / "images").glob("*.jpg"))[:4] or sorted(
    (ROOT / "data" / "media" / "images").glob("*.*"))[:4]
VOICE_PHRASES = ["where is my order", "I want to return my shoes", "hello, I need some help please"]
TURN_TIMEOUT_S = 600


def percentile(values: List[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 3)


def make_voices(folder: Path) -> List[bytes]:
    voices = []
    for i, phrase in enumerate(VOICE_PHRASES):
        path = folder / f"voice{i}.wav"
        subprocess.run(["flite", "-t", phrase, "-o", str(path)], check=True, timeout=60)
        voices.append(path.read_bytes())
    return voices


class Run:
    """Sends conversations and records every turn (who got which answer, when)."""

    def __init__(self, stack: Stack, voices: List[bytes], concurrency: int) -> None:
        self.stack = stack
        self.voices = voices
        self.concurrency = concurrency
        self.records: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        self.photo_reads: List[Dict[str, Any]] = []
        self.cross_attempts = 0

    def post(self, url: str, sender: str, text: str, files: Any = None,
             metadata: Optional[Dict[str, Any]] = None) -> Tuple[int, Any, float]:
        started = time.perf_counter()
        try:
            if files:
                reply = requests.post(f"{url}/webhooks/rest/webhook", data={"sender": sender, "message": text},
                                      files=files, timeout=TURN_TIMEOUT_S)
            else:
                body: Dict[str, Any] = {"sender": sender, "message": text}
                if metadata:
                    body["metadata"] = metadata
                reply = requests.post(f"{url}/webhooks/rest/webhook", json=body, timeout=TURN_TIMEOUT_S)
            status = reply.status_code
        except requests.RequestException as exc:
            return 0, str(exc)[:200], time.perf_counter() - started
        return status, None, time.perf_counter() - started

    def turn(self, phase: str, sender: str, index: int, kind: str, url: str, text: str, **extra: Any) -> int:
        status, error, latency = self.post(url, sender, text, **extra)
        with self.lock:
            self.records.append({"phase": phase, "sender": sender, "turn": index, "kind": kind,
                                 "text": text, "status": status, "error": error,
                                 "latency_s": latency, "done_at": time.time(), "url": url})
        return status

    def conversation(self, phase: str, number: int, entry: str) -> None:
        sender = f"{phase}-{number}"
        replicas = self.stack.replicas
        self.turn(phase, sender, 0, "text", entry, f"c{number} hello, I need some help")
        kind = ("text", "photo", "voice")[number % 3]
        if kind == "text":
            self.turn(phase, sender, 1, "text", entry, f"c{number} where is my order")
            self.turn(phase, sender, 2, "text", entry, f"c{number} thanks for your help")
        elif kind == "voice":
            wav = self.voices[number % len(self.voices)]
            self.turn(phase, sender, 1, "voice", entry, f"c{number} voice note",
                      files={"file": ("voice.wav", wav, "audio/wav")})
            self.turn(phase, sender, 2, "text", entry, f"c{number} thanks for your help")
        else:  # upload through the balancer, follow up through the other replica
            photo = IMAGES[number % len(IMAGES)].read_bytes()
            status = self.turn(phase, sender, 1, "photo", entry, f"c{number} my parcel arrived damaged",
                               files={"file": (IMAGES[number % len(IMAGES)].name, photo, "image/jpeg")})
            digest = hashlib.sha256(photo).hexdigest()
            reference = self.uploaded_reference(sender, digest) if 200 <= status < 300 else None
            reader = entry
            if reference is not None and phase != "one_replica":
                uploader = next((i for i in range(len(replicas))
                                 if reference["path"].startswith(self.stack.media_folder(i + 1) + "/")), None)
                other = replicas[(uploader + 1) % len(replicas)] if uploader is not None else None
                if other is not None and self.is_up(other):
                    reader = other
                    local = ROOT / reference["path"]
                    if local.exists():
                        local.unlink()  # the uploading replica's disk is another machine's
            metadata = {"attachments": [reference]} if reference else None
            status = self.turn(phase, sender, 2, "photo_followup", reader, f"c{number} is it covered?",
                               metadata=metadata)
            if reader != entry:
                self.cross_attempts += 1
            if reader != entry and 200 <= status < 300:
                self.photo_reads.append({"sender": sender, "sha256": digest,
                                         "text": f"c{number} is it covered?"})

    def is_up(self, replica: str) -> bool:
        try:
            return requests.get(f"{replica}/status", params={"token": self.stack.token}, timeout=5).ok
        except requests.RequestException:
            return False

    def uploaded_reference(self, sender: str, digest: str) -> Optional[Dict[str, Any]]:
        for replica in self.stack.replicas:
            try:
                events = requests.get(f"{replica}/conversations/{sender}/tracker",
                                      params={"token": self.stack.token}, timeout=60).json()["events"]
            except (requests.RequestException, ValueError, KeyError):
                continue
            for event in events:
                for attachment in (event.get("metadata") or {}).get("attachments") or []:
                    if digest in attachment.get("path", ""):
                        return attachment
        return None

    def phase(self, name: str, count: int, entry: str, start: int = 0) -> float:
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(lambda n: self.conversation(name, n, entry), range(start, start + count)))
        return time.perf_counter() - started


def stored_user_events(database_url: str) -> Dict[str, List[Dict[str, Any]]]:
    """sender -> user events (text, media sha256 values) in the order PostgreSQL stored them."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(database_url)
    found: Dict[str, List[Dict[str, Any]]] = {}
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text(
            "SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id"))
        for sender, data in rows:
            event = json.loads(data)
            media = (event.get("parse_data") or {}).get("media_references") or []
            found.setdefault(sender, []).append(
                {"text": event.get("text") or "", "sha256": [m.get("sha256") for m in media]})
    engine.dispose()
    return found


def check(records: List[Dict[str, Any]], stored_events: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    stored = {sender: [e["text"] for e in events] for sender, events in stored_events.items()}
    lost, duplicated, out_of_order = 0, 0, 0
    by_sender: Dict[str, List[Dict[str, Any]]] = {}
    for record in records:
        by_sender.setdefault(record["sender"], []).append(record)
    for sender, turns in by_sender.items():
        texts = stored.get(sender, [])
        ok = [r["text"] for r in sorted(turns, key=lambda r: r["turn"]) if 200 <= r["status"] < 300]
        lost += sum(1 for text in ok if text not in texts)
        duplicated += sum(texts.count(text) - 1 for text in set(texts) if texts.count(text) > 1)
        if [t for t in texts if t in ok] != [t for t in ok if t in texts]:
            out_of_order += 1
    return {"lost_messages": lost, "duplicated_messages": duplicated,
            "out_of_order_conversations": out_of_order}


def summary(records: List[Dict[str, Any]], wall: float) -> Dict[str, Any]:
    ok = [r for r in records if 200 <= r["status"] < 300]
    latencies = [r["latency_s"] for r in ok]
    return {"turns": len(records), "ok_turns": len(ok), "failed_turns": len(records) - len(ok),
            "wall_s": round(wall, 1), "throughput_turns_per_s": round(len(ok) / wall, 3) if wall else None,
            "p50_s": percentile(latencies, 0.5), "p95_s": percentile(latencies, 0.95)}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.environ.get("MM_TEST_MODEL"), help="trained model (.tar.gz)")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--baseline", type=int, default=18, help="conversations per 1-vs-2 phase")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", dest="json_out", help="write the report here")
    args = parser.parse_args(argv)
    if not args.model:
        parser.error("--model (or env MM_TEST_MODEL) is required")
    if args.replicas != 2:
        parser.error("this bench compares 1 with 2 replicas: --replicas 2")
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    voices = make_voices(work)
    # Every simulated customer is 127.0.0.1: the per-address upload quota is raised to the run.
    uploads = 2 * (args.conversations + 2 * args.baseline + 6)
    with Stack(Path(args.model), work / "stack", replicas=2, upload_max_files=uploads) as stack:
        run = Run(stack, voices, args.concurrency)
        one_wall = run.phase("one_replica", args.baseline, stack.replicas[0])
        two_wall = run.phase("two_replicas", args.baseline, stack.url)
        total_turns = 3 * args.conversations
        events: Dict[str, Any] = {}

        def killer() -> None:
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                done = sum(1 for r in run.records if r["phase"] == "failover")
                if done >= total_turns // 3:
                    break
                time.sleep(0.2)
            events["killed_at"] = time.time()
            stack.kill_replica(2)
            started = time.perf_counter()
            stack.start_replica(2)
            events["restarted_at"] = time.time()
            events["restart_s"] = round(time.perf_counter() - started, 1)

        thread = threading.Thread(target=killer)
        thread.start()
        fail_wall = run.phase("failover", args.conversations, stack.url)
        thread.join(timeout=1800)
        after_restart = run.phase("after_restart", 6, stack.url) if "restarted_at" in events else 0.0
        stored = stored_user_events(stack.database_url)

    records = run.records
    failover = [r for r in records if r["phase"] == "failover"]
    killed_at = events.get("killed_at", float("inf"))
    started = {r["sender"] for r in failover if r["turn"] == 0 and r["done_at"] < killed_at}
    # Begun before the kill with turns still to send after it: did they go on?
    before = {r["sender"] for r in failover if r["sender"] in started and r["done_at"] > killed_at}
    continued = {r["sender"] for r in failover
                 if r["sender"] in before and r["done_at"] > killed_at and 200 <= r["status"] < 300}
    photos_read = sum(
        1 for read in run.photo_reads
        if any(e["text"] == read["text"] and read["sha256"] in e["sha256"]
               for e in stored.get(read["sender"], [])))
    phases = {name: summary([r for r in records if r["phase"] == name], wall)
              for name, wall in (("one_replica", one_wall), ("two_replicas", two_wall),
                                 ("failover", fail_wall), ("after_restart", after_restart))}
    restarted_served = sum(1 for r in records if r["phase"] == "after_restart" and 200 <= r["status"] < 300)
    report = {
        "replicas": 2, "conversations": args.conversations, "concurrency": args.concurrency,
        "cpu_cores": os.cpu_count(), **check(records, stored), "phases": phases,
        "throughput_ratio": round(phases["two_replicas"]["throughput_turns_per_s"]
                                  / phases["one_replica"]["throughput_turns_per_s"], 3)
        if phases["one_replica"]["throughput_turns_per_s"] else None,
        "kill": {"replica": 2, "signal": "SIGKILL", "restart_s": events.get("restart_s"),
                 "failed_turns_during_failover": phases["failover"]["failed_turns"],
                 "conversations_open_at_kill": len(before),
                 "of_them_continued_after_kill": len(continued),
                 "turns_after_restart_ok": restarted_served},
        "upload_max_files_per_address": uploads,
        "photos_read_by_other_replica": photos_read,
        "photos_sent_to_the_other_replica": run.cross_attempts,
        "failed_examples": [{k: r[k] for k in ("phase", "sender", "turn", "status", "error")}
                            for r in records if not 200 <= r["status"] < 300][:10],
    }
    width = max(len(n) for n in phases)
    print(f"{'phase':<{width}}  turns   ok  failed  wall_s  turns/s  p50_s  p95_s")
    for name, row in phases.items():
        print(f"{name:<{width}}  {row['turns']:5d} {row['ok_turns']:4d} {row['failed_turns']:7d} "
              f"{row['wall_s']:7} {row['throughput_turns_per_s']!s:>8} {row['p50_s']!s:>6} {row['p95_s']!s:>6}")
    print(json.dumps({k: v for k, v in report.items() if k not in ("phases", "failed_examples")}, indent=1))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["lost_messages"] == 0 and report["duplicated_messages"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
