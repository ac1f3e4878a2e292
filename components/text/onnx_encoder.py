"""Runs a sentence-transformers model's transformer with ONNX Runtime: the same vectors, ~3x faster.

The transformer is exported to ONNX in memory when the encoder loads (no file cache that could go
stale) and pooled in numpy exactly as sentence-transformers pools it (mean over the attention
mask, then its Normalize module when the model has one). Which backend runs is a choice of the
process, not a property of a trained model, because both give the same vectors within a tolerance
checked at every load: the environment variable named by ``BACKEND_VARIABLE`` decides, read at
each load so one process can load the same model both ways (the benchmark does).

bf16 is not offered: even on a CPU with AVX512-BF16 torch in bf16 was 2.8-3.9x slower than this
float32 path for one sentence (``bench/encoder_precision.py``, ``bench/reports/encoder_precision.json``).

``OnnxSentenceModel.int8_copy`` gives the same transformer with int8 weights (ONNX Runtime's
dynamic quantization). Its vectors are not torch's within the parity tolerance (cosine ~0.99), so
nothing here switches it on: only a caller that checks its own accuracy with it may (the fusion
classifier does, on its hold-out, for the encoder copy it fine-tunes). That caller saves the int8
graph it scored with its weights, and ``load_int8`` serves it again without re-quantizing.
"""

import io
import logging
import os
import warnings
from typing import TYPE_CHECKING, Dict, Optional, Sequence

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

BACKEND_VARIABLE = "MM_TEXT_ENCODER_BACKEND"
AUTO, ONNX, TORCH = "auto", "onnx", "torch"
BACKENDS = (AUTO, ONNX, TORCH)
DEFAULT_BACKEND = AUTO
# Lowest cosine between torch's and ONNX Runtime's sentence vectors on PARITY_PROBES that lets
# ONNX Runtime serve (measured on all-MiniLM-L6-v2: 1 - cosine is about 1e-7).
PARITY_MIN_COSINE = 0.9999
PARITY_PROBES = (
    "",
    "hi",
    "I want to cancel my card because it was stolen yesterday",
    "Wie lange dauert eine Überweisung? 我的包裹在哪里 " * 3,
    "refund " * 300,  # longer than any model's window: exercises truncation
)
ONNX_OPSET = 17
# Lowest cosine between the int8 copy's and the float copy's vectors on PARITY_PROBES for the
# int8 copy to be offered at all: a guard against a quantizer that breaks the graph, not an
# accuracy check. Measured on a Banking77-tuned MiniLM: lowest 0.979 over 1,003 validation
# sentences, median 0.994.
INT8_MIN_COSINE = 0.95


class EncoderBackendError(RuntimeError):
    """The backend setting is invalid, or ONNX Runtime was required and cannot be used."""


def requested_backend() -> str:
    """The backend this process asks for, read now (not at import) so a test or bench may change it."""
    value = os.environ.get(BACKEND_VARIABLE, DEFAULT_BACKEND).strip().lower() or DEFAULT_BACKEND
    if value not in BACKENDS:
        raise EncoderBackendError(
            f"{BACKEND_VARIABLE}={os.environ.get(BACKEND_VARIABLE)!r} is not a text encoder "
            f"backend; use one of {', '.join(BACKENDS)} (default {DEFAULT_BACKEND})."
        )
    return value


def unsupported_reason(model: "SentenceTransformer") -> Optional[str]:
    """Why this model cannot run on ONNX Runtime here (None: it can).

    Only the module chain reproduced in numpy is accepted: a text Transformer giving
    last_hidden_state, mean Pooling, and optionally Normalize.
    """
    modules = list(model)
    names = [type(module).__name__ for module in modules]
    if len(modules) not in (2, 3) or names[:2] != ["Transformer", "Pooling"] or names[2:] not in ([], ["Normalize"]):
        return f"its modules are {names}, not Transformer + Pooling (+ Normalize)"
    transformer, pooling = modules[0], modules[1]
    outputs = {
        name: params.get("method_output_name")
        for name, params in (getattr(transformer, "modality_config", None) or {"text": {}}).items()
    }
    if set(outputs) != {"text"} or outputs["text"] not in (None, "last_hidden_state"):
        return f"its Transformer is configured as {outputs}, not text -> last_hidden_state"
    config = pooling.get_config_dict()
    mode = config.get("pooling_mode")
    if mode is None:  # older sentence-transformers: one flag per mode
        flags = [key for key, on in config.items() if key.startswith("pooling_mode_") and on]
        mode = "mean" if flags == ["pooling_mode_mean_tokens"] else ",".join(flags)
    if mode != "mean":
        return f"its Pooling mode is {mode!r}, not 'mean'"
    if _transformer_network(model) is None:
        return "its Transformer module holds no torch network"
    return None


def _transformer_network(model: "SentenceTransformer"):
    transformer = list(model)[0]
    return getattr(transformer, "auto_model", None) or getattr(transformer, "model", None)


def tokenize(model: "SentenceTransformer", texts: Sequence[str]) -> Dict[str, np.ndarray]:
    """The model's own preprocessing (the one ``encode`` uses), as int64 arrays."""
    prepare = getattr(model, "preprocess", None) or model.tokenize
    features = prepare(list(texts))
    return {key: features[key].numpy().astype(np.int64) for key in ("input_ids", "attention_mask")}


def mean_pool(tokens: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling: masked sum over the count, the count clamped at 1e-9."""
    mask = attention_mask.astype(tokens.dtype)[:, :, None]
    return (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """torch.nn.functional.normalize: x / max(||x||, 1e-12), row by row."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _hidden_states_module(network):
    """The transformer called with keyword arguments (positional ones fail to export)."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids, attention_mask):
            return self.network(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return HiddenStates()


class OnnxSentenceModel:
    """The exported transformer in an ONNX Runtime session, plus the model's pooling in numpy."""

    def __init__(
        self, model: "SentenceTransformer", num_threads: int, graph: Optional[bytes] = None, keep_graph: bool = False
    ) -> None:
        import onnxruntime as ort

        graph = graph if graph is not None else _export(model)
        # The graph's bytes stay only when asked: a float graph (~90 MB for MiniLM) for
        # ``int8_copy``, which drops it; an int8 one (~23 MB) for its owner to save.
        self.graph: Optional[bytes] = graph if keep_graph else None
        self.num_threads = max(1, int(num_threads))
        self.normalizes = len(list(model)) == 3  # the Normalize module (unsupported_reason checked)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # ORT's threads spin between runs by default; on shared cores that made one sentence
        # ~20x slower under load (see components/threads.py), so they wait passively.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def token_embeddings(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """(batch, pieces, dimension) hidden states, as the torch Transformer module gives them."""
        feeds = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
        return self.session.run(["token_embeddings"], feeds)[0]

    def sentence_embeddings(self, tokens: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Pooling (+ Normalize) of given hidden states, as the torch modules compute them."""
        pooled = mean_pool(tokens, attention_mask)
        return l2_normalize(pooled) if self.normalizes else pooled

    def encode(self, model: "SentenceTransformer", texts: Sequence[str]) -> np.ndarray:
        """Sentence vectors of texts tokenized by the model's own preprocessing (one batch)."""
        features = tokenize(model, texts)
        tokens = self.token_embeddings(features["input_ids"], features["attention_mask"])
        return self.sentence_embeddings(tokens, features["attention_mask"]).astype(np.float32)

    def int8_copy(
        self, model: "SentenceTransformer", label: str, keep_graph: bool = False
    ) -> Optional["OnnxSentenceModel"]:
        """The same transformer with int8 weights, or None (with a warning) if its vectors stray.
        Needs the graph kept at construction (``keep_graph``) and releases it; the copy keeps its
        own int8 graph with ``keep_graph``, so that it can be saved and loaded with ``load_int8``.

        Weights per output channel, signed (``quantize_dynamic``'s QInt8, per_channel); activations
        are quantized per run. On a Banking77-tuned MiniLM this kept every validation answer
        (924 of 1,003 right, as in float) and took the parse from 15.3 to 11.7 ms (p50, 2 cores);
        unsigned weights (924, 12.4 ms) and reduce_range (925, 12.9 ms) were slower.
        """
        graph, self.graph = self.graph, None
        if graph is None:
            raise ValueError("int8_copy needs the float graph: build the OnnxSentenceModel with keep_graph=True")
        try:
            copy = OnnxSentenceModel(model, self.num_threads, graph=quantize_int8(graph), keep_graph=keep_graph)
            vectors, reference = copy.encode(model, PARITY_PROBES), self.encode(model, PARITY_PROBES)
        except Exception as e:  # noqa: BLE001 - any quantizer/runtime failure: keep the float copy
            logger.warning("Text encoder %s stays in float: int8 quantization failed (%s: %s).", label, type(e).__name__, e)
            return None
        cosine = lowest_cosine(vectors, reference)
        if not _passes_int8_guard(label, cosine, "stays in float: its int8 vectors differ too much"):
            return None
        logger.info("Text encoder %s has an int8 copy (lowest cosine to float %.4f).", label, cosine)
        return copy


def load_int8(
    model: "SentenceTransformer", label: str, graph: bytes, num_threads: Optional[int] = None
) -> Optional[OnnxSentenceModel]:
    """A saved int8 graph (``int8_copy``'s, kept with the model's weights) in a session, or None.

    Loading it skips the export and the quantization, most of a fine-tuned model's load time
    (measured: docs/design-notes.md). None where the backend setting asks for torch, or (with a
    warning) where the graph does not run or its vectors are not near the model's own (lowest
    cosine to torch below ``INT8_MIN_COSINE``: a graph that does not belong to these weights);
    the caller then builds the copy from the weights. An ONNX graph is data, not code.
    """
    if requested_backend() == TORCH:
        return None
    try:
        copy = OnnxSentenceModel(model, _thread_count(num_threads), graph=graph)
        cosine = parity(model, copy)
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file: rebuild from the weights
        logger.warning("Text encoder %s rebuilds its int8 copy: the saved graph does not run (%s: %s).", label, type(e).__name__, e)
        return None
    if not _passes_int8_guard(label, cosine, "rebuilds its int8 copy: the saved graph does not match its weights"):
        return None
    logger.info("Text encoder %s: saved int8 graph loaded (lowest cosine to torch %.4f).", label, cosine)
    return copy


def _passes_int8_guard(label: str, cosine: float, refusal: str) -> bool:
    """``INT8_MIN_COSINE``'s check; a refusal is logged as a warning that says what was refused."""
    if cosine >= INT8_MIN_COSINE:
        return True
    logger.warning("Text encoder %s %s (lowest cosine %.4f < %s).", label, refusal, cosine, INT8_MIN_COSINE)
    return False


def _thread_count(num_threads: Optional[int]) -> int:
    """The given count, or torch's thread count in force (``components.threads`` sets it)."""
    if num_threads is not None:
        return num_threads
    import torch

    return torch.get_num_threads()


def quantize_int8(graph: bytes) -> bytes:
    """ONNX Runtime's dynamic quantization of a float graph: int8 weights per output channel."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = os.path.join(folder, "int8.onnx")
        # The quantizer warns on the root logger that the graph was not pre-processed; only that
        # hint is dropped (a filter on root sees only records logged on root itself).
        root = logging.getLogger()
        root.addFilter(_drop_preprocessing_hint)
        try:
            quantize_dynamic(onnx.load_from_string(graph), target, per_channel=True, weight_type=QuantType.QInt8)
        finally:
            root.removeFilter(_drop_preprocessing_hint)
        with open(target, "rb") as handle:
            return handle.read()


def _drop_preprocessing_hint(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def _export(model: "SentenceTransformer") -> bytes:
    """The model's transformer as ONNX bytes, with dynamic batch and sequence axes."""
    import torch

    network = _transformer_network(model)
    was_training = network.training
    network.eval()
    sample = tokenize(model, ["an example sentence for tracing", "hi"])
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _hidden_states_module(network),
                (torch.from_numpy(sample["input_ids"]), torch.from_numpy(sample["attention_mask"])),
                buffer,
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["token_embeddings"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "token_embeddings": {0: "batch", 1: "sequence"},
                },
                opset_version=ONNX_OPSET,
            )
    finally:
        network.train(was_training)
    return buffer.getvalue()


def parity(model: "SentenceTransformer", onnx_model: OnnxSentenceModel, probes: Sequence[str] = PARITY_PROBES) -> float:
    """Lowest cosine between torch's and ONNX Runtime's sentence vectors on the probe sentences."""
    import torch

    network = _transformer_network(model)
    was_training = network.training
    model.eval()
    try:
        with torch.inference_mode():
            features = model.preprocess(list(probes)) if hasattr(model, "preprocess") else model.tokenize(list(probes))
            reference = model.forward(features)["sentence_embedding"].numpy()
    finally:
        network.train(was_training)
    return lowest_cosine(reference, onnx_model.encode(model, probes))


def lowest_cosine(first: np.ndarray, second: np.ndarray) -> float:
    """The lowest cosine between matching rows of two sets of vectors."""
    return float((l2_normalize(first) * l2_normalize(second)).sum(axis=1).min())


def accelerate(
    model: "SentenceTransformer", label: str, num_threads: Optional[int] = None, keep_graph: bool = False
) -> Optional[OnnxSentenceModel]:
    """ONNX Runtime for this model per ``BACKEND_VARIABLE``, or None where torch should run.

    ``auto`` falls back to torch with one warning saying why; ``onnx`` raises
    ``EncoderBackendError`` instead; ``torch`` never tries. ``num_threads`` defaults to torch's
    thread count in force (``components.threads`` sets it). ``keep_graph``: for ``int8_copy``.
    """
    backend = requested_backend()
    if backend == TORCH:
        logger.info("Text encoder %s runs on torch (%s=%s).", label, BACKEND_VARIABLE, backend)
        return None
    num_threads = _thread_count(num_threads)
    reason = unsupported_reason(model)
    onnx_model: Optional[OnnxSentenceModel] = None
    if reason is None:
        try:
            onnx_model = OnnxSentenceModel(model, num_threads, keep_graph=keep_graph)
            cosine = parity(model, onnx_model)
        except Exception as e:  # noqa: BLE001 - any export/runtime failure means: use torch
            reason = f"the ONNX export or ONNX Runtime failed ({type(e).__name__}: {e})"
        else:
            if cosine >= PARITY_MIN_COSINE:
                logger.info(
                    "Text encoder %s runs on ONNX Runtime (%d threads); parity with torch: "
                    "lowest cosine %.7f on %d probe sentences.",
                    label, num_threads, cosine, len(PARITY_PROBES),
                )
                return onnx_model
            reason = f"its ONNX Runtime vectors differ from torch's (lowest cosine {cosine:.6f} < {PARITY_MIN_COSINE})"
    if backend == ONNX:
        raise EncoderBackendError(
            f"{BACKEND_VARIABLE}={ONNX} but the text encoder {label} cannot run on ONNX Runtime: "
            f"{reason}. Set {BACKEND_VARIABLE}={AUTO} or {TORCH} to run it on torch."
        )
    logger.warning("Text encoder %s runs on torch, not ONNX Runtime: %s.", label, reason)
    return None

