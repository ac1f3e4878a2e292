"""Rasa input channels that carry photos and voice messages as attachment references.

- ``media_store``: uploaded files -> content-addressed files under a folder the
  AttachmentResolver reads (``var/media/uploads`` by default) -> ``{"type", "path"}`` references.
- ``webchat.WebChatInput``: socket.io web chat with a bundled page (photo upload, voice recording).
- ``slack.SlackMediaInput``: Slack events with files (file_share, file-only messages).
- ``rest.MediaRestInput``: the REST channel plus multipart uploads and inline ``data`` references.

Register them by module path in ``credentials.yml`` (see docs/channels.md).
"""
