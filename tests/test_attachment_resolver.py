"""The AttachmentResolver Rasa component: messages, training data, fingerprints, a real train."""

import io
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import soundfile
import yaml
from PIL import Image
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.training.fingerprinting import calculate_fingerprint_key
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.attachment_resolver import AttachmentResolver, AttachmentTrainingError
from components.channels.media_store import DEFAULT_FOLDER as UPLOAD_FOLDER
from components.constants import ATTACHMENT_ERRORS, MEDIA, MEDIA_REFERENCES, TEXT_TRUNCATED
from components.media.errors import NOT_FOUND

ROOT = Path(__file__).resolve().parents[1]


def png_bytes(color=(200, 50, 50), size=(32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes() -> bytes:
    t = np.arange(8000) / 16000
    buffer = io.BytesIO()
    soundfile.write(
        buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32"), 16000, format="WAV"
    )
    return buffer.getvalue()


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder with data/media holding a photo and a voice clip; the working dir."""
    media = tmp_path / "data" / "media"
    media.mkdir(parents=True)
    (media / "parcel.png").write_bytes(png_bytes())
    (media / "hello.wav").write_bytes(wav_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def resolver(**overrides: Any) -> AttachmentResolver:
    return AttachmentResolver({**AttachmentResolver.get_default_config(), **overrides})


def training_example(text: str, intent: str, metadata: Dict[str, Any] = None) -> Message:
    return Message.build(text=text, intent=intent, example_metadata=metadata)


def test_registered_where_rasa_runs_process_training_data():
    registered = DefaultV1Recipe._from_registry("AttachmentResolver")
    assert registered.types == {DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER}
    assert registered.is_trainable is False


def test_process_gives_media_and_errors_and_does_not_raise(project):
    message = Message(
        data={
            TEXT: "my parcel arrived like this ![photo](data/media/parcel.png)",
            METADATA: {
                "attachments": [
                    {"type": "audio", "path": "data/media/hello.wav"},
                    {"type": "image", "path": "data/media/gone.jpg"},
                    {"type": "image", "path": "../../etc/passwd"},
                    {"type": "image", "url": "http://127.0.0.1:9/x.png"},
                ]
            },
        }
    )
    [out] = resolver().process([message])
    assert out.get(TEXT) == "my parcel arrived like this"
    media = out.get(MEDIA)
    assert [(a.kind, a.mime) for a in media] == [("audio", "audio/wav"), ("image", "image/png")]
    assert [r["source"] for r in out.get(MEDIA_REFERENCES)] == [
        "data/media/hello.wav",
        "data/media/parcel.png",
    ]
    errors = out.get(ATTACHMENT_ERRORS)
    assert [(e["source"], e["code"]) for e in errors] == [
        ("data/media/gone.jpg", "not_found"),
        ("../../etc/passwd", "outside_media_root"),
        ("http://127.0.0.1:9/x.png", "private_address"),
    ]
    assert all(e["message"].endswith((".", "?")) for e in errors)
    # the parse output carries references and errors, never the bytes
    output = out.as_dict(only_output_properties=True)
    assert MEDIA not in output and MEDIA_REFERENCES in output and ATTACHMENT_ERRORS in output
    assert "sha256" in output[MEDIA_REFERENCES][0]


def test_reference_only_message_leaves_empty_text_at_inference(project):
    [out] = resolver().process([Message(data={TEXT: "data/media/hello.wav"})])
    assert out.get(TEXT) == "" and [a.kind for a in out.get(MEDIA)] == ["audio"]
    [kept] = resolver(strip_inline_references=False).process(
        [Message(data={TEXT: "data/media/hello.wav"})]
    )
    assert kept.get(TEXT) == "data/media/hello.wav" and len(kept.get(MEDIA)) == 1


def test_process_survives_malformed_metadata(project):
    messages = [
        Message(data={TEXT: "hi", METADATA: {"attachments": 5}}),
        Message(data={TEXT: "hi", METADATA: "not a dict"}),
        Message(data={TEXT: "hi", METADATA: {"attachments": [None, {"path": 3}]}}),
        Message(data={TEXT: None}),
    ]
    out = resolver().process(messages)
    assert [m.get(MEDIA) for m in out] == [[], [], [], []]
    assert [len(m.get(ATTACHMENT_ERRORS)) for m in out] == [1, 0, 2, 0]


def test_concurrent_process_keeps_messages_apart(project):
    component = resolver()
    results: List[Message] = []

    def work(path: str) -> None:
        for _ in range(20):
            [m] = component.process([Message(data={TEXT: "", METADATA: {"attachments": [path]}})])
            results.append((path, [a.source for a in m.get(MEDIA)]))

    threads = [
        threading.Thread(target=work, args=(p,))
        for p in ("data/media/parcel.png", "data/media/hello.wav")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 40 and all(sources == [path] for path, sources in results)


def test_training_data_gets_media_and_reference_only_examples_keep_text(project):
    data = TrainingData(
        [
            training_example(
                "it came broken",
                "damaged",
                {"attachments": [{"type": "image", "path": "data/media/parcel.png"}]},
            ),
            training_example("data/media/hello.wav", "voice"),
            training_example("look ![box](data/media/parcel.png)", "damaged"),
        ]
    )
    resolver().process_training_data(data)
    first, second, third = data.training_examples
    assert [a.kind for a in first.get(MEDIA)] == ["image"] and first.get(TEXT) == "it came broken"
    assert second.get(TEXT) == "data/media/hello.wav" and [a.kind for a in second.get(MEDIA)] == [
        "audio"
    ]
    assert third.get(TEXT) == "look"


def _processed_fingerprint(metadata_path: str) -> str:
    data = TrainingData(
        [
            training_example(
                "my parcel is damaged",
                "damaged",
                {"attachments": [{"type": "image", "path": metadata_path}]},
            ),
            training_example("where is my order", "order_status"),
        ]
    )
    before = data.fingerprint()
    resolver().process_training_data(data)
    assert data.fingerprint() != before  # the media hashes are in the fingerprinted data
    return data.fingerprint()


def test_changing_media_bytes_changes_the_training_data_fingerprint(project):
    first = _processed_fingerprint("data/media/parcel.png")
    assert _processed_fingerprint("data/media/parcel.png") == first  # stable
    (project / "data" / "media" / "parcel.png").write_bytes(png_bytes(color=(10, 10, 240)))
    assert _processed_fingerprint("data/media/parcel.png") != first


def test_changing_media_bytes_changes_the_resolver_node_fingerprint_key(project):
    """Rasa keys this node by config + input data; without the addon a changed file would hit the cache."""
    config = AttachmentResolver.get_default_config()
    data = TrainingData(
        [training_example("photo", "damaged", {"attachments": ["data/media/parcel.png"]})]
    )
    key = calculate_fingerprint_key(AttachmentResolver, config, {"training_data": data})
    assert calculate_fingerprint_key(AttachmentResolver, config, {"training_data": data}) == key
    (project / "data" / "media" / "parcel.png").write_bytes(png_bytes(color=(0, 255, 0)))
    assert calculate_fingerprint_key(AttachmentResolver, config, {"training_data": data}) != key


def _upload(project: Path, name: str = "customer.png", color=(1, 2, 3)) -> str:
    """A customer upload where the channels' media store puts it; returns its path reference."""
    uploads = project / UPLOAD_FOLDER
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / name).write_bytes(png_bytes(color=color))
    return f"{UPLOAD_FOLDER}/{name}"


def _project_resolver_config() -> Dict[str, Any]:
    """The AttachmentResolver step of the project's config.yml, over the defaults."""
    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    [step] = [s for s in pipeline if s["name"].endswith(".AttachmentResolver")]
    return {**AttachmentResolver.get_default_config(), **step}


def test_the_project_config_reads_channel_uploads_without_fingerprinting_them(project):
    config = _project_resolver_config()
    before = AttachmentResolver.fingerprint_addon(config)
    reference = _upload(project)
    assert AttachmentResolver.fingerprint_addon(config) == before  # the training cache holds
    assert UPLOAD_FOLDER in config["upload_roots"]
    [message] = AttachmentResolver(config).process([Message(data={
        TEXT: "look", METADATA: {"attachments": [{"type": "image", "path": reference}]}})])
    assert len(message.get(MEDIA_REFERENCES)) == 1, message.get(ATTACHMENT_ERRORS)


def test_uploads_do_not_change_the_fingerprint_but_training_media_do(project):
    config = {**AttachmentResolver.get_default_config(), "upload_roots": [UPLOAD_FOLDER]}
    before = AttachmentResolver.fingerprint_addon(config)
    assert before is not None
    _upload(project)
    _upload(project, "another.png", color=(9, 9, 9))
    assert AttachmentResolver.fingerprint_addon(config) == before
    (project / "data" / "media" / "parcel.png").write_bytes(png_bytes(color=(0, 0, 255)))
    assert AttachmentResolver.fingerprint_addon(config) != before


def test_uploads_resolve_at_inference_but_never_as_training_media(project):
    reference = _upload(project)
    component = resolver(upload_roots=[UPLOAD_FOLDER])
    [message] = component.process([Message(data={
        TEXT: "it came like this", METADATA: {"attachments": [{"type": "image", "path": reference}]}
    })])
    assert [r["mime"] for r in message.get(MEDIA_REFERENCES)] == ["image/png"]
    assert message.get(ATTACHMENT_ERRORS) == []
    typed = component.process([Message(data={TEXT: f"what is this {reference}"})])[0]
    assert typed.get(TEXT) == "what is this" and len(typed.get(MEDIA)) == 1

    data = TrainingData([training_example(
        "my box", "damaged", {"attachments": [{"type": "image", "path": reference}]})])
    # an upload is no training media: for the media roots it is not there (the log says why)
    with pytest.raises(AttachmentTrainingError, match=NOT_FOUND):
        component.process_training_data(data)


def test_an_upload_root_inside_a_media_root_is_refused(project):
    with pytest.raises(InvalidConfigException, match="inside the media root"):
        resolver(upload_roots=["data/media/uploads"])
    with pytest.raises(InvalidConfigException, match="inside the media root"):
        resolver(upload_roots="data/media")


def test_broken_training_media_fails_training_naming_the_example(project):
    data = TrainingData(
        [
            training_example(
                "my box",
                "damaged",
                {"attachments": [{"type": "image", "path": "data/media/nope.png"}]},
            ),
            training_example("fine", "greet"),
        ]
    )
    with pytest.raises(AttachmentTrainingError) as info:
        resolver().process_training_data(data)
    text = str(info.value)
    assert (
        "'my box'" in text
        and "'damaged'" in text
        and "data/media/nope.png" in text
        and "not_found" in text
    )
    # opt-out: the example trains without its media, the error is on the message
    resolver(fail_on_training_errors=False).process_training_data(data)
    assert data.training_examples[0].get(ATTACHMENT_ERRORS)[0]["code"] == "not_found"


def test_bad_config_is_an_invalid_config_error():
    with pytest.raises(InvalidConfigException, match="max_image_bytes"):
        resolver(max_image_bytes=0)
    with pytest.raises(InvalidConfigException, match="image/tiff"):
        resolver(allowed_image_types=["image/tiff"])


def test_slack_token_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    assert resolver().policy.slack_bot_token == "xoxb-from-env"
    assert resolver(slack_bot_token="xoxb-config").policy.slack_bot_token == "xoxb-config"


NLU = """\
version: "3.1"
nlu:
- intent: damaged
  examples: |
    - my parcel arrived broken
    - the box is crushed
    - it came damaged data/media/parcel.png
- intent: damaged_photo
  examples:
  - text: this is what arrived
    metadata:
      attachments:
      - type: image
        path: data/media/parcel.png
- intent: order_status
  examples: |
    - where is my order
    - when will my parcel arrive
    - track my order please
"""

CONFIG = """\
recipe: default.v1
language: en
assistant_id: attachment-test
pipeline:
- name: components.attachment_resolver.AttachmentResolver
  upload_roots: [var/media/uploads]
- name: WhitespaceTokenizer
- name: CountVectorsFeaturizer
- name: LogisticRegressionClassifier
policies: []
"""


def test_real_training_uses_media_and_retrains_when_media_change(project, monkeypatch, tmp_path):
    """rasa train nlu with the resolver first; the cache must notice changed media bytes and
    ignore customer uploads."""
    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "cache"))
    monkeypatch.setenv("RASA_TELEMETRY_ENABLED", "false")
    import rasa.engine.validation
    from rasa.engine.graph import GraphModelConfiguration
    from rasa.engine.recipes.recipe import Recipe
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.caching import LocalTrainingCache
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.training.components import FingerprintStatus
    from rasa.engine.training.graph_trainer import GraphTrainer
    from rasa.model_training import train_nlu
    from rasa.shared.data import TrainingType
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.core.agent import Agent

    (project / "nlu.yml").write_text(NLU)
    (project / "config.yml").write_text(CONFIG)
    model = train_nlu("config.yml", "nlu.yml", str(tmp_path / "models"))
    assert model

    def fingerprint_hits() -> Dict[str, bool]:
        importer = TrainingDataImporter.load_nlu_importer_from_config(
            "config.yml", training_data_paths=["nlu.yml"]
        )
        recipe = Recipe.recipe_for_name("default.v1")
        config, _, _ = recipe.auto_configure(
            importer.get_config_file_for_auto_config(), importer.get_config(), TrainingType.NLU
        )
        configuration: GraphModelConfiguration = recipe.graph_config_for_recipe(
            config, {}, training_type=TrainingType.NLU
        )
        rasa.engine.validation.validate(configuration)
        storage = Path(tempfile.mkdtemp(dir=tmp_path))
        trainer = GraphTrainer(LocalModelStorage(storage), LocalTrainingCache(), DaskGraphRunner)
        status = trainer.fingerprint(configuration.train_schema, importer)
        return {
            name: value.is_hit
            for name, value in status.items()
            if isinstance(value, FingerprintStatus)
        }

    resolver_node = "run_components.attachment_resolver.AttachmentResolver0"
    classifier_node = "train_LogisticRegressionClassifier3"
    hits = fingerprint_hits()
    assert hits[resolver_node] and hits[classifier_node], hits  # nothing changed: all cached
    _upload(project)  # a customer upload while the bot runs
    hits = fingerprint_hits()
    assert hits[resolver_node] and hits[classifier_node], hits  # still all cached
    (project / "data" / "media" / "parcel.png").write_bytes(png_bytes(color=(0, 0, 0)))
    hits = fingerprint_hits()
    assert not hits[resolver_node] and not hits[classifier_node], hits

    # the trained model resolves media at parse time and reports them in the output
    import asyncio

    agent = Agent.load(model)
    parsed = asyncio.run(
        agent.parse_message("where is my order ![p](data/media/parcel.png) data/media/x.png")
    )
    assert parsed["text"] == "where is my order"
    assert [r["type"] for r in parsed[MEDIA_REFERENCES]] == ["image"]
    assert [e["code"] for e in parsed[ATTACHMENT_ERRORS]] == ["not_found"]
    assert MEDIA not in parsed
    # a photo with no words: the text the NLU sees is empty, and the pipeline still answers
    photo_only = asyncio.run(agent.parse_message("data/media/parcel.png"))
    assert photo_only["text"] == "" and len(photo_only[MEDIA_REFERENCES]) == 1
    assert "intent" in photo_only


def test_long_text_is_cut_at_a_word_boundary_and_flagged(project):
    """Issue 12: one 10,000-word message reached DIET whole. The resolver, first in the pipeline,
    hands on at most max_text_chars, ending on a whole word, and says it cut."""
    words = " ".join(f"word{i}" for i in range(10_000))  # ~89 kB
    [out] = resolver(max_text_chars=50).process([Message(data={TEXT: "where is my order " + words})])
    text = out.get(TEXT)
    assert len(text) <= 50 and text.startswith("where is my order word0 word1")
    assert (words + " ").find(text.split(" ")[-1] + " ") >= 0  # the last word is whole
    assert out.get(TEXT_TRUNCATED) is True
    assert out.as_dict(only_output_properties=True)[TEXT_TRUNCATED] is True
    # the default cap is 2000 characters
    [default] = resolver().process([Message(data={TEXT: words})])
    assert 1990 <= len(default.get(TEXT)) <= 2000
    # short text is untouched and carries no flag
    [short] = resolver(max_text_chars=50).process([Message(data={TEXT: "where is my order 12345"})])
    assert short.get(TEXT) == "where is my order 12345" and short.get(TEXT_TRUNCATED) is None
    # one word longer than the cap is cut inside it rather than emptied
    [blob] = resolver(max_text_chars=10).process([Message(data={TEXT: "x" * 100})])
    assert blob.get(TEXT) == "x" * 10
    # inline references are removed before the cap: they take no room from the words
    [typed] = resolver(max_text_chars=20).process(
        [Message(data={TEXT: "data/media/parcel.png " * 30 + "it came broken"})]
    )
    assert typed.get(TEXT) == "it came broken" and typed.get(TEXT_TRUNCATED) is None


def test_training_text_is_never_cut_and_bad_caps_are_refused(project):
    example = training_example("where is my order " * 20, "order_status")
    resolver(max_text_chars=10).process_training_data(TrainingData([example]))
    assert example.get(TEXT) == "where is my order " * 20
    for bad in (0, -5, "long", True):
        with pytest.raises(InvalidConfigException, match="max_text_chars"):
            resolver(max_text_chars=bad)
