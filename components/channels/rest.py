"""REST channel with media: Rasa's RestInput, plus file uploads and blob-free metadata.

Register it in credentials.yml in place of ``rest:`` (same URL, same JSON API)::

    components.channels.rest.MediaRestInput:
      media_folder: var/media/uploads   # must be an AttachmentResolver upload root

``POST /webhooks/rest/webhook`` accepts
- JSON ``{"sender", "message", "metadata": {"attachments": [{"type", "path"|"url"|"data"}]}}``
  (exactly as RestInput). References with inline ``data`` (base64 / data: URI) are decoded,
  checked and saved to the media store here and replaced by a ``path`` reference, so no blob
  ever reaches the tracker store;
- ``multipart/form-data`` with fields ``sender``, ``message`` (optional), ``metadata`` (optional
  JSON object), ``input_channel`` (optional) and one or more ``file`` parts: every file is
  checked and stored, and the message carries their references.
A refused file answers ``413`` (too large) / ``415`` (type) / ``400`` with
``{"error": {"code", "message"}}``, the message written for the customer; nothing is sent to the
assistant then. The reply is the usual list of bot messages (``?stream=true`` works too).
"""

import asyncio
import copy
import json
import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple, Union

import structlog
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from components.channels import nlu_offload
from components.channels.media_store import MediaStore
from components.channels.uploads import (
    FORM_OVERHEAD_BYTES,
    UploadError,
    parse_json_field,
    read_body,
    read_multipart,
    store_files,
    too_large,
)
from components.constants import ATTACHMENTS
from components.media.datauri import as_data_uri, decode_data_uri
from components.media.errors import AttachmentError

logger = logging.getLogger(__name__)
structlogger = structlog.get_logger()

# A JSON body may carry base64 media: allow for base64's 4/3 growth on top of the file cap.
_JSON_SIZE_FACTOR = 1.4


class MediaRestInput(RestInput):
    """RestInput that also takes uploads and turns inline media into media-store references."""

    @classmethod
    def name(cls) -> Text:
        """Same name (and URL, /webhooks/rest/) as Rasa's REST channel: existing clients work."""
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """``media_folder`` and the store's limit keys (max_image_bytes, ...)."""
        return cls(MediaStore.from_config(credentials or {}))

    def __init__(self, media_store: Optional[MediaStore] = None) -> None:
        """The media store uploads and inline data are saved to."""
        self.media_store = media_store or MediaStore()

    async def store_inline_data(self, metadata: Dict[str, Any]) -> Dict[str, Any]:
        """A copy of metadata whose ``data`` attachment references are stored and replaced by
        ``path`` references; other references pass unchanged. Raises UploadError."""
        raw = metadata.get(ATTACHMENTS)
        if raw is None:
            return metadata
        entries = raw if isinstance(raw, list) else [raw]
        converted: List[Any] = []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("data"), str):
                converted.append(await asyncio.to_thread(self._store_data_entry, entry))
            elif isinstance(entry, str) and entry.strip().lower().startswith("data:"):
                converted.append(await asyncio.to_thread(self._store_data_entry, {"data": entry}))
            else:
                converted.append(entry)
        return {**metadata, ATTACHMENTS: converted}

    def _store_data_entry(self, entry: Dict[str, Any]) -> Dict[str, str]:
        """Decodes one ``data`` reference and saves it; raises UploadError."""
        kind = entry.get("type") if isinstance(entry.get("type"), str) else None
        mime = entry.get("mime") if isinstance(entry.get("mime"), str) else None
        location = as_data_uri(entry["data"], mime)  # bare base64, as the resolver also accepts
        try:
            data, uri_mime = decode_data_uri(location, self.media_store.policy, "data", kind)
            return self.media_store.save(data, kind, mime or uri_mime, entry.get("name"))
        except AttachmentError as error:
            raise UploadError.from_attachment_error(error) from None

    async def _parse_request(self, request: Request) -> Tuple[Optional[Text], Text, Text, Dict[str, Any]]:
        """(sender, text, input channel, metadata) of a JSON or multipart request.

        Like RestInput, a missing sender becomes Rasa's default sender and a missing message "".
        """
        content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if content_type == "multipart/form-data":
            return await self._parse_form(request)
        return await self._parse_json(request)

    async def _parse_form(self, request: Request) -> Tuple[Optional[Text], Text, Text, Dict[str, Any]]:
        """A multipart form: fields sender, message, metadata, input_channel and ``file`` parts,
        each stored, their references added after those in ``metadata``."""
        fields, files = await read_multipart(request, self.media_store)
        metadata = parse_json_field(fields.get("metadata"), "metadata")
        metadata = await self.store_inline_data(metadata)
        uploads = files.getlist("file") or []
        references = await store_files(self.media_store, uploads, fields.get("type") or None)
        if references:
            existing = metadata.get(ATTACHMENTS) or []
            if not isinstance(existing, list):
                existing = [existing]
            metadata[ATTACHMENTS] = existing + references
        channel = fields.get("input_channel") or self.name()
        return fields.get("sender"), fields.get("message") or "", channel, metadata

    async def _parse_json(self, request: Request) -> Tuple[Optional[Text], Text, Text, Dict[str, Any]]:
        """RestInput's JSON body, size-capped while reading, inline data stored."""
        limit = int(self.media_store.max_upload_bytes * _JSON_SIZE_FACTOR) + FORM_OVERHEAD_BYTES
        try:
            body = await read_body(request, limit)
        except Exception as exc:  # PayloadTooLarge
            raise too_large(self.media_store) from exc
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UploadError(400, "bad_request", "The request body must be JSON or a multipart form.") from exc
        if not isinstance(payload, dict):
            raise UploadError(400, "bad_request", "The request body must be a JSON object.")
        metadata = payload.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise UploadError(400, "bad_request", "'metadata' must be a JSON object.")
        metadata = await self.store_inline_data(metadata)
        text = payload.get("message")
        if text is not None and not isinstance(text, str):
            raise UploadError(400, "bad_request", "'message' must be a string.")
        sender = payload.get("sender")
        channel = payload.get("input_channel") or self.name()
        return None if sender is None else str(sender), text or "", channel, metadata

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        """RestInput's routes; /webhook also reads multipart forms, with a size cap while reading."""
        nlu_offload.install()  # this channel's messages are parsed off the event loop
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> Union[ResponseStream, HTTPResponse]:
            try:
                sender_id, text, input_channel, metadata = await self._parse_request(request)
            except UploadError as error:
                logger.info("REST message refused: %s", error)
                return error.as_response()
            if bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, text, sender_id, input_channel, metadata),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        text, collector, sender_id, input_channel=input_channel, metadata=metadata
                    )
                )
            except CancelledError:
                structlogger.error("rest.message.received.timeout", text=copy.deepcopy(text))
            except Exception:
                structlogger.exception("rest.message.received.failure", text=copy.deepcopy(text))
            return response.json(collector.messages)

        return webhook
