"""Tokens for Chinese, English and a mix of both in one message.

Text without Chinese characters is split exactly as Rasa's ``WhitespaceTokenizer`` splits it (so
English features do not change); text with Chinese is cut into words by ``jieba`` (the segmenter
Rasa's own ``JiebaTokenizer`` uses; it keeps Latin words and numbers whole), offsets kept,
punctuation and spaces dropped.
"""

import logging
import threading
from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from components.text.language import has_han

_JIEBA_LOCK = threading.Lock()


def _jieba() -> Any:
    """jieba, with its dictionary loaded once per process (about a second)."""
    import jieba

    with _JIEBA_LOCK:
        if not jieba.dt.initialized:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
    return jieba


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class BilingualTokenizer(WhitespaceTokenizer):
    """WhitespaceTokenizer for Latin script, jieba word segmentation inside Chinese runs."""

    @staticmethod
    def not_supported_languages() -> Optional[List[Text]]:
        """Every language: Chinese is what this tokenizer adds to the whitespace one."""
        return None

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Config keys and their defaults: those of Rasa's WhitespaceTokenizer."""
        return WhitespaceTokenizer.get_default_config()

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute) or ""
        if not has_han(text):
            return super().tokenize(message, attribute)
        # jieba over the whole text: the whitespace rules drop text after full-width punctuation.
        tokens = [Token(word, start) for word, start, _end in _jieba().tokenize(text)
                  if any(c.isalnum() for c in word)]
        return self._apply_token_pattern(tokens) if tokens else [Token(text, 0)]
