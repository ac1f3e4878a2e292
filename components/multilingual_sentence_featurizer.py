"""Dense sentence features in one space for Chinese and English (USE multilingual v3).

Sits next to ``SentenceEmbeddingFeaturizer`` (English MiniLM): the fusion classifier reads both
under its text modality, so English keeps its features and Chinese gets ones that mean something.
Every message gets the same width (512 + a presence flag, 0 for a message without text).
"""

from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from components.batch_featurizer import BatchFeaturizer
from components.text.multilingual import MultilingualEncoder, load_multilingual_encoder

MULTILINGUAL_TEXT_FEATURES = "multilingual_sentence_embedding"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False
)
class MultilingualSentenceFeaturizer(BatchFeaturizer, DenseFeaturizer, GraphComponent):
    """Adds a multilingual (zh/en) sentence vector for TEXT; no sequence features."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Config keys and their defaults (the README's component table mirrors this)."""
        return {
            **DenseFeaturizer.get_default_config(),
            # Feature origin name; list it under the fusion classifier's text modality.
            "alias": MULTILINGUAL_TEXT_FEATURES,
            # Texts per forward pass.
            "batch_size": 64,
            # BLAS threads of the numpy forward pass.
            "num_threads": 2,
        }

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._encoder: Optional[MultilingualEncoder] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the featurizer; the encoder loads on first use, once per process."""
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Rejects settings that cannot work, naming the key."""
        for key in ("batch_size", "num_threads"):
            if not isinstance(config.get(key), int) or config[key] < 1:
                raise InvalidConfigException(
                    f"MultilingualSentenceFeaturizer: '{key}' must be a positive integer, "
                    f"got {config.get(key)!r}."
                )

    @property
    def encoder(self) -> MultilingualEncoder:
        if self._encoder is None:
            self._encoder = load_multilingual_encoder(self._config["num_threads"])
        return self._encoder

    def _featurize(self, messages: List[Message]) -> None:
        with_text = [m for m in messages if (m.get(TEXT) or "").strip()]
        vectors = (self.encoder.encode([m.get(TEXT) for m in with_text],
                                       self._config["batch_size"]) if with_text else [])
        for message, vector in zip(with_text, vectors):
            self._add(message, vector, 1.0)
        for message in messages:
            if not (message.get(TEXT) or "").strip():
                self._add(message, np.zeros(self.encoder.dimension, np.float32), 0.0)

    def _add(self, message: Message, vector: np.ndarray, present: float) -> None:
        sentence = np.concatenate([vector.astype(np.float32), [present]]).astype(np.float32)
        self.add_features_to_message(None, sentence[None, :], TEXT, message)
