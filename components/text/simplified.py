"""Chinese text in Simplified characters (Whisper sometimes writes Traditional: 訂單 -> 订单).

The shop's training data and replies are Simplified, so a transcript in Traditional characters
would reach the classifier as unseen words. ``zhconv`` (pure Python, MIT) converts by its
phrase tables; without it the text is returned unchanged.
"""

import logging

logger = logging.getLogger(__name__)


def to_simplified(text: str) -> str:
    """``text`` with Traditional Chinese characters converted to Simplified ones."""
    try:
        import zhconv
    except ImportError:  # pragma: no cover - zhconv is a dependency
        logger.warning("zhconv is not installed: Chinese transcripts stay as Whisper wrote them")
        return text
    return zhconv.convert(text, "zh-cn")
