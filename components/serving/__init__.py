"""Pieces for serving the assistant from several ``rasa run`` replicas (see deploy/README.md)."""
