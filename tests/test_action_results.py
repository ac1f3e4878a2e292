"""The action server's replies are checked exactly as Rasa checks them (same acceptance, same error
message), with the schema compiled once instead of re-checked on every reply."""

from typing import Any, Dict, Optional

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from components.channels import action_results

RASA_VALIDATE = RemoteAction._validate_action_result
REPLIES = [
    {"events": [{"event": "slot", "name": "order_number", "value": "12345"}], "responses": [{"response": "utter_greet"}]},
    {"events": [], "responses": []},
    {"events": [{"event": "followup", "name": "action_listen"}, {"event": "pause"}]},
    {"events": [{"event": "slot", "name": 5}]},
    {"events": "not a list"},
    {"responses": ["not an object"]},
    {"events": [{"event": "no_such_event"}]},
    "not an object",
]


def outcome(validate: Any, reply: Any) -> Optional[str]:
    try:
        assert validate(RemoteAction("action_check_order", None), reply) is True
        return None
    except ValidationError as error:
        return error.message


@pytest.mark.parametrize("reply", REPLIES)
def test_replies_are_judged_as_rasa_judges_them(reply: Dict[str, Any]) -> None:
    expected = outcome(RASA_VALIDATE, reply)
    action_results.install()
    assert RemoteAction._validate_action_result is not RASA_VALIDATE
    assert outcome(RemoteAction._validate_action_result, reply) == expected


def test_some_replies_are_refused_with_rasas_explanation() -> None:
    action_results.install()
    message = outcome(RemoteAction._validate_action_result, {"events": "not a list"})
    assert message is not None and "Failed to validate Action server response from API" in message
