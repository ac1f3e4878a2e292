"""Speech benchmark: Banking77 test sentences spoken by flite (SYNTHETIC speech), transcribed by the
SpeechTranscriber's backend. Reports WER (word-level Levenshtein over normalised text, numbers
normalised) and real-time factor (transcription seconds / audio seconds) p50 / p95.

    .venv/bin/python bench/speech.py --data-dir ../shared/data --n 300 --json bench/results/speech.json

With ``--model PATH`` (a trained rasa model .tar.gz) it also parses the written sentences and the
transcripts with Rasa's Agent and reports intent accuracy from speech vs from text.
Synthetic TTS speech is cleaner than customers' voice notes: treat the WER as a lower bound.
"""

import argparse
import csv
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.audio.asr import get_backend  # noqa: E402
from components.audio.loading import load_audio  # noqa: E402
from components.audio.prompt import prompt_from_examples, whisper_token_counter  # noqa: E402
from components.audio.wer import normalise_text, wer, word_errors  # noqa: E402

VOICES = ("slt", "kal", "awb", "rms")


def read_banking77_test(data_dir: Path) -> List[Dict[str, str]]:
    """Banking77's official test split as {text, label} rows (whitespace collapsed)."""
    with open(data_dir / "banking77" / "test.csv", newline="", encoding="utf-8") as f:
        return [{"text": " ".join(r["text"].split()), "label": r["category"]} for r in csv.DictReader(f)]


def train_split_prompt(data_dir: Path, model_path: Optional[str]) -> str:
    """A Whisper prompt from Banking77's train split (never the test sentences being spoken)."""
    with open(data_dir / "banking77" / "train.csv", newline="", encoding="utf-8") as f:
        examples = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    return prompt_from_examples(examples, whisper_token_counter(model_path))


def synthesise(text: str, voice: str, folder: Path, index: int) -> bytes:
    """flite speaks ``text`` to a WAV file; returns its bytes."""
    import subprocess

    out = folder / f"{index}.wav"
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True)
    return out.read_bytes()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(q / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def evaluate_intents(
    texts: List[str], transcripts: List[str], labels: List[str], model_path: Optional[str] = None
) -> Optional[Dict[str, Any]]:
    """Intent accuracy of a trained Rasa model on the written texts vs on their transcripts.

    Returns None when no model path is given (the hook the classifier benchmark plugs into).
    """
    if not model_path:
        return None
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from components.evaluation.runner import ModelParser, quiet_logs

    quiet_logs()
    parser = ModelParser(Path(model_path))
    try:
        from_text = [parser.parse(t).intent or "" for t in texts]
        from_speech = [parser.parse(t).intent or "" for t in transcripts]
    finally:
        parser.close()
    n = len(labels) or 1
    return {
        "model": model_path,
        "accuracy_text": sum(p == y for p, y in zip(from_text, labels)) / n,
        "accuracy_speech": sum(p == y for p, y in zip(from_speech, labels)) / n,
        "agreement_text_vs_speech": sum(a == b for a, b in zip(from_text, from_speech)) / n,
    }


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=300, help="test sentences to synthesise")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--voice", default="mix", help="flite voice, or 'mix' to cycle slt/kal/awb/rms")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for ASR")
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--model-path", default=None, help="CTranslate2 Whisper folder (default: tiny.en)")
    parser.add_argument("--model", default=None, help="trained rasa model .tar.gz for intent accuracy")
    parser.add_argument("--initial-prompt", default=None, help="SpeechTranscriber initial_prompt (domain words)")
    parser.add_argument(
        "--prompt-from-train", action="store_true",
        help="initial_prompt = short Banking77 train-split examples (components.audio.prompt)",
    )
    args = parser.parse_args(argv)
    if args.prompt_from_train:
        args.initial_prompt = train_split_prompt(args.data_dir, args.model_path)

    import torch

    torch.set_num_threads(args.threads)
    rows = read_banking77_test(args.data_dir)
    rng = random.Random(args.seed)
    rows = rng.sample(rows, min(args.n, len(rows)))

    t0 = time.perf_counter()
    backend = get_backend(
        "faster_whisper",
        model_path=args.model_path,
        compute_type="int8",
        cpu_threads=args.threads,
        beam_size=args.beam_size,
        language=None,
        initial_prompt=args.initial_prompt,
    )
    load_s = time.perf_counter() - t0

    references, hypotheses, labels, per_item = [], [], [], []
    rtfs, latencies, durations, decode_s, cpu_rtfs = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backend.transcribe(load_audio(synthesise("warm up", "slt", folder, -1)))  # first call allocates
        for i, row in enumerate(rows):
            voice = VOICES[i % len(VOICES)] if args.voice == "mix" else args.voice
            wav = synthesise(row["text"], voice, folder, i)
            t1 = time.perf_counter()
            samples = load_audio(wav)
            t2, c2 = time.perf_counter(), time.process_time()
            transcript = backend.transcribe(samples)
            t3, c3 = time.perf_counter(), time.process_time()
            cpu_rtfs.append((c3 - c2) / (len(samples) / 16000))
            duration = len(samples) / 16000
            errors, words = word_errors(row["text"], transcript.text)
            references.append(row["text"])
            hypotheses.append(transcript.text)
            labels.append(row["label"])
            durations.append(duration)
            decode_s.append(t2 - t1)
            latencies.append(t3 - t2)
            rtfs.append((t3 - t2) / duration)
            per_item.append(
                {"voice": voice, "reference": row["text"], "transcript": transcript.text,
                 "errors": errors, "words": words, "duration_s": round(duration, 3), "asr_s": round(t3 - t2, 3)}
            )
            if (i + 1) % 20 == 0:
                print(f"{i + 1}/{len(rows)}  running WER {wer(references, hypotheses):.2%}", file=sys.stderr)

    by_voice = {}
    for v in sorted({p["voice"] for p in per_item}):
        items = [p for p in per_item if p["voice"] == v]
        by_voice[v] = sum(p["errors"] for p in items) / max(1, sum(p["words"] for p in items))
    report: Dict[str, Any] = {
        "benchmark": "speech",
        "data": "Banking77 test sentences, SYNTHETIC speech (flite TTS), not recorded customer audio",
        "n": len(rows),
        "voices": args.voice,
        "backend": backend.backend_id,
        "model_load_s": round(load_s, 3),
        "wer": wer(references, hypotheses),
        "wer_by_voice": by_voice,
        "sentence_exact_rate": sum(normalise_text(r) == normalise_text(h) for r, h in zip(references, hypotheses))
        / max(1, len(rows)),
        "rtf_p50": percentile(rtfs, 50),
        "rtf_p95": percentile(rtfs, 95),
        "rtf_mean": statistics.fmean(rtfs) if rtfs else float("nan"),
        # CPU seconds (all threads) per audio second: independent of other load on a shared machine
        "cpu_rtf_p50": percentile(cpu_rtfs, 50),
        "cpu_rtf_p95": percentile(cpu_rtfs, 95),
        "load_average_1m": os.getloadavg()[0],
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "decode_p50_s": percentile(decode_s, 50),
        "audio_s_total": sum(durations),
        "audio_s_p50": percentile(durations, 50),
        "threads": args.threads,
        "beam_size": args.beam_size,
        "initial_prompt": args.initial_prompt,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "targets": {"wer_max": 0.10, "rtf_max": 0.25, "intent_gap_max": 0.03},
        "intents": evaluate_intents([r for r in references], hypotheses, labels, args.model),
        "worst": sorted(per_item, key=lambda p: p["errors"] / max(1, p["words"]), reverse=True)[:10],
    }
    report["meets_targets"] = report["wer"] <= 0.10 and report["rtf_p95"] <= 0.25
    if report["intents"]:  # intent accuracy from speech within 3 points of the same sentences typed
        gap = report["intents"]["accuracy_text"] - report["intents"]["accuracy_speech"]
        report["meets_targets"] = report["meets_targets"] and gap <= 0.03
    summary = {k: report[k] for k in ("n", "wer", "wer_by_voice", "sentence_exact_rate", "rtf_p50", "rtf_p95",
                                      "cpu_rtf_p50", "cpu_rtf_p95", "load_average_1m",
                                      "latency_p50_s", "latency_p95_s", "audio_s_p50", "model_load_s",
                                      "meets_targets", "intents")}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
