"""Held-out evaluation runs: load labelled data, split it, train on one part and parse the other.

The result is a set of parallel rows (``ROW_KEYS``: truth, prediction and ablations per test
example) that ``components.evaluation.report.build_report`` turns into the report.
"""

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from components.constants import ATTACHMENTS, LANGUAGE_HINT
from components.evaluation.report import modality_subset
from components.evaluation.runner import ModelParser, Parsed, train_nlu_model
from components.message_metadata import message_metadata
from components.text.language import detect_language

ROW_KEYS = (
    "text", "intent", "predicted", "sentiment", "predicted_sentiment", "subset", "ablation",
    "voice_only", "voice_transcript", "voice_language", "image_source", "image_text",
    "order_number",
)


def load_nlu(path: Path):
    """Rasa TrainingData from an NLU file or folder; exits with a message when it has no intents."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    if not data.intent_examples:
        raise SystemExit(f"No intent examples found in {path}.")
    return data


def _with_examples(data, examples):
    from rasa.shared.nlu.training_data.training_data import TrainingData

    return TrainingData(
        training_examples=list(examples),
        entity_synonyms=data.entity_synonyms,
        regex_features=data.regex_features,
        lookup_tables=data.lookup_tables,
    )


def splits(data, test_data, test_fraction: float, folds: int, seed: int) -> List[Tuple[object, object]]:
    """(train, test) pairs: a given test set, K stratified folds, or one stratified split."""
    if test_data is not None:
        return [(data, test_data)]
    from sklearn.model_selection import StratifiedKFold, train_test_split

    examples = data.intent_examples
    labels = [e.get("intent") for e in examples]
    if folds > 1:
        kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [
            (_with_examples(data, [examples[i] for i in tr]), _with_examples(data, [examples[i] for i in te]))
            for tr, te in kfold.split(np.zeros(len(labels)), labels)
        ]
    train, test = train_test_split(examples, test_size=test_fraction, stratify=labels, random_state=seed)
    return [(_with_examples(data, train), _with_examples(data, test))]


def train_and_evaluate(train_data, test_data, config: Path, work: Path, name: str) -> Dict[str, List]:
    """Trains on one part with ``rasa train nlu``, parses the other (and its media-less ablation)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter

    nlu_path = work / f"{name}-train.yml"
    nlu_path.write_text(RasaYAMLWriter().dumps(train_data), encoding="utf-8")
    model = train_nlu_model(config, nlu_path, work / "models", name)
    return evaluate_model(model, test_data)


def train_and_evaluate_sets(train_data, test_sets: Dict[str, object], config: Path, work: Path) -> Dict[str, Dict[str, List]]:
    """Trains once on ``train_data`` and parses every named test set with that model."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter

    nlu_path = work / "train.yml"
    nlu_path.write_text(RasaYAMLWriter().dumps(train_data), encoding="utf-8")
    model = train_nlu_model(config, nlu_path, work / "models", "model")
    return evaluate_model_sets(model, test_sets)[0]


def evaluate_model(model: Path, test_data) -> Dict[str, List]:
    """Parses every test example with a trained model; media examples also without their media,
    audio examples also voice-only (empty text + the clip)."""
    return evaluate_model_sets(model, {"test": test_data})[0]["test"]


def evaluate_model_sets(model: Path, test_sets: Dict[str, object]) -> Tuple[Dict[str, Dict[str, List]], Dict]:
    """Rows of each named test set, parsed by one loaded model (loading takes minutes), and the
    model's speech transcriber settings (which languages its voice examples could be heard in)."""
    parser = ModelParser(model)
    try:
        rows = {name: _parse_all(parser, data) for name, data in test_sets.items()}
        return rows, parser.transcriber_settings()
    finally:
        parser.close()


def _parse_all(parser: ModelParser, test_data) -> Dict[str, List]:
    rows: Dict[str, List] = {k: [] for k in ROW_KEYS}
    for example in test_data.intent_examples:
        text = example.get("text")
        metadata = with_conversation_language(message_metadata(example), text)
        parsed = parser.parse(text, metadata or None)
        rows["text"].append(text)
        rows["intent"].append(example.get("intent"))
        rows["predicted"].append(parsed.intent)
        rows["sentiment"].append(metadata.get("sentiment"))
        rows["predicted_sentiment"].append(parsed.sentiment)
        rows["subset"].append(modality_subset(metadata))
        images = [r.get("source") for r in parsed.parse.get("media_references") or [] if r.get("type") == "image"]
        rows["image_source"].append(images[0] if images else None)
        rows["image_text"].append(parsed.parse.get("image_text") or None)
        numbers = [e.get("value") for e in parsed.parse.get("entities") or [] if e.get("entity") == "order_number"]
        rows["order_number"].append(numbers[0] if numbers else None)
        _add_ablations(parser, rows, text, metadata)
    return rows


def with_conversation_language(metadata: Dict, text: Optional[str]) -> Dict:
    """The example's metadata with the language hint a channel would add (the conversation's
    language slot, components.channels.language_hint): here the language the example is written
    in, so a held-out voice clip reaches the recogniser its conversation would choose."""
    language = detect_language(text)
    if language is None or LANGUAGE_HINT in metadata:
        return metadata
    return {**metadata, LANGUAGE_HINT: language}


def _add_ablations(parser: ModelParser, rows: Dict[str, List], text: str, metadata: Dict) -> None:
    """The example parsed again without its media, and its audio alone (None where it has none)."""
    attachments = metadata.get(ATTACHMENTS) or []
    without = {k: v for k, v in metadata.items() if k != ATTACHMENTS}
    rows["ablation"].append(parser.parse(text, without or None).intent if attachments else None)
    audio = [a for a in attachments if isinstance(a, dict) and a.get("type") == "audio"]
    voice: Optional[Parsed] = parser.parse("", {**without, ATTACHMENTS: audio}) if audio else None
    rows["voice_only"].append(voice.intent if voice else None)
    transcript = (voice.parse.get("transcript") or {}) if voice else {}
    rows["voice_transcript"].append(transcript.get("text") if voice else None)
    rows["voice_language"].append(transcript.get("language") if voice else None)
