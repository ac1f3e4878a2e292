"""The agent workspace as a Rasa input channel: ``components.workspace.channel.AgentWorkspaceInput``
in credentials.yml serves it under ``/webhooks/workspace/`` of the Rasa server.

It never handles customer messages itself (``on_new_message`` is unused); it is a channel only so
that it runs inside ``rasa run``, next to the tracker store, lock store and the web chat's socket
server it needs. Pages are server-rendered (jinja2, autoescaped) with one small script; live
updates come as server-sent events. Every route but the sign-in needs a session; every POST its
CSRF token; a conversation (and its media) only for an agent who may see one of its tickets.
See docs/workspace.md for the routes and config keys (``DEFAULTS``).
"""

import asyncio
import collections
import datetime as dt
import functools
import json
import logging
import os
import time
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Text

from jinja2 import Environment, FileSystemLoader, select_autoescape
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import db
from actions.actions import VERIFIED_ORDERS_SLOT
from components.channels.media_store import DEFAULT_FOLDER
from components.channels.senders import load_secret
from components.workspace import accounts, analytics, charts, conversation, delivery
from components.workspace.media import read_media
from components.workspace.sessions import (
    CSRF_FIELD, CSRF_HEADER, LOGIN_COOKIE, SESSION_COOKIE, SessionCodec,
)

logger = logging.getLogger(__name__)

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC_FILES = {"workspace.js": "text/javascript; charset=utf-8", "workspace.css": "text/css; charset=utf-8"}

# Config keys (credentials.yml) and their defaults; docs/workspace.md lists them.
DEFAULTS: Dict[str, Any] = {
    "session_secret": None,                      # else env MM_SESSION_SECRET, else the file below
    "session_secret_file": "var/workspace_secret",
    "session_hours": 8,
    "media_folders": [DEFAULT_FOLDER],           # the channels' media stores the photos are in
    "negative_alert_share": analytics.DEFAULT_NEGATIVE_ALERT_SHARE,
    "max_reply_chars": 2000,
    "login_attempts": 5,                         # failed sign-ins per name and login_window_s
    "login_window_s": 900,
    "live_poll_s": 1.0,                          # how often the event streams look for changes
    "live_stream_s": 300,                        # an event stream ends after this; the page reconnects
    "slack_token": None,                         # Slack bot token for agents' replies in Slack
    "slack_api_url": None,
}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
}

# Most sign-in names whose failures are remembered at once (the rest are forgotten oldest first).
MAX_TRACKED_NAMES = 10_000

# Rasa mounts every input channel's blueprint at /webhooks/<name()>.
BASE_PATH = "/webhooks/workspace"

SENTIMENT_VALUE = {"negative": -1, "neutral": 0, "positive": 1}


class WorkspaceError(Exception):
    """A refusal: HTTP status, a code and a message for the agent (JSON or an HTML page)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def sentiment_trend(history: List[Dict[str, Any]]) -> str:
    """``neutral → negative (worsening)`` from a ticket's sentiment history."""
    labels = [h.get("label") for h in history or [] if h.get("label") in SENTIMENT_VALUE]
    if not labels:
        return "-"
    shown = " → ".join(labels[-4:])
    delta = SENTIMENT_VALUE[labels[-1]] - SENTIMENT_VALUE[labels[0]]
    return shown + (" (worsening)" if delta < 0 else " (improving)" if delta > 0 else "")


def media_summary(attachments: List[Dict[str, Any]]) -> str:
    kinds = collections.Counter({"image": "photo", "audio": "voice"}.get(a.get("type"), "file")
                                for a in attachments or [])
    return ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items())) or "-"


def wait_text(created_at: dt.datetime, until: Optional[dt.datetime] = None) -> str:
    until = until or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    minutes = max(0, int((until - created_at).total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


class AgentWorkspaceInput(InputChannel):
    """The agent workspace (queue, conversations, replies, analytics) inside the Rasa server."""

    @classmethod
    def name(cls) -> Text:
        return "workspace"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(credentials or {})

    def __init__(self, config: Optional[Dict[str, Any]] = None) -> None:
        unknown = set(config or {}) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"Unknown workspace config keys: {', '.join(sorted(unknown))}.")
        self.config = {**DEFAULTS, **(config or {})}
        secret = load_secret(self.config["session_secret"], self.config["session_secret_file"])
        self.codec = SessionCodec(secret, float(self.config["session_hours"]))
        folders = self.config["media_folders"]
        self.media_folders = [folders] if isinstance(folders, str) else list(folders)
        self.templates = Environment(loader=FileSystemLoader(os.path.join(HERE, "templates")),
                                     autoescape=select_autoescape(["html"]))
        self.templates.globals.update(ticket_reference=db.ticket_reference, trend=sentiment_trend,
                                      media_summary=media_summary, wait_text=wait_text)
        self._failures: Dict[str, Deque[float]] = collections.defaultdict(collections.deque)

    # ---- plumbing -------------------------------------------------------------------------

    @staticmethod
    def shop() -> db.ShopDatabase:
        return db.get_database()

    @staticmethod
    def conversations(request: Request) -> delivery.Conversations:
        return delivery.Conversations(request.app.ctx.agent)

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> HTTPResponse:
        html = self.templates.get_template(template).render(base=self.base(request), **values)
        return response.html(html, status=status, headers=SECURITY_HEADERS)

    @staticmethod
    def base(request: Request) -> str:
        """Where Rasa mounts this channel (``/webhooks/<name>``)."""
        return BASE_PATH

    def refusal(self, request: Request, error: WorkspaceError) -> HTTPResponse:
        if "text/html" in request.headers.get("accept", ""):
            return self.page(request, "error.html", status=error.status, error=error,
                             account=getattr(request.ctx, "account", None))
        return response.json({"error": {"code": error.code, "message": error.message}},
                             status=error.status, headers={"Cache-Control": "no-store"})

    def account_of(self, request: Request) -> Optional[Dict[str, Any]]:
        session = self.codec.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        account = self.shop().get_agent(session["name"])
        if not account or not account.get("active"):
            return None
        return {"name": account["name"], "display_name": account["display_name"],
                "role": account["role"], "csrf": self.codec.csrf_token(session), "session": session}

    def route(self, method: Callable[..., Awaitable[HTTPResponse]], *, signed_in: bool = True,
              admin: bool = False) -> Callable[..., Awaitable[HTTPResponse]]:
        """A handler that checks the session (and CSRF token on POST, the role for ``admin``)
        first and turns WorkspaceError into a 4xx answer; any other error is logged, never shown."""

        @functools.wraps(method)
        async def handler(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            try:
                request.ctx.account = None
                if signed_in:
                    account = await asyncio.to_thread(self.account_of, request)
                    if account is None:
                        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                            return response.redirect(self.base(request) + "/login", status=303)
                        raise WorkspaceError(401, "not_signed_in", "Sign in to the workspace first.")
                    if request.method == "POST":
                        token = request.headers.get(CSRF_HEADER) or (request.form or {}).get(CSRF_FIELD)
                        if not self.codec.check_csrf(account["session"], token):
                            raise WorkspaceError(403, "csrf_failed", "The form was not sent by the "
                                                 "workspace (missing or wrong CSRF token). Reload the page.")
                    if admin and account["role"] != db.ADMIN_ROLE:
                        raise WorkspaceError(403, "admin_only", "Only admins may open this page.")
                    request.ctx.account = account
                return await method(request, *args, **kwargs)
            except WorkspaceError as error:
                return self.refusal(request, error)

        return handler

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("workspace_webhook", __name__)
        routes = [
            ("/", self.index, ["GET"], {}),
            ("/login", self.login_form, ["GET"], {"signed_in": False}),
            ("/login", self.login, ["POST"], {"signed_in": False}),
            ("/logout", self.logout, ["POST"], {}),
            ("/static/<name>", self.static_file, ["GET"], {"signed_in": False}),
            ("/queue", self.queue_page, ["GET"], {}),
            ("/queue/rows", self.queue_rows, ["GET"], {}),
            ("/queue/events", self.queue_events, ["GET"], {}),
            ("/conversations/<sender_id>", self.conversation_page, ["GET"], {}),
            ("/conversations/<sender_id>/turns", self.conversation_turns, ["GET"], {}),
            ("/conversations/<sender_id>/events", self.conversation_events, ["GET"], {}),
            ("/conversations/<sender_id>/media/<sha256>", self.media, ["GET"], {}),
            ("/tickets/<ticket_id:int>/claim", self.claim, ["POST"], {}),
            ("/tickets/<ticket_id:int>/reply", self.reply, ["POST"], {}),
            ("/tickets/<ticket_id:int>/handback", self.hand_back, ["POST"], {}),
            ("/tickets/<ticket_id:int>/close", self.close, ["POST"], {}),
            ("/analytics", self.analytics_page, ["GET"], {"admin": True}),
            ("/analytics/csv/<table>", self.analytics_csv, ["GET"], {"admin": True}),
            ("/analytics/chart/<chart>", self.analytics_chart, ["GET"], {"admin": True}),
        ]
        for path, method, methods, options in routes:
            bp.add_route(self.route(method, **options), path, methods=methods, name=method.__name__)
        return bp

    # ---- sign-in ------------------------------------------------------------------------

    async def index(self, request: Request) -> HTTPResponse:
        return response.redirect(self.base(request) + "/queue", status=303)

    async def login_form(self, request: Request, error: Optional[str] = None, status: int = 200) -> HTTPResponse:
        nonce = self.codec.login_nonce()
        page = self.page(request, "login.html", status=status, error=error,
                         login_token=self.codec.login_token(nonce), account=None)
        self._set_cookie(request, page, LOGIN_COOKIE, nonce, 900)
        return page

    async def login(self, request: Request) -> HTTPResponse:
        form = request.form or {}
        if not self.codec.check_login_token(request.cookies.get(LOGIN_COOKIE), form.get(CSRF_FIELD)):
            raise WorkspaceError(403, "csrf_failed", "The sign-in form was not sent by the workspace "
                                 "(missing or wrong CSRF token). Reload the page.")
        name = str(form.get("name") or "").strip().lower()[:64]
        if self._too_many_failures(name):
            return await self.login_form(request, "Too many failed sign-ins for this name; wait a few "
                                         "minutes and try again.", status=429)
        account = await asyncio.to_thread(accounts.authenticate, self.shop(), name, str(form.get("password") or ""))
        if account is None:
            self._failures[name].append(time.monotonic())
            logger.info("Workspace: failed sign-in for %r.", name)
            return await self.login_form(request, "Wrong name or password.", status=401)
        self._failures.pop(name, None)
        answer = response.redirect(self.base(request) + "/queue", status=303)
        self._set_cookie(request, answer, SESSION_COOKIE, self.codec.issue(account["name"]), self.codec.max_age_s)
        self._set_cookie(request, answer, LOGIN_COOKIE, "", 0)
        return answer

    def _too_many_failures(self, name: str) -> bool:
        if len(self._failures) > MAX_TRACKED_NAMES:  # names sprayed at the form: keep memory bounded
            window = time.monotonic() - float(self.config["login_window_s"])
            for stale in [n for n, times in self._failures.items() if not times or times[-1] < window]:
                del self._failures[stale]
            while len(self._failures) > MAX_TRACKED_NAMES:
                del self._failures[next(iter(self._failures))]
        failures = self._failures[name]
        while failures and failures[0] < time.monotonic() - float(self.config["login_window_s"]):
            failures.popleft()
        if not failures:
            self._failures.pop(name, None)
        return len(failures) >= int(self.config["login_attempts"])

    async def logout(self, request: Request) -> HTTPResponse:
        answer = response.redirect(self.base(request) + "/login", status=303)
        self._set_cookie(request, answer, SESSION_COOKIE, "", 0)
        return answer

    def _set_cookie(self, request: Request, answer: HTTPResponse, name: str, value: str, max_age: int) -> None:
        answer.cookies[name] = value
        cookie = answer.cookies[name]
        cookie["path"] = self.base(request) + "/"
        cookie["httponly"] = True
        cookie["samesite"] = "Strict"
        cookie["max-age"] = max_age
        if request.scheme == "https" or request.headers.get("x-forwarded-proto") == "https":
            cookie["secure"] = True

    async def static_file(self, request: Request, name: str) -> HTTPResponse:
        content_type = STATIC_FILES.get(name)
        if content_type is None:
            raise WorkspaceError(404, "not_found", "No such file.")
        return await response.file(os.path.join(HERE, "static", name), mime_type=content_type,
                                   headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})

    # ---- queue ----------------------------------------------------------------------------

    async def _queue(self) -> List[Dict[str, Any]]:
        return await asyncio.to_thread(self.shop().queue)

    async def queue_page(self, request: Request) -> HTTPResponse:
        return self.page(request, "queue.html", account=request.ctx.account, tickets=await self._queue())

    async def queue_rows(self, request: Request) -> HTTPResponse:
        return self.page(request, "_queue_rows.html", account=request.ctx.account, tickets=await self._queue())

    async def queue_events(self, request: Request) -> None:
        async def state() -> Dict[str, Any]:
            tickets = await self._queue()
            return {"open": len(tickets), "unclaimed": sum(1 for t in tickets if not t["agent_name"]),
                    "version": [(t["id"], t["agent_name"]) for t in tickets]}

        await self._stream(request, "queue", state)

    async def _stream(self, request: Request, name: str, state: Callable[[], Awaitable[Dict[str, Any]]]) -> None:
        """Server-sent events: ``name`` with the state whenever it changes, for at most
        ``live_stream_s`` (EventSource then reconnects), checking every ``live_poll_s``."""
        stream = await request.respond(content_type="text/event-stream",
                                       headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self.config["live_stream_s"])
        last = None
        await stream.send("retry: 2000\n\n")
        while loop.time() < deadline:
            current = await state()
            if current != last:
                await stream.send(f"event: {name}\ndata: {json.dumps(current, default=str)}\n\n")
                last = current
            await asyncio.sleep(float(self.config["live_poll_s"]))
        await stream.eof()

    # ---- conversations --------------------------------------------------------------------

    async def _visible(self, request: Request, sender_id: str) -> List[Dict[str, Any]]:
        """The conversation's tickets, when the signed-in agent may see it: an admin any
        conversation with a ticket, an agent one with an open ticket or a ticket they claimed."""
        account = request.ctx.account
        tickets = await asyncio.to_thread(self.shop().tickets_with_claims, sender_id)
        allowed = tickets and (
            account["role"] == db.ADMIN_ROLE
            or any(t["status"] == db.TICKET_OPEN or t["agent_name"] == account["name"] for t in tickets)
        )
        if not allowed:
            raise WorkspaceError(404, "no_ticket", "There is no hand-off ticket for this conversation "
                                 "that you may see.")
        return tickets

    async def _conversation(self, request: Request, sender_id: str) -> Dict[str, Any]:
        tickets = await self._visible(request, sender_id)
        events = await self.conversations(request).events(sender_id)
        ticket = tickets[-1]
        orders = await asyncio.to_thread(self._orders_of, events)
        return {"sender_id": sender_id, "tickets": tickets, "ticket": ticket,
                "turns": conversation.turns_of(events), "channel": conversation.input_channel_of(events),
                "paused": conversation.is_paused(events), "orders": orders,
                "account": request.ctx.account}

    def _orders_of(self, events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """The orders this conversation named (slot ``order_number`` or the verified ones) with
        their returns, from the shop database."""
        numbers: List[str] = []
        verified: set = set()
        for event in events:
            if event.get("event") == "slot" and event.get("name") in ("order_number", VERIFIED_ORDERS_SLOT):
                values = event.get("value") if isinstance(event.get("value"), list) else [event.get("value")]
                numbers += [str(v) for v in values if v and str(v) not in numbers]
                if event.get("name") == VERIFIED_ORDERS_SLOT:
                    verified.update(str(v) for v in values if v)
        found = []
        for number in numbers[:10]:
            order = self.shop().get_order(number)
            if order:
                found.append({**order, "returns": self.shop().returns_for_order(number),
                              "verified": number in verified})
        return found

    async def conversation_page(self, request: Request, sender_id: str) -> HTTPResponse:
        return self.page(request, "conversation.html", **await self._conversation(request, sender_id),
                         max_reply_chars=self.config["max_reply_chars"])

    async def conversation_turns(self, request: Request, sender_id: str) -> HTTPResponse:
        return self.page(request, "_turns.html", **await self._conversation(request, sender_id))

    async def conversation_events(self, request: Request, sender_id: str) -> None:
        await self._visible(request, sender_id)
        conversations = self.conversations(request)

        async def state() -> Dict[str, Any]:
            tickets = [(t["id"], t["status"], t["agent_name"]) for t in
                       await asyncio.to_thread(self.shop().tickets_with_claims, sender_id)]
            return {"events": await conversations.version(sender_id), "tickets": tickets}

        await self._stream(request, "conversation", state)

    async def media(self, request: Request, sender_id: str, sha256: str) -> HTTPResponse:
        await self._visible(request, sender_id)
        reference = conversation.find_media(await self.conversations(request).events(sender_id), sha256)
        found = await asyncio.to_thread(read_media, reference, self.media_folders) if reference else None
        if found is None:
            raise WorkspaceError(404, "media_not_found", "This conversation has no such file (or it "
                                 "was removed after the retention period).")
        data, mime = found
        return response.raw(data, content_type=mime, headers={
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'", "Content-Disposition": "inline"})

    # ---- ticket actions -------------------------------------------------------------------

    async def _own_ticket(self, request: Request, ticket_id: int) -> Dict[str, Any]:
        """The open ticket the signed-in agent holds the claim on."""
        ticket = await asyncio.to_thread(self.shop().get_ticket, ticket_id)
        if ticket is None:
            raise WorkspaceError(404, "no_ticket", f"There is no ticket {db.ticket_reference(ticket_id)}.")
        if ticket["status"] != db.TICKET_OPEN:
            raise WorkspaceError(409, "ticket_closed", f"Ticket {db.ticket_reference(ticket_id)} is closed.")
        claim = await asyncio.to_thread(self.shop().get_claim, ticket_id)
        if claim is None:
            raise WorkspaceError(409, "not_claimed", "Claim the ticket before you reply.")
        if claim["agent_name"] != request.ctx.account["name"]:
            raise WorkspaceError(409, "claimed_by_other", f"{claim['agent_name']} has this ticket.")
        return ticket

    def _back_to(self, request: Request, sender_id: str) -> HTTPResponse:
        from urllib.parse import quote

        if "application/json" in request.headers.get("accept", ""):
            return response.json({"ok": True})
        return response.redirect(f"{self.base(request)}/conversations/{quote(sender_id, safe='')}", status=303)

    async def claim(self, request: Request, ticket_id: int) -> HTTPResponse:
        name = request.ctx.account["name"]
        try:
            claim = await asyncio.to_thread(self.shop().claim_ticket, ticket_id, name)
        except ValueError as error:
            raise WorkspaceError(409, "ticket_unavailable", str(error)) from None
        if claim["agent_name"] != name:
            raise WorkspaceError(409, "claimed_by_other", f"{claim['agent_name']} already has this ticket.")
        ticket = await asyncio.to_thread(self.shop().get_ticket, ticket_id)
        logger.info("Workspace: %s claimed %s.", name, db.ticket_reference(ticket_id))
        return self._back_to(request, ticket["sender_id"])

    async def reply(self, request: Request, ticket_id: int) -> HTTPResponse:
        ticket = await self._own_ticket(request, ticket_id)
        text = str((request.form or {}).get("text") or "").strip()
        if not text:
            raise WorkspaceError(400, "empty_reply", "Type a reply first.")
        if len(text) > int(self.config["max_reply_chars"]):
            raise WorkspaceError(400, "reply_too_long", f"A reply has at most {self.config['max_reply_chars']} characters.")
        conversations = self.conversations(request)
        sender_id = ticket["sender_id"]
        last_message = conversation.last_user_event(await conversations.events(sender_id))
        channel = last_message.get("input_channel")
        # The tracker first: the reply is never lost, even when the customer's page is closed.
        await conversations.add_agent_reply(sender_id, text, request.ctx.account["name"])
        try:
            how = await delivery.deliver(last_message, sender_id, text, self.config["slack_token"],
                                         self.config["slack_api_url"])
        except Exception:
            logger.exception("Workspace: could not deliver a reply to %s over %s.", sender_id, channel)
            how = delivery.STORED
        logger.info("Workspace: reply to %s %s (%s).", db.ticket_reference(ticket_id), how, channel)
        return self._back_to(request, sender_id)

    async def hand_back(self, request: Request, ticket_id: int) -> HTTPResponse:
        ticket = await self._own_ticket(request, ticket_id)
        await self.conversations(request).resume_bot(ticket["sender_id"])
        await asyncio.to_thread(self.shop().finish_ticket, ticket_id, db.OUTCOME_RESUMED)
        return self._back_to(request, ticket["sender_id"])

    async def close(self, request: Request, ticket_id: int) -> HTTPResponse:
        ticket = await self._own_ticket(request, ticket_id)
        await asyncio.to_thread(self.shop().finish_ticket, ticket_id, db.OUTCOME_CLOSED)
        return self._back_to(request, ticket["sender_id"])

    # ---- analytics ------------------------------------------------------------------------

    async def _report(self, request: Request) -> Dict[str, Any]:
        engine = analytics.sql_engine_of(request.app.ctx.agent.tracker_store)
        if engine is None:
            raise WorkspaceError(409, "no_sql_tracker_store", "Analytics need the SQL tracker store "
                                 "(tracker_store: type: SQL in endpoints.yml).")
        try:
            first, last = analytics.date_range(request.args.get("start") or None, request.args.get("end") or None)
        except ValueError as error:
            raise WorkspaceError(400, "bad_date_range", f"Dates are YYYY-MM-DD: {error}") from None
        channel = (request.args.get("channel") or "").strip()[:32] or None
        return await asyncio.to_thread(analytics.compute, engine, self.shop(), first, last, channel,
                                       float(self.config["negative_alert_share"]))

    async def analytics_page(self, request: Request) -> HTTPResponse:
        report = await self._report(request)
        query = request.query_string
        return self.page(request, "analytics.html", account=request.ctx.account, report=report,
                         query=("?" + query) if query else "", charts=charts.CHARTS, tables=analytics.TABLES)

    async def analytics_csv(self, request: Request, table: str) -> HTTPResponse:
        if table not in analytics.TABLES:
            raise WorkspaceError(404, "no_such_table", f"Tables: {', '.join(analytics.TABLES)}.")
        report = await self._report(request)
        return response.text(analytics.to_csv(report, table), content_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{table}.csv"',
                                      "Cache-Control": "no-store"})

    async def analytics_chart(self, request: Request, chart: str) -> HTTPResponse:
        if chart not in charts.CHARTS:
            raise WorkspaceError(404, "no_such_chart", f"Charts: {', '.join(charts.CHARTS)}.")
        report = await self._report(request)
        svg = await asyncio.to_thread(charts.chart_svg, report, chart)
        return response.raw(svg, content_type="image/svg+xml", headers={"Cache-Control": "no-store",
                                                                        "X-Content-Type-Options": "nosniff"})
