"""Attachment handling shared by every component and channel.

An attachment is a reference in message metadata (``{"attachments": [{"type", "url"|"path"|
"data", "name", "mime"}]}``) or typed inline in the text; ``resolve.resolve_message_media`` turns
the references of one message into checked ``Attachment`` objects plus customer-facing errors.

Modules, leaves first: ``mime`` (kinds and MIME names), ``errors`` (the error catalogue),
``policy`` (limits), ``attachment`` (data types), ``sniff`` (the bytes decide the type; image and
audio verification), ``local`` (media roots), ``datauri``, ``fetch`` (http(s) with SSRF guards),
``inline`` (references typed in text), ``resolve`` (references -> attachments).

This package imports nothing itself: ``import components.media.errors`` costs only the
catalogue, not the fetcher or the image and audio decoders. Import from the modules.
"""
