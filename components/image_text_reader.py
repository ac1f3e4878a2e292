"""ImageTextReader: reads the text in screenshots and photos (OCR) so the NLU can use it.

Why a component of its own, and not part of the ImageFeaturizer: the text it reads must reach the
tokenizer. An order number or an error code in a screenshot ("Error code E-4021") is only found by
the tokenizer, the regex/count featurizers and the entity extractors if it is in the message text
before they run, while the ImageFeaturizer, a dense featurizer, runs after the tokenizer. So put
this component right after the AttachmentResolver (and SpeechTranscriber), BEFORE the tokenizer.

It is registered as a message featurizer because in Rasa 3.6 only tokenizers and featurizers get
a ``process_training_data`` node during training, in config order; that is what lets training
examples see the same appended text as live messages. It adds no features.

Output: ``image_text`` (the text read, lines joined by newlines). With ``append_to_text`` the text
is also appended to the message text (after the customer's own words, so entity offsets of the
original text stay valid; it becomes the whole text for an image-only message).

Models: RapidOCR's PP-OCR ONNX models (Chinese + English) shipped inside the ``rapidocr`` package;
nothing is downloaded. One engine per process, shared between instances and threads.
"""

import logging
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.constants import IMAGE_TEXT
from components.media import errors
from components.media.attachment import attachment_source, attachments_of_kind
from components.media.mime import IMAGE
from components.vision.images import decode_image
from components.vision.ocr import OCR_MAX_SIDE, TextLine, load_ocr_engine, read_lines

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class ImageTextReader(GraphComponent):
    """OCR of the message's images -> ``image_text``, optionally appended to the message text."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Every config key with its default."""
        return {
            # Append the text read to the message text for live messages, so tokenizers,
            # featurizers and entity extractors see it.
            "append_to_text": True,
            # The same for training examples; keep equal to `append_to_text` so training and
            # inference see the same kind of text.
            "append_to_text_in_training": True,
            # Lines the recogniser is less sure of (0..1) are dropped.
            "min_confidence": 0.5,
            # Lines with fewer non-space characters are dropped: photos without text often give
            # a stray "0" or "8" read from a texture.
            "min_line_chars": 2,
            # At most this many characters of read text per message (cut at a line end if
            # possible); keeps huge documents from swamping the customer's words.
            "max_chars": 500,
            # true: `image_text` is only in the output when some text was read;
            # false: every message with an image gets `image_text` ("" when nothing was read).
            "only_when_text_detected": True,
            # Put between the message text and the text read, and between lines.
            "separator": "\n",
            # CPU threads for the OCR engine (ONNX Runtime intra-op threads).
            "num_threads": 2,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Validates the config and loads (or reuses) the OCR engine."""
        self._config = {**self.get_default_config(), **config}
        self._validate_config(self._config)
        self._engine = load_ocr_engine(self._config["num_threads"])

    @staticmethod
    def _validate_config(config: Dict[Text, Any]) -> None:
        confidence = config["min_confidence"]
        if not isinstance(confidence, (int, float)) or not 0.0 <= confidence <= 1.0:
            raise InvalidConfigException(
                f"ImageTextReader: `min_confidence` must be between 0 and 1, got {confidence!r}."
            )
        for key in ("max_chars", "num_threads", "min_line_chars"):
            if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
                raise InvalidConfigException(
                    f"ImageTextReader: `{key}` must be a positive integer, got {config[key]!r}."
                )
        for key in ("append_to_text", "append_to_text_in_training", "only_when_text_detected"):
            if not isinstance(config[key], bool):
                raise InvalidConfigException(
                    f"ImageTextReader: `{key}` must be true or false, got {config[key]!r}."
                )
        if not isinstance(config["separator"], str):
            raise InvalidConfigException(
                f"ImageTextReader: `separator` must be a string, got {config['separator']!r}."
            )

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the reader (the OCR engine is shared with other instances)."""
        return cls(config)

    @staticmethod
    def required_packages() -> List[Text]:
        """Python packages the reader imports.

        Rasa imports these names to validate and looks them up as distributions to fingerprint,
        so only names that are both (not "PIL", whose distribution is Pillow).
        """
        return ["rapidocr", "onnxruntime"]

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Reads the images of training examples (appending per `append_to_text_in_training`)."""
        # Several examples often show the same picture (the reference data: 55 references to 27
        # images); OCR is the slow part of training, so each picture is read once per run.
        lines_by_image: Dict[str, List[str]] = {}
        for message in training_data.training_examples:
            self._annotate(message, self._config["append_to_text_in_training"], lines_by_image)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Reads the images of incoming messages; never raises for a bad image."""
        for message in messages:
            self._annotate(message, self._config["append_to_text"])
        return messages

    def read_text(self, image_bytes: bytes, source: str = "") -> List[TextLine]:
        """Lines read from one encoded image, top to bottom, that pass the confidence and length
        filters (`min_confidence`, `min_line_chars`).

        Raises ``AttachmentError`` (catalogue code) for bytes that are not a usable image.
        """
        lines = read_lines(self._engine, decode_image(image_bytes, source=source, max_side=OCR_MAX_SIDE))
        return [
            line
            for line in lines
            if line.confidence >= self._config["min_confidence"]
            and len("".join(line.text.split())) >= self._config["min_line_chars"]
        ]

    def _annotate(
        self, message: Message, append: bool, lines_by_image: Optional[Dict[str, List[str]]] = None
    ) -> None:
        """``lines_by_image``: lines already read, by the image's SHA-256 (training only: live
        messages are not remembered)."""
        images = attachments_of_kind(message, IMAGE)
        if not images:
            return
        lines: List[str] = []
        for image in images:
            source = attachment_source(image)
            try:
                lines.extend(self._lines_of(image, source, lines_by_image))
            except errors.AttachmentError as error:
                errors.record_error(message, error)
            except Exception:  # never raise from process for one image
                logger.exception("ImageTextReader: OCR failed on %s", source)
                errors.record_error(message, errors.make_error(errors.OCR_FAILED, source, IMAGE))

        text = self._truncate(self._config["separator"].join(lines))
        if text or not self._config["only_when_text_detected"]:
            message.set(IMAGE_TEXT, text, add_to_output=True)
        if append and text:
            original = message.get(TEXT) or ""
            combined = f"{original}{self._config['separator']}{text}" if original.strip() else text
            message.set(TEXT, combined)

    def _lines_of(self, image: Any, source: str, lines_by_image: Optional[Dict[str, List[str]]]) -> List[str]:
        """The text lines of one image, read once per SHA-256 when ``lines_by_image`` is given."""
        key = getattr(image, "sha256", None)
        if lines_by_image is not None and key in lines_by_image:
            return lines_by_image[key]
        lines = [line.text for line in self.read_text(image.data, source)]
        if lines_by_image is not None and key:
            lines_by_image[key] = lines
        return lines

    def _truncate(self, text: str) -> str:
        """At most `max_chars` characters, cut at the last separator when one is in reach."""
        limit = self._config["max_chars"]
        if len(text) <= limit:
            return text
        cut = text[:limit]
        separator = self._config["separator"]
        at = cut.rfind(separator) if separator else -1
        return cut[:at] if at > limit // 2 else cut.rstrip()
