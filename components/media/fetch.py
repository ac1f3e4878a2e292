"""Fetching media over http(s) without letting a customer's URL reach the bot's own network.

How it stays safe (the honest, simple approach):
- The host name is resolved here (getaddrinfo, under the time budget) and every address is
  checked; private, loopback, link-local, multicast, reserved, unspecified and other
  non-global addresses are refused unless ``allow_private_urls`` (or the address is in one of
  ``allowed_private_networks``). All addresses of a name must pass, not just the first.
  The connection then goes to the checked IP itself (Host header and TLS SNI/certificate
  still use the name), so a DNS answer that changes between check and connect (DNS
  rebinding) cannot redirect it.
- Redirects are followed by hand, at most ``max_redirects``; every hop is parsed, resolved and
  checked again, and only http/https is allowed.
- One deadline (``url_timeout_s``) covers the whole fetch: DNS, connect, TLS handshake, the
  request, the status line and headers, every body read and every redirect hop. The sockets
  are ``_DeadlineSocket`` / ``_DeadlineSSLSocket``: before each blocking call their timeout is
  set to what is left of the budget, so a server that drips headers or body one byte at a time
  is cut off when the budget is spent, not after a per-read timeout that each byte renews.
- The size cap is enforced while streaming (``CappedBody``); Content-Length only lets us refuse
  early.
- Environment proxies are not used (a proxy would make the address check meaningless).
- Slack private file URLs get ``Authorization: Bearer <slack_bot_token>`` only for files of a
  Slack event (the Slack channel lists them under ``constants.SLACK_FILE_URLS``; a Slack URL
  from a REST or web chat customer gets no token), and only hosts of Slack get it: a redirect
  elsewhere loses the token.

``check_response``, ``redirect_target`` and ``CappedBody`` are the one reading of an HTTP answer
(status, Slack's login page, redirects, size cap); the Slack channel's own downloader, which
fetches with aiohttp and sends its token only to Slack's hosts, uses them too.
"""

import concurrent.futures
import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple, Union

from components.media import errors
from components.media.policy import MediaPolicy

# Bytes asked for per read while streaming a body.
CHUNK_BYTES = 64 * 1024
# HTTP statuses that are redirects; each hop is followed by hand and checked again.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SLACK_HOST_SUFFIXES = (".slack.com", ".slack-edge.com")
_USER_AGENT = "rasa-multimodal-media/1.0"

# getaddrinfo has no timeout of its own; it runs on these threads so the budget still holds.
_DNS_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="media-dns")


def is_slack_file_host(host: str) -> bool:
    """True for hosts serving Slack files (files.slack.com and other Slack domains)."""
    host = host.lower().rstrip(".")
    return host == "slack.com" or host.endswith(_SLACK_HOST_SUFFIXES)


def address_is_public(address: str) -> bool:
    """True when ``address`` is a globally routable unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _address_allowed(address: str, policy: MediaPolicy) -> bool:
    """Public, or inside a private network the bot builder trusts (allowed_private_networks)."""
    if address_is_public(address):
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(
        ip.version == net.version and ip in net
        for net in (ipaddress.ip_network(n, strict=False) for n in policy.allowed_private_networks)
    )


class _Deadline:
    """Seconds left of one fetch's time budget."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises TimeoutError when the budget is spent."""
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("time budget spent")
        return remaining


def _resolve_host(host: str, port: int, deadline: _Deadline) -> List[str]:
    """Addresses of ``host`` (literal IPs pass through), within the time budget."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    future = _DNS_POOL.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    infos = future.result(timeout=deadline.left())
    addresses: List[str] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    return addresses


class _DeadlineMixin:
    """Socket methods that block, each given only what is left of the fetch's deadline.

    Python's socket timeout is per call (each ``recv`` gets the full timeout again), and
    http.client reads the status line and headers through many small ``recv`` calls: without
    this a server sending one header byte per second would hold the fetch for as long as it
    likes. A spent deadline raises TimeoutError from the call that would have blocked."""

    deadline: Optional[_Deadline] = None

    def _arm(self) -> None:
        if self.deadline is not None:
            self.settimeout(self.deadline.left())  # type: ignore[attr-defined]

    def recv(self, *args: Any) -> bytes:
        self._arm()
        return super().recv(*args)  # type: ignore[misc]

    def recv_into(self, *args: Any) -> int:
        self._arm()
        return super().recv_into(*args)  # type: ignore[misc]

    def send(self, *args: Any) -> int:
        self._arm()
        return super().send(*args)  # type: ignore[misc]

    def sendall(self, *args: Any) -> None:
        self._arm()
        return super().sendall(*args)  # type: ignore[misc]


class _DeadlineSocket(_DeadlineMixin, socket.socket):
    """A TCP socket whose blocking calls share one deadline."""


class _DeadlineSSLSocket(_DeadlineMixin, ssl.SSLSocket):
    """A TLS socket whose blocking calls share one deadline (the handshake included: CPython
    bounds a whole handshake by the socket timeout set just before it)."""


def _connect(ip: str, port: int, deadline: _Deadline) -> _DeadlineSocket:
    """A TCP connection to the checked ``ip``, within the deadline."""
    family = socket.AF_INET6 if ipaddress.ip_address(ip.split("%", 1)[0]).version == 6 else socket.AF_INET
    sock = _DeadlineSocket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(deadline.left())
        sock.connect((ip, port))
        sock.deadline = deadline
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP connection to a fixed, already checked IP, with the URL's host in the Host header;
    every blocking call on it shares the fetch's deadline."""

    def __init__(self, host: str, port: int, ip: str, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.left())
        self._ip = ip
        self._deadline = deadline

    def connect(self) -> None:
        """Connects to the checked IP instead of resolving the host again."""
        self.sock = _connect(self._ip, self.port, self._deadline)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed IP; the certificate is still checked against the URL's host name."""

    def __init__(self, host: str, port: int, ip: str, deadline: _Deadline) -> None:
        self._tls = ssl.create_default_context()
        self._tls.sslsocket_class = _DeadlineSSLSocket
        super().__init__(host, port, timeout=deadline.left(), context=self._tls)
        self._ip = ip
        self._deadline = deadline

    def connect(self) -> None:
        """Connects to the checked IP and wraps TLS with SNI and hostname check for the host."""
        sock = _connect(self._ip, self.port, self._deadline)
        sock.deadline = None  # the handshake is bounded by the timeout set here
        sock.settimeout(self._deadline.left())
        tls = self._tls.wrap_socket(sock, server_hostname=self.host)
        tls.deadline = self._deadline
        self.sock = tls


def _parse_url(url: str, source: str, kind: Optional[str]) -> urllib.parse.SplitResult:
    """Split URL, refusing other schemes, missing hosts and embedded credentials."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise errors.make_error(errors.BAD_REFERENCE, source, kind) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise errors.make_error(errors.BAD_REFERENCE, source, kind)
    if parts.username is not None or parts.password is not None:
        raise errors.make_error(errors.BAD_REFERENCE, source, kind)
    return parts


def check_response(
    status: int,
    content_type: Optional[str],
    source: str,
    kind: Optional[str],
    from_slack: bool = False,
) -> None:
    """Raises the AttachmentError a final (non-redirect) answer stands for; returns for 200.

    404/410 -> not_found, 401/403 -> unauthorized, anything else but 200 -> unreachable. A 200
    HTML page from Slack (``from_slack``) is its sign-in page, the answer to a missing or
    under-scoped token: unauthorized, not a photo.
    """
    if status in (404, 410):
        raise errors.make_error(errors.NOT_FOUND, source, kind)
    if status in (401, 403):
        raise errors.make_error(errors.UNAUTHORIZED, source, kind)
    if status != 200:
        raise errors.make_error(errors.UNREACHABLE, source, kind)
    if from_slack and (content_type or "").lower().startswith("text/html"):
        raise errors.make_error(errors.UNAUTHORIZED, source, kind)


def redirect_target(
    url: str, status: int, location: Optional[str], source: str, kind: Optional[str]
) -> Optional[str]:
    """The absolute URL a redirect answer points to, None for an answer that is no redirect;
    a redirect without a Location header is unreachable."""
    if status not in REDIRECT_STATUSES:
        return None
    if not location:
        raise errors.make_error(errors.UNREACHABLE, source, kind)
    return urllib.parse.urljoin(url, location)


class CappedBody:
    """A response body collected chunk by chunk and refused (``too_large``) as soon as it
    passes ``limit`` bytes: a declared Content-Length over the cap is refused before reading,
    and a body without one (or lying about it) is cut off while streaming."""

    def __init__(
        self,
        limit: int,
        source: str,
        kind: Optional[str],
        declared_length: Union[str, int, None] = None,
    ) -> None:
        """Raises ``too_large`` at once when the declared length is over ``limit``."""
        self.limit = limit
        self._too_large = errors.make_error(
            errors.TOO_LARGE, source, kind, limit=errors.human_size(limit)
        )
        self._chunks: List[bytes] = []
        self._received = 0
        declared = str(declared_length).strip() if declared_length is not None else ""
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large

    def add(self, chunk: bytes) -> None:
        """Keeps ``chunk``; raises ``too_large`` when the body passes the cap with it."""
        self._received += len(chunk)
        if self._received > self.limit:
            raise self._too_large
        self._chunks.append(chunk)

    def value(self) -> bytes:
        """The body received so far."""
        return b"".join(self._chunks)


def fetch_url(
    url: str,
    policy: MediaPolicy,
    source: str,
    kind: Optional[str] = None,
    slack_token: Optional[str] = None,
) -> Tuple[bytes, Optional[str]]:
    """(body, Content-Type) of an http(s) URL under the policy; raises AttachmentError.
    ``slack_token`` (only for files of a Slack event: ``resolve.slack_token_for``) goes to
    https Slack file hosts only, on every hop."""
    deadline = _Deadline(policy.url_timeout_s)
    limit = policy.max_bytes(kind)
    current = url
    try:
        for _hop in range(policy.max_redirects + 1):
            parts = _parse_url(current, source, kind)
            status, headers, body = _request_once(
                parts, policy, source, kind, limit, deadline, slack_token
            )
            target = redirect_target(current, status, headers.get("location"), source, kind)
            if target is not None:
                current = target
                continue
            content_type = headers.get("content-type")
            check_response(
                status, content_type, source, kind, is_slack_file_host(parts.hostname or "")
            )
            return body, content_type
        raise errors.make_error(errors.UNREACHABLE, source, kind)  # too many redirects
    except (TimeoutError, concurrent.futures.TimeoutError, socket.timeout) as exc:
        raise errors.make_error(errors.UNREACHABLE, source, kind) from exc
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        raise errors.make_error(errors.UNREACHABLE, source, kind) from exc


def _checked_addresses(
    host: str, port: int, policy: MediaPolicy, source: str, kind: Optional[str], deadline: _Deadline
) -> List[str]:
    """Every address of ``host``, each allowed by the policy (the SSRF check); raises otherwise."""
    try:
        addresses = _resolve_host(host, port, deadline)
    except socket.gaierror as exc:
        raise errors.make_error(errors.UNREACHABLE, source, kind) from exc
    if not addresses:
        raise errors.make_error(errors.UNREACHABLE, source, kind)
    if not policy.allow_private_urls and not all(_address_allowed(a, policy) for a in addresses):
        raise errors.make_error(errors.PRIVATE_ADDRESS, source, kind)
    return addresses


def request_headers(host: str, https: bool, slack_token: Optional[str]) -> Dict[str, str]:
    """Headers of a media GET; ``slack_token`` only for https Slack file hosts."""
    headers = {
        "User-Agent": _USER_AGENT,
        "Accept": "image/*, audio/*, video/webm, video/mp4;q=0.5, */*;q=0.1",
        "Accept-Encoding": "identity",
    }
    if slack_token and https and is_slack_file_host(host):
        headers["Authorization"] = f"Bearer {slack_token}"
    return headers


def _request_once(
    parts: urllib.parse.SplitResult,
    policy: MediaPolicy,
    source: str,
    kind: Optional[str],
    limit: int,
    deadline: _Deadline,
    slack_token: Optional[str],
) -> Tuple[int, Dict[str, str], bytes]:
    """One GET to a checked address; redirect responses come back without a body."""
    host = parts.hostname or ""
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    addresses = _checked_addresses(host, port, policy, source, kind, deadline)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers_out = request_headers(host, https, slack_token)
    connection_class = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    last_error: Optional[BaseException] = None
    for ip in addresses:
        connection = connection_class(host, port, ip, deadline)
        try:
            connection.request("GET", path, headers=headers_out)
            # Closing the response closes the socket it took over: a body refused half-way must
            # not keep the connection (and the server's writes) open until garbage collection.
            with connection.getresponse() as response:
                headers = {k.lower(): v for k, v in response.getheaders()}
                if response.status != 200:  # a redirect or an error: the body is not needed
                    return response.status, headers, b""
                body = _read_capped(response, headers, limit, source, kind, deadline)
                return response.status, headers, body
        except (ConnectionError, socket.timeout) as exc:
            last_error = exc  # try the next address of the same, already checked, host
        finally:
            connection.close()
    assert last_error is not None
    raise last_error


def _read_capped(
    response: http.client.HTTPResponse,
    headers: Dict[str, str],
    limit: int,
    source: str,
    kind: Optional[str],
    deadline: _Deadline,
) -> bytes:
    """The body, stopping as soon as it passes ``limit`` bytes or the deadline (each read is
    bounded by the socket's deadline too, and an end of data after the deadline is no body)."""
    body = CappedBody(limit, source, kind, headers.get("content-length"))
    while True:
        deadline.left()
        chunk = (
            response.read1(CHUNK_BYTES) if hasattr(response, "read1") else response.read(CHUNK_BYTES)
        )
        if not chunk:
            deadline.left()
            return body.value()
        body.add(chunk)
