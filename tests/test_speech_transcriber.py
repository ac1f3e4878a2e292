"""SpeechTranscriber with the real bundled Whisper tiny.en and a real (tiny, locally trained) speechbrain model."""

import copy
import json
from pathlib import Path
from typing import Any, Dict

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema, TrainingType
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.audio.asr import clear_backends
from components.audio.loading import load_audio
from components.audio.wer import edit_distance, normalise_text
from components.constants import ATTACHMENT_ERRORS, DECODED_AUDIO, MEDIA, TRANSCRIPT
from components.media.errors import AUDIO_SILENT, AUDIO_TOO_LONG, CORRUPT, MESSAGES, TRANSCRIPTION_FAILED
from components.speech_transcriber import SpeechTranscriber, join_spoken_digits
from tests.speech_utils import (
    FLITE_VOICES,
    audio_attachment,
    build_tiny_speechbrain_asr,
    concat_wav,
    convert,
    espeak_wav,
    flite_wav,
    have,
    silence_wav,
)

pytestmark = pytest.mark.skipif(not (have("flite") and have("ffmpeg")), reason="needs flite and ffmpeg")

ORDER = "where is my order 1 2 3 4 5"


def make(tmp_path: Path, **config: Any) -> SpeechTranscriber:
    full: Dict[str, Any] = {**SpeechTranscriber.get_default_config(), "cache_dir": str(tmp_path / "cache"), **config}
    return SpeechTranscriber.create(
        full, LocalModelStorage(tmp_path / "storage"), Resource("speech"), ExecutionContext(GraphSchema({}), "t")
    )


def voice_message(data: bytes, text: str = "", source: str = "voice.wav") -> Message:
    m = Message(data={TEXT: text})
    m.set(MEDIA, [audio_attachment(data, source)])
    return m


@pytest.fixture(scope="module")
def order_wav() -> bytes:
    return flite_wav(ORDER, "slt")


@pytest.mark.parametrize("voice", FLITE_VOICES)
def test_flite_voices_are_transcribed_into_the_text(tmp_path: Path, voice: str):
    component = make(tmp_path)
    message = voice_message(flite_wav(ORDER, voice))
    component.process([message])
    words = normalise_text(message.get(TEXT))
    assert {"where", "order"} <= set(words), message.get(TEXT)
    assert words[-5:] == ["1", "2", "3", "4", "5"], message.get(TEXT)  # digits or words, both normalise
    assert "12345" in message.get(TEXT)  # read out digit by digit, joined for the order-number regex
    t = message.get(TRANSCRIPT)
    assert t["text"] == message.get(TEXT) and t["language"] == "en"
    assert 0.3 < t["confidence"] <= 1.0 and 2.0 < t["duration"] < 3.5
    assert TRANSCRIPT in message.as_dict(only_output_properties=True)
    assert len(message.get(DECODED_AUDIO)) == 1 and not message.get(ATTACHMENT_ERRORS)


@pytest.mark.parametrize("fmt", ["mp3", "webm", "ogg_opus"])
def test_compressed_voice_notes_are_transcribed(tmp_path: Path, order_wav: bytes, fmt: str):
    message = voice_message(convert(order_wav, fmt), source=f"voice.{fmt}")
    make(tmp_path).process([message])
    assert {"where", "order"} <= set(normalise_text(message.get(TEXT)))


def test_text_modes(tmp_path: Path, order_wav: bytes):
    appended = voice_message(order_wav, "hi there")
    make(tmp_path).process([appended])
    assert appended.get(TEXT).startswith("hi there ") and "order" in appended.get(TEXT).lower()

    replaced = voice_message(order_wav, "hi there")
    make(tmp_path, text_mode="replace").process([replaced])
    assert "hi there" not in replaced.get(TEXT) and "order" in replaced.get(TEXT).lower()

    kept = voice_message(order_wav, "hi there")
    make(tmp_path, text_mode="keep").process([kept])
    assert kept.get(TEXT) == "hi there" and "order" in kept.get(TRANSCRIPT)["text"].lower()

    # the same words typed and spoken are not doubled
    same = voice_message(order_wav, "Where is my order 12345?")
    make(tmp_path).process([same])
    assert same.get(TEXT) == "Where is my order 12345?"


def test_messages_without_audio_are_untouched(tmp_path: Path):
    m = Message(data={TEXT: "hello"})
    make(tmp_path).process([m])
    assert m.get(TEXT) == "hello" and m.get(TRANSCRIPT) is None and m.get(DECODED_AUDIO) is None


@pytest.mark.parametrize(
    "data, code",
    [
        (silence_wav(3.0, noise=0.0005), AUDIO_SILENT),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00broken" * 10, CORRUPT),
    ],
    ids=["silence", "corrupt"],
)
def test_bad_audio_becomes_an_attachment_error_and_the_conversation_goes_on(tmp_path: Path, data: bytes, code: str):
    m = voice_message(data, "my parcel", source="note.wav")
    m.set(ATTACHMENT_ERRORS, [{"source": "x.png", "code": "not_found", "message": "earlier"}], add_to_output=True)
    make(tmp_path).process([m])
    errors = m.get(ATTACHMENT_ERRORS)
    assert errors[0]["code"] == "not_found"  # appended, not overwritten
    assert errors[1]["code"] == code and errors[1]["source"] == "note.wav"
    assert errors[1]["message"] == MESSAGES[code].format(what="voice message")  # no decoder text
    assert m.get(TEXT) == "my parcel" and m.get(TRANSCRIPT) is None


def test_too_long_audio_is_an_error(tmp_path: Path, order_wav: bytes):
    m = voice_message(concat_wav(order_wav, 4))
    make(tmp_path, max_duration_s=5.0).process([m])
    assert [e["code"] for e in m.get(ATTACHMENT_ERRORS)] == [AUDIO_TOO_LONG]
    assert m.get(TEXT) == ""


def test_training_transcripts_are_cached_by_content(tmp_path: Path, order_wav: bytes):
    clear_backends()
    examples = [voice_message(order_wav, "where is my order 12345"), voice_message(espeak_wav("cancel my card"), "cancel my card")]
    for e in examples:
        e.set("intent", "x")
    data = TrainingData(training_examples=examples)

    first = make(tmp_path)
    first.process_training_data(copy.deepcopy(data))
    entries = sorted((tmp_path / "cache").rglob("*.json"))
    assert len(entries) == 2
    # Mark the cached transcripts: a run that reads them instead of transcribing again says so.
    for entry in entries:
        cached = json.loads(entry.read_text())
        entry.write_text(json.dumps({**cached, "text": cached["text"] + " (cached)"}))

    second = make(tmp_path)  # a new `rasa train` run: new component, same process-wide model
    trained = second.process_training_data(copy.deepcopy(data))
    assert second.backend is first.backend
    assert all(e.get(TRANSCRIPT)["text"].endswith("(cached)") for e in trained.training_examples)
    assert sorted((tmp_path / "cache").rglob("*.json")) == entries  # nothing transcribed anew
    # the written text is kept unless replace_training_text
    assert trained.training_examples[0].get(TEXT) == "where is my order 12345"

    replaced = make(tmp_path, replace_training_text=True).process_training_data(copy.deepcopy(data))
    # the model now trains on what the recogniser heard (espeak's "cancel" is often heard as "can't sell")
    heard = replaced.training_examples[1]
    assert heard.get(TEXT) == heard.get(TRANSCRIPT)["text"] and "card" in heard.get(TEXT).lower()
    assert heard.get(TEXT).endswith("(cached)")

    # a different model setting is a different cache key
    make(tmp_path, beam_size=2).process_training_data(copy.deepcopy(data))
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 4


def test_initial_prompt_primes_whisper_with_domain_words(tmp_path: Path):
    """Whisper tiny.en (greedy, int8, short window) hears "Contact list" in this flite clip; a
    domain prompt fixes it, and the prompted transcripts get their own cache key (a cached
    unprompted transcript is not reused)."""
    clip = flite_wav("Contactless isn't working for me", "rms")
    plain, primed = voice_message(clip), voice_message(clip)
    greedy = {"beam_size": 1, "compute_type": "int8", "short_window": True}
    unprompted = make(tmp_path, cache_inference=True, **greedy)
    unprompted.process([plain])
    prompted = make(tmp_path, cache_inference=True, initial_prompt="Card payments: contactless, Mastercard, top-up.", **greedy)
    prompted.process([primed])
    assert "contactless" not in normalise_text(plain.get(TEXT)), plain.get(TEXT)
    assert normalise_text(primed.get(TEXT))[:2] == ["contactless", "isnt"], primed.get(TEXT)
    assert unprompted.backend.backend_id != prompted.backend.backend_id


@pytest.mark.parametrize(
    "transcript, joined",
    [
        ("Where is my order 1, 2, 3, 4, 5?", "Where is my order 12345?"),
        ("order 1 2 3 4 5 please", "order 12345 please"),
        ("1-2-3-4-5", "12345"),
        ("I have 2, 3 questions", "I have 2, 3 questions"),  # shorter than a number read out
        ("call 12, 34, 56, 78", "call 12, 34, 56, 78"),  # not single digits
        ("it costs 1.5, 2, 3, 4", "it costs 1.5, 2, 3, 4"),
        # Whisper writes a number read out slowly as words as often as digits
        ("Where is my order one two three four five", "Where is my order 12345"),
        ("Order One-Two-Three, four, five?", "Order 12345?"),
        ("order 1 two 3 four 5", "order 12345"),
        ("I bought one or two things", "I bought one or two things"),
        ("someone wrote to me", "someone wrote to me"),  # a digit word inside a word is not one
    ],
)
def test_spoken_digit_runs_are_joined(transcript: str, joined: str):
    assert join_spoken_digits(transcript, 4) == joined
    assert join_spoken_digits(transcript, 0) == transcript


def test_invalid_configs_fail_early(tmp_path: Path):
    with pytest.raises(InvalidConfigException, match="text_mode"):
        make(tmp_path, text_mode="merge")
    with pytest.raises(InvalidConfigException, match="backend"):
        make(tmp_path, backend="vosk")
    with pytest.raises(InvalidConfigException, match="model.bin"):
        make(tmp_path, model_path=str(tmp_path))
    with pytest.raises(InvalidConfigException, match="local speechbrain model folder"):
        make(tmp_path, backend="speechbrain", source="speechbrain/asr-crdnn-rnnlm-librispeech")
    with pytest.raises(InvalidConfigException, match="faster_whisper backend only"):
        make(tmp_path, backend="speechbrain", source=str(tmp_path), initial_prompt="parcel")
    with pytest.raises(InvalidConfigException, match="join_spoken_digits"):
        make(tmp_path, join_spoken_digits=-1)
    with pytest.raises(InvalidConfigException, match="initial_prompt must be text"):
        make(tmp_path, initial_prompt=["parcel"])


def test_broken_model_is_reported_not_raised(tmp_path: Path, order_wav: bytes):
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "model.bin").write_bytes(b"not a model")
    clear_backends()
    m = voice_message(order_wav, "hello")
    make(tmp_path, model_path=str(tmp_path / "fake")).process([m])
    [error] = m.get(ATTACHMENT_ERRORS)
    assert error["code"] == TRANSCRIPTION_FAILED
    assert error["message"] == MESSAGES[TRANSCRIPTION_FAILED]  # the cause is logged, not told
    assert m.get(TEXT) == "hello"


@pytest.fixture(scope="module")
def tiny_speechbrain_model(tmp_path_factory) -> Path:
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("sb") / "tiny-ctc-asr"
    clips = {w: load_audio(flite_wav(w, "slt")) for w in ("yes", "no", "order")}
    stats = build_tiny_speechbrain_asr(folder, clips, steps=250)
    assert stats["loss"] < 1.0, stats
    return folder


def test_speechbrain_backend_from_a_local_folder(tmp_path: Path, tiny_speechbrain_model: Path):
    clear_backends()
    component = make(tmp_path, backend="speechbrain", source=str(tiny_speechbrain_model), interface="EncoderASR")
    messages = [voice_message(flite_wav(w, "slt")) for w in ("yes", "no", "order")]
    component.process(messages)
    # the model was overfitted on these three clips: it says them back (allow one character of slack)
    heard = [m.get(TRANSCRIPT)["text"] if m.get(TRANSCRIPT) else "" for m in messages]
    assert all(edit_distance(list(h), list(w)) <= 1 for h, w in zip(heard, ("yes", "no", "order"))), heard
    assert messages[0].get(TRANSCRIPT)["confidence"] is None and messages[0].get(TRANSCRIPT)["language"] == "en"
    assert component.backend.backend_id.startswith("speechbrain:EncoderASR:")
    # and it never reached for a hub: the folder holds only what we wrote
    assert sorted(p.name for p in tiny_speechbrain_model.iterdir()) == ["encoder.ckpt", "hyperparams.yaml", "tokenizer.ckpt"]


def test_transcriber_runs_before_the_tokenizer_in_training_and_inference(tmp_path: Path):
    """Config order is graph order for featurizer-type components, in both graphs."""
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    import components.speech_featurizer  # noqa: F401  (registers)

    config = {
        "recipe": "default.v1",
        "language": "en",
        "pipeline": [
            {"name": "components.speech_transcriber.SpeechTranscriber"},
            {"name": "WhitespaceTokenizer"},
            {"name": "components.speech_featurizer.SpeechFeaturizer"},
            {"name": "LogisticRegressionClassifier"},
        ],
        "policies": [],
    }
    recipe = DefaultV1Recipe()
    schemas = recipe.graph_config_for_recipe(copy.deepcopy(config), {}, training_type=TrainingType.NLU)
    train = schemas.train_schema.nodes
    tokenizer = next(n for n in train if n.startswith("run_WhitespaceTokenizer"))
    transcriber = next(n for n in train if n.startswith("run_components.speech_transcriber"))
    assert train[tokenizer].needs["training_data"] == transcriber
    predict = schemas.predict_schema.nodes
    tok_p = next(n for n in predict if n.startswith("run_WhitespaceTokenizer"))
    assert predict[tok_p].needs["messages"].startswith("run_components.speech_transcriber")
