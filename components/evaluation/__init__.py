"""Training and evaluating Rasa NLU pipelines on labelled data (used by the eval command and bench/)."""
