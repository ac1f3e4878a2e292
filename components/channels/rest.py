"""REST channel with media: Rasa's RestInput, plus file uploads, blob-free metadata, sender
authentication and limits on what a client may send.

Register it in credentials.yml in place of ``rest:`` (same URL, same JSON API)::

    components.channels.rest.MediaRestInput:
      media_folder: var/media/uploads   # must be an AttachmentResolver upload root
      # sender_token_secret: "${REST_SENDER_SECRET}"   # require a signed sender (see below)
      # jwt_key: ...  jwt_method: HS256                # or a JWT whose "sub" is the sender
                                                       # (and "customer_id" the signed-in customer)
      # max_text_chars: 5000
      # upload_max_files: 30  upload_max_bytes: 100000000  upload_window_s: 3600
      # upload_retention_hours: 24

``POST /webhooks/rest/webhook`` accepts
- JSON ``{"sender", "message", "metadata": {"attachments": [{"type", "path"|"url"|"data"}]}}``
  (exactly as RestInput). References with inline ``data`` (base64 / data: URI), and ``data:``
  URIs typed in the message text, are decoded, checked and saved to the media store here and
  replaced by a ``path`` reference, so no blob ever reaches the tracker store;
- ``multipart/form-data`` with fields ``sender``, ``message`` (optional), ``metadata`` (optional
  JSON object) and one or more ``file`` parts: every file is checked and stored, and the message
  carries their references.
Metadata is reduced to ``attachments`` entries with known keys and a ``language`` hint naming a
supported language (``components.channels.inbound``, ``components.channels.language_hint``);
``input_channel`` is always ``rest`` (a client cannot claim another channel).

Who may speak as a sender (``components.channels.senders``): ids in another channel's namespace
(``webchat-``, ``slack-``) are refused (403), so a REST client cannot continue a web chat or Slack
conversation. With ``sender_token_secret`` or ``jwt_key`` set, every request needs
``Authorization: Bearer <token>`` for its sender (401 otherwise); without them the endpoint is
open: anyone who can reach it can speak as any REST sender id. A JWT may also carry the shop's
``customer_id`` for a customer the integrator has signed in: it reaches the actions as
``components.constants.VERIFIED_CUSTOMER``, so that customer's own orders need no email or
postcode check; nothing else sets that key (a client's own metadata never does). Uploads count
against a quota per authenticated sender, or per client address when unauthenticated
(``components.channels.quotas``).

A refused request answers 4xx with ``{"error": {"code", "message"}}`` (``413`` too large or text
too long, ``415`` type, ``429`` upload quota, ``401``/``403`` sender, ``400`` malformed); nothing
is sent to the assistant then. The reply is the usual list of bot messages (``?stream=true`` too).
"""

import asyncio
import copy
import dataclasses
import json
import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple, Union

import structlog
import rasa.core.channels.channel
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import File, Request
from sanic.response import HTTPResponse, ResponseStream

from components.channels import action_results, nlu_offload, refusals, senders
from components.channels.inbound import TextLimit, clean_client_metadata, split_data_uris
from components.channels.media_store import MediaStore
from components.channels.quotas import UploadQuota
from components.channels.uploads import (
    FORM_OVERHEAD_BYTES,
    UploadError,
    install_retention,
    parse_json_field,
    read_body,
    read_multipart,
    store_files,
    too_large,
)
from components.constants import ATTACHMENTS, VERIFIED_CUSTOMER
from components.media.datauri import as_data_uri, decode_data_uri
from components.media.errors import AttachmentError

logger = logging.getLogger(__name__)
structlogger = structlog.get_logger()

# A JSON body may carry base64 media: allow for base64's 4/3 growth on top of the file cap.
_JSON_SIZE_FACTOR = 1.4


@dataclasses.dataclass
class ParsedRequest:
    """One webhook request as read, before anything is stored."""

    sender: Optional[Text]
    text: Text
    metadata: Dict[str, Any]
    files: List[File]
    declared_kind: Optional[str] = None


class MediaRestInput(RestInput):
    """RestInput that also takes uploads, stores inline media as references, caps what a client
    sends and can require a signed sender."""

    @classmethod
    def name(cls) -> Text:
        """Same name (and URL, /webhooks/rest/) as Rasa's REST channel: existing clients work."""
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """``media_folder``, the store's limit keys, ``upload_retention_hours``, the quota keys,
        ``max_text_chars``, ``sender_token_secret``, ``jwt_key`` / ``jwt_method``."""
        credentials = credentials or {}
        return cls(
            MediaStore.from_config(credentials),
            quota=UploadQuota.from_config(credentials),
            text_limit=TextLimit.from_config(credentials),
            sender_token_secret=credentials.get("sender_token_secret") or None,
            jwt_key=credentials.get("jwt_key") or None,
            jwt_method=credentials.get("jwt_method") or "HS256",
        )

    def __init__(
        self,
        media_store: Optional[MediaStore] = None,
        quota: Optional[UploadQuota] = None,
        text_limit: Optional[TextLimit] = None,
        sender_token_secret: Optional[str] = None,
        jwt_key: Optional[str] = None,
        jwt_method: str = "HS256",
    ) -> None:
        """The media store uploads go to, the upload quota, the text cap and how senders are
        authenticated (neither secret: open endpoint)."""
        self.media_store = media_store or MediaStore()
        self.quota = quota or UploadQuota.from_config({})
        self.text_limit = text_limit or TextLimit()
        self.sender_token_secret = sender_token_secret
        self.jwt_key = jwt_key
        self.jwt_method = jwt_method

    @property
    def authenticates_senders(self) -> bool:
        """True when every request must carry a token for its sender."""
        return bool(self.sender_token_secret or self.jwt_key)

    # ------------------------------------------------------------------ senders
    def authenticated_sender(self, request: Request, claimed: Optional[Text]) -> Optional[Text]:
        """The sender this request may speak as; raises 401/403/400 UploadError."""
        if claimed is not None and (not claimed or len(claimed) > senders.MAX_SENDER_CHARS or not claimed.isprintable()):
            raise UploadError.bad_request(
                f"'sender' must be 1 to {senders.MAX_SENDER_CHARS} printable characters."
            )
        if claimed is not None and senders.is_reserved(claimed):
            raise UploadError.refusal(refusals.SENDER_RESERVED)
        if not self.authenticates_senders:
            return claimed
        header = request.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UploadError.refusal(refusals.SENDER_UNAUTHORIZED)
        if self.jwt_key:
            subject = self._request_claims(request).get("sender")
            if subject is not None and (claimed is None or claimed == subject) and not senders.is_reserved(subject):
                return subject
        if self.sender_token_secret and claimed is not None:
            if senders.verify_sender_token(self.sender_token_secret, claimed, token):
                return claimed
        raise UploadError.refusal(refusals.SENDER_UNAUTHORIZED)

    def verified_customer(self, request: Request) -> Optional[str]:
        """The ``customer_id`` claim of the request's valid JWT (None without one); a malformed
        claim (``senders.claimed_customer``) is the integrator's bug: 400."""
        if not self.jwt_key:
            return None
        try:
            return senders.claimed_customer(self._request_claims(request))
        except ValueError as e:
            raise UploadError.bad_request(str(e)) from e

    def _request_claims(self, request: Request) -> Dict[str, Any]:
        """The claims of the request's bearer JWT (``_jwt_claims``), decoded once per request:
        the sender check and the customer mapping both read them."""
        claims = getattr(request.ctx, "mm_jwt_claims", None)
        if claims is None:
            _, _, token = (request.headers.get("authorization") or "").partition(" ")
            claims = request.ctx.mm_jwt_claims = self._jwt_claims(token.strip())
        return claims

    def _jwt_claims(self, token: str) -> Dict[str, Any]:
        """A valid JWT's sender (its ``sub``, or ``sender``, claim, as a string) and its
        ``customer_id`` claim as given; {} for any bad token."""
        try:
            payload = rasa.core.channels.channel.decode_bearer_token(
                f"Bearer {token}", self.jwt_key, self.jwt_method
            )
        except Exception:  # malformed, expired, wrong key
            return {}
        payload = payload if isinstance(payload, dict) else {}
        claims: Dict[str, Any] = {}
        subject = payload.get("sub") or payload.get("sender")
        if subject:
            claims["sender"] = str(subject)
        if VERIFIED_CUSTOMER in payload:
            claims[VERIFIED_CUSTOMER] = payload[VERIFIED_CUSTOMER]
        return claims

    def quota_key(self, request: Request, sender: Optional[Text]) -> str:
        """Whose upload quota a request uses: the authenticated sender, else the client address."""
        if self.authenticates_senders and sender:
            return f"sender:{sender}"
        return f"address:{request.remote_addr or request.ip}"

    # ------------------------------------------------------------------ media
    async def store_inline_data(self, metadata: Dict[str, Any], charge: Callable[[int], Awaitable[None]]) -> Dict[str, Any]:
        """A copy of metadata whose ``data`` attachment references are stored and replaced by
        ``path`` references; other references pass unchanged. Raises UploadError."""
        raw = metadata.get(ATTACHMENTS)
        if raw is None:
            return metadata
        entries = raw if isinstance(raw, list) else [raw]
        converted: List[Any] = []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("data"), str):
                converted.append(await self._store_data_entry(entry, charge))
            elif isinstance(entry, str) and entry.strip().lower().startswith("data:"):
                converted.append(await self._store_data_entry({"data": entry}, charge))
            else:
                converted.append(entry)
        return {**metadata, ATTACHMENTS: converted}

    async def _store_data_entry(self, entry: Dict[str, Any], charge: Callable[[int], Awaitable[None]]) -> Dict[str, str]:
        """Decodes one ``data`` reference and saves it (in a worker thread); raises UploadError."""
        await charge(len(entry["data"]) * 3 // 4)
        return await asyncio.to_thread(self._save_data_entry, entry)

    def _save_data_entry(self, entry: Dict[str, Any]) -> Dict[str, str]:
        kind = entry.get("type") if isinstance(entry.get("type"), str) else None
        mime = entry.get("mime") if isinstance(entry.get("mime"), str) else None
        location = as_data_uri(entry["data"], mime)  # bare base64, as the resolver also accepts
        try:
            data, uri_mime = decode_data_uri(location, self.media_store.policy, "data", kind)
            return self.media_store.save(data, kind, mime or uri_mime, entry.get("name"))
        except AttachmentError as error:
            raise UploadError.from_attachment_error(error) from None

    # ------------------------------------------------------------------ parsing
    async def _parse_request(self, request: Request) -> ParsedRequest:
        """The sender, text, metadata and file parts of a JSON or multipart request (nothing
        stored yet). Like RestInput, a missing sender becomes Rasa's default sender."""
        content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if content_type == "multipart/form-data":
            return await self._parse_form(request)
        return await self._parse_json(request)

    async def _parse_form(self, request: Request) -> ParsedRequest:
        """A multipart form: fields sender, message, metadata, type and ``file`` parts."""
        fields, files = await read_multipart(request, self.media_store)
        metadata = parse_json_field(fields.get("metadata"), "metadata")
        return ParsedRequest(
            fields.get("sender"),
            fields.get("message") or "",
            metadata,
            list(files.getlist("file") or []),
            fields.get("type") or None,
        )

    async def _parse_json(self, request: Request) -> ParsedRequest:
        """RestInput's JSON body, size-capped while reading."""
        limit = int(self.media_store.max_upload_bytes * _JSON_SIZE_FACTOR) + FORM_OVERHEAD_BYTES
        try:
            body = await read_body(request, limit)
        except Exception as exc:  # PayloadTooLarge
            raise too_large(self.media_store) from exc
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            # RecursionError: nesting deeper than Python's parser goes (a 400, not a crash)
            raise UploadError.bad_request("The request body must be JSON or a multipart form.") from exc
        if not isinstance(payload, dict):
            raise UploadError.bad_request("The request body must be a JSON object.")
        metadata = payload.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise UploadError.bad_request("'metadata' must be a JSON object.")
        text = payload.get("message")
        if text is not None and not isinstance(text, str):
            raise UploadError.bad_request("'message' must be a string.")
        sender = payload.get("sender")
        if sender is not None and not isinstance(sender, (str, int)) or isinstance(sender, bool):
            raise UploadError.bad_request("'sender' must be a string.")
        return ParsedRequest(None if sender is None else str(sender), text or "", metadata, [])

    async def accept(self, request: Request) -> Tuple[Optional[Text], Text, Dict[str, Any]]:
        """(sender, text, metadata) to hand to Rasa: sender checked, text capped, metadata
        allow-listed, inline media and files stored under the uploader's quota."""
        if self.authenticates_senders and not request.headers.get("authorization"):
            raise UploadError.refusal(refusals.SENDER_UNAUTHORIZED)  # before reading the body
        parsed = await self._parse_request(request)
        sender = self.authenticated_sender(request, parsed.sender)
        customer = self.verified_customer(request)
        text, text_uris = split_data_uris(parsed.text, self.media_store.policy)
        self.text_limit.check(text)
        metadata = clean_client_metadata(parsed.metadata, self.media_store.policy.max_attachments)
        entries = list(metadata.get(ATTACHMENTS) or []) + text_uris
        key = self.quota_key(request, sender)
        uploads = len(parsed.files) + sum(1 for e in entries if _is_inline_data(e))
        if uploads:
            await self.quota.admitted(key, uploads)

        async def charge(size: int) -> None:
            await self.quota.charged(key, size)

        stored = await self.store_inline_data({ATTACHMENTS: entries}, charge) if entries else {}
        metadata = {**{k: v for k, v in metadata.items() if k != ATTACHMENTS}, **stored}
        references = await store_files(self.media_store, parsed.files, parsed.declared_kind, charge)
        if references:
            metadata[ATTACHMENTS] = list(metadata.get(ATTACHMENTS) or []) + references
        if customer is not None:
            metadata[VERIFIED_CUSTOMER] = customer
        return sender, text, metadata

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        """RestInput's routes; /webhook also reads multipart forms, with a size cap while reading."""
        nlu_offload.install()  # this channel's messages are parsed off the event loop
        action_results.install()  # action replies checked by a schema compiled once
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        install_retention(webhook, self.media_store)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> Union[ResponseStream, HTTPResponse]:
            try:
                sender_id, text, metadata = await self.accept(request)
            except UploadError as error:
                logger.info("REST message refused: %s", error)
                return error.as_response()
            input_channel = self.name()
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


def _is_inline_data(entry: Any) -> bool:
    """True for an attachment entry that carries its bytes (stored here, so it uses the quota)."""
    if isinstance(entry, str):
        return entry.strip().lower().startswith("data:")
    return isinstance(entry, dict) and isinstance(entry.get("data"), str)
