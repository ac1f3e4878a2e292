"""Media latency benchmark: image features, a whole image message, OCR (speech: add a section).

    .venv/bin/python bench/media.py [--sections image,ocr] [--threads 2] [--repeats 30] \
        [--json bench/reports/media.json]

Every section is a function ``(args) -> List[Row]`` registered in ``SECTIONS``; the script prints
one table and writes every row (with the machine's details) to ``--json``. Times are wall-clock
milliseconds per item after a warm-up, with torch and ONNX Runtime capped at ``--threads``; the
``cpu p50`` column is the process CPU time per item (all threads), which other load on a shared
machine inflates far less than wall-clock time.

Targets: backbone <= 100 ms per 224 px image; an image message (resolve + featurize, no OCR)
<= 300 ms p50.
"""

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.evaluation.stats import latency_ms  # noqa: E402
from components.threads import configure_threads  # noqa: E402

IMAGES = ROOT / "data" / "media" / "images"
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")


@dataclass
class Row:
    """One measured quantity."""

    section: str
    metric: str
    n: int
    p50_ms: float
    p95_ms: float
    target_ms: Optional[float] = None
    note: str = ""
    cpu_p50_ms: Optional[float] = None  # process CPU time (all threads): robust to other load

    @property
    def ok(self) -> Optional[bool]:
        """Whether p50 meets the target (None when there is none)."""
        return None if self.target_ms is None else self.p50_ms <= self.target_ms


class Timings(list):
    """Wall-clock seconds per call, with the process CPU seconds of each call in ``cpu``."""

    cpu: List[float]


def timed(fn: Callable[[], object], repeats: int, warmup: int = 2) -> Timings:
    """Seconds per call of ``fn`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times, cpu = Timings(), []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    times.cpu = cpu
    return times


def row(section: str, metric: str, seconds: Sequence[float], target_ms: Optional[float] = None, note: str = "") -> Row:
    """A Row with p50/p95 (and CPU p50 when measured) in milliseconds."""
    cpu = getattr(seconds, "cpu", None)
    return Row(
        section, metric, len(seconds), **latency_ms(seconds), target_ms=target_ms, note=note,
        cpu_p50_ms=None if cpu is None else latency_ms(cpu)["p50_ms"],
    )


def _phone_photos(folder: Path, side: int = 1024) -> List[Path]:
    """scikit-image photos saved as phone-size JPEGs (longer side ``side``), as customers send."""
    import skimage.data
    from PIL import Image

    paths = []
    for name in PHOTOS:
        image = Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB")
        scale = side / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
        path = folder / f"{name}.jpg"
        image.save(path, format="JPEG", quality=85)
        paths.append(path)
    return paths


def bench_image(args: argparse.Namespace) -> List[Row]:
    """Backbone per 224 px image (single and batched) and a whole image message."""
    import torch
    from PIL import Image

    from components.image_featurizer import ImageFeaturizer

    start = time.perf_counter()
    featurizer = ImageFeaturizer({"num_threads": args.threads}, "bench_image_featurizer")
    load_s = time.perf_counter() - start
    torch.set_num_threads(args.threads)  # the bench's cap, whatever the featurizer asked for
    backbone = featurizer._backbone
    rows = [Row("image", "ImageFeaturizer load (EfficientNet-Lite0)", 1, round(load_s * 1000, 1), round(load_s * 1000, 1))]

    with tempfile.TemporaryDirectory() as tmp:
        photos = _phone_photos(Path(tmp))
        tensors = [featurizer._transform(Image.open(p).convert("RGB")) for p in photos]
        single = iter(range(10**9))
        seconds = timed(lambda: backbone.run(tensors[next(single) % len(tensors)][None]), args.repeats)
        rows.append(row("image", "backbone, 1 image 224 px", seconds, 100.0, f"{backbone.name}, {backbone.feature_dim}-d"))

        batch = torch.stack([tensors[i % len(tensors)] for i in range(16)])
        seconds = timed(lambda: backbone.run(batch), max(3, args.repeats // 5), warmup=1)
        per_image = Timings(s / 16 for s in seconds)
        per_image.cpu = [c / 16 for c in seconds.cpu]
        rows.append(row("image", "backbone, batch of 16, per image", per_image, 100.0))

        rows.extend(_image_message_rows(args, featurizer, photos, Path(tmp)))
    return rows


def _image_message_rows(args: argparse.Namespace, featurizer: object, photos: List[Path], root: Path) -> List[Row]:
    """Resolve (metadata path -> checked bytes) + featurize, as the NLU pipeline does per message."""
    from rasa.shared.nlu.constants import METADATA, TEXT
    from rasa.shared.nlu.training_data.message import Message

    from components.constants import IMAGE_FEATURES

    from components.attachment_resolver import AttachmentResolver

    resolver = AttachmentResolver({**AttachmentResolver.get_default_config(), "media_roots": [str(root)]})
    note = "AttachmentResolver + ImageFeaturizer, 1024 px JPEG"

    counter = iter(range(10**9))

    def one_message() -> None:
        path = photos[next(counter) % len(photos)]
        message = Message(data={TEXT: "my parcel arrived like this"})
        message.set(METADATA, {"attachments": [{"type": "image", "path": str(path)}]})
        resolver.process([message])
        featurizer.process([message])
        flag = message.get_dense_features(TEXT, [IMAGE_FEATURES])[1].features[0, -1]
        assert flag == 1.0, "the image was not featurized"

    rows = [row("image", "image message (resolve + featurize)", timed(one_message, args.repeats), 300.0, note)]

    def text_message() -> None:
        message = Message(data={TEXT: "where is my parcel"})
        resolver.process([message])
        featurizer.process([message])

    rows.append(row("image", "text-only message through the same path", timed(text_message, args.repeats)))
    return rows


def bench_ocr(args: argparse.Namespace) -> List[Row]:
    """OCR per screenshot: the committed 320 px screenshots and a phone-size 1080 px one."""
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    from PIL import Image

    from bench.make_images import payment_error
    from components.constants import IMAGE_TEXT, MEDIA
    from components.image_text_reader import ImageTextReader
    from components.media.attachment import Attachment

    start = time.perf_counter()
    reader = ImageTextReader({"num_threads": args.threads})
    load_s = time.perf_counter() - start
    rows = [Row("ocr", "ImageTextReader load (RapidOCR PP-OCR)", 1, round(load_s * 1000, 1), round(load_s * 1000, 1))]

    def png(image: "Image.Image", name: str) -> Attachment:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return Attachment.from_bytes("image", buffer.getvalue(), "image/png", name)

    small = [IMAGES / name for name in ("payment_error_e4021.png", "payment_error_e5103.png", "order_delivered_12345.png")]
    screen = payment_error("E-4021", "12345", "Your card was declined.")()
    large = screen.resize((1080, round(screen.height * 1080 / screen.width)), Image.LANCZOS)
    cases = {
        "OCR, 320 px screenshot": [Attachment.from_bytes("image", p.read_bytes(), "image/png", p.name) for p in small if p.exists()],
        "OCR, 1080 px wide screenshot": [png(large, "phone.png")],
    }
    repeats = max(3, args.repeats // 5)
    for metric, attachments in cases.items():
        if not attachments:
            continue
        read_ok = []
        counter = iter(range(10**9))

        def one() -> None:
            message = Message(data={TEXT: "payment problem"})
            message.set(MEDIA, [attachments[next(counter) % len(attachments)]])
            reader.process([message])
            read_ok.append("Order number" in (message.get(IMAGE_TEXT) or ""))

        seconds = timed(one, repeats, warmup=1)
        rows.append(row("ocr", metric, seconds, note=f"text read in {sum(read_ok)}/{len(read_ok)} runs"))
    return rows


# Section name -> function; add "speech" here.
SECTIONS: Dict[str, Callable[[argparse.Namespace], List[Row]]] = {
    "image": bench_image,
    "ocr": bench_ocr,
}


def machine() -> Dict[str, object]:
    """What the numbers were measured on."""
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
    }


def print_table(rows: List[Row]) -> None:
    """A plain text table of all rows."""
    header = f"{'section':8s} {'metric':42s} {'n':>4s} {'p50 ms':>9s} {'p95 ms':>9s} {'cpu p50':>9s} {'target':>9s}  note"
    print(header)
    print("-" * len(header))
    for r in rows:
        target = "" if r.target_ms is None else f"{r.target_ms:.0f} {'ok' if r.ok else 'MISS'}"
        cpu = "" if r.cpu_p50_ms is None else f"{r.cpu_p50_ms:9.1f}"
        print(f"{r.section:8s} {r.metric:42s} {r.n:4d} {r.p50_ms:9.1f} {r.p95_ms:9.1f} {cpu:>9s} {target:>9s}  {r.note}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Media latency benchmark.")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch and ONNX Runtime")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per metric (OCR: a fifth)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)

    configure_threads(args.threads)
    names = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")

    rows: List[Row] = []
    for name in names:
        rows.extend(SECTIONS[name](args))
    print_table(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "benchmark": "media",
            "threads": args.threads,
            "repeats": args.repeats,
            "machine": machine(),
            "rows": [{**asdict(r), "ok": r.ok} for r in rows],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report: {args.json}")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
