"""`modpub publish --to s3://…` against two independent S3 implementations, read by a real
`go`:

- ../shared/s3-test-server (s3d: strict SigV4, conditional writes, fault injection). It
  refuses anonymous reads, so go fetches through `modpub serve --from s3://…`, which reads
  the bucket with signed GETs into a local cache (s3_servers.modpub_serving).
- npm s3rver (tools/node_modules, from scripts/install-deps), which allows anonymous
  reads: go fetches through Debian's nginx proxying to the bucket. s3rver ignores
  If-None-Match and If-Match, so against it modpub's create-only writes and the list's
  compare-and-swap are plain PUTs: one publisher works (each publish still compares what
  is stored first and refuses different content), but two publishers of one module at the
  same moment could overwrite each other's list update and lose an entry, and a different
  object written between modpub's check and its write would be overwritten. The race and
  fault tests therefore run against s3d only.

Skips cleanly when s3d, python, s3rver, nginx or go is absent.
"""

import http.client
import os
import shutil
import string
import subprocess
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import support

from s3_servers import modpub_serving, s3d, s3rver
from support import (GO_TOOLS, GitRepo, escape, free_port, go, go_download, go_env, h1_of_zip,
                     json_lines, needs_go, publish, run_modpub, semver_key, wait_for_port)

pytestmark = needs_go

LIB = "corp.example/S3Lib"  # upper case: "!"-escaped in keys, %21 over HTTP


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="module")
def lib(work):
    r = GitRepo(work, "s3lib")
    r.write("go.mod", f"module {LIB}\n\ngo 1.19\n")
    r.write("lib.go", 'package lib\n\nfunc Name() string { return "v1.0" }\n')
    r.commit("v1.0.0")
    r.tag("v1.0.0")
    r.write("lib.go", 'package lib\n\nfunc Name() string { return "v1.1" }\n')
    r.commit("v1.1.0")
    r.tag("v1.1.0")
    return r


def many_versions(work, name, module, versions):
    """A repository of `module` with one tag per version (tiny commits)."""
    r = GitRepo(work, name)
    r.write("go.mod", f"module {module}\n\ngo 1.19\n")
    for v in versions:
        r.write("x.go", f'package x\n\nconst V = "{v}"\n')
        r.commit(v)
        r._git("tag", v)
    r.push()
    return r


def results(proc):
    return [(j["Path"], j["Version"], j["Result"]) for j in json_lines(proc.stdout)]


def go_fetches(work: Path, goproxy, name, module, versions):
    """`go mod download` of each version and `go list -m -versions` through `goproxy`, by
    every installed go; they must agree. Returns what they saw."""
    seen = []
    for tool in GO_TOOLS:
        app = work / f"app-{name}-{tool.label}"
        app.mkdir()
        (app / "go.mod").write_text("module corp.example/app\n\ngo 1.19\n")
        env = go_env(app, goproxy, work / "gocache", tool)
        try:
            sums = {}
            for v in versions:
                rc, data, err = go_download(f"{module}@{v}", env, app)
                assert rc == 0, f"{tool.version}: {err}"
                assert data["Sum"] == h1_of_zip(data["Zip"])
                sums[v] = data["Sum"]
            listed = go("list", "-m", "-versions", module, env=env, cwd=app).stdout.split()
            seen.append((sums, listed[1:]))
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(app)], check=False)
    assert all(s == seen[0] for s in seen), seen
    return seen[0]


def keygen(out: Path):
    """A signer key file and its verifier key (modpub keygen)."""
    return support.keygen(out, "s3.corp.example")


def publish_signed(repo, tag, url, srv, signer):
    return run_modpub("publish", "--repo", repo.bare, "--import-path", LIB, "--tag", tag,
                      "--to", url, "--sign-key", signer, env=srv.env())


def http_get(base, path):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_publish_signed_to_strict_s3_then_go_downloads_through_modpub_serve(work, lib):
    signer, verifier = keygen(work / "keys")
    with s3d(work / "s3d-roundtrip") as srv:
        url = srv.url("proxy")
        cache = work / "serve-cache"
        sums = {}
        r = publish_signed(lib, "v1.0.0", url, srv, signer)
        assert r.returncode == 0, r.stderr
        assert results(r) == [(LIB, "v1.0.0", "published")], r.stdout
        sums["v1.0.0"] = json_lines(r.stdout)[0]["Sum"]
        d = f"proxy/{escape(LIB)}/@v/"
        c = srv.client()
        with modpub_serving(srv, srv.url("proxy", cache_dir=cache, cache_mib=64),
                            work / "serve.log") as goproxy:
            assert http_get(goproxy, f"/{escape(LIB)}/@v/list") == (200, b"v1.0.0\n")
            # Published while serving: the list is read from the bucket, not a stale cache.
            r = publish_signed(lib, "v1.1.0", url, srv, signer)
            assert results(r) == [(LIB, "v1.1.0", "published")], r.stdout + r.stderr
            sums["v1.1.0"] = json_lines(r.stdout)[0]["Sum"]
            assert http_get(goproxy, f"/{escape(LIB)}/@v/list") == (200, b"v1.0.0\nv1.1.0\n")
            # Again: identical content (and signature) is unchanged.
            r = publish_signed(lib, "v1.0.0", url, srv, signer)
            assert r.returncode == 0, r.stderr
            assert results(r) == [(LIB, "v1.0.0", "unchanged")]

            assert set(c.keys("proxy/")) == {d + "list"} | {
                d + f"{v}.{ext}" for v in ("v1.0.0", "v1.1.0")
                for ext in ("zip", "mod", "info", "sig")}
            assert c.get(d + "list") == b"v1.0.0\nv1.1.0\n"
            # The signature object, served as stored.
            st, sig = http_get(goproxy, f"/{escape(LIB)}/@v/v1.1.0.sig")
            assert st == 200 and sig == c.get(d + "v1.1.0.sig")
            assert http_get(goproxy, f"/{escape(LIB)}/@v/v1.9.9.info")[0] == 404

            got, listed = go_fetches(work, goproxy, "s3d", LIB, ["v1.0.0", "v1.1.0"])
            assert got == sums
            assert listed == ["v1.0.0", "v1.1.0"]

            # The signature verifies through the server and straight from the bucket.
            for source in (goproxy, url):
                v = run_modpub("verify", f"{LIB}@v1.1.0", "--from", source, "--key", verifier,
                               env=srv.env())
                assert v.returncode == 0, v.stdout + v.stderr
                assert v.stdout.count(": ok:") == 3, v.stdout
        # What go downloaded went through the local cache (streamed there, renamed).
        cached = {p.name: p.read_bytes() for p in cache.iterdir()}
        assert c.get(d + "v1.1.0.zip") in cached.values()
        assert not [n for n in cached if n.startswith(".tmp-")]

        # `modpub ls` reads the bucket back.
        ls = run_modpub("ls", "--from", url, env=srv.env())
        assert ls.returncode == 0, ls.stderr
        assert LIB in ls.stdout and "v1.1.0" in ls.stdout


def test_athens_layout_keys(work, lib):
    signer, _ = keygen(work / "keys-athens")
    with s3d(work / "s3d-athens") as srv:
        r = publish_signed(lib, "v1.0.0", srv.url("athens", layout="athens"), srv, signer)
        assert r.returncode == 0, r.stderr
        assert results(r) == [(LIB, "v1.0.0", "published")]
        c = srv.client()
        # Athens's S3 keys: the module path as is (not escaped), no list object; the
        # signature outside <path>/@v/, whose keys Athens lists.
        assert set(c.keys("athens/")) == {f"athens/{LIB}/@v/v1.0.0.{e}"
                                          for e in ("zip", "mod", "info")} | {
            f"athens/.modpub-sig/{LIB}/v1.0.0.sig"}
        assert c.get(f"athens/{LIB}/@v/v1.0.0.mod") == f"module {LIB}\n\ngo 1.19\n".encode()


def test_different_content_is_refused_and_not_overwritten(work, lib):
    with s3d(work / "s3d-conflict") as srv:
        url = srv.url("proxy")
        assert publish(lib, LIB, "v1.0.0", url, env=srv.env()).returncode == 0
        c = srv.client()
        key = f"proxy/{escape(LIB)}/@v/v1.0.0.info"
        c.put(key, b'{"Version":"v1.0.0","Time":"2030-01-01T00:00:00Z"}')
        r = publish(lib, LIB, "v1.0.0", url, env=srv.env())
        assert r.returncode == 1, r.stderr
        assert results(r) == [(LIB, "v1.0.0", "refused")]
        assert "different content" in json_lines(r.stdout)[0]["Message"]
        assert c.get(key) == b'{"Version":"v1.0.0","Time":"2030-01-01T00:00:00Z"}'


def test_wrong_secret_is_a_clear_error(work, lib):
    with s3d(work / "s3d-secret") as srv:
        r = publish(lib, LIB, "v1.0.0", srv.url("proxy"), env=srv.env(secret="wrong-secret-123"))
        assert r.returncode == 2, r.stdout + r.stderr
        out = r.stdout + r.stderr
        assert "SignatureDoesNotMatch" in out
        assert "secret access key" in out
        assert "wrong-secret-123" not in out
        assert srv.client().keys("proxy/") == {}


def test_faults_100_publishes_complete_without_duplicates(work):
    """20 % of requests refused (SlowDown / InternalError) and 20 % of object PUTs applied
    but answered by a dropped connection: every publish completes, each version is listed
    once, every stored object is whole."""
    module = "corp.example/faulty"
    versions = [f"v1.0.{i}" for i in range(100)]
    repo = many_versions(work, "faulty", module, versions)
    with s3d(work / "s3d-faults", "--fail-rate", "0.2", "--fail-codes", "503,500",
             "--drop-rate", "0.2", "--seed", "11") as srv:
        url = srv.url("proxy", attempts=20)
        r = run_modpub("backfill", "--json", "--repo", repo.bare, "--import-path", module,
                       "--to", url, env=srv.env(), timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        got = results(r)
        assert sorted(v for _, v, _ in got) == sorted(versions)
        assert {res for _, _, res in got} == {"published"}, r.stdout
        c = srv.client()
        listed = c.get(f"proxy/{module}/@v/list").decode().split()
        assert listed == sorted(versions, key=semver_key)
        keys = c.keys("proxy/")
        assert len(keys) == 3 * 100 + 1
        sums = {j["Version"]: j["Sum"] for j in json_lines(r.stdout)}
        check = work / "faults-check.zip"
        for v in versions:
            # Every object whole: the stored zip hashes to the published sum.
            check.write_bytes(c.get(f"proxy/{module}/@v/{v}.zip"))
            assert h1_of_zip(check) == sums[v]
            assert c.get(f"proxy/{module}/@v/{v}.mod") == f"module {module}\n\ngo 1.19\n".encode()
            assert c.get(f"proxy/{module}/@v/{v}.info").startswith(b'{"Version":"%s"' % v.encode())
        # The log shows faults were really injected.
        log = srv.log.read_text()
        assert '"status": 503' in log or '"status": 500' in log


def test_two_publishers_50_versions_each_into_one_list(work):
    """Two processes publishing one module's versions at the same time: the list object is
    updated by compare-and-swap, so it ends up holding all 100."""
    module = "corp.example/raced"
    a_versions = [f"v1.0.{i}" for i in range(50)]
    b_versions = [f"v1.1.{i}" for i in range(50)]
    repo_a = many_versions(work, "raced-a", module, a_versions)
    repo_b = many_versions(work, "raced-b", module, b_versions)
    with s3d(work / "s3d-race") as srv:
        url = srv.url("proxy")

        def run(repo):
            return run_modpub("backfill", "--json", "--repo", repo.bare, "--import-path", module,
                              "--to", url, env=srv.env(), timeout=600)

        with ThreadPoolExecutor(2) as pool:
            ra, rb = pool.map(run, [repo_a, repo_b])
        for r in (ra, rb):
            assert r.returncode == 0, r.stderr[-3000:]
            assert {res for _, _, res in results(r)} == {"published"}
        listed = srv.client().get(f"proxy/{module}/@v/list").decode().split()
        assert listed == sorted(a_versions + b_versions, key=semver_key)


NGINX_PROXY = """
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass ${upstream};
    }
  }
}
"""


def test_publish_to_s3rver_then_go_downloads_through_nginx(work, lib):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        pytest.skip("nginx is not installed")
    with s3rver(work / "s3rver") as srv:
        url = srv.url("proxy")
        sums = {}
        for tag in ("v1.0.0", "v1.1.0"):
            r = publish(lib, LIB, tag, url, env=srv.env())
            assert r.returncode == 0, r.stderr
            assert results(r) == [(LIB, tag, "published")], r.stdout
            sums[tag] = json_lines(r.stdout)[0]["Sum"]
        r = publish(lib, LIB, "v1.1.0", url, env=srv.env())
        assert results(r) == [(LIB, "v1.1.0", "unchanged")], r.stdout + r.stderr
        assert srv.client().get(f"proxy/{escape(LIB)}/@v/list") == b"v1.0.0\nv1.1.0\n"

        prefix = work / "nginx-s3rver"
        prefix.mkdir()
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(string.Template(NGINX_PROXY).substitute(
            prefix=prefix, port=port, upstream=f"{srv.endpoint}/{srv.bucket}/proxy/"))
        proc = subprocess.Popen([nginx, "-e", str(prefix / "error.log"), "-p", str(prefix),
                                 "-c", str(conf), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_for_port(port, proc=proc), (prefix / "error.log").read_text()
            got, listed = go_fetches(work, f"http://127.0.0.1:{port}", "s3rver", LIB,
                                     ["v1.0.0", "v1.1.0"])
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        assert got == sums
        assert listed == ["v1.0.0", "v1.1.0"]
