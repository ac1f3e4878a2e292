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

Clients may only refer to files they uploaded: attachment references in a message are kept only
when they point into the media store, so a browser cannot make the bot read other server files.
"""

import functools
import inspect
import json
import logging
import os
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

import rasa.core.channels.channel
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from components.channels import nlu_offload
from components.channels.media_store import MediaStore
from components.channels.uploads import UploadError, read_multipart, store_files
from components.constants import ATTACHMENTS

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

# Session ids a client may ask for (the page stores the server's uuid4 hex); anything else gets a new one.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class WebChatInput(SocketIOInput):
    """socket.io channel that also serves the chat page and accepts photo / voice uploads."""

    @classmethod
    def name(cls) -> Text:
        """URL prefix /webhooks/webchat and the tracker's input_channel."""
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """SocketIOInput's keys, plus ``media_folder``, the store's limit keys and ``title``.

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
    ) -> None:
        """SocketIOInput plus the media store uploads go to and the page title."""
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

    def clean_metadata(self, metadata: Any) -> Dict[str, Any]:
        """The message metadata with attachments reduced to references into the media store."""
        if not isinstance(metadata, dict):
            return {}
        cleaned = dict(metadata)
        raw = cleaned.pop(ATTACHMENTS, None)
        if raw is None:
            return cleaned
        entries = raw if isinstance(raw, list) else [raw]
        kept: List[Dict[str, str]] = []
        for entry in entries:
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

    def _authorised(self, request: Request) -> bool:
        """Uploads need the same JWT as the socket when ``jwt_key`` is set."""
        if not self.jwt_key:
            return True
        header = request.headers.get("authorization", "")
        if not header:
            return False
        try:
            return bool(
                rasa.core.channels.channel.decode_bearer_token(
                    header, self.jwt_key, self.jwt_algorithm
                )
            )
        except Exception:  # any malformed or expired token
            return False

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The socket.io server (SocketIOInput's events) plus the page, static files and uploads.

        SocketIOInput's own blueprint answers ``GET /`` with a JSON health check, where this
        channel serves its page; it is built only for the socket.io server it sets up
        (``self.sio``, with the socket event handlers) and never registered. The routes go on
        a SocketBlueprint of this channel's own, which attaches that same server to the app.
        """
        nlu_offload.install()  # this channel's messages are parsed off the event loop
        super().blueprint(self._keep_uploads_only(on_new_message))
        assert self.sio is not None
        self._handle_session_requests()
        webhook = SocketBlueprint(self.sio, self.socketio_path, "webchat_webhook", __name__)
        webhook.add_route(_handler(self.page), "/", methods=["GET"])
        webhook.add_route(_handler(self.health), "/health", methods=["GET"])
        webhook.add_route(_handler(self.static_file), "/static/<name>", methods=["GET"])
        webhook.add_route(_handler(self.upload), "/upload", methods=["POST"], stream=True)
        return webhook

    def _keep_uploads_only(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Callable[[UserMessage], Awaitable[None]]:
        """``on_new_message`` for messages whose attachments are reduced to media-store
        references (``clean_metadata``); a message left with neither text nor media is dropped."""

        async def handle(message: UserMessage) -> None:
            message.metadata = self.clean_metadata(message.metadata)
            if not (message.text or "").strip() and not message.metadata.get(ATTACHMENTS):
                logger.debug("Web chat: ignored an empty message from %s.", message.sender_id)
                return
            await on_new_message(message)

        return handle

    def _handle_session_requests(self) -> None:
        """Replaces SocketIOInput's ``session_request`` handler: in python-socketio >= 5.10
        ``enter_room`` is a coroutine that Rasa 3.6 does not await, so the socket never joined
        the session's room and replies sent to the session were lost."""
        sio = self.sio
        assert sio is not None

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                entered = sio.enter_room(sid, session_id, namespace=self.namespace)
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
        """POST /upload: one checked file into the media store -> 201 with its reference."""
        if not self._authorised(request):
            return UploadError(401, "unauthorized", "Sign in again to send files.").as_response()
        try:
            fields, files = await read_multipart(request, self.media_store)
            uploads = files.getlist("file") or []
            if len(uploads) != 1:
                raise UploadError(400, "bad_request", "Send exactly one file in the 'file' field.")
            declared = fields.get("type") or None
            (reference,) = await store_files(self.media_store, uploads, declared)
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
