"""Sparse features over the toneless pinyin of Chinese text, so that a misheard voice message
still reads as its intent.

A Mandarin transcript's errors are mostly homophones (``components.text.pinyin``): the characters
differ from what the customer said, the syllables mostly do not. Counting syllable n-grams next to
the word and character counts gives the classifier a view of the message that such an error
leaves largely intact. The vocabulary is the n-grams seen at least ``min_count`` times in training;
text without Chinese gets all-zero rows (English keeps its own features). List the alias under the fusion
classifier's ``sparse_origins``.
"""

import json
from collections import Counter
from typing import Any, Dict, List, Optional, Text

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.text.pinyin import syllable_ngrams, syllables

PINYIN_FEATURES = "pinyin"
_VOCABULARY_FILE = "vocabulary.json"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True
)
class PinyinFeaturizer(SparseFeaturizer, GraphComponent):
    """Counts of toneless pinyin syllable n-grams: per token (sequence) and per message (sentence,
    n-grams across word boundaries too)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Config keys and their defaults (the README's component table mirrors this)."""
        return {
            **SparseFeaturizer.get_default_config(),
            # Feature origin name; list it in the fusion classifier's sparse_origins.
            "alias": PINYIN_FEATURES,
            # Syllable n-gram lengths counted: 1 to 3 (a syllable, a two-character word, a phrase).
            "min_ngram": 1,
            "max_ngram": 3,
            # An n-gram seen fewer times than this in training is not a feature.
            "min_count": 1,
        }

    @staticmethod
    def required_components() -> List[type]:
        return [Tokenizer]

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Rejects n-gram bounds and counts that would give no or unbounded features."""
        low, high, count = config.get("min_ngram"), config.get("max_ngram"), config.get("min_count")
        for key, value in (("min_ngram", low), ("max_ngram", high), ("min_count", count)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidConfigException(f"PinyinFeaturizer: '{key}' must be a whole number ≥ 1, got {value!r}.")
        if high < low or high > 5:
            raise InvalidConfigException(
                f"PinyinFeaturizer: 'max_ngram' must be between 'min_ngram' ({low}) and 5, got {high}."
            )

    def __init__(
        self,
        config: Dict[Text, Any],
        name: Text,
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: Optional[Dict[str, int]] = None,
    ) -> None:
        super().__init__(name, config)
        self._model_storage = model_storage
        self._resource = resource
        self._vocabulary: Dict[str, int] = dict(vocabulary or {})

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        return cls(config, execution_context.node_name, model_storage, resource)

    def _ngrams(self, text: str) -> List[str]:
        return syllable_ngrams(syllables(text), self._config["min_ngram"], self._config["max_ngram"])

    def train(self, training_data: TrainingData) -> Resource:
        """Fixes the vocabulary: the n-grams of the training texts seen ``min_count`` times."""
        counts: Counter = Counter()
        for example in training_data.training_examples:
            counts.update(self._ngrams(example.get(TEXT) or ""))
        kept = sorted(n for n, c in counts.items() if c >= self._config["min_count"])
        self._vocabulary = {ngram: index for index, ngram in enumerate(kept)}
        with self._model_storage.write_to(self._resource) as directory:
            (directory / _VOCABULARY_FILE).write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GraphComponent:
        """The trained vocabulary; a model trained without Chinese has none (no features)."""
        kept: List[str] = []
        try:
            with model_storage.read_from(resource) as directory:
                kept = json.loads((directory / _VOCABULARY_FILE).read_text(encoding="utf-8"))
        except ValueError:  # nothing persisted for this resource
            pass
        vocabulary = {ngram: index for index, ngram in enumerate(kept)}
        return cls(config, execution_context.node_name, model_storage, resource, vocabulary)

    def _rows(self, texts: List[str]) -> scipy.sparse.coo_matrix:
        """One count row per text, built as a single matrix (a message's tokens and the message)."""
        rows: List[int] = []
        columns: List[int] = []
        for row, text in enumerate(texts):
            for ngram in self._ngrams(text):
                column = self._vocabulary.get(ngram)
                if column is not None:
                    rows.append(row)
                    columns.append(column)
        matrix = scipy.sparse.coo_matrix(
            (np.ones(len(rows), dtype=np.float32), (np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64))),
            shape=(len(texts), len(self._vocabulary)),
        )
        matrix.sum_duplicates()
        return matrix

    def _featurize(self, message: Message) -> None:
        text = message.get(TEXT)
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not self._vocabulary or not isinstance(text, str) or not tokens:
            return
        rows = self._rows([token.text for token in tokens] + [text]).tocsr()
        self.add_features_to_message(rows[:-1].tocoo(), rows[-1:].tocoo(), TEXT, message)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._featurize(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._featurize(example)
        return training_data
