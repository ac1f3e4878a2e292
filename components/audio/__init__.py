"""Audio for the speech components: limits, decoding to 16 kHz mono, ASR backends, cache, prosody.

``limits`` (``AudioLimits``) holds what a voice message must be; ``loading`` is the one place bytes
become samples (``decode_message_audio`` for a whole message); ``asr`` (``get_backend``) the one
place recognisers are loaded, ``speechbrain_models`` the one way a local speechbrain folder is
opened; ``prosody`` describes how something was said; ``wer`` scores recognisers for benchmarks.
"""
