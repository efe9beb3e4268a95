"""modpubd serves the GOPROXY endpoint and the checksum database itself.

A bare repository with modpub's hooks (`modpub hook install`) and a modpubd configured with
[proxy] and [sumdb] (keys from `modpub keygen`): a pushed tag is queued by the hook,
published by the daemon (signed, appended to the log), and fetched by the real go with
GOPROXY=http://127.0.0.1:PORT and GOSUMDB="<verifier key> http://127.0.0.1:PORT/sumdb/<name>",
without GONOSUMDB or GOPRIVATE: go verifies it. A zip altered in storage afterwards is a
SECURITY ERROR for go. `--check-config` reads the signer key and names the line at fault."""

import http.client
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support import (GitRepo, clean_gopath, each_go, go, go_download, modpubd_bin, needs_go,
                     run_modpub)
from test_daemon import Daemon, jobs_in, read_job, wait_until
from test_sumdb import NAME, keygen, new_app, sumdb_env, tamper_zip

pytestmark = needs_go

LIB = "corp.example/wired"


def sumdb_tables(keys: Path, name=NAME):
    return ("\n[proxy]\n"
            f"\n[sumdb]\nname = \"{name}\"\nsigner_key = \"{keys / 'signer.key'}\"\n")


def push_tag(repo: GitRepo, tag):
    """Commits a version of the module and pushes the tag through the hooks."""
    repo.write("go.mod", f"module {LIB}\n\ngo 1.19\n")
    repo.write("wired.go", f'package wired\n\nfunc Version() string {{ return "{tag}" }}\n')
    repo.commit(tag)
    repo.tag(tag)  # pushes main and the tags to the bare repository: the hooks run


def wait_published(d: Daemon, count):
    wait_until(lambda: len(jobs_in(d.spool, "done")) >= count, timeout=90,
               what=f"{count} job(s) done", on_fail=lambda: d.text() + str(
                   {s: jobs_in(d.spool, s) for s in ("queue", "claimed", "failed")}))
    return [read_job(d.spool, "done", j) for j in jobs_in(d.spool, "done")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("daemon-sumdb")
    keys = work / "keys"
    vkey = keygen(keys)
    tree = work / "tree"
    repo = GitRepo(work, "wired")
    d = Daemon(work, [f"file://{tree}"], [(repo.bare, LIB)])
    d.config.write_text(d.config.read_text() + sumdb_tables(keys))
    r = run_modpub("hook", "install", "--repo", repo.bare, "--config", d.config)
    assert r.returncode == 0, r.stderr
    d.start().wait_ready()
    try:
        push_tag(repo, "v1.0.0")
        push_tag(repo, "v1.1.0")
        jobs = wait_published(d, 2)
        sums = {}
        for job in jobs:
            for entry in json.loads(job["result"]) if isinstance(job["result"], str) \
                    else job["result"]:
                assert entry["Result"] == "published", entry
                assert entry["Sumdb"].startswith("record "), entry
                sums[(entry["Path"], entry["Version"])] = entry["Sum"]
        assert set(sums) == {(LIB, "v1.0.0"), (LIB, "v1.1.0")}
        yield {"work": work, "keys": keys, "vkey": vkey, "tree": tree, "daemon": d,
               "sums": sums, "url": f"http://127.0.0.1:{d.port}"}
    finally:
        assert d.stop() == 0, d.text()


@each_go
def test_pushed_versions_verify_against_the_daemons_checksum_database(world, gotool):
    d, url = world["daemon"], world["url"]
    # Signed beside the version in storage, logged and served by the daemon.
    for v in ("v1.0.0", "v1.1.0"):
        sig = world["tree"] / "corp.example" / "wired" / "@v" / f"{v}.sig"
        assert sig.read_text().startswith(f"{LIB} {v} {world['sums'][(LIB, v)]}\n")
    status, body = d.get(f"/sumdb/{NAME}/lookup/{LIB}@v1.0.0")
    assert status == 200 and f"{LIB} v1.0.0 {world['sums'][(LIB, 'v1.0.0')]}\n" in body
    status, body = d.get(f"/sumdb/{NAME}/supported")
    assert status == 200
    # The daemon's own routes still answer although the proxy (prefix "") answers before
    # the route table is searched; so does the webhooks' early size check.
    status, body = d.get("/healthz")
    assert status == 200 and body == "ok\n"
    status, body = d.get("/metrics")
    assert status == 200 and "modpub_" in body
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    try:
        conn.putrequest("POST", "/hooks/github")
        conn.putheader("Content-Length", str(6 << 20))
        conn.putheader("Content-Type", "application/json")
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()

    app = new_app(world["work"], "app-ok", gotool)
    env = sumdb_env(app, world["work"] / "gocache", url, world["vkey"], gotool)
    assert "GONOSUMDB" not in env and "GOPRIVATE" not in env
    try:
        rc, data, err = go_download(f"{LIB}@v1.0.0", env, app)
        assert rc == 0, err
        assert data["Sum"] == world["sums"][(LIB, "v1.0.0")]
        go("get", f"{LIB}@v1.1.0", env=env, cwd=app)
        gosum = (app / "go.sum").read_text().splitlines()
        assert f"{LIB} v1.1.0 {world['sums'][(LIB, 'v1.1.0')]}" in gosum
        assert any(line.startswith(f"{LIB} v1.1.0/go.mod h1:") for line in gosum)
        # go really consulted the checksum database: it keeps the signed tree head it saw.
        latest = Path(env["GOPATH"]) / "pkg" / "sumdb" / NAME / "latest"
        assert latest.read_text().startswith("go.sum database tree\n2\n")
    finally:
        clean_gopath(env)


@each_go
def test_zip_altered_in_storage_is_a_security_error(world, gotool):
    zip_path = world["tree"] / "corp.example" / "wired" / "@v" / "v1.1.0.zip"
    saved = zip_path.read_bytes()
    mode = zip_path.stat().st_mode
    tamper_zip(zip_path)
    app = new_app(world["work"], "app-tampered", gotool)
    env = sumdb_env(app, world["work"] / "gocache-tampered", world["url"], world["vkey"], gotool)
    try:
        rc, _, err = go_download(f"{LIB}@v1.1.0", env, app)
        assert rc != 0
        assert "SECURITY ERROR" in err, err
    finally:
        clean_gopath(env)
        zip_path.write_bytes(saved)
        zip_path.chmod(mode & 0o777)


def test_check_config_reads_the_signer_key(world, tmp_path):
    cfg = world["daemon"].config
    good = subprocess.run([str(modpubd_bin()), "--config", str(cfg), "--check-config"],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert f"checksum database {NAME}" in good.stdout
    # A key of another name: the configuration is refused, naming the line of [sumdb].
    other = tmp_path / "other.toml"
    text = cfg.read_text().replace(f'name = "{NAME}"', 'name = "sum.other.example"')
    other.write_text(text)
    line = text.splitlines().index("[sumdb]") + 1
    bad = subprocess.run([str(modpubd_bin()), "--config", str(other), "--check-config"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert f"{other}:{line}: sumdb.name:" in bad.stderr and "is for" in bad.stderr, bad.stderr


def test_sumdb_without_proxy_serves_only_the_checksum_database(world, tmp_path):
    d = Daemon(tmp_path, [f"file://{world['tree']}"], [])
    text = d.config.read_text() + sumdb_tables(world["keys"]).replace("\n[proxy]\n", "")
    # No repository names a private prefix here: without one, an upstream is refused.
    d.config.write_text(text)
    r = subprocess.run([str(modpubd_bin()), "--config", str(d.config), "--check-config"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "sumdb.upstream: is on, but no private module path prefix" \
        in r.stderr, r.stderr
    text += 'private = ["corp.example"]\n'
    d.config.write_text(text)
    d.start().wait_ready()
    try:
        assert d.get(f"/sumdb/{NAME}/supported")[0] == 200
        assert d.get(f"/sumdb/{NAME}/latest")[1].startswith("go.sum database tree\n0\n")
        # The storage holds corp.example/wired, but without [proxy] it is not served.
        with pytest.raises(urllib.error.HTTPError) as e:
            d.get("/corp.example/wired/@v/list")
        assert e.value.code == 404
        # The log is bound to the key on the first start.
        assert (d.dir / "state" / "sumdb" / "verifier").read_text().strip() == world["vkey"]
    finally:
        assert d.stop() == 0, d.text()
