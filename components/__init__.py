"""Multimodal customer-service components for Rasa Open Source 3.6.

Reference them in a pipeline by module path, e.g. ``components.sentence_featurizer.SentenceEmbeddingFeaturizer``.
"""

# Before any component imports torch: OpenMP threads wait passively (see components/threads.py).
from components import threads as _threads  # noqa: E402,F401
