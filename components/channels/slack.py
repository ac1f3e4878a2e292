"""Slack channel with photos and voice clips: Rasa's SlackInput, plus files.

Rasa's SlackInput drops messages without text (a photo sent alone) and passes no files. This
subclass accepts ``message`` events with files (subtype ``file_share``, empty text allowed) and
turns each image or audio file into an attachment reference. It keeps SlackInput's request
signature check (X-Slack-Signature v0 HMAC-SHA256 over ``v0:<timestamp>:<body>``, five-minute
replay window) and answers Slack at once: the files are fetched and the message handled in a
background task, so Slack's 3-second limit is met however long the assistant takes. Retries of
an event already seen (same ``event_id``) are acknowledged and not processed again.

Files (``download_files``):
- ``true`` (default): the channel downloads ``url_private_download`` with the bot token it
  already has, size-capped and time-limited, checks the file with the media store and sends a
  ``{"type", "path"}`` reference into the media store. Downloads stay off the NLU worker, the
  token is needed in one place only, the tracker keeps a reference that still works when Slack's
  URL does not, and the AttachmentResolver's SSRF guard stays on (it never fetches Slack URLs).
  The bot token is sent only to Slack file hosts (https) and to the host of ``slack_api_url``,
  and every redirect hop is checked against those hosts before it is requested: that host list,
  not an address check, is this downloader's SSRF defence. Answers are read with the media
  fetcher's rules (``components.media.fetch``: status mapping, Slack's sign-in page, redirects,
  size cap while streaming, ``MediaPolicy.max_redirects``).
- ``false``: the reference is ``{"type", "url": url_private, "mime", "name"}`` and the
  AttachmentResolver fetches it, sending its ``slack_bot_token`` (env SLACK_BOT_TOKEN) to
  https Slack hosts only.

A refused file (not a photo or voice clip, too large, damaged) is answered in Slack with the
media package's customer-facing message; the text of the message, if any, is still handled.
Downloaded files count against the Slack user's upload quota (``components.channels.quotas``, the
same keys and defaults as the other channels): past it, files are refused before they are
downloaded, with the quota's message.
A text over ``max_text_chars`` (default 5000) gets a polite reply naming the limit and is not
handled. Conversation ids are Slack's ids behind the ``slack-`` prefix
(``components.channels.senders``), a namespace the REST channel refuses, so nobody can continue a
Slack customer's conversation over REST by naming their Slack user id.

credentials.yml::

    components.channels.slack.SlackMediaInput:
      slack_token: "${SLACK_BOT_TOKEN}"
      slack_signing_secret: "${SLACK_SIGNING_SECRET}"
      # slack_api_url: https://slack.com/api/   (a test or proxy Slack API)
      # download_files: true
      # download_timeout_s: 15                   (one file's whole download)
      # media_folder: var/media/uploads          (an AttachmentResolver upload root)
      # max_text_chars: 5000
      # upload_retention_hours: 24
      # upload_max_files: 30, upload_max_bytes: 100000000, upload_window_s: 3600 (per Slack user)
"""

import asyncio
import collections
import json
import logging
import urllib.parse
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Text, Tuple, Union

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot, SlackInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.web.async_client import AsyncWebClient

from components.channels import action_results, nlu_offload
from components.channels.inbound import TextLimit
from components.channels.media_store import MediaStore
from components.channels.quotas import UploadQuota
from components.channels.senders import SLACK_PREFIX
from components.channels.uploads import UploadError, install_retention
from components.constants import ATTACHMENTS, SLACK_FILE_URLS
from components.media import errors
from components.media.errors import AttachmentError
from components.media.fetch import (
    CHUNK_BYTES,
    CappedBody,
    check_response,
    is_slack_file_host,
    redirect_target,
)
from components.media.mime import kind_of_mime
from components.media.sniff import unsupported_type
from components.text.language import detect_language

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"

# Message subtypes that are a person writing (with or without files); all others (edits,
# deletions, joins, bot messages) are not customer messages.
_USER_SUBTYPES = {None, "file_share", "thread_broadcast"}

# How many recent event ids are remembered to drop Slack's retries of handled events.
_SEEN_EVENTS = 2048


class SlackMediaBot(SlackBot):
    """SlackBot whose web client talks to ``base_url`` (Slack's API, or a test / proxy one)."""

    def __init__(
        self,
        token: Text,
        slack_channel: Optional[Text] = None,
        thread_id: Optional[Text] = None,
        proxy: Optional[Text] = None,
        base_url: Text = DEFAULT_API_URL,
    ) -> None:
        """As SlackBot, with the API base URL."""
        super().__init__(token, slack_channel, thread_id, proxy)
        self.client = AsyncWebClient(token=token, proxy=proxy, base_url=base_url)


class SlackMediaInput(SlackInput):
    """SlackInput that also handles files (photos, voice clips) and acknowledges at once."""

    @classmethod
    def name(cls) -> Text:
        """Same URL as Rasa's Slack channel (/webhooks/slack/webhook)."""
        return "slack"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """SlackInput's keys plus slack_api_url, download_files, download_timeout_s,
        media_folder, the media store's limit keys, upload_retention_hours, max_text_chars and the
        upload quota keys."""
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(
            credentials.get("slack_token"),
            credentials.get("slack_channel"),
            credentials.get("proxy"),
            credentials.get("slack_retry_reason_header", "x-slack-retry-reason"),
            credentials.get("slack_retry_number_header", "x-slack-retry-num"),
            credentials.get("errors_ignore_retry", None),
            credentials.get("use_threads", False),
            credentials.get("slack_signing_secret", ""),
            credentials.get("conversation_granularity", "sender"),
            slack_api_url=credentials.get("slack_api_url") or DEFAULT_API_URL,
            download_files=bool(credentials.get("download_files", True)),
            download_timeout_s=float(credentials.get("download_timeout_s", 15.0)),
            media_store=MediaStore.from_config(credentials),
            text_limit=TextLimit.from_config(credentials),
            quota=UploadQuota.from_config(credentials),
        )

    def __init__(
        self,
        slack_token: Text,
        slack_channel: Optional[Text] = None,
        proxy: Optional[Text] = None,
        slack_retry_reason_header: Optional[Text] = None,
        slack_retry_number_header: Optional[Text] = None,
        errors_ignore_retry: Optional[List[Text]] = None,
        use_threads: Optional[bool] = False,
        slack_signing_secret: Text = "",
        conversation_granularity: Optional[Text] = "sender",
        slack_api_url: Text = DEFAULT_API_URL,
        download_files: bool = True,
        download_timeout_s: float = 15.0,
        media_store: Optional[MediaStore] = None,
        text_limit: Optional[TextLimit] = None,
        quota: Optional[UploadQuota] = None,
    ) -> None:
        """SlackInput's settings plus where the Slack API is, how files are handled, the text cap
        and the upload quota of each Slack user."""
        super().__init__(
            slack_token,
            slack_channel,
            proxy,
            slack_retry_reason_header,
            slack_retry_number_header,
            errors_ignore_retry,
            use_threads,
            slack_signing_secret,
            conversation_granularity,
        )
        self.slack_api_url = slack_api_url if slack_api_url.endswith("/") else slack_api_url + "/"
        self._api_host = (urllib.parse.urlsplit(self.slack_api_url).hostname or "").lower()
        self.download_files = download_files
        self.download_timeout_s = download_timeout_s
        self.media_store = media_store or MediaStore()
        self.text_limit = text_limit or TextLimit()
        self.quota = quota or UploadQuota.from_config({})
        self._seen_events: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        self._tasks: Set[asyncio.Task] = set()

    # ------------------------------------------------------------------ output
    def get_output_channel(
        self, channel: Optional[Text] = None, thread_id: Optional[Text] = None
    ) -> OutputChannel:
        """A SlackMediaBot posting through ``slack_api_url``."""
        return SlackMediaBot(
            self.slack_token, channel or self.slack_channel, thread_id, self.proxy, self.slack_api_url
        )

    # ------------------------------------------------------------------ events
    def _get_conversation_id(
        self, sender_id: Optional[Text], channel_id: Optional[Text], thread_id: Optional[Text]
    ) -> Optional[Text]:
        """SlackInput's id (user, user_channel or user_channel_thread) behind ``slack-``."""
        conversation_id = super()._get_conversation_id(sender_id, channel_id, thread_id)
        return f"{SLACK_PREFIX}{conversation_id}" if conversation_id else conversation_id

    @staticmethod
    def is_customer_message(event: Dict[str, Any]) -> bool:
        """A person's message (text and/or files), not a bot's, an edit or a join notice."""
        if event.get("type") not in ("message", "app_mention"):
            return False
        if event.get("bot_id") or event.get("subtype") not in _USER_SUBTYPES:
            return False
        return bool((event.get("text") or "").strip() or event.get("files"))

    def _first_time(self, event_id: Optional[str]) -> bool:
        """False for an event id handled already (a Slack retry); remembers it otherwise."""
        if not event_id:
            return True
        if event_id in self._seen_events:
            return False
        self._seen_events[event_id] = None
        while len(self._seen_events) > _SEEN_EVENTS:
            self._seen_events.popitem(last=False)
        return True

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        """Runs the handling after the HTTP answer; a reference keeps the task alive."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _token_allowed(self, url: str) -> bool:
        """The bot token goes to Slack file hosts (https) and the configured API host only."""
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and is_slack_file_host(host):
            return True
        return bool(host) and host == self._api_host and parts.scheme in ("http", "https")

    # ------------------------------------------------------------------ files
    def url_reference(self, file: Dict[str, Any]) -> Dict[str, str]:
        """The url reference for ``download_files: false`` (the resolver fetches it)."""
        kind = self._file_kind(file)
        url = file.get("url_private_download") or file.get("url_private")
        if not isinstance(url, str) or not url:
            raise errors.make_error(errors.NOT_FOUND, str(file.get("name") or file.get("id")), kind)
        reference = {"type": kind, "url": url}
        if isinstance(file.get("mimetype"), str):
            reference["mime"] = file["mimetype"]
        if isinstance(file.get("name"), str):
            reference["name"] = file["name"]
        return reference

    def _file_kind(self, file: Dict[str, Any]) -> str:
        """'image' / 'audio' from Slack's mimetype; anything else is refused before download."""
        source = str(file.get("name") or file.get("id") or "file")
        kind = kind_of_mime(file.get("mimetype"))
        if kind is None:
            raise unsupported_type(self.media_store.policy, source, None)
        return kind

    async def _file_info(self, file: Dict[str, Any]) -> Dict[str, Any]:
        """The full file object when the event carries only a stub (Slack Connect:
        ``file_access: check_file_info``), via files.info."""
        if file.get("file_access") != "check_file_info":
            return file
        client = AsyncWebClient(token=self.slack_token, proxy=self.proxy, base_url=self.slack_api_url)
        result = await client.files_info(file=file["id"])
        return dict(result.get("file") or file)

    async def download(self, url: str, limit: int, source: str, kind: str) -> bytes:
        """GET a Slack file with the bot token: each redirect hop's host checked before the token
        goes to it, the answer read by the media fetcher's rules, size-capped while streaming."""
        timeout = aiohttp.ClientTimeout(total=self.download_timeout_s)
        current = url
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
            for _hop in range(self.media_store.policy.max_redirects + 1):
                if not self._token_allowed(current):
                    logger.warning("Slack file URL on an unexpected host refused: %s", current)
                    raise errors.make_error(errors.UNREACHABLE, source, kind)
                headers = {"Authorization": f"Bearer {self.slack_token}"}
                async with session.get(
                    current, headers=headers, allow_redirects=False, proxy=self.proxy
                ) as reply:
                    location = reply.headers.get("Location")
                    target = redirect_target(current, reply.status, location, source, kind)
                    if target is not None:
                        current = target
                        continue
                    content_type = reply.headers.get("Content-Type")
                    check_response(reply.status, content_type, source, kind, from_slack=True)
                    body = CappedBody(limit, source, kind, reply.content_length)
                    async for chunk in reply.content.iter_chunked(CHUNK_BYTES):
                        body.add(chunk)
                    return body.value()
        raise errors.make_error(errors.UNREACHABLE, source, kind)  # too many redirects

    async def file_reference(self, file: Dict[str, Any], uploader: str) -> Dict[str, str]:
        """One Slack file object -> attachment reference; raises AttachmentError, or UploadError
        when ``uploader`` (the quota key) may store no more."""
        source = str(file.get("name") or file.get("id") or "file")
        if file.get("mode") in ("tombstone", "hidden_by_limit"):
            raise errors.make_error(errors.NOT_FOUND, source, kind_of_mime(file.get("mimetype")))
        file = await self._file_info(file)
        kind = self._file_kind(file)
        if not self.download_files:
            return self.url_reference(file)
        limit = self.media_store.policy.max_bytes(kind)
        size = file.get("size")
        if isinstance(size, int) and size > limit:
            raise errors.make_error(errors.TOO_LARGE, source, kind, limit=errors.human_size(limit))
        url = file.get("url_private_download") or file.get("url_private")
        if not isinstance(url, str) or not url:
            raise errors.make_error(errors.NOT_FOUND, source, kind)
        await self.quota.admitted(uploader)  # before the download: a refused file costs no bandwidth
        try:
            data = await self.download(url, limit, source, kind)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise errors.make_error(errors.UNREACHABLE, source, kind) from exc
        await self.quota.charged(uploader, len(data))
        return await asyncio.to_thread(
            self.media_store.save, data, kind, file.get("mimetype"), file.get("name")
        )

    async def collect_files(
        self, files: List[Dict[str, Any]], uploader: str
    ) -> Tuple[List[Dict[str, str]], List[Union[AttachmentError, UploadError]]]:
        """References for the usable files and the errors for the others, in order; ``uploader``
        is whose quota downloads count against. Past the quota the remaining files are not
        fetched and one refusal says so."""
        references: List[Dict[str, str]] = []
        problems: List[Union[AttachmentError, UploadError]] = []
        for file in files[: self.media_store.policy.max_attachments]:
            if not isinstance(file, dict):
                continue
            try:
                references.append(await self.file_reference(file, uploader))
            except AttachmentError as error:
                problems.append(error)
            except UploadError as refusal:
                problems.append(refusal)
                break
            except Exception:  # a Slack API failure must not lose the customer's words
                logger.exception("Could not fetch Slack file %s.", file.get("id"))
                problems.append(
                    errors.make_error(
                        errors.UNREACHABLE, str(file.get("name") or "file"), kind_of_mime(file.get("mimetype"))
                    )
                )
        extra = files[self.media_store.policy.max_attachments :]
        if extra:
            problems.append(
                errors.make_error(errors.TOO_MANY, "files", None, limit=self.media_store.policy.max_attachments)
            )
        return references, problems

    async def handle_event(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        event: Dict[str, Any],
        metadata: Dict[str, Any],
        conversation_id: Optional[Text],
    ) -> None:
        """Background part: fetch files, tell the customer about refused ones, hand the message
        to Rasa (when there is text or a usable file)."""
        try:
            thread_id = metadata.get("thread_id") if self.use_threads else None
            output = self.get_output_channel(metadata.get("out_channel"), thread_id)
            uploader = f"{SLACK_PREFIX}{event.get('user') or conversation_id}"  # the person, in any channel
            references, problems = await self.collect_files(list(event.get("files") or []), uploader)
            text = self._sanitize_user_message(event.get("text") or "", metadata.get("users"))
            language = detect_language(text)  # refusals in the words' language (else English)
            for problem in problems:
                logger.info("Slack file refused (%s): %s", problem.code, getattr(problem, "source", uploader))
                await output.send_text_message(conversation_id or "", problem.in_language(language))
            if len(text) > self.text_limit.max_text_chars:
                refusal = self.text_limit.refusal()
                await output.send_text_message(conversation_id or "", refusal.in_language(language))
                return
            if not text.strip() and not references:
                return
            message_metadata = dict(metadata)
            if references:
                message_metadata[ATTACHMENTS] = references
                urls = [r["url"] for r in references if "url" in r]  # download_files: false
                if urls:  # the resolver sends the bot token to these event files only
                    message_metadata[SLACK_FILE_URLS] = urls
            await on_new_message(
                UserMessage(
                    text,
                    output,
                    conversation_id,
                    input_channel=self.name(),
                    metadata=message_metadata,
                )
            )
        except Exception:
            logger.exception("Slack: handling event %s failed.", event.get("client_msg_id"))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """/webhooks/slack/webhook: signed events (JSON) and interactive payloads (form)."""
        nlu_offload.install()  # this channel's messages are parsed off the event loop
        action_results.install()  # action replies checked by a schema compiled once
        slack_webhook = Blueprint("slack_media_webhook", __name__)
        install_retention(slack_webhook, self.media_store)

        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def webhook(request: Request) -> HTTPResponse:
            return await self.answer_request(request, on_new_message)

        slack_webhook.add_route(health, "/", methods=["GET"])
        slack_webhook.add_route(webhook, "/webhook", methods=["GET", "POST"])
        return slack_webhook

    async def answer_request(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        """Checks Slack's signature, then answers an event (JSON) or an interaction (form)."""
        if not self.is_request_from_slack_authentic(request):
            return response.text(
                "Message is not properly signed with a valid X-Slack-Signature header",
                status=HTTPStatus.BAD_REQUEST,
            )
        content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip()
        if content_type == "application/json":
            payload = request.json if isinstance(request.json, dict) else {}
            return self.answer_event(request, payload, on_new_message)
        if content_type == "application/x-www-form-urlencoded":
            return await self.answer_interaction(request, on_new_message)
        return response.text("Bot message delivered.")

    def answer_event(
        self,
        request: Request,
        payload: Dict[str, Any],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        """Events API: the URL challenge, a skip, or a customer message handled in the background
        (so the answer goes back within Slack's 3 seconds)."""
        if payload.get("type") == "url_verification":
            return response.json({"challenge": payload.get("challenge")})
        event = payload.get("event") or {}
        if not self.is_customer_message(event):
            return response.text("Not a customer message: skipped.")
        metadata = self.get_metadata(request)
        if not self._is_supported_channel(payload, metadata):
            logger.warning("Slack message on unsupported channel %s.", metadata.get("out_channel"))
            return response.text("channel not supported.")
        if not self._first_time(payload.get("event_id")):
            logger.info(
                "Slack retry #%s (%s) of a handled event: not processed again.",
                request.headers.get(self.retry_num_header),
                request.headers.get(self.retry_reason_header),
            )
            return response.text("", headers={"X-Slack-No-Retry": "1"})
        conversation_id = self._get_conversation_id(
            event.get("user"), metadata.get("out_channel"), metadata.get("thread_id")
        )
        self._spawn(self.handle_event(on_new_message, event, metadata, conversation_id))
        return response.text("")

    async def answer_interaction(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        """Interactive components (button clicks), handled as SlackInput handles them."""
        try:
            payload = json.loads(request.form["payload"][0])
        except (KeyError, IndexError, ValueError):
            return response.text("Unreadable interactive payload.", status=HTTPStatus.BAD_REQUEST)
        if self._is_interactive_message(payload):
            text = self._get_interactive_response(payload["actions"][0])
            if text is not None:
                metadata = self.get_metadata(request)
                conversation_id = self._get_conversation_id(
                    payload["user"]["id"], metadata.get("out_channel"), metadata.get("thread_id")
                )
                return await self.process_message(
                    request, on_new_message, text, conversation_id, metadata
                )
            if payload["actions"][0]["type"] == "button":
                return response.text("User clicked link button")
        return response.text(
            "The input message could not be processed.",
            status=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
