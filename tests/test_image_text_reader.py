"""ImageTextReader (RapidOCR, packaged models) on screenshots drawn on the machine."""

from pathlib import Path
from typing import Any


import numpy as np
import pytest
from PIL import Image
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.engine.training.fingerprinting import calculate_fingerprint_key
from rasa.engine.validation import validate
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.data import TrainingType
from rasa.shared.exceptions import InvalidConfigException
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.constants import ATTACHMENT_ERRORS, IMAGE_TEXT
from components.media.errors import IMAGE_UNREADABLE, MESSAGES, OCR_FAILED
from components.image_featurizer import ImageFeaturizer
from components.image_text_reader import ImageTextReader
from tests.image_utils import (
    attachment,
    encode,
    message_with_images,
    payment_error_screenshot,
    photo_bytes,
    screenshot,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> LocalModelStorage:
    return LocalModelStorage(tmp_path_factory.mktemp("model_storage"))


def make(storage: LocalModelStorage, **config: Any) -> ImageTextReader:
    return ImageTextReader.create(
        {**ImageTextReader.get_default_config(), **config},
        storage,
        Resource("image_text_reader"),
        ExecutionContext(GraphSchema({}), "test"),
    )


@pytest.fixture(scope="module")
def reader(storage: LocalModelStorage) -> ImageTextReader:
    return make(storage)


@pytest.fixture(scope="module")
def error_png() -> bytes:
    return encode(payment_error_screenshot("E-4021", "12345"))


def blank_photo() -> bytes:
    """A smooth gradient: a picture with nothing to read."""
    ramp = np.linspace(40, 220, 320, dtype=np.uint8)
    return encode(Image.fromarray(np.stack([np.tile(ramp, (240, 1))] * 3, axis=-1)), "JPEG")


def test_reads_the_error_code_exactly_and_the_tokenizer_sees_it(
    reader: ImageTextReader, error_png: bytes
) -> None:
    message = message_with_images("my payment did not go through", [attachment(error_png)])
    reader.process([message])

    lines = message.get(IMAGE_TEXT).split("\n")
    assert "Error code E-4021" in lines and "Order number 12345" in lines
    assert message.get(TEXT).startswith("my payment did not go through\n")
    assert message.get(TEXT).endswith(message.get(IMAGE_TEXT))
    assert message.as_dict(only_output_properties=True)[IMAGE_TEXT] == message.get(IMAGE_TEXT)

    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    tokenizer.process([message])
    tokens = [token.text for token in message.get(TOKENS_NAMES[TEXT])]
    assert "E-4021" in tokens and "12345" in tokens


def test_image_only_message_gets_the_read_text_as_its_text(
    reader: ImageTextReader, error_png: bytes
) -> None:
    message = message_with_images("", [attachment(error_png)])
    reader.process([message])
    assert message.get(TEXT) == message.get(IMAGE_TEXT)
    assert "E-4021" in message.get(TEXT)


def test_append_can_be_turned_off(storage: LocalModelStorage, error_png: bytes) -> None:
    message = message_with_images("payment problem", [attachment(error_png)])
    make(storage, append_to_text=False).process([message])
    assert message.get(TEXT) == "payment problem"
    assert "Error code E-4021" in message.get(IMAGE_TEXT)


def test_training_examples_get_the_same_text_and_keep_their_entities(
    storage: LocalModelStorage, error_png: bytes
) -> None:
    def example() -> Message:
        message = message_with_images("order 12345 failed", [attachment(error_png)])
        message.set("intent", "payment_failed")
        message.set(ENTITIES, [{"start": 6, "end": 11, "value": "12345", "entity": "order_id"}])
        return message

    appended, kept = example(), example()
    make(storage).process_training_data(TrainingData(training_examples=[appended]))
    make(storage, append_to_text_in_training=False).process_training_data(
        TrainingData(training_examples=[kept])
    )

    assert "Error code E-4021" in appended.get(TEXT) and appended.get(IMAGE_TEXT)
    entity = appended.get(ENTITIES)[0]
    assert appended.get(TEXT)[entity["start"] : entity["end"]] == "12345"
    assert kept.get(TEXT) == "order 12345 failed" and "E-4021" in kept.get(IMAGE_TEXT)


def test_a_picture_in_several_training_examples_is_read_once(
    storage: LocalModelStorage, error_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import components.image_text_reader as module

    other_png = encode(payment_error_screenshot("E-6002", "34567"))
    images_read = []

    def counting_read_lines(engine: Any, image: Any) -> Any:
        images_read.append(image.size)
        return real_read_lines(engine, image)

    real_read_lines = module.read_lines
    monkeypatch.setattr(module, "read_lines", counting_read_lines)
    examples = [message_with_images(text, [attachment(png)]) for text, png in (
        ("my payment failed", error_png), ("the card was declined", other_png), ("payment error", error_png))]
    make(storage).process_training_data(TrainingData(training_examples=examples))

    assert len(images_read) == 2
    assert "E-4021" in examples[0].get(TEXT) and "E-4021" in examples[2].get(TEXT)
    assert "E-6002" in examples[1].get(TEXT) and "E-4021" not in examples[1].get(TEXT)
    assert examples[0].get(IMAGE_TEXT) == examples[2].get(IMAGE_TEXT)
    # Live messages are read every time: nothing a customer sent is remembered.
    live = [message_with_images("again", [attachment(error_png)]) for _ in range(2)]
    make(storage).process(live)
    assert len(images_read) == 4


def test_picture_without_text(storage: LocalModelStorage, reader: ImageTextReader) -> None:
    quiet = message_with_images("the box is broken", [attachment(blank_photo(), "box.jpg")])
    reader.process([quiet])
    assert quiet.get(IMAGE_TEXT) is None and quiet.get(TEXT) == "the box is broken"

    always = message_with_images("the box is broken", [attachment(blank_photo(), "box.jpg")])
    make(storage, only_when_text_detected=False).process([always])
    assert always.get(IMAGE_TEXT) == "" and always.get(TEXT) == "the box is broken"


def test_photo_of_a_cat_adds_no_stray_characters(reader: ImageTextReader) -> None:
    # RapidOCR reads a lone "0" (confidence about 0.55) somewhere in this photo; single characters
    # are dropped (min_line_chars), so the customer's words stay as they were.
    message = message_with_images("this is not what I ordered", [attachment(photo_bytes("chelsea"), "cat.jpg")])
    reader.process([message])
    assert message.get(IMAGE_TEXT) is None and message.get(TEXT) == "this is not what I ordered"


def test_long_text_is_cut_at_a_line_end(storage: LocalModelStorage) -> None:
    shot = screenshot([(f"Line {i} of the receipt", 20) for i in range(1, 7)])
    message = message_with_images("receipt", [attachment(encode(shot))])
    make(storage, max_chars=60).process([message])

    text = message.get(IMAGE_TEXT)
    assert 0 < len(text) <= 60
    assert text.split("\n")[0] == "Line 1 of the receipt"
    assert all(line.endswith("of the receipt") for line in text.split("\n"))


def test_unreadable_image_is_reported_not_raised(reader: ImageTextReader, error_png: bytes) -> None:
    message = message_with_images(
        "help", [attachment(b"GIF89a-not-really", "bad.gif"), attachment(error_png, "ok.png")]
    )
    reader.process([message])
    errors = message.get(ATTACHMENT_ERRORS)
    assert [(e["source"], e["code"]) for e in errors] == [("bad.gif", IMAGE_UNREADABLE)]
    assert errors[0]["message"] == MESSAGES[IMAGE_UNREADABLE].format(what="photo")  # no Pillow text
    assert "E-4021" in message.get(IMAGE_TEXT)


def test_failing_ocr_is_reported_with_the_catalogue_message(reader: ImageTextReader, error_png: bytes) -> None:
    # A 3000 x 1 strip decodes fine but holds no text, and RapidOCR would scale it to a
    # gigapixel image: it is refused before OCR and reported with the catalogue message.
    strip = encode(Image.new("RGB", (3000, 1), (200, 200, 200)))
    message = message_with_images("see the picture", [attachment(strip, "strip.png"), attachment(error_png, "ok.png")])
    reader.process([message])
    [error] = message.get(ATTACHMENT_ERRORS)
    assert (error["source"], error["code"]) == ("strip.png", OCR_FAILED)
    assert error["message"] == MESSAGES[OCR_FAILED].format(what="photo")
    assert "E-4021" in message.get(IMAGE_TEXT)  # the other image is still read


def test_messages_without_images_are_untouched(reader: ImageTextReader) -> None:
    message = message_with_images("where is my order?")
    reader.process([message])
    assert message.get(TEXT) == "where is my order?" and message.get(IMAGE_TEXT) is None


def test_committed_example_screenshot_is_readable(reader: ImageTextReader) -> None:
    data = (REPO / "data/media/images/payment_error_e4021.png").read_bytes()
    lines = [line.text for line in reader.read_text(data)]
    assert "Error code E-4021" in lines


@pytest.mark.parametrize(
    "config, key",
    [
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"max_chars": 0}, "max_chars"),
        ({"append_to_text": "yes"}, "append_to_text"),
        ({"num_threads": 0}, "num_threads"),
        ({"min_line_chars": 0}, "min_line_chars"),
    ],
)
def test_bad_config_values_are_rejected(storage: LocalModelStorage, config: dict, key: str) -> None:
    with pytest.raises(InvalidConfigException, match=f"`{key}`"):
        make(storage, **config)


def test_runs_before_the_tokenizer_in_training_and_at_inference() -> None:
    config = {
        "recipe": "default.v1",
        "language": "en",
        "pipeline": [
            {"name": "components.image_text_reader.ImageTextReader"},
            {"name": "WhitespaceTokenizer"},
            {"name": "components.image_featurizer.ImageFeaturizer"},
            {"name": "LogisticRegressionClassifier"},
        ],
        "policies": [],
    }
    graph = DefaultV1Recipe().graph_config_for_recipe(config, {}, training_type=TrainingType.NLU)
    validate(graph)  # Rasa's own checks of types and signatures
    for component in (ImageTextReader, ImageFeaturizer):  # what `rasa train` computes per node
        defaults = component.get_default_config()
        key = calculate_fingerprint_key(component, defaults, {})
        assert key == calculate_fingerprint_key(component, dict(defaults), {})  # cache hits
    # a changed OCR setting changes the text training examples get: the node must re-run
    changed = {**ImageTextReader.get_default_config(), "min_confidence": 0.9}
    assert calculate_fingerprint_key(ImageTextReader, changed, {}) != calculate_fingerprint_key(
        ImageTextReader, ImageTextReader.get_default_config(), {}
    )

    reader = "run_components.image_text_reader.ImageTextReader0"
    for schema, fn, source in (
        (graph.train_schema, "process_training_data", "nlu_training_data_provider"),
        (graph.predict_schema, "process", "nlu_message_converter"),
    ):
        assert schema.nodes[reader].fn == fn
        assert list(schema.nodes[reader].needs.values()) == [source]
        assert list(schema.nodes["run_WhitespaceTokenizer1"].needs.values()) == [reader]
