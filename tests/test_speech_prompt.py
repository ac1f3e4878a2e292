"""The Whisper prompt built from an assistant's training examples."""

from pathlib import Path

from components.audio.prompt import MAX_PROMPT_TOKENS, main, prompt_from_examples, whisper_token_counter


def words(text: str) -> int:
    return len(text.split())


def test_shortest_example_per_intent_shortest_first_within_the_budget():
    examples = [
        ("where is my parcel right now", "order_status"),
        ("where is my order", "order_status"),
        ("y", "affirm"),  # too short to teach a word
        ("yes please do", "affirm"),
        ("my lamp arrived smashed to pieces", "damaged_item"),
    ]
    assert prompt_from_examples(examples, words, max_tokens=100) == (
        "yes please do. where is my order. my lamp arrived smashed to pieces."
    )
    assert prompt_from_examples(examples, words, max_tokens=7) == "yes please do. where is my order."


def test_whisper_tokenizer_counts_and_the_cli_prints_a_prompt_for_the_shop(capsys):
    count = whisper_token_counter()
    assert 0 < count("Where is my refund?") < 10
    assert main([str(Path(__file__).resolve().parents[1] / "data" / "nlu.yml")]) == 0
    prompt = capsys.readouterr().out.strip()
    assert "my order is late." in prompt and count(prompt) <= MAX_PROMPT_TOKENS
