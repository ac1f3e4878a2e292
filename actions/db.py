"""The shop's database: orders, returns and hand-off tickets, through SQLAlchemy Core.

All SQL lives here so the actions stay readable and the same code runs on the default SQLite
file and on PostgreSQL (set ``SHOP_DATABASE_URL``, e.g. ``postgresql://user:pw@host/shop``).
Tables are created and the demo orders seeded on first use; seeding is idempotent. Each order
records who owns it (``customer_id``, ``customer_email``, ``postcode``), so the actions can check
ownership before they disclose or change an order; a database created before those columns existed
gets them added (and the demo orders filled in) on first use.
"""

import datetime as dt
import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from components.constants import MAX_CUSTOMER_ID_CHARS

DATABASE_URL_ENV = "SHOP_DATABASE_URL"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_PATH = PROJECT_ROOT / "var" / "shop.sqlite3"

RETURN_OPEN = "open"
TICKET_OPEN = "open"
TICKET_CLOSED = "closed"

# Agent workspace (components/workspace): who may sign in, and who handles which ticket.
AGENT_ROLE = "agent"
ADMIN_ROLE = "admin"
AGENT_ROLES = (AGENT_ROLE, ADMIN_ROLE)
# How a handled ticket ended: the bot resumed ("hand back to the assistant") or just closed.
OUTCOME_RESUMED = "resumed"
OUTCOME_CLOSED = "closed"
AGENT_NAME_PATTERN = r"^[a-z][a-z0-9._-]{1,31}$"

metadata = sa.MetaData()

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_number", sa.String(16), primary_key=True),
    sa.Column("customer_name", sa.String(120), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("carrier", sa.String(64), nullable=True),
    sa.Column("tracking_number", sa.String(64), nullable=True),
    sa.Column("eta", sa.Date, nullable=True),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    # Ownership: the shop's customer account, and what the customer can answer to prove it.
    sa.Column("customer_id", sa.String(MAX_CUSTOMER_ID_CHARS), nullable=True, index=True),
    sa.Column("customer_email", sa.String(255), nullable=True),
    sa.Column("postcode", sa.String(32), nullable=True),
)
# Columns added after the first release: created on databases that predate them.
OWNERSHIP_COLUMNS = ("customer_id", "customer_email", "postcode")

returns = sa.Table(
    "returns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "order_number", sa.String(16), sa.ForeignKey("orders.order_number"), nullable=False
    ),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("transcript", sa.JSON, nullable=False),
    sa.Column("sentiment_history", sa.JSON, nullable=False),
    sa.Column("attachments", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("status IN ('open', 'closed')", name="ticket_status_valid"),
)

# Agent accounts of the workspace: the password only as an argon2 hash (salt inside the hash).
agent_accounts = sa.Table(
    "agent_accounts",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("display_name", sa.String(120), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("role IN ('agent', 'admin')", name="agent_role_valid"),
)

# One row per claimed ticket: the primary key makes a second claim fail in the database itself,
# so two agents can never both hold a ticket, whichever replica they use.
ticket_claims = sa.Table(
    "ticket_claims",
    metadata,
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("agent_name", sa.String(32), sa.ForeignKey("agent_accounts.name"), nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
    sa.Column("closed_at", sa.DateTime, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
)


def _demo_orders(today: dt.date) -> List[Dict[str, Any]]:
    """The reference assistant's demo orders; ETAs are relative to the day of seeding."""

    def day(offset: int) -> dt.date:
        return today + dt.timedelta(days=offset)

    def item(sku: str, name: str, quantity: int = 1) -> Dict[str, Any]:
        return {"sku": sku, "name": name, "quantity": quantity}

    return [
        dict(order_number="12345", customer_name="Alex Morgan", status="shipped",
             carrier="DHL", tracking_number="JD014600003828", eta=day(2),
             items=[item("MUG-CER-01", "Ceramic coffee mug", 2)],
             address="12 Baker Street, London NW1 6XE, UK",
             customer_id="C-1001", customer_email="alex.morgan@example.com", postcode="NW1 6XE"),
        dict(order_number="23456", customer_name="Sam Patel", status="delivered",
             carrier="UPS", tracking_number="1Z999AA10123456784", eta=day(-3),
             items=[item("TSH-BLU-M", "Blue cotton T-shirt (M)"),
                    item("SCK-GRY-3", "Grey socks, 3 pack")],
             address="4 Rue de Rivoli, 75001 Paris, France",
             customer_id="C-1002", customer_email="sam.patel@example.com", postcode="75001"),
        dict(order_number="34567", customer_name="Jordan Lee", status="processing",
             carrier=None, tracking_number=None, eta=day(5),
             items=[item("LMP-DSK-01", "Desk lamp")],
             address="88 King Street, Manchester M2 4WQ, UK",
             customer_id="C-1003", customer_email="jordan.lee@example.com", postcode="M2 4WQ"),
        dict(order_number="45678", customer_name="Maria Rossi", status="delayed",
             carrier="DPD", tracking_number="15501234567890", eta=day(6),
             items=[item("SHO-RUN-42", "Running shoes (EU 42)")],
             address="Via Roma 10, 00184 Roma, Italy",
             customer_id="C-1004", customer_email="maria.rossi@example.com", postcode="00184"),
        dict(order_number="54321", customer_name="Chris Novak", status="out_for_delivery",
             carrier="DHL", tracking_number="JD014600004711", eta=day(0),
             items=[item("HDP-BT-02", "Bluetooth headphones")],
             address="Hauptstrasse 5, 10115 Berlin, Germany",
             customer_id="C-1005", customer_email="chris.novak@example.com", postcode="10115"),
        dict(order_number="56789", customer_name="Taylor Kim", status="cancelled",
             carrier=None, tracking_number=None, eta=None,
             items=[item("BAG-LTH-01", "Leather backpack")],
             address="21 Elm Road, Leeds LS1 4AP, UK",
             customer_id="C-1006", customer_email="taylor.kim@example.com", postcode="LS1 4AP"),
        dict(order_number="67890", customer_name="Priya Shah", status="delivered",
             carrier="Royal Mail", tracking_number="RM123456785GB", eta=day(-10),
             items=[item("BLK-WOL-01", "Wool blanket"), item("PLW-CTN-02", "Cotton pillow", 2)],
             address="7 High Street, Oxford OX1 4AA, UK",
             customer_id="C-1007", customer_email="priya.shah@example.com", postcode="OX1 4AA"),
        dict(order_number="78901", customer_name="Lukas Berg", status="shipped",
             carrier="FedEx", tracking_number="794612345678", eta=day(3),
             items=[item("KET-ELC-01", "Electric kettle")],
             address="Storgatan 3, 111 23 Stockholm, Sweden",
             customer_id="C-1008", customer_email="lukas.berg@example.com", postcode="111 23"),
        dict(order_number="89012", customer_name="Emma Dubois", status="returned",
             carrier="UPS", tracking_number="1Z999AA10123456799", eta=day(-20),
             items=[item("JKT-RNW-L", "Rain jacket (L)")],
             address="15 Quai Saint-Michel, 69002 Lyon, France",
             customer_id="C-1009", customer_email="emma.dubois@example.com", postcode="69002"),
        dict(order_number="90123", customer_name="Noah Fischer", status="processing",
             carrier=None, tracking_number=None, eta=day(4),
             items=[item("PHN-CSE-13", "Phone case"), item("CBL-USB-C", "USB-C cable", 2)],
             address="Ringstrasse 1, 1010 Wien, Austria",
             customer_id="C-1010", customer_email="noah.fischer@example.com", postcode="1010"),
    ]


DEMO_ORDER_NUMBERS = tuple(o["order_number"] for o in _demo_orders(dt.date.today()))


def default_database_url() -> str:
    """``SHOP_DATABASE_URL`` if set, else an SQLite file under ``<project>/var/``."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    DEFAULT_DATABASE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DATABASE_PATH}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class ShopDatabase:
    """Typed access to the shop's tables; one instance per database URL, safe across threads."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine: Engine = sa.create_engine(url, future=True)

    def create_schema(self) -> None:
        """Creates missing tables and the ownership columns of an older ``orders`` table;
        existing rows are left alone."""
        metadata.create_all(self.engine)
        existing = {c["name"] for c in sa.inspect(self.engine).get_columns("orders")}
        missing = [name for name in OWNERSHIP_COLUMNS if name not in existing]
        if missing:
            with self.engine.begin() as conn:
                for name in missing:
                    column_type = orders.c[name].type.compile(dialect=self.engine.dialect)
                    conn.execute(sa.text(f"ALTER TABLE orders ADD COLUMN {name} {column_type}"))

    def seed_demo_orders(self, today: Optional[dt.date] = None) -> int:
        """Inserts the demo orders that are not there yet; returns how many were inserted."""
        demo = _demo_orders(today or dt.date.today())
        try:
            with self.engine.begin() as conn:
                existing = set(conn.execute(sa.select(orders.c.order_number)).scalars())
                missing = [
                    {**order, "created_at": _now()}
                    for order in demo
                    if order["order_number"] not in existing
                ]
                if missing:
                    conn.execute(orders.insert(), missing)
                # Demo orders seeded before ownership existed get their owners now.
                for order in demo:
                    if order["order_number"] in existing:
                        conn.execute(
                            orders.update()
                            .where(orders.c.order_number == order["order_number"])
                            .where(orders.c.customer_email.is_(None))
                            .values({name: order[name] for name in OWNERSHIP_COLUMNS})
                        )
        except sa.exc.IntegrityError:
            # Another action-server replica seeded at the same moment: its rows are ours too.
            return 0
        return len(missing)

    def get_order(self, order_number: str) -> Optional[Dict[str, Any]]:
        """The order as a dict, or None when there is no such order."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(orders).where(orders.c.order_number == order_number.strip())
            ).mappings().first()
        return dict(row) if row else None

    def order_exists(self, order_number: str) -> bool:
        return self.get_order(order_number) is not None

    def create_return(
        self, order_number: str, reason: str, evidence: List[Dict[str, Any]]
    ) -> int:
        """Opens a return for an existing order; evidence is a list of attachment references."""
        if not self.order_exists(order_number):
            raise ValueError(f"Cannot open a return: there is no order {order_number!r}.")
        if not reason or not reason.strip():
            raise ValueError("Cannot open a return without a reason.")
        with self.engine.begin() as conn:
            result = conn.execute(
                returns.insert().values(
                    order_number=order_number,
                    reason=reason.strip(),
                    evidence=list(evidence),
                    status=RETURN_OPEN,
                    created_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0])

    def get_return(self, return_id: int) -> Optional[Dict[str, Any]]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(returns).where(returns.c.id == return_id)
            ).mappings().first()
        return dict(row) if row else None

    def returns_for_order(self, order_number: str) -> List[Dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(returns)
                .where(returns.c.order_number == order_number)
                .order_by(returns.c.id)
            ).mappings().all()
        return [dict(r) for r in rows]

    def create_ticket(
        self,
        sender_id: str,
        reason: str,
        transcript: List[Dict[str, Any]],
        sentiment_history: List[Dict[str, Any]],
        attachments: List[Dict[str, Any]],
    ) -> int:
        """Records an open hand-off ticket for a conversation; returns its id."""
        if not sender_id:
            raise ValueError("Cannot open a ticket without a conversation id (sender_id).")
        with self.engine.begin() as conn:
            result = conn.execute(
                tickets.insert().values(
                    sender_id=sender_id,
                    reason=reason,
                    transcript=list(transcript),
                    sentiment_history=list(sentiment_history),
                    attachments=list(attachments),
                    status=TICKET_OPEN,
                    created_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0])

    def get_ticket(self, ticket_id: int) -> Optional[Dict[str, Any]]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(tickets).where(tickets.c.id == ticket_id)
            ).mappings().first()
        return dict(row) if row else None

    def tickets_for_conversation(self, sender_id: str) -> List[Dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(tickets).where(tickets.c.sender_id == sender_id).order_by(tickets.c.id)
            ).mappings().all()
        return [dict(r) for r in rows]

    def list_tickets(self, status: Optional[str] = TICKET_OPEN) -> List[Dict[str, Any]]:
        """Tickets with this status (all when None), oldest first, for the agent's queue."""
        query = sa.select(tickets).order_by(tickets.c.id)
        if status is not None:
            query = query.where(tickets.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def close_ticket(self, ticket_id: int) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(
                tickets.update().where(tickets.c.id == ticket_id).values(status=TICKET_CLOSED)
            ).rowcount
        if not updated:
            raise ValueError(f"There is no ticket {ticket_id}.")

    # Agent accounts (the workspace's sign-in; hashes come from components.workspace.accounts).

    def create_agent(self, name: str, display_name: str, password_hash: str, role: str) -> None:
        """Adds an agent account, or replaces the hash/role of an existing one (a password reset)."""
        if role not in AGENT_ROLES:
            raise ValueError(f"role must be one of {', '.join(AGENT_ROLES)}, not {role!r}.")
        values = dict(display_name=display_name, password_hash=password_hash, role=role, active=True)
        with self.engine.begin() as conn:
            updated = conn.execute(
                agent_accounts.update().where(agent_accounts.c.name == name).values(**values)
            ).rowcount
            if not updated:
                conn.execute(agent_accounts.insert().values(name=name, created_at=_now(), **values))

    def get_agent(self, name: str) -> Optional[Dict[str, Any]]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(agent_accounts).where(agent_accounts.c.name == name)
            ).mappings().first()
        return dict(row) if row else None

    def set_agent_password_hash(self, name: str, password_hash: str) -> None:
        """Stores a re-hashed password (argon2 parameters raised since it was set)."""
        with self.engine.begin() as conn:
            conn.execute(agent_accounts.update().where(agent_accounts.c.name == name)
                         .values(password_hash=password_hash))

    # Claims: which agent handles which ticket.

    def claim_ticket(self, ticket_id: int, agent_name: str) -> Dict[str, Any]:
        """Claims an open ticket for ``agent_name``; returns the claim, which names another agent
        when someone claimed it first (the caller compares). Raises ValueError for a missing or
        closed ticket."""
        ticket = self.get_ticket(ticket_id)
        if ticket is None:
            raise ValueError(f"There is no ticket {ticket_id}.")
        if ticket["status"] != TICKET_OPEN:
            raise ValueError(f"Ticket {ticket_reference(ticket_id)} is closed.")
        try:
            with self.engine.begin() as conn:
                conn.execute(ticket_claims.insert().values(
                    ticket_id=ticket_id, agent_name=agent_name, claimed_at=_now()))
        except sa.exc.IntegrityError:
            pass  # claimed by someone else first (or by this agent before)
        claim = self.get_claim(ticket_id)
        assert claim is not None
        return claim

    def get_claim(self, ticket_id: int) -> Optional[Dict[str, Any]]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ticket_claims).where(ticket_claims.c.ticket_id == ticket_id)
            ).mappings().first()
        return dict(row) if row else None

    def finish_ticket(self, ticket_id: int, outcome: str) -> None:
        """Closes the ticket and records how its claim ended (``OUTCOME_RESUMED``/``_CLOSED``)."""
        if outcome not in (OUTCOME_RESUMED, OUTCOME_CLOSED):
            raise ValueError(f"Unknown outcome {outcome!r}.")
        with self.engine.begin() as conn:
            updated = conn.execute(
                tickets.update().where(tickets.c.id == ticket_id).values(status=TICKET_CLOSED)
            ).rowcount
            if not updated:
                raise ValueError(f"There is no ticket {ticket_id}.")
            conn.execute(ticket_claims.update().where(ticket_claims.c.ticket_id == ticket_id)
                         .values(closed_at=_now(), outcome=outcome))

    def tickets_with_claims(self, sender_id: str) -> List[Dict[str, Any]]:
        """The conversation's tickets, oldest first, each with its claim's columns (as ``queue``)."""
        return self._tickets_with_claims(tickets.c.sender_id == sender_id)

    def queue(self, include_closed: bool = False) -> List[Dict[str, Any]]:
        """Tickets (open ones only unless ``include_closed``), oldest first, each with its claim's
        ``agent_name`` / ``claimed_at`` / ``outcome`` (None when unclaimed)."""
        return self._tickets_with_claims(None if include_closed else tickets.c.status == TICKET_OPEN)

    def _tickets_with_claims(self, condition: Any) -> List[Dict[str, Any]]:
        query = (
            sa.select(tickets, ticket_claims.c.agent_name, ticket_claims.c.claimed_at,
                      ticket_claims.c.closed_at, ticket_claims.c.outcome)
            .select_from(tickets.outerjoin(ticket_claims, ticket_claims.c.ticket_id == tickets.c.id))
            .order_by(tickets.c.id)
        )
        if condition is not None:
            query = query.where(condition)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]


def return_reference(return_id: int) -> str:
    """The return id as customers see it."""
    return f"RET-{return_id:05d}"


def ticket_reference(ticket_id: int) -> str:
    """The ticket id as customers see it."""
    return f"TCK-{ticket_id:05d}"


_databases: Dict[str, ShopDatabase] = {}
_lock = threading.Lock()


def get_database(url: Optional[str] = None) -> ShopDatabase:
    """The (created and seeded) database for ``url``; set up once per URL and process."""
    url = url or default_database_url()
    with _lock:
        database = _databases.get(url)
        if database is None:
            database = ShopDatabase(url)
            database.create_schema()
            database.seed_demo_orders()
            _databases[url] = database
        return database
