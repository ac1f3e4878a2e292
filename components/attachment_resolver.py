"""AttachmentResolver: the first pipeline component, turning attachment references into media.

For every message it reads references from metadata (``{"attachments": [...]}``) and from the
text (markdown image or link, bare media path under a media root, media URL, data: URI), resolves
them under a ``MediaPolicy`` and puts:
- ``media`` (internal, not in the parse output): the list of ``components.media.attachment.Attachment``;
- ``media_references`` (parse output): ``[{"type", "sha256", "source", "mime"}]``;
- ``attachment_errors`` (parse output): ``[{"source", "code", "message"}]``, the message being
  something the assistant can say to the customer.
``process`` never raises for bad media: the customer's words still get understood.

Text length. At inference the text the rest of the pipeline sees is cut to ``max_text_chars`` at a
word boundary (parse output ``text_truncated: true``): the tokenizer's, featurizers' and DIET's
cost grows with the text (DIET's attention with its square), so one 60 KB message must not freeze
the server. Channels cap what they accept too; this cap holds whatever channel sent the text.

Registered as ``MESSAGE_FEATURIZER``: in Rasa 3.6's default recipe only tokenizer and featurizer
types get a ``process_training_data`` node during training (and a predict node in the same
place). It is not a ``Tokenizer`` or ``Featurizer`` subclass, so Rasa's one-tokenizer check and
featurizer compatibility checks (both done by class, not by registered type) ignore it.

Inline references and the text. At inference they are removed from the text and the text may end
up empty (the speech transcriber fills it from audio). At training an example's text must stay
non-empty for tokenizers and classifiers, so a reference is removed only when words remain;
an example that is only a reference keeps its text. Write image- or voice-only training examples
with ``metadata: {attachments: [...]}`` and the words the customer means. In nlu.yml never write
a markdown image or link: ``[text](target)`` is Rasa's entity annotation, so Rasa's reader turns
``![box](data/media/x.png)`` into the text "!box" with an entity before any component runs. Use a
bare path (``data/media/x.png``) or metadata there; markdown works at inference (``rasa shell``).

Training media and uploads. ``media_roots`` hold training media (and any fixed media the bot may
read); ``upload_roots`` hold what channels store for customers (``var/media/uploads``). Both are
readable at inference; training examples may only use media roots, and only media roots are
fingerprinted, so a customer upload never invalidates Rasa's training cache.

Several replicas. When the environment names a shared bucket (``MEDIA_S3_BUCKET``, see
``components.media.shared``), a ``path`` reference at inference to an upload this replica does
not have (stored through another replica) is fetched by its content name into the first upload
root, kept only when its bytes hash to that name, and read from there.

Retraining when media change. Rasa fingerprints a node by its config and its inputs' data, not
by files that data points to. Two things make changed media retrain: the media sha256 values go
into each training message's data (``media_references``, and ``media`` fingerprints by hash), so
the processed TrainingData fingerprint changes for downstream nodes; and ``fingerprint_addon``
hashes the files under the media roots, so this node itself re-runs when a file changes (else
its cached output fingerprint would be reused and nothing downstream would notice). The cost:
Rasa cannot know this node's new output before running it, so any file added or changed under a
media root re-runs the NLU pipeline after it; keep bulky non-training media elsewhere. Media behind
http(s) URLs in training data are fetched only when this node re-runs: use ``rasa train
--force`` (or change the URL) after changing remote media.
"""

import dataclasses
import logging
import os
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException, RasaException
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.constants import ATTACHMENT_ERRORS, ATTACHMENTS, MEDIA, MEDIA_REFERENCES, TEXT_TRUNCATED
from components.fingerprint import hash_paths
from components.media.policy import MediaPolicy
from components.media.resolve import resolve_message_media
from components.media.shared import S3Media, content_name, materialise
from components.media.mime import DEFAULT_AUDIO_TYPES, DEFAULT_IMAGE_TYPES
from components.message_metadata import message_metadata

logger = logging.getLogger(__name__)


class AttachmentTrainingError(RasaException):
    """Training data refers to media that cannot be used; the message names every example."""


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class AttachmentResolver(GraphComponent):
    """Resolves attachment references on each message into checked, size-limited media."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's configuration defaults (every key is documented)."""
        return {
            # Folders of training media (and other fixed media the bot may read); local paths must lie
            # in a media or upload root (symlinks followed); relative to the working dir. Their files
            # are fingerprinted: a changed file re-runs training.
            "media_roots": ["data/media"],
            # Folders channels store customer uploads in (e.g. ["var/media/uploads"]): readable at
            # inference only, never fingerprinted, so uploads do not invalidate the training cache.
            # None of them may lie inside a media root.
            "upload_roots": [],
            # Largest image accepted, in bytes (10 MB).
            "max_image_bytes": 10_000_000,
            # Largest audio file accepted, in bytes (20 MB).
            "max_audio_bytes": 20_000_000,
            # Most pixels (width x height) an image may declare; more is refused as a decompression bomb.
            "max_image_pixels": 40_000_000,
            # Highest sample rate (Hz) and most channels an audio file may declare; more is refused
            # ("audio_unusual_format") before decoding: a tiny file at 384 kHz x 8 channels is an
            # audio bomb. Speech needs 16 kHz mono.
            "max_audio_sample_rate": 192_000,
            "max_audio_channels": 8,
            # Image types accepted (MIME or short names; the bytes decide the type).
            "allowed_image_types": list(DEFAULT_IMAGE_TYPES),
            # Audio types accepted (audio/ogg includes Opus, audio/mp4 includes .m4a).
            "allowed_audio_types": list(DEFAULT_AUDIO_TYPES),
            # Fetch URLs that resolve to private, loopback, link-local, multicast or reserved addresses.
            "allow_private_urls": False,
            # Private networks (CIDR) trusted even so, e.g. ["10.20.0.0/16"] for an internal media host.
            "allowed_private_networks": [],
            # Time budget in seconds for fetching one URL (all redirects and the body).
            "url_timeout_s": 5.0,
            # Most HTTP redirects followed (each hop is checked again).
            "max_redirects": 3,
            # Slack bot token for Slack private file URLs; None reads env SLACK_BOT_TOKEN at start.
            # Prefer the env variable: config values are stored in the trained model.
            "slack_bot_token": None,
            # Most attachments resolved per message; the rest get a "too_many" error.
            "max_attachments": 5,
            # Remove inline references (markdown images/links, media paths, URLs) from the text.
            "strip_inline_references": True,
            # Longest text (characters, after inline references are removed) the rest of the
            # pipeline sees at inference; longer text is cut at a word boundary and the parse
            # output gets "text_truncated": true. Bounds the tokenizer's and DIET's work per message.
            "max_text_chars": 2000,
            # True: a training example whose media cannot be resolved stops training with an error
            # naming the example. False: it is logged and the example trains without that media.
            "fail_on_training_errors": True,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Builds the policies once (training: media roots; inference: media and upload roots);
        the instance holds no per-conversation state."""
        self._config = config
        try:
            self._training_policy = MediaPolicy.from_config(config)
            uploads = _upload_roots(config.get("upload_roots"), self._training_policy)
        except (TypeError, ValueError) as exc:
            raise InvalidConfigException(f"AttachmentResolver: {exc}") from exc
        self._policy = dataclasses.replace(
            self._training_policy, media_roots=self._training_policy.media_roots + uploads
        )
        self._strip = bool(config["strip_inline_references"])
        max_text_chars = config["max_text_chars"]
        if isinstance(max_text_chars, bool) or not isinstance(max_text_chars, int) or max_text_chars <= 0:
            raise InvalidConfigException(
                f"AttachmentResolver: max_text_chars must be a positive number of characters, "
                f"got {max_text_chars!r}."
            )
        self._max_text_chars = max_text_chars
        self._fail_on_training_errors = bool(config["fail_on_training_errors"])
        # Uploads of other replicas come from the shared bucket into the first upload root.
        self._shared = S3Media.from_config({}) if uploads else None
        self._shared_folder = uploads[0] if uploads else None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the component (nothing to train or load)."""
        return cls(config)

    @staticmethod
    def required_packages() -> List[Text]:
        """Packages needed beyond Rasa (Pillow is imported as PIL, so Rasa cannot check it)."""
        return ["soundfile"]

    @property
    def policy(self) -> MediaPolicy:
        """The media policy messages are resolved with at inference (media and upload roots)."""
        return self._policy

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Content hash of the files under the media roots, so changed training media re-run this
        node; None when no media root exists.

        Upload roots are left out: customer uploads change all the time and are never training
        media. Ideally only the files the training examples refer to would be hashed, but Rasa
        calls this with the config alone, before any training data is read, so the media roots
        are the narrowest set it can know. (Changed references need no hash: they are in the
        training data, which Rasa fingerprints itself.)
        """
        policy = MediaPolicy.from_config({**cls.get_default_config(), **config})
        return hash_paths(policy.root_paths())

    def _resolve(self, message: Message, training: bool) -> List[Dict[str, str]]:
        """Resolves one message's references onto it; returns the errors it recorded. Training
        examples may use media roots only."""
        text = message.get(TEXT) or ""
        policy = self._training_policy if training else self._policy
        metadata = message_metadata(message)
        if not training and self._shared is not None:
            metadata = self._with_shared_uploads(metadata)
        attachments, problems, stripped = resolve_message_media(text, metadata, policy)
        if self._strip and stripped != text and (stripped or not training):
            message.set(TEXT, stripped)
        if not training:
            current = message.get(TEXT) or ""
            capped = _cut_at_word(current, self._max_text_chars)
            if capped != current:
                logger.info(
                    "Message text of %d characters cut to %d (max_text_chars).",
                    len(current),
                    len(capped),
                )
                message.set(TEXT, capped)
                message.set(TEXT_TRUNCATED, True, add_to_output=True)
        message.set(MEDIA, attachments)
        message.set(MEDIA_REFERENCES, [a.reference() for a in attachments], add_to_output=True)
        errors = [p.as_dict() for p in problems]
        message.set(ATTACHMENT_ERRORS, errors, add_to_output=True)
        for problem in errors:
            logger.info(
                "Attachment '%s' refused (%s): %s",
                problem["source"],
                problem["code"],
                problem["message"],
            )
        return errors

    def _with_shared_uploads(self, metadata: Dict[str, Any]) -> Dict[str, Any]:
        """Metadata whose ``path`` references to uploads missing here point to local copies
        fetched from the shared bucket (unchanged when there is nothing to fetch)."""
        entries = metadata.get(ATTACHMENTS)
        if not isinstance(entries, list):
            return metadata
        changed: List[Any] = []
        for entry in entries[: self._policy.max_attachments + 1]:
            path = entry.get("path") if isinstance(entry, dict) else None
            name = content_name(path)
            if name is not None and not os.path.lexists(path):
                local = materialise(
                    self._shared, name, self._shared_folder, self._policy.max_bytes(None)
                )
                if local is not None:
                    entry = {**entry, "path": local}
            changed.append(entry)
        return {**metadata, ATTACHMENTS: changed + entries[len(changed):]}

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds media, media_references and attachment_errors to each message; never raises
        for bad media."""
        for message in messages:
            try:
                self._resolve(message, training=False)
            except Exception:  # a bug here must not drop the customer's message
                logger.exception(
                    "AttachmentResolver failed on a message; continuing without media."
                )
                message.set(MEDIA, [])
                message.set(MEDIA_REFERENCES, [], add_to_output=True)
                message.set(ATTACHMENT_ERRORS, [], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Resolves media of every training example; their sha256 values enter the fingerprint."""
        broken: List[str] = []
        for example in training_data.training_examples:
            if not example.get(TEXT):
                continue  # action names and other non-text examples (end-to-end) carry no media
            original = example.get(TEXT)
            for problem in self._resolve(example, training=True):
                broken.append(
                    f"- example '{original}' (intent '{example.get(INTENT)}'): attachment "
                    f"'{problem['source']}' [{problem['code']}] {problem['message']}"
                )
        if broken:
            summary = (
                f"{len(broken)} attachment(s) in the training data could not be used:\n"
                + "\n".join(broken)
            )
            if self._fail_on_training_errors:
                raise AttachmentTrainingError(
                    f"{summary}\nFix the references (training media must lie in the media roots "
                    f"{list(self._training_policy.media_roots)}, not in upload_roots) or set "
                    f"'fail_on_training_errors: false' for AttachmentResolver to train without them."
                )
            logger.warning(summary)
        return training_data


def _cut_at_word(text: str, limit: int) -> str:
    """``text`` when it has at most ``limit`` characters, else its longest beginning of at most
    ``limit`` characters that ends at a word boundary (a single word longer than the limit is
    cut inside it), trailing whitespace removed."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    return (head[:cut] if cut > 0 else text[:limit]).rstrip()


def _upload_roots(value: Any, training_policy: MediaPolicy) -> Tuple[str, ...]:
    """``upload_roots`` as a tuple; ValueError for one inside a media root (its uploads would be
    fingerprinted and usable as training media)."""
    roots = (value,) if isinstance(value, str) else tuple(str(v) for v in value or ())
    media = training_policy.root_paths()
    for root in roots:
        real = os.path.realpath(os.path.abspath(root))
        clash = next((m for m in media if os.path.commonpath([real, m]) == m), None)
        if clash is not None:
            raise ValueError(
                f"upload root '{root}' lies inside the media root '{clash}': keep customer "
                "uploads out of the training media."
            )
    return roots
