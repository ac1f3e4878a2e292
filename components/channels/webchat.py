"""Browser web chat: Rasa's socket.io channel plus a bundled, accessible chat page with photo
upload and voice recording.

Register it in credentials.yml by module path::

    components.channels.webchat.WebChatInput:
      session_persistence: true
      media_folder: var/media/uploads   # must be an AttachmentResolver upload root

Routes (prefix ``/webhooks/webchat``): ``GET /`` the chat page, ``GET /static/<file>`` its
script, style and the socket.io client (served locally, no CDN), ``POST /upload`` (multipart,
field ``file``, optional ``type`` image|audio) -> ``201 {"attachment": {"type", "path", ...}}``
or ``4xx {"error": {"code", "message"}}``, ``GET /health`` (SocketIOInput's JSON health check,
moved off ``/``). The socket.io server itself is SocketIOInput's (``socketio_path``, default
``/socket.io``). A message with media is the usual ``user_uttered`` event with
``metadata: {"attachments": [reference]}``.

Sessions are server-issued (``components.channels.senders.SessionSigner``): ``session_request``
always confirms an id this server signed (the client's own id only when it carries a valid
signature and ``session_persistence`` is on), a message is taken only with the session its socket
was confirmed, and ``POST /upload`` needs the same id in the ``X-Session-Id`` header (403
otherwise). Refusals reach the page as a ``webchat_error`` event ``{"code", "message"}``
(``components.channels.refusals``). Rasa's ``jwt_key`` still gates the socket and the uploads; the
socket JWT's ``customer_id`` claim (a shop customer the embedding site signed in) goes with each of
its messages as ``VERIFIED_CUSTOMER``, as in the REST channel, and that customer's sessions are
signed for them (``SessionSigner``'s ``owner``).

Clients may only refer to files they uploaded: attachment references in a message are kept only
when they point into the media store, the page language is kept when it names a supported
language (``language_hint``), other metadata keys are dropped, ``data:`` URIs typed in
the text are stored as uploads, and every message is marked ``inline_references: false``
(``components.constants.INLINE_REFERENCES``) so paths or URLs typed in the text are not read.
Texts over ``max_text_chars`` and uploads past the session's quota (``upload_max_files`` /
``upload_max_bytes`` per ``upload_window_s``) are refused; uploads expire after
``upload_retention_hours``.
"""

import asyncio
import functools
import inspect
import json
import logging
import os
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

import rasa.core.channels.channel
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from components.channels import action_results, nlu_offload, refusals, socket_manager
from components.channels.inbound import TextLimit, split_data_uris
from components.channels.language_hint import client_language
from components.channels.media_store import MediaStore
from components.channels.quotas import UploadQuota
from components.channels.senders import SessionSigner, claimed_customer
from components.channels.uploads import UploadError, install_retention, read_multipart, store_files
from components.constants import ATTACHMENTS, INLINE_REFERENCES, LANGUAGE_HINT, VERIFIED_CUSTOMER
from components.media.datauri import decode_data_uri
from components.media.errors import AttachmentError

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

# The only files served from static/ (name -> content type): nothing else can be requested.
STATIC_FILES: Dict[str, str] = {
    "chat.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
    "socket.io.min.js": "text/javascript; charset=utf-8",
}

# The page runs only its own scripts; images may come from the bot's https URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self'"
)

DEFAULT_TITLE = "Customer service chat"

# Socket event carrying a refusal to the page: {"code", "message"}.
ERROR_EVENT = "webchat_error"

# Header an upload names its session in.
SESSION_HEADER = "X-Session-Id"

# The web chat channels whose socket servers run in this process, for the agent workspace
# (components.workspace) to reach a customer's open page.
_live_channels: List["WebChatInput"] = []


def live_channels() -> List["WebChatInput"]:
    """The web chat channels set up in this process (normally one)."""
    return list(_live_channels)


class WebChatInput(SocketIOInput):
    """socket.io channel that also serves the chat page and accepts photo / voice uploads."""

    @classmethod
    def name(cls) -> Text:
        """URL prefix /webhooks/webchat and the tracker's input_channel."""
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """SocketIOInput's keys, plus ``media_folder``, the store's limit keys, ``title``,
        ``session_secret``, ``max_text_chars``, the quota keys and ``upload_retention_hours``.

        ``session_persistence`` defaults to true here: the page keeps its session id in
        localStorage so a reload or reconnect continues the same conversation.
        """
        credentials = credentials or {}
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            session_persistence=credentials.get("session_persistence", True),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            jwt_key=credentials.get("jwt_key"),
            jwt_method=credentials.get("jwt_method", "HS256"),
            metadata_key=credentials.get("metadata_key", "metadata"),
            media_store=MediaStore.from_config(credentials),
            title=credentials.get("title", DEFAULT_TITLE),
            signer=SessionSigner.from_config(credentials),
            quota=UploadQuota.from_config(credentials),
            text_limit=TextLimit.from_config(credentials),
        )

    def __init__(
        self,
        user_message_evt: Text = "user_uttered",
        bot_message_evt: Text = "bot_uttered",
        namespace: Optional[Text] = None,
        session_persistence: bool = True,
        socketio_path: Optional[Text] = "/socket.io",
        jwt_key: Optional[Text] = None,
        jwt_method: Optional[Text] = "HS256",
        metadata_key: Optional[Text] = "metadata",
        media_store: Optional[MediaStore] = None,
        title: Text = DEFAULT_TITLE,
        signer: Optional[SessionSigner] = None,
        quota: Optional[UploadQuota] = None,
        text_limit: Optional[TextLimit] = None,
    ) -> None:
        """SocketIOInput plus the media store, page title, session signer, upload quota and
        text cap."""
        super().__init__(
            user_message_evt,
            bot_message_evt,
            namespace,
            session_persistence,
            socketio_path,
            jwt_key,
            jwt_method,
            metadata_key,
        )
        self.media_store = media_store or MediaStore()
        self.title = title
        self.signer = signer or SessionSigner.from_config({})
        self.quota = quota or UploadQuota.from_config({})
        self.text_limit = text_limit or TextLimit()
        # socket id -> the session it was confirmed (a message must come with exactly that one)
        self._socket_sessions: Dict[Text, Text] = {}
        # socket id -> the shop customer its connection JWT vouches for (``customer_id`` claim)
        self._socket_customers: Dict[Text, Text] = {}

    def clean_metadata(self, metadata: Any) -> Dict[str, Any]:
        """The metadata this channel passes on: attachments reduced to references into the media
        store, the page language when it is a supported one, nothing else from the client, and
        ``inline_references: false``."""
        cleaned: Dict[str, Any] = {INLINE_REFERENCES: False}
        language = client_language(metadata)
        if language:
            cleaned[LANGUAGE_HINT] = language
        raw = metadata.get(ATTACHMENTS) if isinstance(metadata, dict) else None
        if raw is None:
            return cleaned
        entries = raw if isinstance(raw, list) else [raw]
        kept: List[Dict[str, str]] = []
        for entry in entries[: self.media_store.policy.max_attachments + 1]:
            reference = self.media_store.stored_reference(entry)
            if reference is None:
                logger.warning(
                    "Web chat: dropped an attachment reference that is not an upload: %.200s",
                    json.dumps(entry, default=str),
                )
                continue
            kept.append(reference)
        if kept:
            cleaned[ATTACHMENTS] = kept
        return cleaned

    def _page_config(self, base: str) -> Dict[str, Any]:
        """What chat.js needs to know, embedded in the page as JSON."""
        return {
            "title": self.title,
            "socketPath": self.socketio_path,
            "namespace": self.namespace or "/",
            "userEvent": self.user_message_evt,
            "botEvent": self.bot_message_evt,
            "metadataKey": self.metadata_key,
            "sessionPersistence": bool(self.session_persistence),
            "uploadUrl": base + "upload",
            "maxImageBytes": self.media_store.policy.max_image_bytes,
            "maxAudioBytes": self.media_store.policy.max_audio_bytes,
            "authRequired": bool(self.jwt_key),
            "sessionHeader": SESSION_HEADER,
            "errorEvent": ERROR_EVENT,
        }

    def render_page(self, base: str) -> str:
        """index.html with its static URLs and config filled in."""
        with open(os.path.join(STATIC_DIR, "index.html"), encoding="utf-8") as handle:
            page = handle.read()
        # "</" cannot end the JSON script element early once escaped.
        config = json.dumps(self._page_config(base)).replace("</", "<\\/")
        return (
            page.replace("{{TITLE}}", _html_escape(self.title))
            .replace("{{STATIC}}", base + "static/")
            .replace("{{CONFIG_JSON}}", config)
        )

    def _token_customer(self, token: Any) -> Tuple[bool, Optional[str]]:
        """The socket's and the uploads' JWT check when ``jwt_key`` is set: (authorised, the shop
        customer its ``customer_id`` claim vouches for). A missing, malformed, expired or
        wrongly signed token, or a malformed claim (the embedding site's bug, logged), is refused."""
        if not self.jwt_key:
            return True, None
        if not isinstance(token, str) or not token:
            return False, None
        claims = rasa.core.channels.channel.decode_bearer_token(token, self.jwt_key, self.jwt_algorithm)
        if not isinstance(claims, dict):
            return False, None
        try:
            return True, claimed_customer(claims)
        except ValueError as e:
            logger.warning("Web chat: refused a JWT with a bad claim: %s", e)
            return False, None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The socket.io server (SocketIOInput's events) plus the page, static files and uploads.

        SocketIOInput's own blueprint answers ``GET /`` with a JSON health check, where this
        channel serves its page; it is built only for the socket.io server it sets up
        (``self.sio``, with the socket event handlers) and never registered. The routes go on
        a SocketBlueprint of this channel's own, which attaches that same server to the app.
        """
        nlu_offload.install()  # this channel's messages are parsed off the event loop
        action_results.install()  # action replies checked by a schema compiled once
        super().blueprint(on_new_message)
        assert self.sio is not None
        socket_manager.attach(self.sio)  # several replicas: emits reach any replica's sockets
        self._handle_connections()
        self._handle_session_requests()
        self._handle_user_messages(on_new_message)
        webhook = SocketBlueprint(self.sio, self.socketio_path, "webchat_webhook", __name__)
        install_retention(webhook, self.media_store)
        webhook.add_route(_handler(self.page), "/", methods=["GET"])
        webhook.add_route(_handler(self.health), "/health", methods=["GET"])
        webhook.add_route(_handler(self.static_file), "/static/<name>", methods=["GET"])
        webhook.add_route(_handler(self.upload), "/upload", methods=["POST"], stream=True)
        _live_channels.append(self)
        return webhook

    async def push_to_session(self, session_id: Text, text: Text) -> None:
        """A bot message sent to a session's open sockets outside a turn (an agent's reply)."""
        assert self.sio is not None, "the channel's blueprint was not built"
        await SocketIOOutput(self.sio, self.bot_message_evt).send_text_message(session_id, text)

    async def accept(self, text: Any, metadata: Any, session_id: Text) -> Tuple[Text, Dict[str, Any]]:
        """(text, metadata) to hand to Rasa: text capped, ``data:`` URIs in it stored as uploads
        of the session, metadata cleaned (``clean_metadata``). Raises UploadError."""
        text = text if isinstance(text, str) else ""
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except (ValueError, RecursionError):
                metadata = {}
        text, uris = split_data_uris(text, self.media_store.policy)
        self.text_limit.check(text)
        cleaned = await asyncio.to_thread(self.clean_metadata, metadata)  # may fetch shared media
        if uris:
            await self.quota.admitted(session_id, len(uris))
            stored = [await self._store_data_uri(uri, session_id) for uri in uris]
            cleaned[ATTACHMENTS] = list(cleaned.get(ATTACHMENTS) or []) + stored
        return text, cleaned

    async def _store_data_uri(self, uri: str, session_id: Text) -> Dict[str, str]:
        """One ``data:`` URI from the text saved as an upload of the session."""
        await self.quota.charged(session_id, len(uri) * 3 // 4)

        def save() -> Dict[str, str]:
            try:
                data, mime = decode_data_uri(uri, self.media_store.policy, "data")
                return self.media_store.save(data, None, mime)
            except AttachmentError as error:
                raise UploadError.from_attachment_error(error) from None

        return await asyncio.to_thread(save)

    async def _refuse(self, sid: Text, error: UploadError) -> None:
        """Tells the page why its message was not taken (``webchat_error``)."""
        assert self.sio is not None
        logger.info("Web chat message refused: %s", error)
        await self.sio.emit(
            ERROR_EVENT, error.as_body(), room=sid, namespace=self.namespace
        )

    def _handle_user_messages(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Replaces SocketIOInput's message handler: the sender is the session this socket was
        confirmed, never an id the client names; text and metadata go through ``accept``; a
        message left with neither text nor media is dropped."""
        sio = self.sio
        assert sio is not None

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = self._socket_sessions.get(sid)
            if session_id is None or data.get("session_id") != session_id:
                await self._refuse(sid, UploadError.refusal(refusals.INVALID_SESSION))
                return
            try:
                text, metadata = await self.accept(data.get("message"), data.get(self.metadata_key), session_id)
            except UploadError as error:
                await self._refuse(sid, error)
                return
            if not text.strip() and not metadata.get(ATTACHMENTS):
                logger.debug("Web chat: ignored an empty message from %s.", session_id)
                return
            customer = self._socket_customers.get(sid)
            if customer:  # from the connection's JWT only: accept() drops a client's own key
                metadata[VERIFIED_CUSTOMER] = customer
            output = SocketIOOutput(sio, self.bot_message_evt)
            await on_new_message(
                UserMessage(text, output, session_id, input_channel=self.name(), metadata=metadata)
            )

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: Text) -> None:
            self._socket_sessions.pop(sid, None)
            self._socket_customers.pop(sid, None)

    def _handle_connections(self) -> None:
        """Replaces SocketIOInput's ``connect`` handler: with ``jwt_key`` a socket needs a valid
        JWT (``auth: {token}``), as before; a ``customer_id`` claim in it (the embedding site
        signed that shop customer in) reaches the actions with each of the socket's messages as
        ``VERIFIED_CUSTOMER``, as the REST channel's does. A malformed claim refuses the socket."""
        sio = self.sio
        assert sio is not None

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict]) -> bool:
            authorised, customer = self._token_customer(auth.get("token") if isinstance(auth, dict) else None)
            if customer:
                self._socket_customers[sid] = customer
            return authorised

    def _handle_session_requests(self) -> None:
        """Replaces SocketIOInput's ``session_request`` handler: the confirmed id is always one
        this server signed (the client's, when valid and sessions persist; else a new one), and
        for a socket whose JWT vouches for a shop customer, signed for that customer.
        Also: in python-socketio >= 5.10 ``enter_room`` is a coroutine that Rasa 3.6 does not
        await, so the socket never joined the session's room and replies were lost."""
        sio = self.sio
        assert sio is not None

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data if isinstance(data, dict) else {}
            claimed = data.get("session_id")
            owner = self._socket_customers.get(sid)  # a signed-in customer's sessions are their own
            if self.session_persistence and self.signer.verify(claimed, owner):
                session_id = claimed
            else:
                if claimed:
                    logger.info("Web chat: refused a session id this server did not issue to this customer.")
                session_id = self.signer.issue(owner)
            previous = self._socket_sessions.get(sid)
            if previous and previous != session_id:
                left = sio.leave_room(sid, previous, namespace=self.namespace)
                if inspect.isawaitable(left):
                    await left
            self._socket_sessions[sid] = session_id
            entered = sio.enter_room(sid, session_id, namespace=self.namespace)  # replies go to the room
            if inspect.isawaitable(entered):
                await entered
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
            logger.debug("Web chat socket %s joined session %s.", sid, session_id)

    async def page(self, request: Request) -> HTTPResponse:
        """GET /: the chat page, allowed to run only its own scripts."""
        base = request.path.rstrip("/") + "/"
        return response.html(
            self.render_page(base),
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def health(self, _: Request) -> HTTPResponse:
        """GET /health (SocketIOInput's health check, moved off the page's URL)."""
        return response.json({"status": "ok"})

    async def static_file(self, _: Request, name: str) -> HTTPResponse:
        """GET /static/<name>: one of STATIC_FILES, nothing else."""
        content_type = STATIC_FILES.get(name)
        if content_type is None:
            return response.json({"error": {"code": "not_found", "message": "No such file."}}, 404)
        return await response.file(
            os.path.join(STATIC_DIR, name),
            mime_type=content_type,
            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    async def upload(self, request: Request) -> HTTPResponse:
        """POST /upload: one checked file of a signed session (``X-Session-Id``) into the media
        store, under the session's quota -> 201 with its reference."""
        authorised, owner = self._token_customer(request.headers.get("authorization"))
        if not authorised:
            return UploadError.refusal(refusals.UNAUTHORIZED).as_response()
        session_id = request.headers.get(SESSION_HEADER)
        if not self.signer.verify(session_id, owner):
            return UploadError.refusal(refusals.INVALID_SESSION).as_response()
        try:
            await self.quota.admitted(session_id)  # before reading the body
            fields, files = await read_multipart(request, self.media_store)
            uploads = files.getlist("file") or []
            if len(uploads) != 1:
                raise UploadError.bad_request("Send exactly one file in the 'file' field.")
            declared = fields.get("type") or None
            (reference,) = await store_files(
                self.media_store, uploads, declared, lambda size: self.quota.charged(session_id, size)
            )
        except UploadError as error:
            logger.info("Web chat upload refused: %s", error)
            return error.as_response()
        return response.json({"attachment": reference}, status=201)


def _handler(method: Callable[..., Awaitable[HTTPResponse]]) -> Callable[..., Awaitable[HTTPResponse]]:
    """A plain function calling the bound ``method``: Sanic writes attributes on route handlers,
    which bound methods cannot take."""

    @functools.wraps(method)
    async def handler(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        return await method(request, *args, **kwargs)

    return handler


def _html_escape(text: str) -> str:
    """Minimal HTML escaping for the title."""
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )
