"""The ONNX Runtime path of the sentence encoder gives torch's vectors and predictions, by setting."""

import logging

import numpy as np
import pytest
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.fusion_classifier import MultimodalFusionClassifier
from components.sentence_featurizer import SentenceEmbeddingFeaturizer
from components.text.encoder import default_model_path, load_encoder, open_sentence_transformer
from components.fusion.tuned_encoder import INT8_GRAPH_FILE
from components.text import onnx_encoder
from components.text.onnx_encoder import BACKEND_VARIABLE, INT8_MIN_COSINE, PARITY_MIN_COSINE, EncoderBackendError
from tests.nlu_pipeline import SHOP_EXAMPLES, examples, make_component

FAST = {"epochs": 40, "validation_fraction": 0.0, "hidden_size": 64, "num_heads": 2}
TEXTS = [
    "",
    "hi",
    "where is my order",
    "the mug arrived smashed into pieces and I would like my money back please",
    "refund " * 400,  # far past the 256-piece window: truncated the same way on both backends
    "Où est ma commande? 我的包裹在哪里",
]


@pytest.fixture(scope="module")
def encoders():
    """The default model loaded once per backend, in one process (as the intent bench does)."""
    loaded = {}
    with pytest.MonkeyPatch.context() as patch:
        for backend in ("onnx", "torch"):
            patch.setenv(BACKEND_VARIABLE, backend)
            loaded[backend] = load_encoder(None)
    return loaded


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)


def test_each_setting_loads_its_own_backend_in_one_process(encoders):
    assert encoders["onnx"].backend == "onnx"
    assert encoders["torch"].backend == "torch"
    assert encoders["onnx"] is not encoders["torch"]


@pytest.mark.parametrize("normalize", [True, False])
def test_sentence_vectors_agree_for_empty_long_and_mixed_batches(encoders, normalize):
    onnx = encoders["onnx"].encode(TEXTS, batch_size=4, normalize=normalize)
    torch_vectors = encoders["torch"].encode(TEXTS, batch_size=4, normalize=normalize)
    assert onnx.shape == torch_vectors.shape == (len(TEXTS), encoders["onnx"].dimension)
    assert onnx.dtype == np.float32
    assert cosines(onnx, torch_vectors).min() >= PARITY_MIN_COSINE
    assert np.abs(onnx - torch_vectors).max() < 1e-4
    # A text's vector does not depend on what else is in its batch (padding is masked).
    alone = encoders["onnx"].encode([TEXTS[2]], normalize=normalize)
    assert cosines(alone, onnx[2:3]).min() >= PARITY_MIN_COSINE


def test_torch_setting_runs_sentence_transformers_itself(encoders):
    model, _ = open_sentence_transformer(default_model_path())
    expected = model.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    assert np.array_equal(encoders["torch"].encode(TEXTS), expected)


def test_token_aligned_vectors_agree(encoders):
    texts = [t for t in TEXTS if t]
    spans = []
    for text in texts:
        words, position = [], 0
        for word in text.split():
            start = text.index(word, position)
            words.append((start, start + len(word)))
            position = start + len(word)
        spans.append(words)
    onnx_sentences, onnx_tokens = encoders["onnx"].encode_with_tokens(texts, spans, batch_size=3)
    torch_sentences, torch_tokens = encoders["torch"].encode_with_tokens(texts, spans, batch_size=3)
    assert cosines(onnx_sentences, torch_sentences).min() >= PARITY_MIN_COSINE
    for text_spans, a, b in zip(spans, onnx_tokens, torch_tokens):
        assert a.shape == b.shape == (len(text_spans), encoders["onnx"].dimension)
        assert cosines(a, b).min() >= PARITY_MIN_COSINE


def test_a_bogus_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(BACKEND_VARIABLE, "bogus")
    with pytest.raises(EncoderBackendError, match=rf"{BACKEND_VARIABLE}='bogus'.*auto, onnx, torch"):
        load_encoder(None)


def test_a_model_it_cannot_reproduce_runs_on_torch_or_is_refused(tmp_path, monkeypatch, caplog):
    """CLS pooling is not what the numpy pooling reproduces: auto warns once and uses torch,
    onnx refuses to load it."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling

    model, dimension = open_sentence_transformer(default_model_path())
    folder = tmp_path / "cls-pooling"
    SentenceTransformer(modules=[model[0], Pooling(dimension, pooling_mode="cls")]).save(str(folder))

    monkeypatch.setenv(BACKEND_VARIABLE, "onnx")
    with pytest.raises(EncoderBackendError, match=r"Pooling mode is 'cls'.*MM_TEXT_ENCODER_BACKEND=auto or torch"):
        load_encoder(str(folder))
    monkeypatch.setenv(BACKEND_VARIABLE, "auto")
    with caplog.at_level(logging.WARNING, logger="components.text.onnx_encoder"):
        encoder = load_encoder(str(folder))
    assert encoder.backend == "torch"
    warnings = [r.getMessage() for r in caplog.records if r.name == "components.text.onnx_encoder"]
    assert len(warnings) == 1 and "Pooling mode is 'cls'" in warnings[0]
    assert encoder.encode(["where is my order"]).shape == (1, dimension)


def ranking(message):
    return [(entry["name"], entry["confidence"]) for entry in message.get(INTENT_RANKING_KEY)]


def assert_same_rankings(first, second):
    for a, b in zip(first, second):
        names_a, names_b = [n for n, _ in ranking(a)], [n for n, _ in ranking(b)]
        assert names_a == names_b
        assert [c for _, c in ranking(a)] == pytest.approx([c for _, c in ranking(b)], abs=1e-3)


UNSEEN = ["where on earth is my parcel", "thank you so much", "my lamp came smashed", "hey there", "hello"]


def test_fusion_classifier_ranks_intents_identically_on_both_backends(
    encoders, model_storage, resource, execution_context, monkeypatch
):
    data = examples(SHOP_EXAMPLES)
    tokenizer = make_component(WhitespaceTokenizer, model_storage, resource, execution_context)
    tokenizer.process_training_data(data)
    monkeypatch.setenv(BACKEND_VARIABLE, "torch")
    featurizer = make_component(SentenceEmbeddingFeaturizer, model_storage, resource, execution_context)
    featurizer.process_training_data(data)
    classifier = make_component(MultimodalFusionClassifier, model_storage, resource, execution_context, FAST)
    classifier.train(data)

    def parse(backend):
        monkeypatch.setenv(BACKEND_VARIABLE, backend)
        component = make_component(SentenceEmbeddingFeaturizer, model_storage, resource, execution_context)
        messages = [Message(data={TEXT: t}) for t in UNSEEN]
        tokenizer.process(messages)
        component.process(messages)
        classifier.process(messages)
        assert component.encoder.backend == backend
        return messages

    on_torch, on_onnx = parse("torch"), parse("onnx")
    assert_same_rankings(on_torch, on_onnx)
    assert [m.get(INTENT)["name"] for m in on_onnx[:3]] == ["order_status", "thank", "damaged_item"]


def counted_shop_examples(model_storage, resource, execution_context):
    """The shop examples tokenized and word-counted (alias "words"), and a parse of UNSEEN plus an
    empty text through the same tokenizer and counts, then the given classifier."""
    data = examples(SHOP_EXAMPLES)
    tokenizer = make_component(WhitespaceTokenizer, model_storage, resource, execution_context)
    counts = make_component(CountVectorsFeaturizer, model_storage, resource, execution_context, {"alias": "words"})
    tokenizer.process_training_data(data)
    counts.train(data)
    counts.process_training_data(data)

    def parse(component):
        messages = [Message(data={TEXT: t}) for t in UNSEEN + [""]]
        tokenizer.process(messages)
        counts.process(messages)
        component.process(messages)
        return messages

    return data, parse


def load_per_backend(classifier, backends, model_storage, execution_context, monkeypatch):
    """The trained classifier loaded once per encoder backend setting (the variable is read at load)."""
    loaded = {}
    for backend in backends:
        monkeypatch.setenv(BACKEND_VARIABLE, backend)
        loaded[backend] = MultimodalFusionClassifier.load(
            classifier._config, model_storage, classifier._resource, execution_context(f"loaded-{backend}")
        )
    return loaded


def test_fine_tuned_encoder_predicts_the_same_on_both_backends_after_training_and_load(
    model_storage, resource, execution_context, monkeypatch
):
    data, parse = counted_shop_examples(model_storage, resource, execution_context)
    monkeypatch.setenv(BACKEND_VARIABLE, "auto")
    classifier = make_component(
        MultimodalFusionClassifier, model_storage, resource, execution_context,
        {**FAST, "sparse_origins": ["words"], "fine_tune_encoder": True, "fine_tune_epochs": 1, "fine_tune_batch_size": 8},
    )
    classifier.train(data)
    assert classifier._encoder.backend == "onnx"  # the final weights, frozen for inference

    trained = parse(classifier)
    loaded = load_per_backend(classifier, ("torch", "onnx"), model_storage, execution_context, monkeypatch)
    for backend in ("torch", "onnx"):
        assert loaded[backend]._encoder.backend == backend
    on_torch, on_onnx = parse(loaded["torch"]), parse(loaded["onnx"])
    assert_same_rankings(trained[:-1], on_torch[:-1])
    assert_same_rankings(on_torch[:-1], on_onnx[:-1])
    assert on_onnx[-1].get(INTENT) == {"name": None, "confidence": 0.0}  # empty text: nothing predicted

    # Training again changes the weights, so the frozen ONNX Runtime copy is dropped.
    loaded["onnx"]._encoder.train()
    assert loaded["onnx"]._encoder.backend == "torch"


def assert_loads_with_warnings(load, parse, caplog, backend, trained, count):
    """``load()`` gives a classifier serving ``backend`` with ``trained``'s intents, and logs ``count`` warnings."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="components.text.onnx_encoder"):
        loaded = load()
    warnings = [r for r in caplog.records if r.name == "components.text.onnx_encoder"]
    assert len(warnings) == count and all(r.levelno == logging.WARNING for r in warnings)
    assert loaded._encoder.backend == backend
    assert [m.get(INTENT)["name"] for m in parse(loaded)] == [m.get(INTENT)["name"] for m in trained]


def test_fine_tuned_encoder_predicts_in_int8_when_its_hold_out_keeps_the_score(
    model_storage, resource, execution_context, monkeypatch, caplog
):
    data, parse = counted_shop_examples(model_storage, resource, execution_context)
    monkeypatch.setenv(BACKEND_VARIABLE, "auto")
    config = {
        **FAST, "validation_fraction": 0.25, "sparse_origins": ["words"], "fine_tune_encoder": True,
        "fine_tune_epochs": 1, "fine_tune_batch_size": 8,
    }
    ruled = make_component(MultimodalFusionClassifier, model_storage, resource, execution_context, config)
    ruled.train(data)
    report = ruled._meta["training"]
    # Both hold-out scores are recorded, and the choice follows the rule on them. Which way it goes
    # depends on the CPU's int8 kernels (a hold-out of 12 after one epoch: one answer can flip).
    assert 0 <= report["int8_validation_score"] <= 1 and 0 <= report["float_validation_score"] <= 1
    drop = MultimodalFusionClassifier.get_default_config()["int8_max_validation_drop"]
    assert ruled._meta["encoder_int8"] is (report["int8_validation_score"] >= report["float_validation_score"] - drop)
    assert ruled._encoder.backend == ("onnx-int8" if ruled._meta["encoder_int8"] else "onnx")

    # A drop the rule always allows: int8 is chosen, and served from here on.
    config = {**config, "int8_max_validation_drop": 0.999}
    classifier = make_component(MultimodalFusionClassifier, model_storage, resource, execution_context, config)
    classifier.train(data)
    assert classifier._meta["encoder_int8"] and classifier._encoder.backend == "onnx-int8"

    # int8 vectors are near the float ones, not equal to them.
    encoder = classifier._encoder
    int8_vectors = encoder.encode(UNSEEN)
    encoder.use_int8(False)
    float_vectors = encoder.encode(UNSEEN)
    encoder.use_int8(True)
    similarity = cosines(int8_vectors[:, :-1], float_vectors[:, :-1])
    assert (similarity > 0.95).all() and (similarity < 0.999999).any()

    trained = parse(classifier)
    with model_storage.read_from(classifier._resource) as directory:
        assert (directory / INT8_GRAPH_FILE).stat().st_size > 5_000_000  # the chosen graph, saved
    loaded = load_per_backend(classifier, ("onnx", "torch"), model_storage, execution_context, monkeypatch)
    assert loaded["onnx"]._encoder.backend == "onnx-int8"  # the choice travels with the model
    assert loaded["torch"]._encoder.backend == "torch"  # int8 is a copy on ONNX Runtime only
    on_load = parse(loaded["onnx"])
    assert_same_rankings(trained[:-1], on_load[:-1])
    assert [m.get(INTENT)["name"] for m in on_load[:3]] == [m.get(INTENT)["name"] for m in parse(loaded["torch"])[:3]]
    assert on_load[-1].get(INTENT) == {"name": None, "confidence": 0.0}

    # A saved int8 graph the guard refuses, or a damaged one, is not served; predictions go on.
    def load():
        return load_per_backend(classifier, ("onnx",), model_storage, execution_context, monkeypatch)["onnx"]

    monkeypatch.setattr(onnx_encoder, "INT8_MIN_COSINE", 0.999999)  # int8 is never that close
    assert_loads_with_warnings(load, parse, caplog, "onnx", trained, 2)  # saved graph, then a new one
    monkeypatch.setattr(onnx_encoder, "INT8_MIN_COSINE", INT8_MIN_COSINE)
    with model_storage.read_from(classifier._resource) as directory:
        (directory / INT8_GRAPH_FILE).write_bytes(b"not an onnx graph")
    assert_loads_with_warnings(load, parse, caplog, "onnx-int8", trained, 1)  # quantized at load instead

    # Switched off, the tuned encoder stays in float and measures nothing.
    monkeypatch.setenv(BACKEND_VARIABLE, "auto")
    off = make_component(
        MultimodalFusionClassifier, model_storage, resource, execution_context, {**config, "int8_encoder": False}
    )
    off.train(data)
    assert off._encoder.backend == "onnx" and off._meta["encoder_int8"] is False
    assert off._meta["training"]["int8_validation_score"] is None
