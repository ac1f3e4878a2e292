"""Builds and runs real Rasa NLU components in tests, the way the graph runner does."""

from typing import Any, Dict, List, Optional

from rasa.engine.graph import GraphComponent
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


def make_component(cls, model_storage, resource, execution_context, config: Optional[Dict[str, Any]] = None) -> GraphComponent:
    """Merges the default config like Rasa's recipe does and creates the component."""
    merged = {**cls.get_default_config(), **(config or {})}
    return cls.create(merged, model_storage, resource(cls.__name__), execution_context(cls.__name__))


def examples(rows: List[tuple]) -> TrainingData:
    """(text, intent[, example metadata]) rows -> TrainingData shaped like nlu.yml's."""
    messages = []
    for row in rows:
        data = {"text": row[0], "intent": row[1]}
        if len(row) > 2 and row[2]:
            data["metadata"] = {"example": row[2]}
        messages.append(Message(data=data))
    return TrainingData(messages)


SHOP_EXAMPLES = [
    ("where is my order", "order_status", {"sentiment": "neutral"}),
    ("can you tell me where my package is", "order_status", {"sentiment": "neutral"}),
    ("track my parcel please", "order_status", {"sentiment": "neutral"}),
    ("what is the status of order 12345", "order_status", {"sentiment": "neutral"}),
    ("has my order shipped yet", "order_status", {"sentiment": "neutral"}),
    ("when will my delivery arrive", "order_status", {"sentiment": "neutral"}),
    ("WHERE IS MY ORDER this is ridiculous", "order_status", {"sentiment": "negative"}),
    ("i have been waiting forever for my package, terrible", "order_status", {"sentiment": "negative"}),
    ("thank you so much, that was really helpful", "thank", {"sentiment": "positive"}),
    ("thanks a lot", "thank", {"sentiment": "positive"}),
    ("great, thank you", "thank", {"sentiment": "positive"}),
    ("cheers, you are wonderful", "thank", {"sentiment": "positive"}),
    ("thanks, perfect", "thank", {"sentiment": "positive"}),
    ("much appreciated", "thank", {"sentiment": "positive"}),
    ("the mug arrived smashed into pieces", "damaged_item", {"sentiment": "negative"}),
    ("my parcel was crushed and the item is broken", "damaged_item", {"sentiment": "negative"}),
    ("the screen is cracked, awful", "damaged_item", {"sentiment": "negative"}),
    ("item came damaged", "damaged_item", {"sentiment": "negative"}),
    ("the box was torn and the vase is broken", "damaged_item", {"sentiment": "negative"}),
    ("it arrived broken", "damaged_item", {"sentiment": "negative"}),
    ("hello", "greet", {"sentiment": "neutral"}),
    ("hi there", "greet", {"sentiment": "neutral"}),
    ("good morning", "greet", {"sentiment": "neutral"}),
    ("hey", "greet", {"sentiment": "neutral"}),
    ("hello, hope you are well", "greet", {"sentiment": "positive"}),
    ("hiya", "greet", None),
]
