"""Multimodal customer-service components for Rasa Open Source 3.6.

Reference them in a pipeline by module path, e.g. ``components.sentence_featurizer.SentenceEmbeddingFeaturizer``.
"""
