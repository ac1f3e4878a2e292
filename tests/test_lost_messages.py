"""No message is lost: one with nothing to understand still gets a reply and is stored.

Before the fix, a message with no text and no usable media (an empty REST message, a voice clip
refused as silent, a text that was only a refused reference) left the fusion classifier without
an intent; Rasa's FallbackClassifier raised ``KeyError: 'intent'``, REST answered ``[]`` and no
user event was stored. Against the real assistant (`rasa run` + action server).
"""

import base64
import uuid
from typing import Any, Callable, Dict, List

import pytest
import requests

from tests.conftest import reply_text
from tests.speech_utils import silence_wav

Say = Callable[..., List[Dict[str, Any]]]
ASK_TO_TYPE = "Could you type your message"


def _sender(name: str) -> str:
    return f"lost-{name}-{uuid.uuid4().hex[:8]}"


def _user_texts(rasa_server: str, sender: str) -> List[str]:
    tracker = requests.get(f"{rasa_server}/conversations/{sender}/tracker", timeout=30).json()
    return [e.get("text") for e in tracker["events"] if e["event"] == "user"]


def _the_conversation_goes_on(say: Say, sender: str) -> None:
    assert "virtual assistant" in reply_text(say(sender, "hello"))


@pytest.mark.parametrize("text", ["", "   "], ids=["empty", "blank"])
def test_an_empty_message_gets_a_prompt_to_type_and_is_stored(
    say: Say, rasa_server: str, text: str
) -> None:
    sender = _sender("empty")
    replies = say(sender, text)
    assert ASK_TO_TYPE in reply_text(replies), replies
    assert _user_texts(rasa_server, sender) == [text.strip()]  # the channel strips blanks
    _the_conversation_goes_on(say, sender)


def test_a_silent_voice_message_is_explained_and_stored(say: Say, rasa_server: str) -> None:
    sender = _sender("silent")
    data = "data:audio/wav;base64," + base64.b64encode(silence_wav(2.0)).decode()
    replies = say(sender, "", {"attachments": [{"type": "audio", "data": data}]})
    text = reply_text(replies)
    assert "Your voice message is silent" in text, replies
    assert "Traceback" not in text and "Error" not in text
    assert len(_user_texts(rasa_server, sender)) == 1
    _the_conversation_goes_on(say, sender)


def test_a_message_that_was_only_a_refused_reference_is_explained_and_stored(
    say: Say, rasa_server: str
) -> None:
    sender = _sender("refused")
    replies = say(sender, "data/media/images/no_such_photo.png")
    text = reply_text(replies)
    assert "I couldn't find the photo you sent" in text, replies
    assert len(_user_texts(rasa_server, sender)) == 1
    _the_conversation_goes_on(say, sender)
