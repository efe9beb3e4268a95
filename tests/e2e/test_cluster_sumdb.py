"""The checksum database and the modules in a bucket that every node shares.

The strict S3 test server (../shared/s3-test-server) holds both the GOPROXY tree and the
checksum database ([sumdb] storage = "s3://…"). Three `modpub publish` processes append
at once (three machines' worth of appenders); two modpubd nodes serve the bucket
([proxy] from = "s3://…"); Debian's nginx serves a plain copy of the bucket's database
objects. The real go (1.26 and 1.19) verifies modules through a node and through nginx, a
client that saw tree N accepts tree N+k from the other node, and every record is logged
once. Skipped where the S3 test server is absent."""

import os
import subprocess
from pathlib import Path

import pytest

from s3_servers import s3d, s3rver
from support import (GitRepo, clean_gopath, each_go, go, go_download, json_lines, modpub_bin,
                     needs_go, nginx_serving)
from test_daemon import Daemon, wait_until
from test_sumdb import NAME, keygen, new_app, sumdb_env

pytestmark = needs_go

MODULES = [f"corp.example/cluster/m{i}" for i in range(6)]
DAEMON_MODULE = "corp.example/cluster/bydaemon"


def make_module(work: Path, module, versions):
    repo = GitRepo(work, module.rsplit("/", 1)[1])
    for v in versions:
        repo.write("go.mod", f"module {module}\n\ngo 1.19\n")
        repo.write("m.go", f'package m\n\nconst Version = "{v}"\n')
        repo.commit(v)
        repo.tag(v)
    return repo


def start_publish(repo, module, tag, store, sumdb, keys, env):
    return subprocess.Popen(
        [str(modpub_bin()), "publish", "--repo", str(repo.bare), "--import-path", module,
         "--tag", tag, "--to", store, "--sign-key", str(keys / "signer.key"), "--sumdb", sumdb],
        env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def publish_all(jobs, store, sumdb, keys, env, at_once=3):
    """Runs `modpub publish` for each (repo, module, tag), `at_once` processes at a time;
    returns {(module, version): h1}."""
    sums = {}
    for i in range(0, len(jobs), at_once):
        procs = [start_publish(r, m, t, store, sumdb, keys, env) for r, m, t in jobs[i:i + at_once]]
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, out + err
            for line in json_lines(out):
                assert line["Result"] == "published", line
                assert line["Sumdb"].startswith("record "), line
                sums[(line["Path"], line["Version"])] = line["Sum"]
    return sums


def copy_database(client, prefix, dest: Path):
    """Downloads every object below `prefix` into dest (a copy nginx serves as files)."""
    n = 0
    for key in client.keys(prefix):
        body = client.get(key)
        assert body is not None, key
        path = dest / key[len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        n += 1
    return n


def serving_node(work, name, modules_url, sumdb_url, keys, env, repos=()):
    d = Daemon(work, [modules_url], list(repos), name=name, spool=work / f"{name}-spool",
               reconcile_ms=60000 if repos else 0)
    d.config.write_text(d.config.read_text() +
                        f'\n[proxy]\nfrom = "{modules_url}"\n'
                        f'\n[sumdb]\nname = "{NAME}"\nsigner_key = "{keys / "signer.key"}"\n'
                        f'storage = "{sumdb_url}"\nprivate = ["corp.example"]\n')
    d.start(env=env).wait_ready()
    return d


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster-sumdb")
    keys = work / "keys"
    vkey = keygen(keys)
    with s3d(work / "s3") as server:
        env = server.env()
        modules_url = server.url("modules", cache_dir=str(work / "cache"))
        sumdb_url = server.url("sumdb")
        repos = {m: make_module(work, m, ["v1.0.0"]) for m in MODULES}
        first = [(repos[m], m, "v1.0.0") for m in MODULES]
        sums = publish_all(first, modules_url, sumdb_url, keys, env)
        # node0 also publishes: its repository's tag, which storage lacks, is queued at start.
        daemon_repo = make_module(work, DAEMON_MODULE, ["v1.0.0"])
        nodes = [serving_node(work, f"node{i}", modules_url, sumdb_url, keys, env,
                              [(daemon_repo.bare, DAEMON_MODULE)] if i == 0 else ())
                 for i in range(2)]
        try:
            yield {"work": work, "keys": keys, "vkey": vkey, "server": server, "env": env,
                   "repos": repos, "sums": sums, "nodes": nodes, "modules": modules_url,
                   "sumdb": sumdb_url}
        finally:
            for d in nodes:
                assert d.stop() == 0, d.text()


def test_a_node_publishes_into_the_shared_log_and_another_serves_it(world):
    lookup = f"/sumdb/{NAME}/lookup/{DAEMON_MODULE}@v1.0.0"

    def logged():
        try:
            return world["nodes"][1].get(lookup)
        except Exception:  # 404 until node0 has published it
            return None

    wait_until(lambda: logged() is not None, timeout=60, what="the daemon's record",
               on_fail=lambda: world["nodes"][0].text())
    status, body = logged()
    assert status == 200 and f"{DAEMON_MODULE} v1.0.0 h1:" in body, body
    assert f"{DAEMON_MODULE}@v1.0.0 appended to checksum database s3://" in world["nodes"][0].text()


def test_every_record_once_and_the_objects_are_the_static_database(world):
    client = world["server"].client()
    keys = set(client.keys("sumdb/"))
    latest = client.get("sumdb/latest")
    n = int(latest.split(b"\n")[1])
    assert n == len(MODULES) + 1  # and the daemon's record
    assert {"sumdb/head", "sumdb/latest", f"sumdb/tile/8/0/000.p/{n}",
            f"sumdb/tile/8/data/000.p/{n}"} <= keys, keys
    for m in MODULES + [DAEMON_MODULE]:
        assert f"sumdb/lookup/{m}@v1.0.0" in keys
    data = client.get(f"sumdb/tile/8/data/000.p/{n}")
    records = data.decode().split("\n\n")[:-1]
    assert sorted(r.split("\n")[1].split()[0] for r in records) == sorted(MODULES +
                                                                        [DAEMON_MODULE])
    # A node serves what the bucket holds: the same signed tree head, byte for byte.
    status, body = world["nodes"][0].get(f"/sumdb/{NAME}/latest")
    assert status == 200 and body.encode() == latest


@each_go
def test_go_verifies_through_a_node_and_through_nginx_on_a_copy_of_the_bucket(world, gotool):
    work, sums = world["work"], world["sums"]
    node = f"http://127.0.0.1:{world['nodes'][0].port}"
    app = new_app(work, "via-node", gotool)
    env = sumdb_env(app, work / f"gocache-node-{gotool.label}", node, world["vkey"], gotool)
    try:
        rc, data, err = go_download(f"{MODULES[0]}@v1.0.0", env, app)
        assert rc == 0, err
        assert data["Sum"] == sums[(MODULES[0], "v1.0.0")]
    finally:
        clean_gopath(env)
    copy = work / f"copy-{gotool.label}"
    assert copy_database(world["server"].client(), "sumdb/", copy / "sumdb" / NAME) > 10
    with nginx_serving(copy, work / f"nginx-{gotool.label}") as gen:
        app = new_app(work, "via-nginx", gotool)
        # Modules from a node, the checksum database only from the static copy.
        env = sumdb_env(app, work / f"gocache-nginx-{gotool.label}", node, world["vkey"], gotool,
                        sumdb_url=gen)
        try:
            rc, data, err = go_download(f"{MODULES[1]}@v1.0.0", env, app)
            assert rc == 0, err
            assert data["Sum"] == sums[(MODULES[1], "v1.0.0")]
        finally:
            clean_gopath(env)


@each_go
def test_a_client_that_saw_tree_n_accepts_tree_n_plus_k_from_another_node(world, gotool):
    work, nodes = world["work"], world["nodes"]
    app = new_app(work, "grows", gotool)
    first = f"http://127.0.0.1:{nodes[0].port}"
    env = sumdb_env(app, work / f"gocache-grows-{gotool.label}", first, world["vkey"], gotool)
    try:
        go("get", f"{MODULES[2]}@v1.0.0", env=env, cwd=app)
        seen = Path(env["GOPATH"]) / "pkg" / "sumdb" / NAME / "latest"
        n = int(seen.read_text().split("\n")[1])
        # More appends from three processes at once; then the other node answers.
        v = f"v1.2.{gotool.minor}"
        for m in MODULES:
            repo = world["repos"][m]
            repo.write("m.go", f'package m\n\nconst Version = "{v}"\n')
            repo.commit(v)
            repo.tag(v)
        more = [(world["repos"][m], m, v) for m in MODULES]
        world["sums"].update(publish_all(more, world["modules"], world["sumdb"], world["keys"],
                                         world["env"]))
        second = f"http://127.0.0.1:{nodes[1].port}"
        env.update(sumdb_env(app, work / f"gocache-grows-{gotool.label}", second, world["vkey"],
                             gotool))
        go("get", f"{MODULES[3]}@{v}", env=env, cwd=app)
        n2 = int(seen.read_text().split("\n")[1])
        assert n2 >= n + len(MODULES), (n, n2)
        gosum = (app / "go.sum").read_text()
        assert f"{MODULES[3]} {v} {world['sums'][(MODULES[3], v)]}" in gosum
    finally:
        clean_gopath(env)


def test_a_version_logged_with_other_hashes_is_refused_by_every_node(world, tmp_path):
    """The same module version, another commit: the shared log refuses it, from anywhere."""
    m = "corp.example/cluster/m0"
    other = GitRepo(tmp_path, "impostor")
    other.write("go.mod", f"module {m}\n\ngo 1.19\n")
    other.write("m.go", "package m\n\nconst Version = \"other\"\n")
    other.commit("other")
    other.tag("v1.0.0")
    r = subprocess.run(
        [str(modpub_bin()), "publish", "--repo", str(other.bare), "--import-path", m, "--tag",
         "v1.0.0", "--to", f"file://{tmp_path / 'tree'}", "--sign-key",
         str(world["keys"] / "signer.key"), "--sumdb", world["sumdb"]],
        env=dict(os.environ, **world["env"]), capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert f"{m}@v1.0.0 is already logged" in r.stdout + r.stderr, r.stdout + r.stderr
    assert not (tmp_path / "tree" / "corp.example" / "cluster" / "m0" / "@v" / "v1.0.0.zip").exists()


def test_a_server_that_ignores_conditional_writes_is_refused_for_the_log(tmp_path, world):
    """npm s3rver accepts If-None-Match: * twice: two appenders could both win a swap. The
    log refuses it at its first write, saying why, and nothing is published."""
    with s3rver(tmp_path) as server:
        m = MODULES[0]
        r = subprocess.run(
            [str(modpub_bin()), "publish", "--repo", str(world["repos"][m].bare),
             "--import-path", m, "--tag", "v1.0.0", "--to", f"file://{tmp_path / 'tree'}",
             "--sign-key", str(world["keys"] / "signer.key"), "--sumdb", server.url("sumdb")],
            env=dict(os.environ, **server.env()), capture_output=True, text=True, timeout=300)
        assert r.returncode != 0
        assert "this S3 server ignores conditional writes" in r.stdout + r.stderr, r.stdout + r.stderr
        assert server.client().get("sumdb/head") is None
        assert not (tmp_path / "tree" / "corp.example").exists()
