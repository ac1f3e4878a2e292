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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.audio.asr import get_backend  # noqa: E402
from components.audio.loading import TARGET_SAMPLE_RATE, load_audio  # noqa: E402
from components.audio.prompt import prompt_from_examples, whisper_token_counter  # noqa: E402
from components.audio.wer import normalise_text, wer, word_errors  # noqa: E402
from components.evaluation.stats import percentile  # noqa: E402
from components.threads import configure_threads  # noqa: E402

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


@dataclass
class Transcribed:
    """One spoken sentence: what was said, what was heard, and how long it took."""

    voice: str
    reference: str
    transcript: str
    label: str
    errors: int
    words: int
    duration_s: float  # audio length
    decode_s: float  # WAV bytes -> samples
    asr_s: float  # wall-clock transcription time
    cpu_s: float  # process CPU time of the transcription (all threads)

    def as_item(self) -> Dict[str, Any]:
        """The report's per-sentence entry."""
        return {"voice": self.voice, "reference": self.reference, "transcript": self.transcript,
                "errors": self.errors, "words": self.words, "duration_s": round(self.duration_s, 3),
                "asr_s": round(self.asr_s, 3)}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
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
    return args


def sample_sentences(args: argparse.Namespace) -> List[Dict[str, str]]:
    """``--n`` test sentences drawn with ``--seed``."""
    rows = read_banking77_test(args.data_dir)
    return random.Random(args.seed).sample(rows, min(args.n, len(rows)))


def load_backend(args: argparse.Namespace) -> Tuple[Any, float]:
    """The SpeechTranscriber's faster-whisper backend and the seconds it took to load."""
    started = time.perf_counter()
    backend = get_backend(
        "faster_whisper",
        model_path=args.model_path,
        compute_type="int8",
        cpu_threads=args.threads,
        beam_size=args.beam_size,
        language=None,
        initial_prompt=args.initial_prompt,
    )
    return backend, time.perf_counter() - started


def transcribe_all(backend: Any, rows: List[Dict[str, str]], voice_choice: str) -> List[Transcribed]:
    """Speaks every sentence with flite and transcribes it, timing decode and transcription."""
    results: List[Transcribed] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backend.transcribe(load_audio(synthesise("warm up", "slt", folder, -1)))  # first call allocates
        for i, row in enumerate(rows):
            voice = VOICES[i % len(VOICES)] if voice_choice == "mix" else voice_choice
            wav = synthesise(row["text"], voice, folder, i)
            t1 = time.perf_counter()
            samples = load_audio(wav)
            t2, c2 = time.perf_counter(), time.process_time()
            transcript = backend.transcribe(samples)
            t3, c3 = time.perf_counter(), time.process_time()
            errors, words = word_errors(row["text"], transcript.text)
            results.append(Transcribed(
                voice, row["text"], transcript.text, row["label"], errors, words,
                duration_s=len(samples) / TARGET_SAMPLE_RATE, decode_s=t2 - t1, asr_s=t3 - t2, cpu_s=c3 - c2,
            ))
            if (i + 1) % 20 == 0:
                running = wer([r.reference for r in results], [r.transcript for r in results])
                print(f"{i + 1}/{len(rows)}  running WER {running:.2%}", file=sys.stderr)
    return results


def build_report(args: argparse.Namespace, backend: Any, load_s: float, results: List[Transcribed]) -> Dict[str, Any]:
    """The JSON report: WER overall and per voice, real-time factors, latencies, intent accuracy."""
    references = [r.reference for r in results]
    hypotheses = [r.transcript for r in results]
    rtfs = [r.asr_s / r.duration_s for r in results]
    cpu_rtfs = [r.cpu_s / r.duration_s for r in results]
    latencies = [r.asr_s for r in results]
    durations = [r.duration_s for r in results]
    by_voice = {}
    for v in sorted({r.voice for r in results}):
        items = [r for r in results if r.voice == v]
        by_voice[v] = sum(r.errors for r in items) / max(1, sum(r.words for r in items))
    report: Dict[str, Any] = {
        "benchmark": "speech",
        "data": "Banking77 test sentences, SYNTHETIC speech (flite TTS), not recorded customer audio",
        "n": len(results),
        "voices": args.voice,
        "backend": backend.backend_id,
        "model_load_s": round(load_s, 3),
        "wer": wer(references, hypotheses),
        "wer_by_voice": by_voice,
        "sentence_exact_rate": sum(normalise_text(r) == normalise_text(h) for r, h in zip(references, hypotheses))
        / max(1, len(results)),
        "rtf_p50": percentile(rtfs, 50),
        "rtf_p95": percentile(rtfs, 95),
        "rtf_mean": statistics.fmean(rtfs) if rtfs else float("nan"),
        # CPU seconds (all threads) per audio second: independent of other load on a shared machine
        "cpu_rtf_p50": percentile(cpu_rtfs, 50),
        "cpu_rtf_p95": percentile(cpu_rtfs, 95),
        "load_average_1m": os.getloadavg()[0],
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "decode_p50_s": percentile([r.decode_s for r in results], 50),
        "audio_s_total": sum(durations),
        "audio_s_p50": percentile(durations, 50),
        "threads": args.threads,
        "beam_size": args.beam_size,
        "initial_prompt": args.initial_prompt,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "targets": {"wer_max": 0.10, "rtf_max": 0.25, "intent_gap_max": 0.03},
        "intents": evaluate_intents(references, hypotheses, [r.label for r in results], args.model),
        "worst": [r.as_item() for r in sorted(results, key=lambda r: r.errors / max(1, r.words), reverse=True)[:10]],
    }
    report["meets_targets"] = report["wer"] <= 0.10 and report["rtf_p95"] <= 0.25
    if report["intents"]:  # intent accuracy from speech within 3 points of the same sentences typed
        gap = report["intents"]["accuracy_text"] - report["intents"]["accuracy_speech"]
        report["meets_targets"] = report["meets_targets"] and gap <= 0.03
    return report


SUMMARY_KEYS = (
    "n", "wer", "wer_by_voice", "sentence_exact_rate", "rtf_p50", "rtf_p95", "cpu_rtf_p50", "cpu_rtf_p95",
    "load_average_1m", "latency_p50_s", "latency_p95_s", "audio_s_p50", "model_load_s", "meets_targets", "intents",
)


def write_report(report: Dict[str, Any], path: Optional[Path]) -> None:
    """Prints the summary; writes the whole report to ``path`` when given."""
    print(json.dumps({k: report[k] for k in SUMMARY_KEYS}, indent=2))
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    configure_threads(args.threads)
    rows = sample_sentences(args)
    backend, load_s = load_backend(args)
    report = build_report(args, backend, load_s, transcribe_all(backend, rows, args.voice))
    write_report(report, args.json)
    return report


if __name__ == "__main__":
    main()
