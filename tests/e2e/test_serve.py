"""`modpub serve` and the nginx auth example with the real go command: serving the Athens
disk layout (no checksum database, GONOSUMDB), HEAD and conditional requests over HTTP,
and examples/nginx/goproxy-auth.conf.template (auth_basic over TLS) with .netrc."""

import base64
import http.client
import os
import shutil
import ssl
import string
import subprocess
from pathlib import Path

import pytest

from support import (REPO_ROOT, clean_gopath, each_go, free_port, go_download, go_env,
                     make_cert, needs_go, publish_small_module, run_modpub, wait_for_port,
                     write_netrc)

pytestmark = needs_go

MOD = "corp.example/Tools"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    work = tmp_path_factory.mktemp("serve")
    tree, athens = work / "tree", work / "athens"
    lines = publish_small_module(work, MOD, "v0.2.0", f"file://{tree}", f"athens-disk://{athens}")
    return {"work": work, "tree": tree, "athens": athens, "sum": lines[0]["Sum"]}


def downloads_published(work: Path, url, name, gotool, want_sum):
    """`go mod download` of MOD@v0.2.0 from `url` by `gotool` gets the published zip."""
    app = work / f"app-{name}-{gotool.label}"
    app.mkdir()
    env = go_env(app, url, work / "gocache", gotool)
    rc, data, err = go_download(f"{MOD}@v0.2.0", env, app)
    clean_gopath(env)
    assert rc == 0, err
    assert data["Sum"] == want_sum


def request(url, method, path, headers=None, context=None):
    scheme, rest = url.split("://")
    host, port = rest.split(":")
    if scheme == "https":
        c = http.client.HTTPSConnection(host, int(port), timeout=30, context=context)
    else:
        c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()


@each_go
def test_serve_athens_layout_to_go(published, gotool):
    """The same routes over Athens's disk layout: go downloads from it."""
    work = published["work"]
    with serving_athens(published["athens"]) as url:
        downloads_published(work, url, "athens", gotool, published["sum"])
        st, hdr, body = request(url, "HEAD", "/corp.example/%21tools/@v/v0.2.0.zip")
        assert st == 200 and body == b"" and int(hdr["Content-Length"]) > 0
        st, hdr, _ = request(url, "GET", "/corp.example/%21tools/@v/v0.2.0.info")
        assert st == 200
        st, _, body = request(url, "GET", "/corp.example/%21tools/@v/v0.2.0.info",
                              {"If-None-Match": hdr["ETag"]})
        assert st == 304 and body == b""
        st, _, body = request(url, "GET", "/corp.example/%21tools/@latest")
        assert st == 200 and b'"v0.2.0"' in body
        assert request(url, "GET", "/corp.example/%21tools/@v/v0.3.0.info")[0] == 404
        assert request(url, "GET", "/.modpub-sig/x/@v/list")[0] == 400


class serving_athens:
    def __init__(self, root, prefix=""):
        self.root = root
        self.prefix = prefix

    def __enter__(self):
        port = free_port()
        self.proc = subprocess.Popen(
            [os.environ.get("MODPUB_BIN", "build/bin/modpub"), "serve", "--from",
             f"athens-disk://{self.root}", "--listen", f"127.0.0.1:{port}",
             *(["--prefix", self.prefix] if self.prefix else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for_port(port, proc=self.proc), "modpub serve did not start"
        return f"http://127.0.0.1:{port}{self.prefix}"

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@each_go
def test_serve_under_a_prefix(published, gotool):
    work = published["work"]
    with serving_athens(published["athens"], "/goproxy") as url:
        downloads_published(work, url, "prefix", gotool, published["sum"])
        base = url.removesuffix("/goproxy")
        assert request(base, "GET", "/corp.example/%21tools/@v/list")[0] == 404


@pytest.mark.skipif(not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists(),
                    reason="nginx is not installed")
@each_go
def test_nginx_auth_basic_example_with_netrc(published, gotool):
    work = published["work"]
    prefix = work / f"nginx-auth-{gotool.label}"
    prefix.mkdir()
    cert, key = make_cert(prefix)
    h = run_modpub("auth-hash", input="alice-pw\n")
    assert h.returncode == 0, h.stderr
    htpasswd = prefix / "htpasswd"
    htpasswd.write_text(f"alice:{h.stdout.strip()}\n")
    port = free_port()
    template = REPO_ROOT / "examples" / "nginx" / "goproxy-auth.conf.template"
    conf = prefix / "nginx.conf"
    conf.write_text(string.Template(template.read_text()).safe_substitute(
        NGINX_USER="root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
        NGINX_PREFIX=str(prefix), GOPROXY_LISTEN=f"127.0.0.1:{port}",
        GOPROXY_ROOT=str(published["tree"]), GOPROXY_HTPASSWD=str(htpasswd),
        TLS_CERT=str(cert), TLS_KEY=str(key)))
    proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-e",
                             str(prefix / "error.log"), "-p", str(prefix), "-c", str(conf), "-g",
                             "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port, proc=proc), (prefix / "error.log").read_text()
        url = f"https://127.0.0.1:{port}"
        ctx = ssl.create_default_context(cafile=str(cert))
        path = "/corp.example/%21tools/@v/list"
        assert request(url, "GET", path, context=ctx)[0] == 401
        bad = {"Authorization": "Basic " + base64.b64encode(b"alice:nope").decode()}
        assert request(url, "GET", path, bad, context=ctx)[0] == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"alice:alice-pw").decode()}
        st, _, body = request(url, "GET", path, good, context=ctx)
        assert st == 200 and body == b"v0.2.0\n"
        # go with .netrc over https.
        app = work / f"app-nginx-auth-{gotool.label}"
        app.mkdir()
        env = go_env(app, url, work / "gocache", gotool)
        env["SSL_CERT_FILE"] = str(cert)
        write_netrc(env, url, "alice", "alice-pw")
        rc, data, err = go_download(f"{MOD}@v0.2.0", env, app)
        assert rc == 0, err
        assert data["Sum"] == published["sum"]
        clean_gopath(env)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
