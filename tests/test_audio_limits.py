"""One set of voice message limits: the transcriber and the speech featurizer share the defaults,
and their byte cap is the resolver's, so a file the resolver accepts is never refused for size."""

import pytest
from rasa.shared.exceptions import InvalidConfigException

from components.attachment_resolver import AttachmentResolver
from components.audio.limits import AudioLimits
from components.media.policy import MediaPolicy
from components.speech_featurizer import SpeechFeaturizer
from components.speech_transcriber import SpeechTranscriber

SPEECH_COMPONENTS = (SpeechTranscriber, SpeechFeaturizer)


@pytest.mark.parametrize("component", SPEECH_COMPONENTS, ids=lambda c: c.__name__)
def test_default_byte_cap_is_the_resolvers(component):
    resolver = AttachmentResolver.get_default_config()
    cap = component.get_default_config()["max_bytes"]
    assert cap == MediaPolicy.from_config(resolver).max_audio_bytes == resolver["max_audio_bytes"]


@pytest.mark.parametrize("component", SPEECH_COMPONENTS, ids=lambda c: c.__name__)
def test_components_default_to_the_one_limits_object(component):
    defaults = component.get_default_config()
    assert AudioLimits.from_config(defaults) == AudioLimits()
    assert {k: defaults[k] for k in AudioLimits().as_config()} == AudioLimits().as_config()


def test_limits_are_validated_and_frozen():
    for bad in ({"max_duration_s": 0}, {"min_duration_s": 90}, {"max_bytes": 0}, {"silence_threshold_db": 3}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AudioLimits.from_config(bad)
    assert AudioLimits.from_config({"max_duration_s": None, "other": 1}) == AudioLimits()
    with pytest.raises(AttributeError):
        AudioLimits().max_bytes = 1  # type: ignore[misc]


def test_a_bad_limit_is_a_config_error_naming_the_key():
    with pytest.raises(InvalidConfigException, match="max_duration_s"):
        SpeechTranscriber.validate_config({**SpeechTranscriber.get_default_config(), "max_duration_s": -1})
    with pytest.raises(InvalidConfigException, match="min_duration_s"):
        SpeechFeaturizer.validate_config({**SpeechFeaturizer.get_default_config(), "min_duration_s": 61})
