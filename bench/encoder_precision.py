"""Is bf16 worth offering for the sentence encoder? One sentence through MiniLM each way.

The encoder serves on ONNX Runtime in float32 (components/text/onnx_encoder.py). bf16 only pays
where the CPU has bf16 instructions (AVX512-BF16 or AMX), so this prints what the CPU has and times
one 15-piece sentence, single-sentence batches as a chat message is parsed, on the same model in
the same run: ONNX Runtime float32 (served), torch float32, torch under bf16 autocast, and torch with
bf16 weights; each with the lowest cosine to torch float32 on probe sentences.

    .venv/bin/python bench/encoder_precision.py --json bench/reports/encoder_precision.json
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.text.encoder import default_model_path, open_sentence_transformer  # noqa: E402
from components.text.onnx_encoder import PARITY_PROBES, OnnxSentenceModel, lowest_cosine  # noqa: E402
from components.threads import configure_threads  # noqa: E402

SENTENCE = "the mug arrived smashed into pieces and I would like my money back please"


def cpu_flags() -> List[str]:
    """The CPU's bf16-related flags (Linux /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"))


def median_ms(call: Callable[[], Any], rounds: int) -> float:
    for _ in range(10):
        call()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    configure_threads(args.threads)
    import numpy as np
    import torch

    model, _ = open_sentence_transformer(default_model_path())
    probes = list(PARITY_PROBES)
    reference = model.encode(probes, convert_to_numpy=True)
    onnx = OnnxSentenceModel(model, args.threads)

    def autocast(texts: List[str]) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model.encode(texts, convert_to_numpy=True).astype(np.float32)

    rows = [
        ("onnx_float32 (served)", lambda: onnx.encode(model, [SENTENCE]), lambda: onnx.encode(model, probes)),
        ("torch_float32", lambda: model.encode([SENTENCE], convert_to_numpy=True), lambda: reference),
        ("torch_bf16_autocast", lambda: autocast([SENTENCE]), lambda: autocast(probes)),
    ]
    results = []
    for name, one, vectors in rows:
        results.append({"backend": name, "p50_ms": median_ms(one, args.rounds),
                        "lowest_cosine": lowest_cosine(reference, vectors())})
    model.to(torch.bfloat16)  # last: the weights stay bf16 from here
    bf16 = lambda texts: torch.stack(model.encode(texts, convert_to_numpy=False)).float().numpy()  # noqa: E731
    results.append({"backend": "torch_bf16_weights", "p50_ms": median_ms(lambda: bf16([SENTENCE]), args.rounds),
                    "lowest_cosine": lowest_cosine(reference, bf16(probes))})
    base = results[0]["p50_ms"]
    report = {"benchmark": "encoder_precision", "cpu": platform.processor() or platform.machine(),
              "cpu_flags": cpu_flags(), "threads": args.threads, "sentence": SENTENCE,
              "probes": len(probes), "results": [{**r, "vs_served": r["p50_ms"] / base} for r in results]}
    print(f"CPU flags: {' '.join(report['cpu_flags']) or '(none read)'}; {args.threads} threads")
    print(f"{'backend':24}{'p50 ms':>9}{'x served':>10}{'lowest cosine':>15}")
    for r in report["results"]:
        print(f"{r['backend']:24}{r['p50_ms']:>9.2f}{r['vs_served']:>10.2f}{r['lowest_cosine']:>15.6f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
