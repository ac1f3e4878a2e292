"""How a voice message sounded, as one fixed-width dense sentence vector for Rasa 3.6 classifiers.

Vector layout (width never varies, with or without audio, so Rasa's padding never sees two widths):

  [ log-mel mean (n_mels) | log-mel std (n_mels) | prosody (12) | encoder embedding (E) | presence flag ]

* log-mel statistics: ``speechbrain.lobes.features.Fbank`` (n_mels=40 by default) pooled over time:
  voice quality, loudness and spectral tilt of the utterance.
* prosody (``components/audio/prosody.py``, names in ``PROSODY_FEATURE_NAMES``): loudness, pitch
  (F0 mean/spread/range from an autocorrelation tracker with voicing), voiced ratio, speaking rate
  (voiced-segment onsets per second), words per second (from the transcript when one is on the
  message) and pauses. An agitated customer speaks louder, higher and faster.
* optional embedding of a local speechbrain encoder (``encoder_source``: any interface with
  ``encode_batch``, e.g. an ECAPA ``EncoderClassifier`` folder); E is measured once at load (0 when
  no encoder is configured). Default width: 40 + 40 + 12 + 0 + 1 = 93.
* presence flag at the LAST position: 1.0 with audio, 0.0 (and all zeros) without.

Place it after the tokenizer (and after SpeechTranscriber, whose decoded audio it reuses from the
internal ``DECODED_AUDIO`` key so nothing is decoded twice). Without a transcriber earlier in the
pipeline it decodes the attachments itself and reports audio errors to ``attachment_errors``.
"""

import logging
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.audio.limits import TARGET_SAMPLE_RATE, AudioLimits
from components.audio.loading import DecodedAudio, decode_message_audio
from components.audio.prosody import N_PROSODY, PROSODY_FEATURE_NAMES, prosody_features
from components.audio.speechbrain_models import SpeechBrainModelError, load_local_model
from components.constants import DECODED_AUDIO, SPEECH_FEATURES, TRANSCRIPT
from components.fingerprint import hash_paths
from components.text.words import count_words
from components.threads import configure_threads

logger = logging.getLogger(__name__)

GAP_S = 0.25  # silence between several voice notes of one message when they are measured as one


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SpeechFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a fixed-width voice/prosody sentence vector for TEXT (zeros + flag 0 without audio)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Config keys and their defaults (the README's component table mirrors this)."""
        return {
            **DenseFeaturizer.get_default_config(),
            # Feature origin name; the fusion classifier selects speech features by it.
            "alias": SPEECH_FEATURES,
            # Mel bands of the speechbrain Fbank whose time mean and std are features.
            "n_mels": 40,
            # Optional local speechbrain encoder folder (hyperparams.yaml + checkpoints); None = none.
            "encoder_source": None,
            # Its interface class in speechbrain.inference (or a dotted path); needs encode_batch().
            "encoder_interface": "EncoderClassifier",
            # Its hyperparameters file.
            "encoder_hparams_file": "hyperparams.yaml",
            # torch CPU threads for this process (components/threads.py keeps the largest asked).
            "num_threads": 2,
            # Voice message limits (components/audio/limits.py), used only when no
            # SpeechTranscriber decoded the audio before this component.
            **AudioLimits().as_config(),
        }

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        from speechbrain.lobes.features import Fbank

        configure_threads(int(config["num_threads"]))
        self.n_mels = int(config["n_mels"])
        self._fbank = Fbank(n_mels=self.n_mels, sample_rate=TARGET_SAMPLE_RATE)
        self._limits = AudioLimits.from_config(config)
        self._encoder: Any = None
        self.encoder_dim = 0
        if config.get("encoder_source"):
            self._load_encoder()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Builds the featurizer (loads the optional encoder now: its width must be known up front)."""
        return cls(config, execution_context.node_name)

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """Content hash of the encoder folder: new weights at the same path retrain."""
        return hash_paths([config.get("encoder_source")])

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Rejects settings that cannot work, naming the key."""
        for key in ("n_mels", "num_threads"):
            if not isinstance(config.get(key), int) or config[key] < 1:
                raise InvalidConfigException(
                    f"SpeechFeaturizer: '{key}' must be a positive integer, got {config.get(key)!r}."
                )
        AudioLimits.for_component("SpeechFeaturizer", config)

    @staticmethod
    def required_packages() -> List[Text]:
        """speechbrain and torch do the signal processing."""
        return ["speechbrain", "torch"]

    # ---- vector ----------------------------------------------------------------------------

    @property
    def width(self) -> int:
        """Feature width: 2 * n_mels + prosody + encoder + flag."""
        return 2 * self.n_mels + N_PROSODY + self.encoder_dim + 1

    def feature_names(self) -> List[str]:
        """Names of the vector's positions (for explanations and debugging)."""
        return (
            [f"fbank_mean_{i}" for i in range(self.n_mels)]
            + [f"fbank_std_{i}" for i in range(self.n_mels)]
            + list(PROSODY_FEATURE_NAMES)
            + [f"encoder_{i}" for i in range(self.encoder_dim)]
            + ["has_audio"]
        )

    def _load_encoder(self) -> None:
        source = self._config["encoder_source"]
        try:
            self._encoder = load_local_model(
                source,
                self._config["encoder_interface"],
                "encode_batch",
                self._config["encoder_hparams_file"],
            )
        except SpeechBrainModelError as e:
            raise InvalidConfigException(f"SpeechFeaturizer: encoder_source: {e}") from e
        silence = np.zeros(TARGET_SAMPLE_RATE, dtype=np.float32)
        self.encoder_dim = int(self._embed(silence).shape[0])
        logger.info(f"SpeechFeaturizer: encoder '{source}' adds {self.encoder_dim} dimensions")

    def _embed(self, samples: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self._encoder.encode_batch(torch.from_numpy(samples).unsqueeze(0), torch.tensor([1.0]))
        out = out.float()
        if out.dim() == 3:  # (batch, time, dim) sequence encoders: mean over time
            out = out.mean(dim=1)
        return out.reshape(out.shape[0], -1)[0].numpy().astype(np.float32)

    def _filterbank_stats(self, samples: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            feats = self._fbank(torch.from_numpy(samples).unsqueeze(0))[0]  # (frames, n_mels)
        mean = feats.mean(dim=0)
        std = feats.std(dim=0) if feats.shape[0] > 1 else torch.zeros_like(mean)
        # log-mels of speech sit around -10..+10; scale to roughly unit range
        return (torch.cat([mean, std]) / 10.0).numpy().astype(np.float32)

    def vector(self, audio: Optional[np.ndarray], n_words: Optional[int] = None) -> np.ndarray:
        """The fixed-width feature vector of 16 kHz mono samples (None = no audio)."""
        vec = np.zeros(self.width, dtype=np.float32)
        if audio is None or audio.size == 0:
            return vec
        m = 2 * self.n_mels
        vec[:m] = self._filterbank_stats(audio)
        vec[m : m + N_PROSODY] = prosody_features(audio, TARGET_SAMPLE_RATE, n_words)
        if self._encoder is not None:
            vec[m + N_PROSODY : m + N_PROSODY + self.encoder_dim] = self._embed(audio)
        vec[-1] = 1.0
        return np.nan_to_num(vec, nan=0.0, posinf=0.0, neginf=0.0)

    # ---- messages --------------------------------------------------------------------------

    def _message_audio(self, message: Message) -> Optional[np.ndarray]:
        """Samples of the message's audio: the transcriber's decoding, else decoded here."""
        decoded: Optional[List[DecodedAudio]] = message.get(DECODED_AUDIO)
        if decoded is None:  # no transcriber ran: decode (and report problems) ourselves
            decoded = decode_message_audio(message, self._limits)
            if decoded:
                message.set(DECODED_AUDIO, decoded)
        if not decoded:
            return None
        if len(decoded) == 1:
            return decoded[0].samples
        gap = np.zeros(int(GAP_S * TARGET_SAMPLE_RATE), dtype=np.float32)
        parts: List[np.ndarray] = []
        for d in decoded:
            parts.extend([d.samples, gap])
        return np.concatenate(parts[:-1])

    def _featurize(self, message: Message) -> None:
        try:
            audio = self._message_audio(message)
        except Exception:  # never end a conversation over features
            logger.exception("SpeechFeaturizer could not read the message's audio")
            audio = None
        if audio is None and not message.get(TEXT):
            return  # nothing to describe (e.g. intent-only messages in core featurization)
        transcript = message.get(TRANSCRIPT)
        n_words = count_words(transcript["text"]) if isinstance(transcript, dict) and transcript.get("text") else None
        try:
            vec = self.vector(audio, n_words)
        except Exception:
            logger.exception("SpeechFeaturizer failed; using the no-audio vector")
            vec = self.vector(None)
        message.add_features(Features(vec.reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, self._identifier))

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the speech sentence features to every message with text or audio."""
        for message in messages:
            self._featurize(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Same as ``process`` for every training example (voice examples are few; a loop suffices)."""
        self.process(training_data.training_examples)
        return training_data
