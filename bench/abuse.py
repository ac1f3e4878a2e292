"""Abuse benchmark: a catalogue of hostile requests replayed against a real `rasa run` of the
reference assistant, each checked for a clear answer, a server that stays responsive and small,
and a conversation that goes on with nothing lost.

It starts the action server and `rasa run` itself (127.0.0.1 only, the project's channels: REST,
web chat and Slack with a signing secret; the HTTP API behind a token; conversations in an SQLite
tracker store), then for every case:
- sends the hostile request(s) and checks the answer (a 4xx with a JSON error for clients, a
  customer-facing reply without exception text for customers);
- meanwhile a probe thread asks ``GET /status`` every 100 ms and samples the server's resident
  memory: the case's longest ``/status`` stall and peak memory growth are reported;
- sends a normal "where is my order" in the same conversation and checks it is answered, and that
  the tracker holds every message that got a 2xx (nothing lost).

    .venv/bin/python -m bench.abuse --model models/<model>.tar.gz --json bench/reports/abuse.json
    .venv/bin/python -m bench.abuse --train --json bench/reports/abuse.json

Models that load on first use (the recognisers, featurizers, OCR) are loaded first by a warm-up of
ordinary messages, whose own memory growth the report gives apart (``warm_up``), so that a case's
growth is what its request costs.

Targets: every case held; peak memory growth under 500 MB for any single request; no /status
stall over 1 s while a hostile request is processed. Bounded: each case sends a fixed number of
requests with timeouts; the whole run has a deadline.
"""

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import requests

from bench import servers

ROOT = servers.ROOT
TOKEN = "abuse-bench-token"
SLACK_SECRET = "abuse-bench-slack-signing-secret"
PEAK_MEMORY_MAX_MB = 500.0
STALL_MAX_S = 1.0
# Words a customer must never see: exception text or internals.
LEAK = re.compile(r"Traceback|Exception|Error\(|errno|\.py\b|KeyError|ValueError|OSError", re.IGNORECASE)
TRACKING_NUMBER_12345 = "JD014600003828"


# ---- the probe ---------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


class Probe(threading.Thread):
    """Asks /status every 100 ms and samples the server's memory; one window per case."""

    def __init__(self, url: str, pid: int) -> None:
        super().__init__(daemon=True)
        self.url, self.pid = url, pid
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._start_rss = rss_mb(pid)
        self._peak_rss = self._start_rss
        self._stall = 0.0

    def run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                requests.get(f"{self.url}/status", params={"token": TOKEN}, timeout=30)
            except requests.RequestException:
                pass
            took = time.perf_counter() - started
            with contextlib.suppress(OSError):
                memory = rss_mb(self.pid)
                with self._lock:
                    self._stall = max(self._stall, took)
                    self._peak_rss = max(self._peak_rss, memory)
            self._stop.wait(0.1)

    def window(self) -> None:
        """Starts a new measuring window (the next case)."""
        with self._lock:
            self._start_rss = rss_mb(self.pid)
            self._peak_rss = self._start_rss
            self._stall = 0.0

    def read(self) -> Tuple[float, float]:
        """(longest /status answer in s, peak memory growth in MB) since ``window``."""
        with self._lock:
            return self._stall, self._peak_rss - self._start_rss

    def stop(self) -> None:
        self._stop.set()


# ---- talking to the server ---------------------------------------------------------------------


@dataclasses.dataclass
class Bench:
    url: str
    work: Path
    shop_url: str
    uploads: str

    def rest(self, sender: str, text: str, metadata: Optional[Dict[str, Any]] = None,
             headers: Optional[Dict[str, str]] = None, timeout: float = 300) -> requests.Response:
        payload: Dict[str, Any] = {"sender": sender, "message": text}
        if metadata is not None:
            payload["metadata"] = metadata
        return requests.post(f"{self.url}/webhooks/rest/webhook", json=payload, headers=headers,
                             timeout=timeout)

    def tracker(self, sender: str) -> Dict[str, Any]:
        response = requests.get(f"{self.url}/conversations/{sender}/tracker",
                                params={"token": TOKEN}, timeout=60)
        response.raise_for_status()
        return response.json()

    def user_events(self, sender: str) -> List[Dict[str, Any]]:
        return [e for e in self.tracker(sender).get("events", []) if e.get("event") == "user"]

    def parse(self, text: str) -> requests.Response:
        return requests.post(f"{self.url}/model/parse", params={"token": TOKEN},
                             json={"text": text}, timeout=300)


def replies_text(response: requests.Response) -> str:
    try:
        return "\n".join(r.get("text") or "" for r in response.json())
    except (ValueError, AttributeError):
        return ""


def json_error(response: requests.Response) -> Optional[Dict[str, Any]]:
    """The channel's ``{"error": {"code", "message"}}`` body, None when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) and error.get("message") else None


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# ---- media the cases send (made here, bounded) -------------------------------------------------


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def flite(text: str, work: Path) -> bytes:
    import subprocess

    out = work / f"voice-{hashlib.sha1(text.encode()).hexdigest()[:8]}.wav"
    subprocess.run(["flite", "-t", text, "-o", str(out)], check=True, capture_output=True)
    return out.read_bytes()


def flac_bomb(work: Path) -> bytes:
    """59 s of silence at 384 kHz, 8 channels: a FLAC of about 200 kB that decodes to 1.5 GB."""
    import soundfile as sf

    path = work / "bomb.flac"
    rate, channels, seconds = 384_000, 8, 59
    block = np.zeros((rate, channels), dtype=np.float32)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, format="FLAC",
                      subtype="PCM_16") as out:
        for _ in range(seconds):
            out.write(block)
    return path.read_bytes()


def big_png(width: int, height: int) -> bytes:
    """A PNG of one colour: tiny file, ``width * height`` pixels to decode."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def bomb_png() -> bytes:
    """A 1-bit PNG that declares 40,000 x 40,000 pixels (1.6 G) in a few hundred kB."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (40_000, 40_000), 0).save(buffer, "PNG")
    return buffer.getvalue()


def mpo_jpeg() -> bytes:
    """A multi-picture JPEG (MPO), as many phone cameras write."""
    from PIL import Image

    buffer = io.BytesIO()
    first, second = Image.new("RGB", (320, 240), (180, 30, 30)), Image.new("RGB", (320, 240), (30, 30, 180))
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    return buffer.getvalue()


# ---- the catalogue -----------------------------------------------------------------------------

Outcome = Tuple[bool, str]


@dataclasses.dataclass
class Case:
    name: str
    item: str  # the item it covers ("1" .. "10", or "held" for defences that already held)
    run: Callable[[Bench, str], Outcome]
    # True: the case hands the conversation to a human, so the bot rightly stays silent on the
    # follow-up (which must still be stored).
    hands_off: bool = False


def case_empty_message(bench: Bench, sender: str) -> Outcome:
    reply = bench.rest(sender, "")
    text = replies_text(reply)
    return reply.ok and bool(text), f"HTTP {reply.status_code}: {text[:120]!r}"


def case_silent_voice(bench: Bench, sender: str) -> Outcome:
    silence = wav_bytes(np.zeros(32000, dtype=np.float32))
    reply = bench.rest(sender, "", {"attachments": [{"type": "audio", "data": data_uri("audio/wav", silence)}]})
    text = replies_text(reply)
    return reply.ok and "silent" in text, f"HTTP {reply.status_code}: {text[:160]!r}"


def case_only_a_refused_reference(bench: Bench, sender: str) -> Outcome:
    reply = bench.rest(sender, "data/media/images/no_such_photo.png")
    text = replies_text(reply)
    return reply.ok and bool(text), f"HTTP {reply.status_code}: {text[:160]!r}"


def case_long_text(bench: Bench, sender: str) -> Outcome:
    words = " ".join(f"word{i % 97}" for i in range(10_000))  # about 60 KB, 10,000 words
    started = time.perf_counter()
    reply = bench.rest(sender, words)
    took = time.perf_counter() - started
    clear = (reply.ok and bool(replies_text(reply))) or (reply.status_code == 413 and json_error(reply))
    return bool(clear), f"HTTP {reply.status_code} in {took:.1f} s: {reply.text[:160]!r}"


def case_five_large_pngs(bench: Bench, sender: str) -> Outcome:
    png = big_png(6000, 6600)  # 39.6 megapixels each, just under the policy's 40 M
    attachments = [{"type": "image", "data": data_uri("image/png", png)} for _ in range(5)]
    reply = bench.rest(sender, "my parcel arrived like this", {"attachments": attachments})
    text = replies_text(reply)
    return reply.ok and bool(text) and not LEAK.search(text), f"HTTP {reply.status_code}: {text[:160]!r}"


def case_long_voice(bench: Bench, sender: str) -> Outcome:
    sentence = ("Hello, I am calling about the parcel I ordered three weeks ago. It still has not "
                "arrived and the tracking page has not changed since last Monday. ")
    voice = flite(sentence * 3, bench.work)
    reply = bench.rest(sender, "", {"attachments": [{"type": "audio", "data": data_uri("audio/wav", voice)}]})
    text = replies_text(reply)
    return reply.ok and bool(text), f"HTTP {reply.status_code}: {text[:160]!r}"


def case_flac_bomb(bench: Bench, sender: str) -> Outcome:
    bomb = flac_bomb(bench.work)
    reply = bench.rest(sender, "", {"attachments": [{"type": "audio", "data": data_uri("audio/flac", bomb)}]})
    text = replies_text(reply)
    error = json_error(reply)
    clear = (reply.ok and bool(text) and not LEAK.search(text)) or (reply.status_code in (400, 413, 415) and error)
    return bool(clear), f"{len(bomb)} bytes; HTTP {reply.status_code}: {(text or reply.text)[:160]!r}"


def case_tracker_api_needs_token(bench: Bench, sender: str) -> Outcome:
    bench.rest(sender, "hello")
    anonymous = requests.get(f"{bench.url}/conversations/{sender}/tracker", timeout=30)
    return anonymous.status_code in (401, 403), f"without the token: HTTP {anonymous.status_code}"


def case_order_details_for_anyone(bench: Bench, sender: str) -> Outcome:
    reply = bench.rest(sender, "where is my order 12345")
    text = replies_text(reply)
    leaked = TRACKING_NUMBER_12345 in text or "Ceramic coffee mug" in text
    return reply.ok and bool(text) and not leaked, f"HTTP {reply.status_code}: {text[:200]!r}"


def case_refused_files_as_evidence(bench: Bench, sender: str) -> Outcome:
    from actions.db import ShopDatabase

    refused = [{"type": "image", "path": "/etc/passwd"}, {"type": "image", "url": "http://127.0.0.1:9/evil.jpg"}]
    first = bench.rest(sender, "I want to talk to a real person", {"attachments": refused})
    text = replies_text(first)
    if "ticket" not in text.lower():
        text += "\n" + replies_text(bench.rest(sender, "yes please"))
    tickets = ShopDatabase(bench.shop_url).tickets_for_conversation(sender)
    evidence = [str(item) for ticket in tickets for item in (ticket.get("attachments") or ticket.get("evidence") or [])]
    bad = [e for e in evidence if "/etc/passwd" in e or "127.0.0.1" in e]
    return bool(tickets) and not bad, f"{len(tickets)} ticket(s), evidence {evidence[:3]}"


def noise_png(side: int = 600) -> bytes:
    """A valid PNG of random pixels: about 1 MB that does not compress."""
    from PIL import Image

    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def case_upload_flood(bench: Bench, sender: str) -> Outcome:
    png = noise_png()
    statuses = []
    for i in range(40):
        files = {"file": (f"flood{i}.png", png, "image/png")}
        reply = requests.post(f"{bench.url}/webhooks/rest/webhook", data={"sender": sender, "message": "look"},
                              files=files, timeout=120)
        statuses.append(reply.status_code)
        if reply.status_code == 429:
            break
    limited = 429 in statuses and json_error(reply) is not None
    return limited, f"{len(png)} bytes each; statuses {sorted(set(statuses))} after {len(statuses)} uploads"


def case_rest_continues_a_web_chat_conversation(bench: Bench, sender: str) -> Outcome:
    reply = bench.rest("webchat-0123456789abcdef.0123456789abcdef", "where is my order 12345")
    slack = bench.rest("slack-U0123456", "where is my order 12345")
    refused = all(r.status_code in (400, 401, 403) and json_error(r) for r in (reply, slack))
    bench.rest(sender, "hello")
    return refused, f"web chat id: HTTP {reply.status_code}, Slack id: HTTP {slack.status_code}"


def case_data_uri_in_text(bench: Bench, sender: str) -> Outcome:
    blob = data_uri("image/png", big_png(8, 8) + os.urandom(270_000))
    reply = bench.rest(sender, f"look at this {blob}")
    stored = json.dumps(bench.user_events(sender))
    return reply.ok and "base64," not in stored and len(stored) < 100_000, (
        f"HTTP {reply.status_code}; stored user events {len(stored)} chars")


def case_junk_metadata(bench: Bench, sender: str) -> Outcome:
    reply = bench.rest(sender, "hello", {"junk": "x" * 860_000, "nested": {"more": ["y" * 1000] * 100}})
    size = len(json.dumps(bench.tracker(sender)))
    return (reply.ok or reply.status_code in (400, 413)) and size < 100_000, (
        f"HTTP {reply.status_code}; tracker {size} chars")


def case_deep_json(bench: Bench, sender: str) -> Outcome:
    body = '{"sender": "%s", "message": "hi", "metadata": %s%s}' % (sender, "[" * 100_000, "]" * 100_000)
    reply = requests.post(f"{bench.url}/webhooks/rest/webhook", data=body,
                          headers={"Content-Type": "application/json"}, timeout=60)
    return reply.status_code == 400, f"HTTP {reply.status_code}: {reply.text[:120]!r}"


def case_inline_scan_10mb(bench: Bench, sender: str) -> Outcome:
    text = ("see data/media/x " * 700_000)[:10_000_000]
    started = time.perf_counter()
    reply = bench.parse(text)
    took = time.perf_counter() - started
    return reply.status_code < 500, f"/model/parse HTTP {reply.status_code} in {took:.1f} s"


def _errors_of(bench: Bench, sender: str, attachments: List[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(code, message) of each attachment error the pipeline reported for one REST message."""
    bench.rest(sender, "look at this", {"attachments": attachments})
    parse = bench.user_events(sender)[-1].get("parse_data") or {}
    return [(e["code"], e["message"]) for e in parse.get("attachment_errors") or []]


def case_probe_which_files_exist(bench: Bench, sender: str) -> Outcome:
    link = ROOT / bench.uploads / "leads-out.png"
    link.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.symlink("/etc/passwd", link)
    pairs = {
        "outside the roots, existing vs missing": (
            [{"type": "image", "path": "/etc/passwd"}], [{"type": "image", "path": "/etc/no-such-file"}]),
        "inside an upload root, link out vs missing": (
            [{"type": "image", "path": f"{bench.uploads}/leads-out.png"}],
            [{"type": "image", "path": f"{bench.uploads}/no-such.png"}]),
    }
    answers = {name: (_errors_of(bench, sender, a), _errors_of(bench, sender, b)) for name, (a, b) in pairs.items()}
    same = all(first and first == second for first, second in answers.values())
    return same, "; ".join(f"{name}: {first[:1]} / {second[:1]}" for name, (first, second) in answers.items())


def case_mpo_jpeg(bench: Bench, sender: str) -> Outcome:
    reply = bench.rest(sender, "my parcel arrived like this",
                       {"attachments": [{"type": "image", "data": data_uri("image/jpeg", mpo_jpeg())}]})
    users = bench.user_events(sender)
    understood = (users[-1].get("parse_data") or {}).get("media_references") if users else None
    return reply.ok and bool(understood), f"HTTP {reply.status_code}; media_references {understood}"


def case_thin_strip_image(bench: Bench, sender: str) -> Outcome:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (3000, 1), (200, 200, 200)).save(buffer, "PNG")
    reply = bench.rest(sender, "what is this",
                       {"attachments": [{"type": "image", "data": data_uri("image/png", buffer.getvalue())}]})
    text = replies_text(reply)
    return reply.ok and bool(text) and not LEAK.search(text), f"HTTP {reply.status_code}: {text[:160]!r}"


def case_decompression_bomb(bench: Bench, sender: str) -> Outcome:
    reply = bench.rest(sender, "what is this",
                       {"attachments": [{"type": "image", "data": data_uri("image/png", bomb_png())}]})
    text = replies_text(reply)
    error = json_error(reply)
    return (reply.ok and "pixels" in text) or bool(error), f"HTTP {reply.status_code}: {(text or reply.text)[:160]!r}"


def case_ssrf_address_forms(bench: Bench, sender: str) -> Outcome:
    urls = ["http://127.0.0.1:9/a.jpg", "http://[::1]:9/a.jpg", "http://2130706433/a.jpg",
            "http://0x7f.0.0.1/a.jpg", "http://169.254.169.254/latest/meta-data/a.jpg",
            "http://localhost:9/a.jpg"]
    codes = [[code for code, _ in _errors_of(bench, sender, [{"type": "image", "url": url}])] for url in urls]
    refused = all(c and c[0] in ("private_address", "bad_reference") for c in codes)
    return refused, f"codes {codes}"


def case_traversal_and_symlinks(bench: Bench, sender: str) -> Outcome:
    link = ROOT / bench.uploads / "innocent.png"
    link.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.symlink("/etc/passwd", link)
    texts = ["data/media/../../../../etc/passwd.png", f"{bench.uploads}/innocent.png",
             "data/media/images/../../../README.md.png"]
    results = []
    for text in texts:
        parsed = bench.parse(text).json()
        results.append(([e["code"] for e in parsed.get("attachment_errors") or []], parsed.get("media_references")))
    held = all(codes and not refs for codes, refs in results)
    return held, f"{results}"


def _slack_headers(body: str, timestamp: int, secret: str) -> Dict[str, str]:
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature,
            "Content-Type": "application/json"}


def case_slack_signature_and_replay(bench: Bench, sender: str) -> Outcome:
    body = json.dumps({"type": "event_callback", "event": {"type": "message", "user": "U1", "text": "hi",
                                                           "channel": "D1", "ts": "1.0"}})
    url = f"{bench.url}/webhooks/slack/webhook"
    now = int(time.time())
    forged = requests.post(url, data=body, headers=_slack_headers(body, now, "wrong-secret"), timeout=30)
    replay = requests.post(url, data=body, headers=_slack_headers(body, now - 900, SLACK_SECRET), timeout=30)
    held = forged.status_code in (400, 401, 403) and replay.status_code in (400, 401, 403)
    return held, f"forged HTTP {forged.status_code}, 15-minute-old replay HTTP {replay.status_code}"


CASES: List[Case] = [
    Case("empty message", "1", case_empty_message),
    Case("silent voice message", "1", case_silent_voice),
    Case("text that is only a refused reference", "1", case_only_a_refused_reference),
    Case("60 KB / 10,000-word message", "2", case_long_text),
    Case("five 40-megapixel PNGs in one message", "3", case_five_large_pngs),
    Case("30 s voice message", "3", case_long_voice),
    Case("FLAC bomb: 384 kHz, 8 channels, 59 s", "4", case_flac_bomb),
    Case("tracker API without the token", "5", case_tracker_api_needs_token),
    Case("REST naming a web chat or Slack sender", "5", case_rest_continues_a_web_chat_conversation),
    Case("someone else's order details", "6", case_order_details_for_anyone),
    Case("refused files recorded as evidence", "7", case_refused_files_as_evidence, hands_off=True),
    Case("data: URI typed in the text", "9", case_data_uri_in_text),
    Case("860 KB of unknown metadata", "9", case_junk_metadata),
    Case("100,000-deep nested JSON", "10", case_deep_json),
    Case("10 MB text to /model/parse", "10", case_inline_scan_10mb),
    Case("probing which files exist", "10", case_probe_which_files_exist),
    Case("MPO JPEG from a phone camera", "10", case_mpo_jpeg),
    Case("3000 x 1 strip image (OCR would scale it to gigapixels)", "3", case_thin_strip_image),
    Case("decompression bomb PNG", "held", case_decompression_bomb),
    Case("SSRF address forms", "held", case_ssrf_address_forms),
    Case("path traversal and symlinks", "held", case_traversal_and_symlinks),
    Case("Slack forged signature and replay", "held", case_slack_signature_and_replay),
    # Last: it uses up this client address's upload quota, which the cases above need.
    Case("upload flood from one client", "8", case_upload_flood),
]


def warm_up(bench: Bench, probe: Probe) -> Dict[str, Any]:
    """One ordinary photo and voice message before the cases: the recognisers (tiny.en; Whisper
    base, which reads the language of a clip sent with the hint "zh"), the speech and image
    featurizers and OCR load on first use, and without this the first case of each modality would
    be charged for loading them. What the warm-up itself cost is reported beside the cases."""
    probe.window()
    started = time.perf_counter()
    follow_up(bench, "abuse-warmup")
    voice = data_uri("audio/wav", flite("Where is my order?", bench.work))
    photo = data_uri("image/png", noise_png(224))
    answers = [bench.rest("abuse-warmup", "", {"attachments": [{"type": "audio", "data": voice}], "language": "zh"}),
               bench.rest("abuse-warmup", "my parcel arrived like this", {"attachments": [{"type": "image", "data": photo}]})]
    stall, memory = probe.read()
    return {"what": "a text, a voice message with the hint zh (both recognisers) and a photo, before the cases: "
                    "models that load on first use",
            "answered": all(a.ok and replies_text(a) for a in answers), "seconds": round(time.perf_counter() - started, 2),
            "status_stall_max_s": round(stall, 3), "peak_memory_growth_mb": round(memory, 1)}


def follow_up(bench: Bench, sender: str) -> Outcome:
    """A normal question in the same conversation still gets a clean answer."""
    reply = bench.rest(sender, "where is my order")
    text = replies_text(reply)
    return reply.ok and bool(text) and not LEAK.search(text), text[:120]


def run_case(bench: Bench, probe: Probe, case: Case) -> Dict[str, Any]:
    sender = f"abuse-{uuid.uuid4().hex[:10]}"
    probe.window()
    started = time.perf_counter()
    try:
        held, detail = case.run(bench, sender)
    except Exception as exc:  # a case that breaks the bench is a failed case, not a crash
        held, detail = False, f"{type(exc).__name__}: {exc}"[:300]
    seconds = time.perf_counter() - started
    stall, memory = probe.read()
    after_ok, after = follow_up(bench, sender)
    try:
        users = bench.user_events(sender)
        stored = len(users)
    except requests.RequestException as exc:
        users, stored, after_ok = [], -1, False
        after = f"tracker unreadable: {exc}"
    if case.hands_off:  # paused for a human: silent, but the message is kept for the agent
        after_ok = bool(users) and users[-1].get("text") == "where is my order"
        after = after or "(paused for a human; the message is stored)"
    nothing_lost = stored >= 1  # at least the follow-up; each case's own check covers its message
    return {
        "case": case.name,
        "item": case.item,
        "held": bool(held and after_ok and nothing_lost),
        "answer": detail,
        "follow_up_answered": after_ok,
        "follow_up": after,
        "user_events_stored": stored,
        "seconds": round(seconds, 2),
        "status_stall_max_s": round(stall, 3),
        "peak_memory_growth_mb": round(memory, 1),
    }


def credentials_text(uploads: str) -> str:
    return (
        f"components.channels.rest.MediaRestInput:\n  media_folder: {uploads}\n"
        f"components.channels.webchat.WebChatInput:\n  session_persistence: true\n  media_folder: {uploads}\n"
        f"components.channels.slack.SlackMediaInput:\n  slack_token: xoxb-abuse-bench\n"
        f"  slack_signing_secret: {SLACK_SECRET}\n  slack_api_url: http://127.0.0.1:9/api\n"
        f"  media_folder: {uploads}\n"
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="trained model (.tar.gz)")
    source.add_argument("--train", action="store_true", help="train config.yml first")
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-abuse-"))
    cache = {"RASA_CACHE_DIRECTORY": str(work / "rasa-cache")}
    uploads = os.path.join("var", "media", "uploads", f"abuse-{uuid.uuid4().hex[:8]}")
    try:
        if args.train:
            from bench.concurrency import train

            model = train(work, servers.service_env(**cache))
        else:
            model = args.model.resolve()
        shop_url = f"sqlite:///{work / 'shop.sqlite3'}"
        with contextlib.ExitStack() as running:
            actions = running.enter_context(servers.action_server(shop_url, work / "actions.log", **cache))
            (work / "credentials.yml").write_text(credentials_text(uploads))
            (work / "endpoints.yml").write_text(
                servers.endpoints_text(actions.url)
                + f"tracker_store:\n  type: SQL\n  url: sqlite:///{work / 'tracker.sqlite3'}\n")
            rasa = running.enter_context(servers.rasa_server(
                model, work / "credentials.yml", work / "endpoints.yml", work / "rasa.log",
                extra_args=["--auth-token", TOKEN], TICKET_LOCK_LIFETIME="600", **cache))
            actions.wait_until_up(120)
            url = rasa.wait_until_up(600)
            bench = Bench(url, work, shop_url, uploads)
            probe = Probe(url, rasa.process.pid)
            probe.start()
            try:
                warmed = warm_up(bench, probe)
                print(f"warm-up: models loaded, memory +{warmed['peak_memory_growth_mb']:.1f} MB "
                      f"in {warmed['seconds']:.1f} s (not a case)")
                cases = [c for c in CASES if not args.only or args.only in c.name]
                results = []
                for case in cases:
                    result = run_case(bench, probe, case)
                    results.append(result)
                    mark = "held" if result["held"] else "FAILED"
                    print(f"{mark:6}  item {case.item:>4}  {case.name:45} stall {result['status_stall_max_s']:6.2f} s"
                          f"  memory +{result['peak_memory_growth_mb']:7.1f} MB  {result['answer'][:70]}")
            finally:
                probe.stop()
        report = summarise(results, str(model), warmed)
        print(json.dumps({k: v for k, v in report.items() if k != "cases"}, indent=2))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return 0 if report["meets_targets"] else 1
    finally:
        shutil.rmtree(ROOT / uploads, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def summarise(results: List[Dict[str, Any]], model: str, warmed: Dict[str, Any]) -> Dict[str, Any]:
    peak = max((r["peak_memory_growth_mb"] for r in results), default=0.0)
    stall = max((r["status_stall_max_s"] for r in results), default=0.0)
    failed = [r["case"] for r in results if not r["held"]]
    targets = {
        "every_case_held": not failed,
        f"peak_memory_growth_under_{PEAK_MEMORY_MAX_MB:g}_mb": peak < PEAK_MEMORY_MAX_MB,
        f"no_status_stall_over_{STALL_MAX_S:g}_s": stall <= STALL_MAX_S,
    }
    return {
        "cases_run": len(results),
        "cases_held": len(results) - len(failed),
        "failed": failed,
        "peak_memory_growth_mb_max": peak,
        "status_stall_max_s": stall,
        "targets": targets,
        "meets_targets": all(targets.values()),
        "model": model,
        "cpu_count": os.cpu_count(),
        "warm_up": warmed,
        "cases": results,
    }


if __name__ == "__main__":
    sys.exit(main())
