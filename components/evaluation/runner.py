"""Trains a real Rasa NLU model from a config and parses messages through it.

Both the bot builder's evaluation command and the benchmarks use this, so a reported number always
comes from ``rasa train nlu`` plus the same parse path ``rasa run`` uses.
"""

import asyncio
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

logger = logging.getLogger(__name__)


@dataclass
class Example:
    """A labelled message; metadata may carry attachments and a sentiment label."""

    text: str
    intent: str
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Parsed:
    """What the model said about one example, and how long it took."""

    intent: Optional[str]
    confidence: float
    sentiment: Optional[str]
    seconds: float
    parse: Dict[str, Any]


def write_nlu_yaml(examples: Sequence[Example], path: Path) -> Path:
    """Writes examples with Rasa's own YAML writer (quoting, metadata, newlines handled)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    messages = []
    for example in examples:
        data: Dict[str, Any] = {"text": " ".join(example.text.split()), "intent": example.intent}
        if example.metadata:
            data["metadata"] = {"example": example.metadata}
        messages.append(Message(data=data))
    path.write_text(RasaYAMLWriter().dumps(TrainingData(messages)), encoding="utf-8")
    return path


def train_nlu_model(config_path: Path, nlu_path: Path, output_dir: Path, name: str) -> Path:
    """Runs Rasa's NLU training with a private cache so earlier runs are never silently reused."""
    from rasa.model_training import train_nlu

    previous = os.environ.get("RASA_CACHE_DIRECTORY")
    with tempfile.TemporaryDirectory(prefix="rasa-cache-") as cache:
        os.environ["RASA_CACHE_DIRECTORY"] = cache
        try:
            model = train_nlu(str(config_path), str(nlu_path), str(output_dir), fixed_model_name=name)
        finally:  # never leave the process pointing at a deleted cache folder
            if previous is None:
                os.environ.pop("RASA_CACHE_DIRECTORY", None)
            else:
                os.environ["RASA_CACHE_DIRECTORY"] = previous
    if not model:
        raise RuntimeError(f"Rasa produced no model for {config_path}")
    return Path(model)


def quiet_logs() -> None:
    """Warnings and errors only: unconfigured, Rasa's structlog prints a debug line per parse,
    which floods the output and adds its own cost to every measured parse."""
    from rasa.utils.log_utils import configure_structlog

    logging.basicConfig(level=logging.WARNING)
    configure_structlog(logging.WARNING)


class ModelParser:
    """Loads a trained model once and parses texts (with optional metadata) through it."""

    def __init__(self, model_path: Path) -> None:
        from rasa.core.agent import Agent

        self._loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(model_path))

    def parse(self, text: str, metadata: Optional[Dict[str, Any]] = None) -> Parsed:
        from rasa.core.channels.channel import UserMessage

        processor = self.agent.processor
        message = UserMessage(text=text, metadata=metadata or {}, sender_id="evaluation")
        started = time.perf_counter()
        result = self._loop.run_until_complete(processor.parse_message(message))
        seconds = time.perf_counter() - started
        intent = result.get("intent") or {}
        sentiment = result.get("sentiment") or {}
        return Parsed(intent.get("name"), float(intent.get("confidence") or 0.0), sentiment.get("label"), seconds, result)

    def transcriber_settings(self) -> Dict[str, Any]:
        """The trained pipeline's SpeechTranscriber settings that decide which languages it hears
        (empty when the pipeline has none)."""
        schema = getattr(self.agent.processor.model_metadata, "train_schema", None)
        for node in (schema.nodes.values() if schema else []):
            if getattr(node.uses, "__name__", "") == "SpeechTranscriber":
                config = {**node.uses.get_default_config(), **node.config}
                return {k: config.get(k) for k in ("backend", "packaged_model", "model_path", "language", "language_models")}
        return {}

    def close(self) -> None:
        self._loop.close()
