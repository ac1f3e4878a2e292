"""rasa-sdk action server of the reference shop assistant (run: ``python -m rasa_sdk --actions actions``)."""
