"""Command line for the human agents who take over handed-off conversations.

``action_handoff_to_human`` records a ticket and pauses the bot in that conversation. An agent
lists the queue, reads a ticket, and when done resumes the bot: the ticket is closed and Rasa's
HTTP API (``rasa run --enable-api --auth-token TOKEN``) gets a ``resume`` event for the
conversation, so the assistant answers the customer again.

    python -m actions.agent list [--all]
    python -m actions.agent show TICKET
    python -m actions.agent resume TICKET
    python -m actions.agent add-user NAME [--role agent|admin] [--display-name "Sam Lee"] [--password-stdin]

``add-user`` creates (or resets) a sign-in of the agent workspace (components/workspace,
docs/workspace.md): the password is asked twice, or read from the first line of standard input
with ``--password-stdin``, and stored only as an argon2 hash. It needs no ``RASA_TOKEN``.

``TICKET`` is ``TCK-00012`` or ``12``. Configuration: ``RASA_URL`` (default
``http://localhost:5005``), ``RASA_TOKEN`` (the ``--auth-token``, required), ``SHOP_DATABASE_URL``.

Every command needs ``RASA_TOKEN``: tickets hold customers' conversations, so only whoever holds
the server's token may read or resume them. ``scripts/serve`` writes the token it generates to
``var/rasa-token`` and ``scripts/agent`` reads it from there.
"""

import argparse
import getpass
import json
import os
import re
import sys
from typing import Any, Dict, List, Optional
from urllib.parse import quote

import requests

from actions import db

RASA_URL_ENV = "RASA_URL"
RASA_TOKEN_ENV = "RASA_TOKEN"
DEFAULT_RASA_URL = "http://localhost:5005"
# `resume`, then `action_listen`: the hand-off paused the bot right after its action, so without
# the listen the customer's next message would not follow one and no rule would match it.
RESUME_EVENTS = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
TICKET_PATTERN = re.compile(r"^(?:TCK-)?0*(\d+)$", re.IGNORECASE)
MISSING_TOKEN_TEXT = (
    f"{RASA_TOKEN_ENV} is not set. The agent tool needs the Rasa server's --auth-token: "
    "scripts/serve writes it to var/rasa-token, and scripts/agent reads it from there "
    f"(or set {RASA_TOKEN_ENV} yourself)."
)


class AgentError(Exception):
    """A problem the agent can fix (bad ticket id, Rasa unreachable or refusing the token)."""


def parse_ticket_id(text: str) -> int:
    """``TCK-00012`` / ``12`` -> 12."""
    match = TICKET_PATTERN.match(text.strip())
    if not match or int(match.group(1)) <= 0:
        raise AgentError(f"'{text}' is not a ticket id; use the form TCK-00012 or 12.")
    return int(match.group(1))


def resume_conversation(sender_id: str, rasa_url: str, token: Optional[str],
                        timeout: float = 10.0) -> None:
    """Appends ``resume`` (and ``action_listen``) to the conversation's tracker via Rasa's HTTP API."""
    url = f"{rasa_url.rstrip('/')}/conversations/{quote(sender_id, safe='')}/tracker/events"
    params = {"token": token} if token else {}
    try:
        response = requests.post(url, params=params, json=RESUME_EVENTS, timeout=timeout)
    except requests.RequestException as error:
        raise AgentError(f"Could not reach Rasa at {rasa_url} ({error}). Is `rasa run "
                         "--enable-api` running, and is RASA_URL right?") from error
    if response.status_code in (401, 403):
        raise AgentError(f"Rasa refused the request ({response.status_code}): set RASA_TOKEN "
                         "to the server's --auth-token.")
    if not response.ok:
        raise AgentError(f"Rasa answered {response.status_code}: {response.text[:300]}")


def resume_ticket(ticket_id: int, database: db.ShopDatabase, rasa_url: str,
                  token: Optional[str]) -> Dict[str, Any]:
    """Resumes the bot in the ticket's conversation, then closes the ticket; returns it."""
    ticket = database.get_ticket(ticket_id)
    if ticket is None:
        raise AgentError(f"There is no ticket {db.ticket_reference(ticket_id)}.")
    if ticket["status"] == db.TICKET_CLOSED:
        raise AgentError(f"Ticket {db.ticket_reference(ticket_id)} is already closed.")
    # Rasa first: if it is unreachable, the ticket stays open and the agent can retry.
    resume_conversation(ticket["sender_id"], rasa_url, token)
    database.close_ticket(ticket_id)
    return database.get_ticket(ticket_id)


def _summary(ticket: Dict[str, Any]) -> str:
    sentiments = [s.get("label", "?") for s in ticket.get("sentiment_history") or []]
    return (f"{db.ticket_reference(ticket['id'])}  {ticket['status']:<6}  "
            f"{ticket['created_at']:%Y-%m-%d %H:%M}  conversation={ticket['sender_id']}  "
            f"reason={ticket['reason']}  sentiment={'/'.join(sentiments) or '-'}  "
            f"attachments={len(ticket.get('attachments') or [])}")


def _details(ticket: Dict[str, Any]) -> str:
    lines = [_summary(ticket), ""]
    for turn in ticket.get("transcript") or []:
        lines.append(f"  {turn.get('role', '?'):>4}: {turn.get('text', '')}")
    for attachment in ticket.get("attachments") or []:
        lines.append(f"  attachment: {json.dumps(attachment, sort_keys=True)}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.agent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="open tickets (all with --all)")
    listing.add_argument("--all", action="store_true", help="closed tickets too")
    show = commands.add_parser("show", help="a ticket's transcript and attachments")
    show.add_argument("ticket")
    resume = commands.add_parser("resume", help="close the ticket and un-pause the bot")
    resume.add_argument("ticket")
    add_user = commands.add_parser("add-user", help="create or reset a workspace sign-in")
    add_user.add_argument("name")
    add_user.add_argument("--role", choices=db.AGENT_ROLES, default=db.AGENT_ROLE)
    add_user.add_argument("--display-name", default=None)
    add_user.add_argument("--password-stdin", action="store_true",
                          help="read the password from the first line of standard input")
    args = parser.parse_args(argv)
    if args.command == "add-user":
        return _add_user(args)
    token = os.environ.get(RASA_TOKEN_ENV, "").strip()
    if not token:
        print(f"error: {MISSING_TOKEN_TEXT}", file=sys.stderr)
        return 2

    database = db.get_database()
    try:
        if args.command == "list":
            found = database.list_tickets(None if args.all else db.TICKET_OPEN)
            for ticket in found:
                print(_summary(ticket))
            if not found:
                print("No open tickets." if not args.all else "No tickets.")
        elif args.command == "show":
            ticket = database.get_ticket(parse_ticket_id(args.ticket))
            if ticket is None:
                raise AgentError(f"There is no ticket {args.ticket}.")
            print(_details(ticket))
        else:
            ticket = resume_ticket(
                parse_ticket_id(args.ticket), database,
                os.environ.get(RASA_URL_ENV, DEFAULT_RASA_URL), token,
            )
            print(f"Closed {db.ticket_reference(ticket['id'])}; the assistant answers "
                  f"conversation {ticket['sender_id']} again.")
    except AgentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _add_user(args: argparse.Namespace) -> int:
    """``add-user``: the account in the shop database, the password as an argon2 hash."""
    from components.workspace import accounts

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            print("error: the passwords differ.", file=sys.stderr)
            return 1
    try:
        name = accounts.create_agent(db.get_database(), args.name, password, args.role, args.display_name)
    except accounts.AccountError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Agent {name} ({args.role}) can sign in to the workspace.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
