"""Rasa's two entry points for a featurizer that treats training examples and live messages alike.

Rasa calls ``process_training_data`` once with every training example and ``process`` with the
messages of one parse. A featurizer that handles both the same way, in batches, inherits them
from ``BatchFeaturizer`` (first in its bases) and writes only ``_featurize(messages)``, which must
never raise for bad media.
"""

from typing import List

from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


class BatchFeaturizer:
    """``process_training_data`` and ``process``, both handing their messages to ``_featurize``."""

    def _featurize(self, messages: List[Message]) -> None:
        raise NotImplementedError

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example, in batches."""
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Featurizes the messages of one parse (batched when Rasa passes several)."""
        self._featurize(messages)
        return messages
