"""Names shared by the plugin's components, channels and actions.

One place for the keys that travel on a Rasa ``Message`` and in the parse output, so a component,
a channel and an action never disagree on a spelling.
"""

# Message metadata key under which channels put attachment references (never blobs).
ATTACHMENTS = "attachments"

# Message metadata key the Slack channel sets: the Slack file URLs (url_private / _download) of
# the event's own files. Only URL references listed here get the Slack bot token; a Slack URL a
# REST or web chat customer supplies gets none. No other channel may pass this key through from
# a client's metadata.
SLACK_FILE_URLS = "slack_file_urls"

# The keys of one attachment reference wherever it travels: channels send {"type", "path" | "url",
# "mime", "name"} under ATTACHMENTS, the resolver reports {"type", "sha256", "source", "mime"} under
# MEDIA_REFERENCES, and the actions keep exactly these keys as return and ticket evidence. An
# inline "data" blob is never one of them.
REFERENCE_KEYS = ("type", "path", "url", "name", "mime", "sha256", "source")

# Message metadata key: the language the customer speaks ("zh" / "en"), as far as the channel
# knows it: the conversation's language slot, else the client's page language. Only a hint: the
# SpeechTranscriber uses it to pick among its configured models (`language_models`), so a voice
# message is heard by the model for its language. Channels keep it only when it names a supported
# language (components.text.language.supported_language).
LANGUAGE_HINT = "language"

# Message metadata key: the shop's customer id, set only by a channel that authenticated the
# customer (the REST channel, from a ``customer_id`` claim of the integrator's JWT). The actions
# disclose that customer's own orders without asking for the email or postcode, so channels drop
# a client-sent value (only ``attachments`` and ``language`` survive from client metadata).
VERIFIED_CUSTOMER = "customer_id"
# The longest customer id a channel accepts (the orders table's column is 64 characters).
MAX_CUSTOMER_ID_CHARS = 64

# Internal Message key (not in the parse output): resolved media, a list of ``components.media.attachment.Attachment``.
MEDIA = "media"

# Internal Message key (not in the parse output): the message's audio decoded to 16 kHz mono, a list of
# ``components.audio.loading.DecodedAudio`` set by SpeechTranscriber so SpeechFeaturizer decodes nothing twice.
DECODED_AUDIO = "decoded_audio"

# Parse-output keys (set with ``add_to_output=True``).
ATTACHMENT_ERRORS = "attachment_errors"  # [{"source", "code", "message"}]
MEDIA_REFERENCES = "media_references"  # [{"type", "sha256", "source", "mime"}] what was understood
IMAGE_TAGS = "image_tags"  # [{"sha256", "source", "tags": [{"label", "score"}]}] one entry per image
IMAGE_TEXT = "image_text"  # OCR text read from images (screenshots, receipts)
TRANSCRIPT = "transcript"  # {"text", "language", "confidence", "duration"}
SENTIMENT = "sentiment"  # {"label", "confidence", "scores"}
EXPLANATION = "explanation"  # {"modality_weights": {...}}
# True when the AttachmentResolver cut the text to its ``max_text_chars`` (absent otherwise), so
# the dialogue can tell the customer only the beginning was read.
TEXT_TRUNCATED = "text_truncated"

# Sentiment labels, in the order the classifier's head uses them.
SENTIMENT_LABELS = ("negative", "neutral", "positive")

# Default feature origins (the ``alias`` of each featurizer in config.yml).
TEXT_FEATURES = "sentence_embedding"
IMAGE_FEATURES = "image_features"
SPEECH_FEATURES = "speech_features"

# Message metadata key a channel sets to False when its customers may send only files they
# uploaded (the web chat): the AttachmentResolver must then not resolve paths, URLs or data: URIs
# typed in the text. Absent (or True): inline references are read as usual. Channels drop a
# client-sent value, so only the channel decides.
INLINE_REFERENCES = "inline_references"
