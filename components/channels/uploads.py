"""HTTP upload handling shared by the web chat and REST channels (Sanic 21.12, as pinned by Rasa).

Upload routes are registered with ``stream=True`` so the body is read here in chunks and the
request is cut off with 413 as soon as it passes the store's size cap (a client cannot make the
server buffer Sanic's 100 MB default). Multipart parsing is Sanic's own.
"""

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.headers import parse_content_header
from sanic.request import File, Request, RequestParameters, parse_multipart_form
from sanic.response import HTTPResponse

from components.channels import refusals
from components.channels.media_store import MediaStore, clean_display_name, http_status_for
from components.media import errors
from components.media.errors import AttachmentError
from components.text.language import ENGLISH

logger = logging.getLogger(__name__)

# Room for multipart headers and text fields on top of the largest file.
FORM_OVERHEAD_BYTES = 64 * 1024


class UploadError(Exception):
    """A request that cannot be accepted; carries the HTTP status and the JSON body to send.
    ``message`` is English; ``messages`` has it in each language it is written in, so a client
    that knows its customer's language (the web chat page) shows theirs."""

    def __init__(
        self, status: int, code: str, message: str, messages: Optional[Dict[str, str]] = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.messages: Dict[str, str] = dict(messages or {ENGLISH: message})

    @classmethod
    def refusal(cls, code: str, **fields: object) -> "UploadError":
        """The channel refusal ``code`` (``components.channels.refusals``) as an error to send."""
        status, messages = refusals.refusal_texts(code, **fields)
        return cls(status, code, messages[ENGLISH], messages)

    @classmethod
    def bad_request(cls, detail: str) -> "UploadError":
        """400 ``bad_request`` with ``detail`` for the client's developer."""
        return cls.refusal(refusals.BAD_REQUEST, detail=detail)

    @classmethod
    def from_attachment_error(cls, error: AttachmentError) -> "UploadError":
        """413 / 415 / 400 with the media package's customer-facing message."""
        return cls(http_status_for(error), error.code, error.message, error.messages)

    def naming(self, name: str) -> "UploadError":
        """The same refusal with the file's name in front of every message ("a.pdf: ...")."""
        return UploadError(self.status, self.code, f"{name}: {self.message}",
                           {language: f"{name}: {text}" for language, text in self.messages.items()})

    def as_body(self) -> Dict[str, Any]:
        """``{"code", "message", "messages"}``: what a client is told (HTTP body, socket event)."""
        return {"code": self.code, "message": self.message, "messages": dict(self.messages)}

    def in_language(self, language: Optional[str]) -> str:
        """The message in ``language`` when it is written in it, else English."""
        return errors.message_in(self.as_body(), language) or self.message

    def as_response(self) -> HTTPResponse:
        """``{"error": {"code", "message", "messages"}}`` with the status."""
        return response.json({"error": self.as_body()}, status=self.status)


def too_large(store: MediaStore) -> UploadError:
    """The 413 error for a request body over the cap."""
    error = errors.make_error(
        errors.TOO_LARGE, "upload", None, limit=errors.human_size(store.max_upload_bytes)
    )
    return UploadError.from_attachment_error(error)


async def read_body(request: Request, limit: int) -> bytes:
    """The body of a ``stream=True`` route, refusing (PayloadTooLarge) anything over ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise PayloadTooLarge("request body too large")
    if request.stream is None:  # a route without stream=True: Sanic has read it already
        body = request.body or b""
        if len(body) > limit:
            raise PayloadTooLarge("request body too large")
        return body
    chunks: List[bytes] = []
    received = 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            break
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge("request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_multipart(
    request: Request, store: MediaStore
) -> Tuple[RequestParameters, RequestParameters]:
    """(fields, files) of a multipart/form-data request, size-capped; raises UploadError."""
    content_type, parameters = parse_content_header(request.headers.get("content-type", ""))
    if content_type != "multipart/form-data" or not parameters.get("boundary"):
        raise UploadError.bad_request(
            "Send the file as multipart/form-data (a form with a 'file' field)."
        )
    try:
        body = await read_body(request, store.max_upload_bytes + FORM_OVERHEAD_BYTES)
    except PayloadTooLarge:
        raise too_large(store) from None
    try:
        return parse_multipart_form(body, parameters["boundary"].encode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UploadError.bad_request("The upload form could not be read.") from exc


async def store_files(
    store: MediaStore,
    files: List[File],
    declared_kind: Optional[str] = None,
    charge: Optional[Callable[[int], Awaitable[None]]] = None,
) -> List[Dict[str, str]]:
    """Saves each uploaded file (checks run in a worker thread); raises UploadError on the first
    refused file, naming it, so nothing half-accepted reaches the assistant. ``charge(size)``
    (the uploader's quota) is called before each file is stored and may refuse it."""
    references: List[Dict[str, str]] = []
    for upload in files:
        if charge is not None:
            await charge(len(upload.body or b""))
        try:
            reference = await asyncio.to_thread(
                store.save, upload.body, declared_kind, _claimed_mime(upload.type), upload.name
            )
        except AttachmentError as error:
            refused = UploadError.from_attachment_error(error)
            # The sender's name is hostile: shown only as its short, printable base name.
            name = clean_display_name(upload.name)
            raise (refused.naming(name) if name else refused) from None
        references.append(reference)
    return references


def _claimed_mime(content_type: Optional[str]) -> Optional[str]:
    """The part's Content-Type as a claim; Sanic fills in text/plain when a part has none."""
    if not content_type or content_type.startswith(("text/plain", "application/octet-stream")):
        return None
    return content_type


def parse_json_field(value: Optional[str], field: str) -> Dict[str, Any]:
    """A form field holding a JSON object (e.g. ``metadata``); raises UploadError if it is not one."""
    if value is None or value == "":
        return {}
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise UploadError.bad_request(f"The '{field}' field must be a JSON object.") from exc
    if not isinstance(parsed, dict):
        raise UploadError.bad_request(f"The '{field}' field must be a JSON object.")
    return parsed


def sweep_interval_s(store: MediaStore) -> float:
    """How often the retention sweep runs: a quarter of the retention, between 1 min and 1 h."""
    return min(max(store.retention_s / 4, 60.0), 3600.0)


def install_retention(blueprint: Blueprint, store: MediaStore) -> None:
    """Runs ``store.sweep`` when the server starts (before it serves) and then every
    ``sweep_interval_s``, each time in a worker thread so the event loop never waits on the disk."""
    tasks: List["asyncio.Task[None]"] = []

    async def sweep_forever() -> None:
        while True:
            await asyncio.sleep(sweep_interval_s(store))
            try:
                await asyncio.to_thread(store.sweep)
            except Exception:  # a disk problem must not end the sweeps
                logger.exception("Media store retention sweep failed.")

    async def start(_app: Any, _loop: Any = None) -> None:
        try:
            await asyncio.to_thread(store.sweep)
        except Exception:
            logger.exception("Media store retention sweep failed.")
        tasks.append(asyncio.ensure_future(sweep_forever()))

    async def stop(_app: Any, _loop: Any = None) -> None:
        for task in tasks:
            task.cancel()
        tasks.clear()

    blueprint.listener("before_server_start")(start)
    blueprint.listener("before_server_stop")(stop)


__all__ = [
    "FORM_OVERHEAD_BYTES",
    "UploadError",
    "install_retention",
    "parse_json_field",
    "read_body",
    "read_multipart",
    "store_files",
    "too_large",
]
