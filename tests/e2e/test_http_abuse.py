"""HTTP under abuse: the real modpubd and `modpub serve` (http::Server, Boost.Beast) against
clients that misbehave on purpose, while a well-behaved client keeps being answered.

  - many slow-header clients (more than the worker threads) and many idle connections
    do not delay /healthz, .info and a webhook delivery;
  - the request line and headers have a TOTAL deadline: one byte every 0.5 s is still cut;
  - requests pipelined on one connection are all answered, in order;
  - 200 clients connecting at once are all answered (listen backlog 511, not 5);
  - over the connection limit, a client gets 503 with "Connection: close", and the server
    says so in its log (and /metrics for modpubd).
Every loop is bounded; servers are stopped by their own PID."""

import contextlib
import re
import resource
import select
import selectors
import socket
import subprocess
import threading
import time

import pytest

from support import free_port, modpub_bin, publish_small_module, stop_process, wait_for_port
from test_daemon import Daemon, daemons  # noqa: F401
from test_webhook import github, render, repo_subs

MODULE = "corp.example/abuse"
INFO = f"/{MODULE}/@v/v1.0.0.info"
LIST = f"/{MODULE}/@v/list"
MOD = f"/{MODULE}/@v/v1.0.0.mod"
REMOTE = "https://github.corp.example/corp/abuse.git"
SECRET = "abuse-secret"
KINDS = ["modpubd", "serve"]


@pytest.fixture(scope="module", autouse=True)
def many_files():
    """Room for hundreds of client sockets in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Server:
    """modpubd ([proxy] on a tree, one GitHub repository for webhooks) or `modpub serve`
    on the same tree, with the given header deadline, worker threads and connection cap."""

    def __init__(self, kind, base, header_ms, threads=4, max_conns=10000):
        self.kind, self.base = kind, base
        tree = base / "tree"
        if not tree.exists():
            publish_small_module(base, MODULE, "v1.0.0", f"file://{tree}")
        self.log = base / f"{kind}.log"
        if kind == "modpubd":
            self.daemon = Daemon(base, [f"file://{tree}"], [], name=f"d{free_port()}")
            with open(self.daemon.config, "a") as f:
                f.write("\n".join([
                    "[webhook]", f"read_timeout_ms = {header_ms}", "body_deadline_ms = 5000",
                    f"threads = {threads}", f"max_connections = {max_conns}",
                    "[proxy]", f'from = "file://{tree}"',
                    "[[repository]]", 'import_path = "corp.example/abuse"',
                    f'remote_url = "{REMOTE}"', f'webhook_secret = "{SECRET}"',
                    'provider = "github"']) + "\n")
            self.daemon.start().wait_ready()
            self.port, self.proc, self.log = self.daemon.port, self.daemon.proc, self.daemon.log
        else:
            self.port = free_port()
            self.logf = open(self.log, "w")
            self.proc = subprocess.Popen(
                [str(modpub_bin()), "serve", "--from", f"file://{tree}", "--listen",
                 f"127.0.0.1:{self.port}", "--header-deadline-ms", str(header_ms),
                 "--threads", str(threads), "--max-connections", str(max_conns)],
                stdout=self.logf, stderr=subprocess.STDOUT)
            assert wait_for_port(self.port, proc=self.proc), self.text()

    def text(self):
        return self.log.read_text(errors="replace")

    def stop(self):
        if self.kind == "modpubd":
            assert self.daemon.stop() == 0
        else:
            stop_process(self.proc)
            self.logf.close()


@contextlib.contextmanager
def serving(kind, base, **kw):
    s = Server(kind, base, **kw)
    try:
        yield s
    finally:
        s.stop()


def connect(port, timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(sock, buf=b""):
    """One HTTP/1.1 response with a Content-Length from `sock`; returns (status line,
    headers text, body, the bytes after it)."""
    for _ in range(10000):
        if b"\r\n\r\n" in buf:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the headers: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    for _ in range(10000):
        if len(rest) >= length:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        rest += chunk
    return lines[0], "\r\n".join(lines[1:]), rest[:length], rest[length:]


def get(port, path):
    """(status, body, seconds) of one GET on a new connection."""
    start = time.monotonic()
    with connect(port) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        status, _, body, _ = read_response(s)
    return int(status.split()[1]), body, time.monotonic() - start


def p99(values):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * 0.99))]


def open_idle(port, n):
    socks = []
    for _ in range(n):
        socks.append(connect(port))
    return socks


class SlowHeaders:
    """`n` clients each sending a request line, then one more header line every 0.5 s
    (never the blank line), from one thread; stopped by stop() or after `seconds`."""

    def __init__(self, port, n, seconds=30):
        self.socks = [connect(port) for _ in range(n)]
        for s in self.socks:
            s.sendall(f"GET {INFO} HTTP/1.1\r\nHost: x\r\n".encode())
        self.done = threading.Event()
        self.seconds = seconds
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        end = time.monotonic() + self.seconds
        while not self.done.wait(0.5) and time.monotonic() < end:
            for s in self.socks:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-Slow: 1\r\n")

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)
        for s in self.socks:
            s.close()


@pytest.mark.parametrize("kind", KINDS)
def test_slow_and_idle_clients_do_not_delay_a_good_client(tmp_path, kind):
    """64 slow-header clients (16 times the 4 worker threads) and 500 idle connections:
    /healthz, .info and a webhook delivery are still answered at once. (The 100 ms p99
    with 500 + 2,000 such clients is bench/abuse's; here the bound is generous for CI.)"""
    with serving(kind, tmp_path, header_ms=20000, threads=4) as srv:
        slow = SlowHeaders(srv.port, 64)
        idle = open_idle(srv.port, 500)
        try:
            time.sleep(1.0)  # the slow ones have sent a few lines; every connection accepted
            paths = [INFO, LIST] + (["/healthz"] if kind == "modpubd" else [])
            times = []
            ping = render("github_ping.json", **repo_subs("corp/abuse", REMOTE))
            for _ in range(20):
                for path in paths:
                    status, body, took = get(srv.port, path)
                    assert status == 200, (path, status, body)
                    times.append(took)
                if kind == "modpubd":
                    start = time.monotonic()
                    assert github(srv.port, "ping", ping, secret=SECRET)[0] == 200
                    times.append(time.monotonic() - start)
            assert p99(times) < 1.0, (p99(times), sorted(times)[-5:])
        finally:
            slow.stop()
            for s in idle:
                s.close()


@pytest.mark.parametrize("kind", KINDS)
def test_header_deadline_is_total_not_per_read(tmp_path, kind):
    """One byte every 0.5 s never waits a whole 2 s read timeout, yet the connection is
    cut at the 2 s header deadline."""
    with serving(kind, tmp_path, header_ms=2000) as srv:
        with connect(srv.port) as s:
            request = f"GET {INFO} HTTP/1.1\r\nHost: x\r\nX-Pad: {'a' * 100}\r\n".encode()
            start = time.monotonic()
            cut_after = None
            for i in range(60):  # 30 s at most
                try:
                    s.sendall(request[i % len(request):i % len(request) + 1])
                    s.settimeout(0.5)
                    data = s.recv(4096)
                    if not data:
                        cut_after = time.monotonic() - start
                        break
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    cut_after = time.monotonic() - start
                    break
            assert cut_after is not None, "a client trickling headers was never cut"
            assert 1.5 <= cut_after < 4.5, cut_after
        # The server still answers.
        assert get(srv.port, INFO)[0] == 200


@pytest.mark.parametrize("kind", KINDS)
def test_pipelined_requests_are_answered_in_order(tmp_path, kind):
    with serving(kind, tmp_path, header_ms=5000) as srv, connect(srv.port) as s:
        s.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                           for p in (INFO, LIST, MOD)))
        s.settimeout(10)
        answers, rest = [], b""
        for _ in range(3):
            status, _, body, rest = read_response(s, rest)
            answers.append((status, body))
        assert [a[0] for a in answers] == ["HTTP/1.1 200 OK"] * 3, answers
        assert answers[0][1].startswith(b'{"Version":"v1.0.0"')
        assert answers[1][1] == b"v1.0.0\n"
        assert answers[2][1].startswith(b"module corp.example/abuse")
        # The connection is still usable after the three.
        s.sendall(f"GET {INFO} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert read_response(s, rest)[0] == "HTTP/1.1 200 OK"


def burst(port, n, request, seconds=10.0):
    """`n` non-blocking connects issued back to back from one thread (a real burst of
    SYNs), each then sending `request` and reading to EOF; returns, per client, (answer,
    seconds from the burst's start to the end of the answer, or None when not done)."""
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    clients = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        clients.append({"sock": s, "sent": False, "data": b"", "took": None})
        sel.register(s, selectors.EVENT_WRITE, i)
    pending = n
    while pending and time.monotonic() - start < seconds:
        for key, _ in sel.select(timeout=0.1):
            c = clients[key.data]
            try:
                if not c["sent"]:
                    c["sock"].sendall(request)
                    c["sent"] = True
                    sel.modify(c["sock"], selectors.EVENT_READ, key.data)
                    continue
                chunk = c["sock"].recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                chunk, c["data"] = b"", c["data"] + repr(e).encode()
            if chunk:
                c["data"] += chunk
                continue
            c["took"] = time.monotonic() - start
            sel.unregister(c["sock"])
            c["sock"].close()
            pending -= 1
    for c in clients:
        if c["took"] is None:
            c["sock"].close()
    sel.close()
    return [(c["data"], c["took"]) for c in clients]


@pytest.mark.parametrize("kind", KINDS)
def test_200_simultaneous_connects_are_all_answered(tmp_path, kind):
    """With a listen backlog of 5, a burst of connects overflows the accept queue: the
    kernel drops them and the clients retry after 1 s (or give up); with 511, every one
    is answered promptly."""
    with serving(kind, tmp_path, header_ms=10000) as srv:
        request = f"GET {INFO} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        results = burst(srv.port, 200, request)
        failed = [r for r in results if not r[0].startswith(b"HTTP/1.1 200 ") or r[1] is None]
        assert not failed, (len(failed), failed[:3])
        slowest = max(r[1] for r in results)
        assert slowest < 1.0, slowest  # a dropped SYN is retried after 1 s


@pytest.mark.parametrize("kind", KINDS)
def test_connections_over_the_limit_are_refused_clearly(tmp_path, kind):
    with serving(kind, tmp_path, header_ms=20000, max_conns=32) as srv:
        # The readiness probe's connection may linger for up to 1 s after its answer (the
        # server waits for the client's close): let it go, so the 32 below are the only ones.
        time.sleep(1.5)
        held = open_idle(srv.port, 32)
        try:
            time.sleep(0.5)  # all accepted
            readable, _, _ = select.select(held, [], [], 0)
            assert not readable, "a connection within the limit was answered or closed"
            with connect(srv.port) as s:
                s.sendall(f"GET {INFO} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                status, headers, body, _ = read_response(s)
                assert status == "HTTP/1.1 503 Service Unavailable", (status, body)
                assert "Connection: close" in headers
                assert b"too many connections" in body
                s.settimeout(5)
                assert s.recv(100) == b""  # and closed
        finally:
            for h in held:
                h.close()
        # Room again once they are gone.
        status = None
        for _ in range(50):
            status = get(srv.port, INFO)[0]
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200
        if kind == "modpubd":
            _, metrics, _ = get(srv.port, "/metrics")
            # 1, or more when a retry above came before the server saw the closes.
            refused = re.search(rb"^modpub_http_connections_refused_total (\d+)$", metrics, re.M)
            assert refused and int(refused.group(1)) >= 1, metrics
        time.sleep(0.2)
        assert "refused 1 connection(s) with 503" in srv.text(), srv.text()


@pytest.mark.parametrize("kind", KINDS)
def test_oversized_headers_are_refused(tmp_path, kind):
    with serving(kind, tmp_path, header_ms=5000) as srv, connect(srv.port) as s:
        s.sendall(f"GET {INFO} HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * 40000}\r\n\r\n".encode())
        status, headers, _, _ = read_response(s)
        assert status.startswith("HTTP/1.1 431"), status
        assert "Connection: close" in headers
