"""Training and evaluating Rasa NLU pipelines on labelled data: ``python -m components.evaluation``
(the bot builder's evaluation command) and the runner the benchmarks in bench/ share."""
