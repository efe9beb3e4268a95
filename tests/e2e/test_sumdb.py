"""Signing and the private checksum database against the real go command.

`modpub publish --sign-key --sumdb` publishes into a GOPROXY tree, signs every version and
appends it to a transparency log; `modpub serve` serves the tree and the log. go runs with
GOPROXY=<serve> and GOSUMDB="<verifier key> <serve>/sumdb/<name>", without GONOSUMDB or
GOPRIVATE: every module it fetches is verified against the checksum database.

Covered: download and `go get` verify, go.sum has the published hashes; a zip altered in
storage is a SECURITY ERROR for go and `modpub verify` names it; a log rewritten in place
(an earlier record changed, or rebuilt in another order) is detected by go; a wrong
verifier key is refused; Basic auth with .netrc (401, 403, 200)."""

import base64
import contextlib
import http.client
import os
import shutil
import ssl
import subprocess
import zipfile
from pathlib import Path

import pytest

import support

from support import (GO_TOOLS, GitRepo, clean_gopath, each_go, free_port, go, go_download,
                     go_env, json_lines, make_cert, needs_go, run_modpub, stop_process,
                     wait_for_port, write_netrc)

pytestmark = needs_go

NAME = "sumdb.corp.example"
LIB = "corp.example/lib"
WIDGETS = "corp.example/Widgets"  # upper case: "!"-escaped, "%21" over HTTP
TEAM = "corp.example/team/app"


@contextlib.contextmanager
def serving(tree: Path, *extra):
    """`modpub serve` on a free loopback port; yields its URL; stopped by its PID."""
    port = free_port()
    scheme = "https" if "--tls-cert" in map(str, extra) else "http"
    proc = subprocess.Popen([str(Path(os.environ.get("MODPUB_BIN", "build/bin/modpub"))),
                             "serve", "--from", f"file://{tree}", "--listen",
                             f"127.0.0.1:{port}", *map(str, extra)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_for_port(port, proc=proc):
            raise AssertionError("modpub serve did not start: " +
                                 (proc.stderr.read().decode() if proc.poll() is not None else ""))
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def keygen(out: Path):
    """A signer key for the database NAME in `out`; returns the verifier key."""
    return support.keygen(out, NAME)[1]


def publish_signed(repo, import_path, tag, tree, sumdb, keys):
    r = run_modpub("publish", "--repo", repo.bare, "--import-path", import_path, "--tag", tag,
                   "--to", f"file://{tree}", "--sign-key", keys / "signer.key", "--sumdb", sumdb)
    assert r.returncode == 0, r.stdout + r.stderr
    return json_lines(r.stdout)


def make_repo(work, name, module, versions, salt=""):
    repo = GitRepo(work, name)
    repo.write("go.mod", f"module {module}\n\ngo 1.19\n")
    pkg = module.rsplit("/", 1)[-1].lower()
    for v in versions:
        repo.write(f"{pkg}.go", f'package {pkg}\n\nfunc Version() string {{ return "{v}{salt}" }}\n')
        repo.commit(v)
        repo.tag(v)
    return repo


def sumdb_env(app: Path, gocache: Path, proxy, vkey, gotool, sumdb_url=None):
    env = go_env(app, proxy, gocache, gotool)
    env.pop("GONOSUMDB", None)
    env.pop("GOPRIVATE", None)
    env["GOSUMDB"] = f"{vkey} {sumdb_url or proxy}/sumdb/{NAME}"
    return env


def new_app(work: Path, name, gotool=None):
    app = work / (f"{name}-{gotool.label}" if gotool else name)
    app.mkdir()
    (app / "go.mod").write_text("module corp.example/consumer\n\ngo 1.19\n")
    return app


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("sumdb")
    keys = work / "keys"
    vkey = keygen(keys)
    repos = {
        LIB: make_repo(work, "lib", LIB, ["v1.0.0", "v1.1.0"]),
        WIDGETS: make_repo(work, "widgets", WIDGETS, ["v0.1.0"]),
        TEAM: make_repo(work, "team", TEAM, ["v0.3.0"]),
    }
    tree, sumdb = work / "tree", work / "sumdb"
    order = [(LIB, "v1.0.0"), (WIDGETS, "v0.1.0"), (LIB, "v1.1.0"), (TEAM, "v0.3.0")]
    sums = {}
    for module, tag in order:
        for j in publish_signed(repos[module], module, tag, tree, sumdb, keys):
            assert j["Result"] == "published", j
            sums[(j["Path"], j["Version"])] = j["Sum"]
    return {"work": work, "keys": keys, "vkey": vkey, "repos": repos, "tree": tree,
            "sumdb": sumdb, "sums": sums, "order": order, "gocache": work / "gocache"}


def test_keygen_refuses_to_overwrite_and_protects_the_signer_key(world):
    keys = world["keys"]
    assert (keys / "signer.key").stat().st_mode & 0o777 == 0o600
    assert (keys / "signer.key").read_text().startswith(f"PRIVATE+KEY+{NAME}+")
    before = (keys / "signer.key").read_text()
    r = run_modpub("keygen", "--name", NAME, "--out", keys)
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr
    assert (keys / "signer.key").read_text() == before


@each_go
def test_go_download_and_get_verify_against_the_checksum_database(world, gotool):
    work = world["work"]
    with serving(world["tree"], "--sumdb", world["sumdb"], "--sumdb-key",
                 world["keys"] / "signer.key") as url:
        app = new_app(work, "app-ok", gotool)
        env = sumdb_env(app, world["gocache"], url, world["vkey"], gotool)
        rc, data, err = go_download(f"{LIB}@v1.0.0", env, app)
        assert rc == 0, err
        assert data["Sum"] == world["sums"][(LIB, "v1.0.0")]
        go("get", f"{LIB}@v1.1.0", f"{WIDGETS}@v0.1.0", f"{TEAM}@v0.3.0", env=env, cwd=app)
        gosum = (app / "go.sum").read_text().splitlines()
        for (module, version), s in world["sums"].items():
            if (module, version) == (LIB, "v1.0.0"):
                continue
            assert f"{module} {version} {s}" in gosum
            assert any(line.startswith(f"{module} {version}/go.mod h1:") for line in gosum)
        # go really used the checksum database: it remembers its signed tree head.
        latest = Path(env["GOPATH"]) / "pkg" / "sumdb" / NAME / "latest"
        assert latest.read_text().startswith(f"go.sum database tree\n{len(world['order'])}\n")
        clean_gopath(env)


def tamper_zip(path: Path):
    with zipfile.ZipFile(path) as z:
        entries = [(i, z.read(i.filename)) for i in z.infolist()]
    path.chmod(0o644)
    with zipfile.ZipFile(path, "w") as z:
        for info, data in entries:
            if info.filename.endswith(".go"):
                data += b"\nfunc Backdoor() {}\n"
            z.writestr(info, data)


@each_go
def test_altered_zip_is_a_security_error_and_verify_names_it(world, gotool):
    work = world["work"]
    altered = work / f"tree-altered-{gotool.label}"
    shutil.copytree(world["tree"], altered)
    zip_path = altered / "corp.example" / "lib" / "@v" / "v1.1.0.zip"
    tamper_zip(zip_path)
    with serving(altered, "--sumdb", world["sumdb"], "--sumdb-key",
                 world["keys"] / "signer.key") as url:
        app = new_app(work, "app-tampered", gotool)
        env = sumdb_env(app, world["gocache"], url, world["vkey"], gotool)
        rc, _, err = go_download(f"{LIB}@v1.1.0", env, app)
        assert rc != 0
        assert "SECURITY ERROR" in err, err
        clean_gopath(env)
        # modpub verify, over HTTP and on the storage itself, names the zip.
        for source in (url, f"file://{altered}"):
            r = run_modpub("verify", f"{LIB}@v1.1.0", "--from", source, "--key",
                           world["keys"] / "verifier.key")
            assert r.returncode == 1, r.stdout + r.stderr
            assert f"{LIB}@v1.1.0 zip: FAILED" in r.stdout, r.stdout
            assert f"{LIB}@v1.1.0 signature: ok" in r.stdout
            assert f"{LIB}@v1.1.0 mod: ok" in r.stdout
        # The untouched versions verify.
        r = run_modpub("verify", f"{WIDGETS}@v0.1.0", "--from", url, "--key", world["vkey"])
        assert r.returncode == 0, r.stdout + r.stderr
        # A signature by another key is refused by name.
        other = keygen(work / f"other-keys-{gotool.label}")
        r = run_modpub("verify", f"{LIB}@v1.0.0", "--from", url, "--key", other)
        assert r.returncode == 1 and "signature: FAILED" in r.stdout, r.stdout


@each_go
def test_wrong_verifier_key_is_refused(world, gotool):
    work = world["work"]
    other = keygen(work / f"wrong-keys-{gotool.label}")
    assert other.split("+")[0] == NAME and other != world["vkey"]
    with serving(world["tree"], "--sumdb", world["sumdb"], "--sumdb-key",
                 world["keys"] / "signer.key") as url:
        app = new_app(work, "app-wrongkey", gotool)
        env = sumdb_env(app, world["gocache"], url, other, gotool)
        rc, _, err = go_download(f"{LIB}@v1.0.0", env, app)
        assert rc != 0
        assert "verifying" in err and ("signature" in err or "verifier" in err), err
        clean_gopath(env)
    # Nor does modpub serve the log under another key: clients pinned the first one.
    r = run_modpub("serve", "--from", f"file://{world['tree']}", "--listen",
                   f"127.0.0.1:{free_port()}", "--sumdb", world["sumdb"], "--sumdb-key",
                   work / f"wrong-keys-{gotool.label}" / "signer.key", timeout=30)
    assert r.returncode == 2 and "is the checksum database of key" in r.stderr, r.stderr


def rewritten_log(world, name, changed_first):
    """Another log signed with the same key: the same versions in another order, or with
    an earlier record changed (lib v1.0.0 built from other content); one more version on
    top, so that it is longer than the tree go has seen."""
    work = world["work"]
    tree, sumdb = work / f"tree-{name}", work / f"sumdb-{name}"
    repos = dict(world["repos"])
    if changed_first:
        repos[LIB] = make_repo(work, f"lib-{name}", LIB, ["v1.0.0", "v1.1.0"], salt="-evil")
        order = list(world["order"])
    else:
        order = list(reversed(world["order"]))
    for module, tag in order:
        publish_signed(repos[module], module, tag, tree, sumdb, world["keys"])
    extra = make_repo(work, f"extra-{name}", f"corp.example/extra{name}", ["v1.0.0"])
    publish_signed(extra, f"corp.example/extra{name}", "v1.0.0", tree, sumdb, world["keys"])
    return tree, sumdb, f"corp.example/extra{name}"


@pytest.mark.parametrize("changed_first", [False, True], ids=["reordered", "record-changed"])
@each_go
def test_rewritten_log_is_detected_by_go(world, changed_first, gotool):
    work = world["work"]
    name = ("changed" if changed_first else "reordered") + gotool.label.replace(".", "")
    app = new_app(work, f"app-{name}")
    key = world["keys"] / "signer.key"
    with serving(world["tree"], "--sumdb", world["sumdb"], "--sumdb-key", key) as url:
        env = sumdb_env(app, world["gocache"], url, world["vkey"], gotool)
        rc, _, err = go_download(f"{WIDGETS}@v0.1.0", env, app)
        assert rc == 0, err  # go now remembers the honest tree head
    tree, sumdb, extra = rewritten_log(world, name, changed_first)
    if changed_first:
        # modpub itself never logs other hashes for a logged version: publishing the other
        # lib v1.0.0 with the honest log is refused on every storage, nothing is written.
        fresh = work / "tree-refused"
        r = run_modpub("publish", "--repo", work / f"lib-{name}.git", "--import-path", LIB,
                       "--tag", "v1.0.0",
                       "--to", f"file://{fresh}", "--sumdb", world["sumdb"])
        assert r.returncode == 1, r.stdout + r.stderr
        j = json_lines(r.stdout)
        assert [x["Result"] for x in j] == ["refused"], j
        assert "is already logged" in j[0]["Message"]
        assert not fresh.exists()
    with serving(tree, "--sumdb", sumdb, "--sumdb-key", key) as url:
        env = sumdb_env(app, world["gocache"], url, world["vkey"], gotool)
        rc, _, err = go_download(f"{extra}@v1.0.0", env, app)
        assert rc != 0, "go accepted a rewritten checksum database"
        assert "SECURITY ERROR" in err and "misbehavior" in err, err
    clean_gopath(env)


@each_go
def test_basic_auth_with_netrc(world, gotool):
    work = world["work"]
    hashes = {}
    for user, pw in (("alice", "alice-pw"), ("bob", "bob-pw")):
        r = run_modpub("auth-hash", input=pw + "\n")
        assert r.returncode == 0 and r.stdout.startswith("$y$"), r.stderr
        hashes[user] = r.stdout.strip()
    token = "tok-" + os.urandom(8).hex()
    tr = run_modpub("auth-hash", "--token", input=token + "\n")
    auth = work / "auth.toml"
    auth.write_text(f"""realm = "corp modules"
[[user]]
name = "alice"
password = "{hashes['alice']}"
allow = ["corp.example/lib", "corp.example/Widgets"]
[[user]]
name = "bob"
password = "{hashes['bob']}"
allow = ["corp.example/team"]
[[token]]
name = "ci"
sha256 = "{tr.stdout.strip()}"
allow = ["*"]
""")

    # go sends .netrc credentials only over https: serve TLS with a certificate go trusts
    # through SSL_CERT_FILE.
    cert, key = make_cert(work)
    tls = ssl.create_default_context(cafile=str(cert))

    def get(url, path, user=None, pw=None, bearer=None):
        host, port = url.removeprefix("https://").split(":")
        c = http.client.HTTPSConnection(host, int(port), timeout=30, context=tls)
        headers = {}
        if user:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
        if bearer:
            headers["Authorization"] = "Bearer " + bearer
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()

    with serving(world["tree"], "--sumdb", world["sumdb"], "--sumdb-key",
                 world["keys"] / "signer.key", "--auth", auth, "--tls-cert", cert,
                 "--tls-key", key) as url:
        st, hdr, _ = get(url, f"/{LIB}/@v/list")
        # Basic first (go's .netrc), and Bearer since the file has a [[token]].
        assert st == 401
        assert [v for k, v in hdr if k.lower() == "www-authenticate"] == [
            'Basic realm="corp modules"', 'Bearer realm="corp modules"']
        assert get(url, f"/{LIB}/@v/list", "alice", "wrong")[0] == 401
        assert get(url, f"/{LIB}/@v/list", "mallory", "x")[0] == 401
        assert get(url, f"/{LIB}/@v/list", "alice", "alice-pw")[0] == 200
        assert get(url, "/corp.example/%21widgets/@v/v0.1.0.info", "alice", "alice-pw")[0] == 200
        assert get(url, f"/{TEAM}/@v/list", "alice", "alice-pw")[0] == 403
        assert get(url, f"/{TEAM}/@v/list", "bob", "bob-pw")[0] == 200
        assert get(url, f"/{LIB}/@v/list", "bob", "bob-pw")[0] == 403
        assert get(url, f"/{TEAM}/@v/list", bearer=token)[0] == 200
        assert get(url, f"/{TEAM}/@v/list", bearer="nope")[0] == 401
        assert get(url, f"/sumdb/{NAME}/lookup/{TEAM}@v0.3.0", "alice", "alice-pw")[0] == 403
        assert get(url, f"/sumdb/{NAME}/latest")[0] == 401
        # Traversal and malformed escapes: 400/404, never a file outside the root.
        (world["tree"].parent / "secret.txt").write_text("root:secret\n")
        for bad in ["/../secret.txt", f"/{LIB}/@v/../../../../secret.txt",
                    "/corp.example/%2e%2e/%2e%2e/secret.txt/@v/list",
                    f"/{LIB}/@v/..%2F..%2F..%2F..%2Fsecret.txt.info", "/Corp.example/lib/@v/list",
                    f"/{LIB}/@v/v1.0.0%00.info", "/corp.example/!!lib/@v/list",
                    f"/sumdb/{NAME}/tile/8/0/../../../secret.txt", f"/{LIB}/@v/V1.0.0.info"]:
            st, _, body = get(url, bad, "alice", "alice-pw")
            assert st in (400, 404), (bad, st)
            assert b"root:secret" not in body

        # go with .netrc: alice reads her modules, and is refused the team's.
        app = new_app(work, "app-auth", gotool)
        env = sumdb_env(app, world["gocache"], url, world["vkey"], gotool)
        env["SSL_CERT_FILE"] = str(cert)
        write_netrc(env, url, "alice", "alice-pw")
        rc, data, err = go_download(f"{LIB}@v1.1.0", env, app)
        assert rc == 0, err
        assert data["Sum"] == world["sums"][(LIB, "v1.1.0")]
        rc, _, err = go_download(f"{TEAM}@v0.3.0", env, app)
        assert rc != 0 and "403" in err, err
        # modpub verify over https with the same .netrc.
        r = run_modpub("verify", f"{LIB}@v1.1.0", "--from", url, "--key", world["vkey"],
                       "--cacert", cert, env={"HOME": env["HOME"]})
        assert r.returncode == 0, r.stdout + r.stderr
        r = run_modpub("verify", f"{TEAM}@v0.3.0", "--from", url, "--key", world["vkey"],
                       "--cacert", cert, env={"HOME": env["HOME"]})
        assert r.returncode == 1 and "HTTP 403" in r.stdout, r.stdout + r.stderr
        write_netrc(env, url, "alice", "wrong")
        clean_gopath(env)
        rc, _, err = go_download(f"{WIDGETS}@v0.1.0", env, app)
        assert rc != 0 and "401" in err, err
        clean_gopath(env)


@each_go
def test_sumdb_reached_through_the_proxy(world, gotool):
    """GOSUMDB with a key only: go asks <proxy>/sumdb/<name>/supported and then uses the
    proxy for the checksum database."""
    work = world["work"]
    with serving(world["tree"], "--sumdb", world["sumdb"], "--sumdb-key",
                 world["keys"] / "signer.key") as url:
        app = new_app(work, "app-via-proxy", gotool)
        env = sumdb_env(app, world["gocache"], url, world["vkey"], gotool)
        env["GOSUMDB"] = world["vkey"]
        rc, data, err = go_download(f"{TEAM}@v0.3.0", env, app)
        assert rc == 0, err
        assert data["Sum"] == world["sums"][(TEAM, "v0.3.0")]
        assert (Path(env["GOPATH"]) / "pkg" / "sumdb" / NAME / "latest").exists()
        clean_gopath(env)


def test_killed_and_concurrent_appenders_leave_a_consistent_log(world):
    """Publishes into one log killed at random steps, and publishes running at the same
    time: every re-run completes, the log serves every version, and go verifies them."""
    import random
    import time
    work = world["work"]
    tree, sumdb = work / "tree-crash", work / "sumdb-crash"
    modules = [f"corp.example/crash{i}" for i in range(4)]
    repos = {m: make_repo(work, f"crash{i}", m, ["v1.0.0"]) for i, m in enumerate(modules)}
    rng = random.Random(7)
    base = [str(Path(os.environ.get("MODPUB_BIN", "build/bin/modpub"))), "publish", "--tag",
            "v1.0.0", "--to", f"file://{tree}", "--sign-key", str(world["keys"] / "signer.key"),
            "--sumdb", str(sumdb)]
    slowed = [base[0], "--step-delay-ms", "40", *base[1:]]
    for m in modules[:2]:  # killed mid-publish, once each
        p = subprocess.Popen(slowed + ["--repo", str(repos[m].bare), "--import-path", m],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.02, 0.3))
        p.kill()
        p.wait()
    # All four at once (two of them completing a killed publish).
    procs = [subprocess.Popen(base + ["--repo", str(repos[m].bare), "--import-path", m],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for m in modules]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
    with serving(tree, "--sumdb", sumdb, "--sumdb-key", world["keys"] / "signer.key") as url:
        for gotool in GO_TOOLS:
            app = new_app(work, "app-crash", gotool)
            genv = sumdb_env(app, world["gocache"], url, world["vkey"], gotool)
            for m in modules:
                rc, _, err = go_download(f"{m}@v1.0.0", genv, app)
                assert rc == 0, f"{gotool.version}: {err}"
            latest = (Path(genv["GOPATH"]) / "pkg" / "sumdb" / NAME / "latest").read_text()
            assert latest.startswith(f"go.sum database tree\n{len(modules)}\n"), latest
            clean_gopath(genv)
