"""The language hint that lets a voice message reach the recogniser for the customer's language:
kept from a client only when it names a supported language, and the conversation's own language
(the `language` slot the action server sets) wins over what the page says."""

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker

from components.channels.inbound import clean_client_metadata
from components.channels.language_hint import add_conversation_language
from components.text.language import supported_language


def test_only_supported_language_tags_survive_from_a_client() -> None:
    assert clean_client_metadata({"language": "zh-CN"}, 3) == {"language": "zh"}
    assert clean_client_metadata({"language": "en_US"}, 3) == {"language": "en"}
    for hostile in ("fr", "../../etc/passwd", "zh" * 5000, 7, None, ["zh"], {"zh": 1}, "zh-CN; DROP"):
        assert clean_client_metadata({"language": hostile}, 3) == {}, hostile
    assert supported_language("ZH") == "zh" and supported_language("") is None


def _tracker(language: object = None, said: str = "") -> DialogueStateTracker:
    slot = TextSlot("language", mappings=[{"type": "custom"}], initial_value="en")
    events = [UserUttered(said)] if said else []
    events += [SlotSet("language", language)] if language is not None else []
    return DialogueStateTracker.from_events("c", events, slots=[slot])


def test_the_conversation_language_wins_over_the_page_language() -> None:
    message = UserMessage("", metadata={"language": "en"})
    add_conversation_language(message, _tracker("zh"))
    assert message.metadata["language"] == "zh"

    message = UserMessage("", metadata={"language": "zh", "attachments": []})
    add_conversation_language(message, _tracker())
    # Nothing written yet: the slot's initial "en" says nothing about this customer, the page does.
    assert message.metadata == {"language": "zh", "attachments": []}

    message = UserMessage("", metadata={"language": "zh"})
    add_conversation_language(message, _tracker(said="where is my parcel"))
    assert message.metadata["language"] == "en"  # written in English: no slot change, still English

    message = UserMessage("")  # no metadata, no slot: no hint at all
    add_conversation_language(message, DialogueStateTracker.from_events("c", []))
    assert "language" not in (message.metadata or {})

    message = UserMessage("", metadata={"language": "klingon"})
    add_conversation_language(message, _tracker("also-bogus"))
    assert "language" not in message.metadata
