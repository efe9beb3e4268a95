"""S3 servers for the end-to-end tests and bench/s3, and a way to let `go` read a bucket.

- `s3d(work, *flags)`: ../shared/s3-test-server/s3d.py (strict SigV4, conditional writes,
  fault injection) on a free loopback port; skips the test when it or python is absent.
- `s3rver(work)`: npm's s3rver from tools/node_modules (installed by scripts/install-deps);
  skips when absent. It does not honour If-None-Match / If-Match: see test_s3.py.
- `S3Client`: a small independent SigV4 client (standard library only) to read back,
  list, and tamper with objects.
- `modpub_serving(server, url, log)`: `modpub serve --from s3://…` on a free loopback
  port, reading the bucket with signed GETs (the strict server refuses anonymous reads,
  so a plain static proxy cannot sit in front of it).

Every server is stopped by its own PID. Standard library only.
"""

import contextlib
import datetime
import hashlib
import hmac
import http.client
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
BUCKET = "modules"
REGION = "us-east-1"


def s3d_script():
    """s3d.py: $MODPUB_S3D, else ../shared/s3-test-server beside the repository (or
    /work/shared), else None."""
    if "MODPUB_S3D" in os.environ:  # that one only (a missing file tests the skip)
        p = Path(os.environ["MODPUB_S3D"])
        return p if p.is_file() else None
    candidates = [REPO_ROOT.parent / "shared" / "s3-test-server" / "s3d.py",
                  Path("/work/shared/s3-test-server/s3d.py")]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def s3rver_bin():
    p = REPO_ROOT / "tools" / "node_modules" / ".bin" / "s3rver"
    return p if p.exists() and shutil.which("node") else None


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    pid: int
    log: Path = None

    @property
    def port(self):
        return int(self.endpoint.rsplit(":", 1)[1])

    def url(self, prefix, layout="goproxy", **params):
        q = {"endpoint": self.endpoint, "region": REGION, "layout": layout, **params}
        return f"s3://{self.bucket}/{prefix}?" + "&".join(f"{k}={v}" for k, v in q.items())

    def env(self, secret=None):
        """The environment for `modpub` to use this server's credentials."""
        e = {"AWS_ACCESS_KEY_ID": self.access_key,
             "AWS_SECRET_ACCESS_KEY": secret or self.secret_key}
        return e

    def client(self):
        return S3Client(self.endpoint, self.access_key, self.secret_key, self.bucket)


@contextlib.contextmanager
def s3d(work: Path, *flags, access_key="e2e-access", secret_key="e2e-secret"):
    script = s3d_script()
    if script is None:
        pytest.skip("../shared/s3-test-server is absent")
    if not os.path.exists(PYTHON):
        pytest.skip("python3 is missing")
    work.mkdir(parents=True, exist_ok=True)
    port_file = work / "s3d.port"
    log = work / "s3d.log"
    with contextlib.suppress(FileNotFoundError):
        port_file.unlink()
    proc = subprocess.Popen(
        [PYTHON, str(script), "--root", str(work / "s3d-data"), "--port", "0", "--port-file",
         str(port_file), "--access-key", access_key, "--secret-key", secret_key, "--bucket",
         BUCKET, "--log", str(log), *map(str, flags)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("s3d did not start: " + (
                    proc.stderr.read().decode() if proc.poll() is not None else "timeout"))
            time.sleep(0.05)
        port = int(port_file.read_text())
        yield S3Server(f"http://127.0.0.1:{port}", access_key, secret_key, BUCKET, proc.pid, log)
    finally:
        stop_process(proc)


@contextlib.contextmanager
def s3rver(work: Path):
    """npm s3rver with its default credentials (S3RVER/S3RVER) and one bucket."""
    binary = s3rver_bin()
    if binary is None:
        pytest.skip("s3rver is not installed (scripts/install-deps installs it under tools/)")
    from support import free_port, wait_for_port
    data = work / "s3rver-data"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "--silent",
         "--no-vhost-buckets", "--configure-bucket", BUCKET],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_for_port(port, timeout=20, proc=proc):
            raise AssertionError("s3rver did not start: " + (
                proc.stderr.read().decode() if proc.poll() is not None else "timeout"))
        yield S3Server(f"http://127.0.0.1:{port}", "S3RVER", "S3RVER", BUCKET, proc.pid)
    finally:
        stop_process(proc)


# --- an independent SigV4 client --------------------------------------------------------------

def _uri_encode(s, slash=True):
    return urllib.parse.quote(s, safe="-_.~" + ("/" if slash else ""))


class S3Client:
    def __init__(self, endpoint, access_key, secret_key, bucket):
        u = urllib.parse.urlsplit(endpoint)
        self.host, self.port = u.hostname, u.port
        self.access_key, self.secret_key, self.bucket = access_key, secret_key, bucket
        self._local = threading.local()

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return c

    def request(self, method, key="", query=None, body=b"", headers=None):
        """One signed request; 5xx answers (injected faults) and lost connections retried."""
        for attempt in range(30):
            try:
                status, hdrs, data = self._request_once(method, key, query, body, headers)
            except (http.client.HTTPException, OSError):
                self._local.conn = None
                if attempt == 29:
                    raise
                continue
            if status < 500 or attempt == 29:
                return status, hdrs, data
            time.sleep(0.01)

    def _request_once(self, method, key, query, body, headers):
        path = "/" + _uri_encode(self.bucket) + ("/" + _uri_encode(key) if key else "")
        q = "&".join(f"{_uri_encode(k, False)}={_uri_encode(v, False)}"
                     for k, v in sorted((query or {}).items()))
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        payload = hashlib.sha256(body).hexdigest()
        h = {"host": f"{self.host}:{self.port}", "x-amz-date": amz_date,
             "x-amz-content-sha256": payload}
        for k, v in (headers or {}).items():
            h[k.lower()] = v
        signed = sorted(h)
        creq = "\n".join([method, path, q, "".join(f"{k}:{h[k].strip()}\n" for k in signed),
                          ";".join(signed), payload])
        scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + self.secret_key).encode()
        for part in (amz_date[:8], REGION, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        h["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                              f"SignedHeaders={';'.join(signed)}, Signature={sig}")
        c = self._conn()
        c.request(method, path + ("?" + q if q else ""), body=body, headers=h)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()

    def get(self, key):
        """The object's bytes, or None when absent."""
        status, _, data = self.request("GET", key)
        if status == 404:
            return None
        assert status == 200, f"GET {key}: {status} {data[:300]!r}"
        return data

    def put(self, key, data):
        status, _, body = self.request("PUT", key, body=data)
        assert status == 200, f"PUT {key}: {status} {body[:300]!r}"

    def keys(self, prefix=""):
        """Every key under prefix -> size (ListObjectsV2 with continuation tokens)."""
        out, token = {}, None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            status, _, body = self.request("GET", query=q)
            assert status == 200, f"LIST {prefix}: {status} {body[:300]!r}"
            root = ET.fromstring(body)
            ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for c in root.iter(f"{ns}Contents"):
                out[c.find(f"{ns}Key").text] = int(c.find(f"{ns}Size").text)
            if (root.findtext(f"{ns}IsTruncated") or "false") != "true":
                return out
            token = root.findtext(f"{ns}NextContinuationToken")


# --- go reading a bucket -----------------------------------------------------------------------

def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def modpub_serving(server: S3Server, url: str, log: Path):
    """GOPROXY=http://127.0.0.1:PORT: `modpub serve --from <s3 url>` reading the bucket
    with the server's credentials (the strict server refuses anonymous reads). Its stderr
    goes to `log`; stopped by its own PID."""
    binary = os.environ.get("MODPUB_BIN", str(REPO_ROOT / "build" / "bin" / "modpub"))
    env = {**os.environ, **server.env()}
    port = _free_port()
    with open(log, "wb") as err:
        proc = subprocess.Popen([binary, "serve", "--from", url, "--listen", f"127.0.0.1:{port}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise AssertionError("modpub serve exited: " + log.read_text())
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("modpub serve did not start: " + log.read_text())
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
