"""ImageFeaturizer: a fixed-width dense vector of what is in the message's pictures.

Runs after the tokenizer like any dense featurizer. For every message with text or images it adds
one sentence feature on ``text``: the backbone's pooled features averaged over the message's
images, then a presence flag (1.0 with an image, 0.0 without; zeros before it when there is no
image). Rasa pads features by the first example's width, so the width never depends on the message.
It also adds ``image_tags`` (top-k ImageNet labels per image) to the parse output.

Not trainable: the backbone is frozen and loaded once per process (shared between instances and
threads); nothing is persisted, ``load`` builds the same component from the config.
"""

import logging
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
import torch
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from components.batch_featurizer import BatchFeaturizer
from components.constants import IMAGE_FEATURES, IMAGE_TAGS
from components.fingerprint import hash_paths
from components.media import errors
from components.media.attachment import attachment_source, attachments_of_kind
from components.media.mime import IMAGE
from components.threads import configure_threads
from components.vision.backbones import (
    DEFAULT_BACKBONE,
    Backbone,
    Preprocessing,
    load_backbone,
    normalise_backbone_name,
    resolve_weights_path,
)
from components.vision.images import decode_image

logger = logging.getLogger(__name__)

# Images are shrunk to this longest side as they are decoded: the backbone sees 224-320 px, so
# more pixels only cost memory (a 40-megapixel photo is 120 MB as RGB).
BACKBONE_MAX_SIDE = 1024


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class ImageFeaturizer(BatchFeaturizer, DenseFeaturizer, GraphComponent):
    """Dense image features (frozen CNN) + presence flag on ``text``, and ``image_tags``."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Every config key with its default."""
        return {
            **DenseFeaturizer.get_default_config(),
            # Feature origin; select these features with `featurizers: [image_features]`.
            FEATURIZER_CLASS_ALIAS: IMAGE_FEATURES,
            # `efficientnet_lite0` (weights ship in a package), efficientnet_lite1..4, or any
            # torchvision classification architecture name (resnet18, mobilenet_v3_large, ...).
            "backbone": DEFAULT_BACKBONE,
            # Local state_dict file; required for every backbone except efficientnet_lite0.
            "weights_path": None,
            # Text file with one class name per line for a head that is not ImageNet-1k.
            "labels_path": None,
            # Center-crop side in pixels; None = the backbone's own (224 for EfficientNet-Lite0).
            "image_size": None,
            # Shorter side after resizing, before the crop; None = image_size * 256 / 224.
            "resize_size": None,
            # Per-channel normalisation; None = what the backbone was trained with.
            "mean": None,
            "std": None,
            # L2-normalise the pooled image vector (the presence flag is added after).
            "l2_normalize": True,
            # ImageNet labels per image in `image_tags`; 0 turns tags off.
            "top_k": 5,
            # Tags with a lower softmax score are left out.
            "min_tag_score": 0.0,
            # Images per forward pass when featurizing training data.
            "batch_size": 16,
            # torch CPU threads for this process (components/threads.py keeps the largest asked);
            # 0 leaves torch's setting alone.
            "num_threads": 2,
        }

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Checks the simple keys; backbone and files are checked when the model loads."""
        for key in ("batch_size",):
            if not isinstance(config.get(key), int) or config[key] < 1:
                raise InvalidConfigException(
                    f"ImageFeaturizer: `{key}` must be a positive integer, got {config.get(key)!r}."
                )
        for key in ("top_k", "num_threads"):
            if not isinstance(config.get(key), int) or config[key] < 0:
                raise InvalidConfigException(
                    f"ImageFeaturizer: `{key}` must be an integer >= 0, got {config.get(key)!r}."
                )
        for key in ("image_size", "resize_size"):
            value = config.get(key)
            if value is not None and (not isinstance(value, int) or value < 16):
                raise InvalidConfigException(
                    f"ImageFeaturizer: `{key}` must be null or an integer >= 16, got {value!r}."
                )
        for key in ("mean", "std"):
            value = config.get(key)
            if value is not None and (
                not isinstance(value, (list, tuple))
                or len(value) != 3
                or not all(isinstance(v, (int, float)) for v in value)
                or (key == "std" and any(v <= 0 for v in value))
            ):
                raise InvalidConfigException(
                    f"ImageFeaturizer: `{key}` must be null or three numbers (R, G, B)"
                    f"{', all > 0' if key == 'std' else ''}, got {value!r}."
                )
        score = config.get("min_tag_score")
        if not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
            raise InvalidConfigException(
                f"ImageFeaturizer: `min_tag_score` must be between 0 and 1, got {score!r}."
            )

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        """Loads (or reuses) the backbone; bad backbone names and weight files fail here."""
        super().__init__(name, {**self.get_default_config(), **config})
        if self._config["num_threads"] > 0:
            configure_threads(self._config["num_threads"])
        self._backbone: Backbone = load_backbone(
            self._config["backbone"], self._config["weights_path"], self._config["labels_path"]
        )
        self._preprocessing = self._preprocessing_from_config(self._backbone.preprocessing)
        self._transform = self._preprocessing.transform()

    def _preprocessing_from_config(self, default: Preprocessing) -> Preprocessing:
        crop = self._config["image_size"] or default.crop_size
        if self._config["resize_size"]:
            resize = self._config["resize_size"]
        elif self._config["image_size"]:
            resize = round(crop * 256 / 224)
        else:
            resize = default.resize_size
        if resize < crop:
            raise InvalidConfigException(
                f"ImageFeaturizer: `resize_size` ({resize}) must be >= `image_size` ({crop})."
            )
        return Preprocessing(
            crop_size=crop,
            resize_size=resize,
            mean=tuple(self._config["mean"] or default.mean),
            std=tuple(self._config["std"] or default.std),
            interpolation=default.interpolation,
        )

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the featurizer (the backbone is shared with other instances)."""
        return cls(config, execution_context.node_name)

    @staticmethod
    def required_packages() -> List[Text]:
        """Python packages the featurizer imports.

        Rasa imports these names to validate and looks them up as distributions to fingerprint,
        so only names that are both (not "PIL", whose distribution is Pillow).
        """
        return ["torch", "torchvision"]

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Content hash of the weights (and labels) file: new weights at the same path retrain."""
        config = {**cls.get_default_config(), **config}
        try:
            name = normalise_backbone_name(config["backbone"])
            paths = [resolve_weights_path(name, config["weights_path"])]
        except InvalidConfigException:
            return None  # the same error is raised, with its message, when the component is built
        return hash_paths(paths + [config["labels_path"]])

    @property
    def feature_width(self) -> int:
        """Width of every feature row this featurizer emits: backbone features + presence flag."""
        return self._backbone.feature_dim + 1

    def _featurize(self, messages: List[Message]) -> None:
        # Messages without text and without images (intent- or action-only lookups in training
        # data and in Core's end-to-end featurization) get no text features, like Rasa's own.
        targets = [m for m in messages if m.get(TEXT) is not None or attachments_of_kind(m, IMAGE)]
        items = [(index, image) for index, m in enumerate(targets) for image in attachments_of_kind(m, IMAGE)]
        vectors: Dict[int, List[np.ndarray]] = {}
        tags: Dict[int, List[Dict[str, Any]]] = {}
        batch_size = self._config["batch_size"]
        for start in range(0, len(items), batch_size):
            for (index, image), vector, image_tags in self._run_batch(
                targets, items[start : start + batch_size]
            ):
                vectors.setdefault(index, []).append(vector)
                tags.setdefault(index, []).append(image_tags)

        for index, message in enumerate(targets):
            feature = self._message_vector(vectors.get(index, []))
            self.add_features_to_message(None, feature, TEXT, message)
            if index in tags and self._config["top_k"] > 0 and self._backbone.labels:
                message.set(IMAGE_TAGS, tags[index], add_to_output=True)

    def _run_batch(
        self, targets: List[Message], batch: List[Tuple[int, Any]]
    ) -> List[Tuple[Tuple[int, Any], np.ndarray, Dict[str, Any]]]:
        """Decodes and runs one batch; failed images become attachment errors and are skipped."""
        tensors: List[torch.Tensor] = []
        decoded: List[Tuple[int, Any]] = []
        for index, image in batch:
            source = attachment_source(image)
            try:
                picture = decode_image(image.data, source=source, max_side=BACKBONE_MAX_SIDE)
                tensors.append(self._transform(picture))
                decoded.append((index, image))
            except errors.AttachmentError as error:
                errors.record_error(targets[index], error)
            except Exception:  # never raise from process for one image
                logger.exception("ImageFeaturizer: preprocessing %s failed", source)
                errors.record_error(targets[index], errors.make_error(errors.IMAGE_UNREADABLE, source, IMAGE))
        if not tensors:
            return []
        try:
            features, logits = self._backbone.run(torch.stack(tensors))
        except Exception:
            logger.exception("ImageFeaturizer: backbone failed on a batch of %d", len(tensors))
            for index, image in decoded:
                failed = errors.make_error(errors.IMAGE_FEATURIZATION_FAILED, attachment_source(image), IMAGE)
                errors.record_error(targets[index], failed)
            return []
        features_np = features.float().numpy()
        probabilities = torch.softmax(logits.float(), dim=-1).numpy()
        return [
            (item, features_np[row], self._tags(item[1], probabilities[row]))
            for row, item in enumerate(decoded)
        ]

    def _tags(self, image: Any, probabilities: np.ndarray) -> Dict[str, Any]:
        """``{"sha256", "source", "tags": [{"label", "score"}]}`` for one image, best first."""
        labels = self._backbone.labels or ()
        top_k = min(self._config["top_k"], len(labels))
        best = np.argsort(-probabilities)[:top_k] if top_k else []
        return {
            "sha256": getattr(image, "sha256", None),
            "source": getattr(image, "source", None),
            "tags": [
                {"label": labels[i], "score": round(float(probabilities[i]), 4)}
                for i in best
                if probabilities[i] >= self._config["min_tag_score"]
            ],
        }

    def _message_vector(self, vectors: List[np.ndarray]) -> np.ndarray:
        """Mean over the message's images (optionally L2-normalised) + presence flag, (1, D+1)."""
        row = np.zeros((1, self.feature_width), dtype=np.float32)
        if not vectors:
            return row
        pooled = np.mean(np.stack(vectors), axis=0).astype(np.float32)
        if self._config["l2_normalize"]:
            norm = float(np.linalg.norm(pooled))
            if norm > 0:
                pooled = pooled / norm
        row[0, :-1] = pooled
        row[0, -1] = 1.0
        return row
