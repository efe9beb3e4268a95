"""A cluster on one machine: Debian's redis-server (AOF, appendfsync always) on a free
loopback port, git servers whose hooks forward jobs to it, and several modpubd nodes
taking jobs from it into one shared storage. Nodes are killed and restarted mid-burst;
every version must be published, none twice, no job left behind. Skipped where
redis-server is not installed."""

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support import GIT_ENV, free_port, git, read_list, run_modpub, wait_for_port
from test_daemon import Daemon, daemons, wait_until  # noqa: F401

REDIS = "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not os.access(REDIS, os.X_OK), reason="redis-server is absent")


class Redis:
    """redis-server with an append-only file fsync-ed at every write, stopped by PID."""

    def __init__(self, root: Path):
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for_port(self.port, proc=self.proc), "redis-server did not start"
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def url(self):
        return f"redis://127.0.0.1:{self.port}/0?stream=test:jobs&group=modpubd"


@pytest.fixture
def redis(tmp_path):
    r = Redis(tmp_path).start()
    yield r
    r.kill(signal.SIGTERM)


def with_queue(config: Path, url: str, claim_idle_ms=3000):
    """Adds the cluster queue to a configuration (top-level keys come before any table)."""
    text = config.read_text()
    config.write_text(f'queue = "{url}"\nqueue_claim_idle_ms = {claim_idle_ms}\n' + text)


class GitServer:
    """A bare repository with modpub's hooks, whose jobs go to the cluster queue."""

    def __init__(self, root: Path, name, module, store, url):
        self.root = root / name
        self.root.mkdir(parents=True)
        self.module = module
        self.work = self.root / "work"
        self.bare = self.root / "repo.git"
        git("init", "-q", "-b", "main", str(self.work))
        git("init", "-q", "--bare", str(self.bare))
        self.config = self.root / "modpub.toml"
        self.config.write_text("\n".join([
            f'storage = ["file://{store}"]',
            f'spool_dir = "{self.root / "spool"}"',
            f'queue = "{url}"',
            f'state_dir = "{self.root / "state"}"',
            f'socket = "{self.root / "no-daemon-here.sock"}"',  # hooks only on this server
            "[[repository]]",
            f'path = "{self.bare}"',
            f'import_path = "{module}"',
        ]) + "\n")
        r = run_modpub("hook", "install", "--repo", self.bare, "--config", self.config)
        assert r.returncode == 0, r.stderr

    def tag_versions(self, versions):
        """Commits and tags each version in the work tree (nothing pushed yet)."""
        (self.work / "go.mod").write_text(f"module {self.module}\n\ngo 1.19\n")
        for v in versions:
            (self.work / "v.go").write_text(f'package m\n\nconst Version = "{v}"\n')
            git("add", "-A", cwd=self.work)
            git("commit", "-q", "-m", v, cwd=self.work)
            git("tag", v, cwd=self.work)

    def push_all(self):
        return subprocess.run(["git", "push", str(self.bare), "main", "--tags"], cwd=self.work,
                              env=dict(os.environ, **GIT_ENV), capture_output=True, text=True,
                              timeout=300)


def node(base, store, repos, url, name, workers=2):
    d = Daemon(base, [f"file://{store}"], repos, name=name, spool=base / f"{name}-spool",
               workers=workers, scan_ms=200,
               retry={"initial_backoff_ms": 200, "max_backoff_ms": 1000, "max_attempts": 8})
    with_queue(d.config, url)
    return d


def published_lines(nodes, module, version):
    pat = re.compile(re.escape(f"{module}@{version} published in "))
    return sum(len(pat.findall(n.text())) for n in nodes)


def queue_is_empty(config):
    r = run_modpub("jobs", "--config", config)
    f = run_modpub("jobs", "--failed", "--config", config)
    return r.returncode == 0 and f.returncode == 0 and r.stdout == "" and f.stdout == ""


def test_nodes_die_and_restart_mid_burst_and_every_version_is_published_once(
        tmp_path, redis, daemons):
    store = tmp_path / "tree"
    a = GitServer(tmp_path, "git-a", "corp.example/a", store, redis.url())
    b = GitServer(tmp_path, "git-b", "corp.example/b", store, redis.url())
    versions = [f"v1.0.{i}" for i in range(15)]
    a.tag_versions(versions)
    b.tag_versions(versions)
    repos = [(a.bare, a.module), (b.bare, b.module)]
    nodes = [node(tmp_path, store, repos, redis.url(), f"node{i}") for i in range(3)]
    daemons.extend(nodes)
    nodes[0].start().wait_ready()

    pushes = {}
    threads = [threading.Thread(target=lambda s=s: pushes.__setitem__(s.module, s.push_all()))
               for s in (a, b)]
    for t in threads:
        t.start()
    # node0 freezes while it holds jobs, then dies: what it held must be taken over.
    wait_until(lambda: "publishing (attempt" in nodes[0].text(), 60, "node0 working")
    os.kill(nodes[0].proc.pid, signal.SIGSTOP)
    nodes[1].start().wait_ready()
    nodes[2].start().wait_ready()
    time.sleep(0.5)
    nodes[0].kill()
    nodes[1].stop()  # a restart mid-burst: its running jobs finish, the rest wait in Redis
    nodes[1].start().wait_ready()
    for t in threads:
        t.join()
    for module, p in pushes.items():
        assert p.returncode == 0, (module, p.stderr)
        assert "handed to the cluster queue" in p.stderr, p.stderr

    def all_listed():
        return all(read_list(store, s.module) == versions for s in (a, b))
    wait_until(all_listed, 180, "all 30 versions listed",
               lambda: "\n".join(n.text()[-3000:] for n in nodes))
    for s in (a, b):
        lst = (store / s.module / "@v" / "list").read_text().splitlines()
        assert len(lst) == len(set(lst)) == 15, lst
        for v in versions:
            assert published_lines(nodes, s.module, v) <= 1, (s.module, v)
    wait_until(lambda: queue_is_empty(nodes[2].config), 60, "no job left in the queue")
    assert "taken over from a worker silent for 3000 ms" in nodes[1].text() + nodes[2].text()
    _, metrics = nodes[2].get("/metrics")
    assert "modpub_cluster_queue_up 1" in metrics, metrics
    for state in ("queued", "pending", "delayed", "dead"):
        assert f'modpub_cluster_queue_jobs{{state="{state}"}} 0' in metrics, metrics
    for s in (a, b):  # the git servers' outboxes are empty too
        r = run_modpub("jobs", "--spool", s.root / "spool")
        assert r.returncode == 0 and r.stdout == "", r.stdout


def test_a_push_while_redis_is_down_is_accepted_and_forwarded_later(tmp_path, redis, daemons):
    store = tmp_path / "tree"
    a = GitServer(tmp_path, "git-a", "corp.example/a", store, redis.url())
    a.tag_versions(["v1.0.0"])
    redis.kill()
    p = a.push_all()
    assert p.returncode == 0, p.stderr
    assert "cannot forward job" in p.stderr and "modpub jobs forward" in p.stderr, p.stderr
    queued = run_modpub("jobs", "--spool", a.root / "spool")
    assert [row.split()[2:4] for row in queued.stdout.splitlines()[1:]] == [
        ["corp.example/a", "v1.0.0"]], queued.stdout
    redis.start()
    n = node(tmp_path, store, [(a.bare, a.module)], redis.url(), "node0")
    daemons.append(n)
    n.start().wait_ready()
    r = run_modpub("jobs", "forward", "--config", a.config)
    assert r.returncode == 0, r.stderr
    assert "forwarded 1 job" in r.stdout, r.stdout
    wait_until(lambda: read_list(store, a.module) == ["v1.0.0"], 60, "v1.0.0 published",
               n.text)


def test_jobs_acknowledged_before_redis_is_killed_are_published_after_it_restarts(
        tmp_path, redis, daemons):
    store = tmp_path / "tree"
    a = GitServer(tmp_path, "git-a", "corp.example/a", store, redis.url())
    versions = [f"v1.1.{i}" for i in range(10)]
    a.tag_versions(versions)
    p = a.push_all()  # no node yet: the jobs wait in Redis
    assert p.returncode == 0 and "10 job(s) handed to the cluster queue" in p.stderr, p.stderr
    redis.kill()
    redis.start()
    n = node(tmp_path, store, [(a.bare, a.module)], redis.url(), "node0")
    daemons.append(n)
    n.start().wait_ready()
    wait_until(lambda: read_list(store, a.module) == versions, 120, "all published", n.text)


def test_a_webhook_delivery_is_handled_by_one_node_of_the_cluster(tmp_path, redis, daemons):
    """The same delivery id reaching two nodes (a proxy retrying on another backend) makes
    one job: the second node answers "duplicate". Then the job is published."""
    from test_webhook import HookDaemon, github, make_repo, push_body, rev
    (tmp_path / "remotes").mkdir()
    lib = make_repo(tmp_path / "remotes", name="lib", module="corp.example/lib",
                    tags=("v1.0.0",))
    store = tmp_path / "tree"
    nodes = []
    for i in range(2):
        d = HookDaemon(tmp_path / f"n{i}", [f"file://{store}"], [
            {"import_path": "corp.example/lib", "remote_url": f"file://{lib.bare}",
             "webhook_secret": "s", "provider": "github"}])
        with_queue(d.config, redis.url())
        daemons.append(d)
        nodes.append(d.start().wait_ready())
    body = push_body("corp/lib", f"file://{lib.bare}", "v1.0.0", commit=rev(lib, "v1.0.0"))
    first = github(nodes[0].port, "push", body, secret="s", delivery="same-delivery")
    second = github(nodes[1].port, "push", body, secret="s", delivery="same-delivery")
    assert first[0] == 202, first
    assert second[0] == 200 and "duplicate" in second[1], second
    assert "handled by another node" in nodes[1].text()
    wait_until(lambda: read_list(store, "corp.example/lib") == ["v1.0.0"], 60, "published",
               lambda: nodes[0].text() + nodes[1].text())


def test_redis_restarted_during_a_burst_loses_no_acknowledged_push(tmp_path, redis, daemons):
    """Tags pushed one by one while two nodes publish; Redis is SIGKILLed and restarted on
    its append-only file mid-burst. Every push git accepted is published: what Redis had
    acknowledged survives in its AOF, what a push could not hand over waits in the git
    server's spool and goes with a later push (or `modpub jobs forward`)."""
    store = tmp_path / "tree"
    a = GitServer(tmp_path, "git-a", "corp.example/a", store, redis.url())
    versions = [f"v1.2.{i}" for i in range(24)]
    a.tag_versions(versions)
    nodes = [node(tmp_path, store, [(a.bare, a.module)], redis.url(), f"node{i}")
             for i in range(2)]
    daemons.extend(nodes)
    for n in nodes:
        n.start().wait_ready()
    accepted, kept_local = [], 0
    for i, v in enumerate(versions):
        if i == 8:
            redis.kill()
        if i == 14:
            redis.start()
        p = subprocess.run(["git", "push", str(a.bare), v], cwd=a.work,
                           env=dict(os.environ, **GIT_ENV), capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr  # Redis down or not, the push is accepted
        accepted.append(v)
        kept_local += "cannot forward job" in p.stderr
    assert kept_local >= 1, "no push ran while Redis was down"
    wait_until(lambda: read_list(store, a.module) == sorted(accepted, key=lambda v: int(
        v.rsplit(".", 1)[1])), 180, "every accepted push published",
        lambda: "\n".join(n.text()[-3000:] for n in nodes))
    for v in accepted:
        assert published_lines(nodes, a.module, v) <= 1, v
    r = run_modpub("jobs", "--spool", a.root / "spool")
    assert r.returncode == 0 and r.stdout == "", r.stdout  # nothing left behind
    wait_until(lambda: queue_is_empty(nodes[0].config), 60, "no job left in the queue")


def test_a_webhook_accepted_while_redis_is_down_is_published_after_it_returns(
        tmp_path, redis, daemons):
    """A delivery answered 202 while Redis is down is durable in the node's intake
    journal; the node's forwarder hands it to Redis once Redis is back (AOF restart), and
    it is published."""
    from test_webhook import HookDaemon, github, make_repo, push_body, rev
    (tmp_path / "remotes").mkdir()
    lib = make_repo(tmp_path / "remotes", name="lib", module="corp.example/lib",
                    tags=("v1.0.0", "v1.1.0"))
    store = tmp_path / "tree"
    d = HookDaemon(tmp_path / "n0", [f"file://{store}"], [
        {"import_path": "corp.example/lib", "remote_url": f"file://{lib.bare}",
         "webhook_secret": "s", "provider": "github"}])
    with_queue(d.config, redis.url())
    daemons.append(d)
    d.start().wait_ready()
    first = github(d.port, "push", push_body("corp/lib", f"file://{lib.bare}", "v1.0.0",
                                             commit=rev(lib, "v1.0.0")), secret="s",
                   delivery="before")
    assert first[0] == 202, first
    redis.kill()
    during = github(d.port, "push", push_body("corp/lib", f"file://{lib.bare}", "v1.1.0",
                                              commit=rev(lib, "v1.1.0")), secret="s",
                    delivery="during")
    assert during[0] == 202, during  # durable here, whatever Redis does
    time.sleep(1)
    redis.start()
    wait_until(lambda: read_list(store, "corp.example/lib") == ["v1.0.0", "v1.1.0"], 120,
               "both deliveries published", d.text)
    wait_until(lambda: queue_is_empty(d.config), 60, "no job left in the queue")
