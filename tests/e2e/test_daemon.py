"""modpubd end to end: real git repositories, the real daemon, real `go` through
GOPROXY=file://. Jobs are written into the spool by `write_job` below, a test-only
writer of the documented job file format (src/modpub/jobs/spool.hpp): temp file in
tmp/, fsync, rename into queue/ -- what the post-receive hook does.

Each daemon gets its own spool, state dir, socket and free HTTP port under tmp_path, and
is stopped by its PID."""

import json
import shutil
import os
import random
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from support import (GO_TOOLS, GitRepo, REPO_ROOT, SilentServer, clean_gopath, free_port, go,
                     go_env, modpub_bin, modpubd_bin, read_list, run_modpub, snapshot, tmpfs)

MODULE = "corp.example/daemonlib"


# --- spool writer and daemon control --------------------------------------------------------

def now_rfc3339():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def write_job(spool: Path, repo: GitRepo, tag, import_path=MODULE, commit=None, job_id=None):
    """Writes one job durably into spool/queue; returns its id."""
    # Sortable by creation, like the ids modpub assigns (oldest first).
    job_id = job_id or f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    if commit is None:
        commit = subprocess.run(["git", "rev-parse", f"refs/tags/{tag}^{{commit}}"],
                                cwd=repo.bare, capture_output=True, text=True,
                                check=True).stdout.strip()
    job = {"format": "modpub-job/1", "id": job_id, "repo": str(repo.bare),
           "import_path": import_path, "tag": tag, "commit": commit, "source": "cli",
           "attempts": 0, "created": now_rfc3339(), "next_attempt": now_rfc3339(),
           "last_error": "", "result": None, "finished": ""}
    for d in ("tmp", "queue"):
        (spool / d).mkdir(parents=True, exist_ok=True)
    tmp = spool / "tmp" / f".writer-{job_id}"
    with open(tmp, "w") as f:
        f.write(json.dumps(job) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, spool / "queue" / f"{job_id}.job")
    fd = os.open(spool / "queue", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return job_id


def jobs_in(spool: Path, state):
    d = spool / state
    if state == "claimed":
        return sorted(p.stem for p in d.glob("*/*.job")) if d.exists() else []
    return sorted(p.stem for p in d.glob("*.job")) if d.exists() else []


def read_job(spool: Path, state, job_id):
    return json.loads((spool / state / f"{job_id}.job").read_text())


class Daemon:
    """One modpubd with its own config, spool, state, socket, port and log."""

    def __init__(self, base: Path, storage, repos, name="d", spool=None, retry=None,
                 workers=2, scan_ms=200, reconcile_ms=0):
        self.base = base
        self.dir = base / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.spool = spool or base / "spool"
        self.port = free_port()
        self.log = self.dir / "modpubd.log"
        self.config = self.dir / "modpub.toml"
        self.socket = self.dir / "modpubd.sock"
        retry = retry or {"initial_backoff_ms": 100, "max_backoff_ms": 400, "max_attempts": 5}
        lines = [
            'log_level = "debug"',
            "storage = [" + ", ".join(f'"{s}"' for s in storage) + "]",
            f'spool_dir = "{self.spool}"',
            f'state_dir = "{self.dir / "state"}"',
            f'socket = "{self.socket}"',
            "[daemon]",
            f"workers = {workers}",
            f'http_listen = "127.0.0.1:{self.port}"',
            f"scan_interval_ms = {scan_ms}",
            # These tests queue jobs by hand for tags storage lacks; reconciliation (on by
            # default) would queue its own for them: it is tested in test_bad_inputs.py.
            f"reconcile_interval_ms = {reconcile_ms}",
            "[retry]",
            *(f"{k} = {v}" for k, v in retry.items()),
        ]
        for path, import_path in repos:
            lines += ["[[repository]]", f'path = "{path}"', f'import_path = "{import_path}"']
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = None

    def start(self, env=None, args=()):
        e = dict(os.environ)
        e.update(env or {})
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([str(modpubd_bin()), "--config", str(self.config), *args],
                                     env=e, stdout=self.logf, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"modpubd exited {self.proc.returncode}:\n{self.text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("modpubd not ready:\n" + self.text())

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.status, r.read().decode()

    def stop(self, timeout=60):
        """SIGTERM by PID; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.logf.close()

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.logf.close()

    def text(self):
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def daemons():
    started = []
    yield started
    for d in started:
        if d.proc is not None and d.proc.poll() is None:
            d.kill()


def wait_until(cond, timeout=60, what="condition", on_fail=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n{on_fail()}")


def make_repo(root: Path, name="lib", module=MODULE, tags=("v1.0.0",), files=3):
    repo = GitRepo(root, name)
    repo.write("go.mod", f"module {module}\n\ngo 1.19\n")
    for tag in tags:
        for j in range(files):
            repo.write(f"p{j}/f.go", f"package p{j}\n\n// {tag}\nconst Version = \"{tag}\"\n")
        repo.write("lib.go", f"package daemonlib\n\nconst Version = \"{tag}\"\n")
        repo.commit(tag)
        repo.tag(tag)
    return repo


def go_fetch_and_run(work: Path, tree: Path, module, version):
    """A consumer program requiring module@version, built and run by real go through
    GOPROXY=file://tree, by every installed go (they must agree). Returns its output."""
    outs = {t.version: go_run_consumer(work / t.label, tree, module, version, t)
            for t in GO_TOOLS}
    assert len(set(outs.values())) == 1, outs
    return next(iter(outs.values()))


def go_run_consumer(work: Path, tree: Path, module, version, gotool):
    env = go_env(work, f"file://{tree}", work / "gocache", gotool)
    app = work / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "go.mod").write_text(f"module example.com/app\n\ngo 1.19\n\nrequire {module} {version}\n")
    (app / "main.go").write_text(
        f'package main\n\nimport (\n\t"fmt"\n\n\tlib "{module}"\n)\n\n'
        'func main() { fmt.Println(lib.Version) }\n')
    try:
        r = go("run", ".", env=env, cwd=app)
        return r.stdout.strip()
    finally:
        clean_gopath(env)


# --- tests ----------------------------------------------------------------------------------

def test_check_config_explains_errors(tmp_path):
    good = Daemon(tmp_path, [f"file://{tmp_path / 'tree'}"], [(tmp_path / "x.git", MODULE)])
    r = subprocess.run([str(modpubd_bin()), "--config", str(good.config), "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('storage = ["file:///x"]\nspool_dir = "rel"\nstate_dir = "/s"\n'
                   'socket = "/t.sock"\n[daemon]\nworkers = 0\nwrokers = 1\n')
    r = subprocess.run([str(modpubd_bin()), "--config", str(bad), "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{bad}:2:13: spool_dir: \"rel\" must be an absolute path" in r.stderr, r.stderr
    assert f"{bad}:6:11: daemon.workers: 0 is out of range 1..64" in r.stderr, r.stderr
    assert f"{bad}:7:11: daemon.wrokers: unknown key" in r.stderr, r.stderr
    # The daemon itself refuses to start on it, with the same explanation.
    r = subprocess.run([str(modpubd_bin()), "--config", str(bad)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "daemon.workers" in r.stderr


def test_job_published_fetchable_by_go_and_metrics(tmp_path, daemons):
    repo = make_repo(tmp_path, tags=("v1.0.0", "v1.1.0"))
    tree = tmp_path / "tree"
    d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)])
    daemons.append(d)
    d.start().wait_ready()
    ids = [write_job(d.spool, repo, "v1.0.0"), write_job(d.spool, repo, "v1.1.0")]
    # Woken through the socket, as the hook does, via `modpub retry`'s poke path: here a
    # plain datagram.
    import socket as pysock
    with pysock.socket(pysock.AF_UNIX, pysock.SOCK_DGRAM) as s:
        s.sendto(b"wake", str(d.socket))
    wait_until(lambda: jobs_in(d.spool, "done") == sorted(ids), what="jobs done",
               on_fail=d.text)
    assert read_list(tree, MODULE) == ["v1.0.0", "v1.1.0"]
    result = read_job(d.spool, "done", ids[1])["result"]
    assert [(x["Path"], x["Version"], x["Result"]) for x in result] == [
        (MODULE, "v1.1.0", "published")]
    assert go_fetch_and_run(tmp_path / "go", tree, MODULE, "v1.1.0") == "v1.1.0"

    status, body = d.get("/metrics")
    assert status == 200
    assert 'modpub_jobs_total{result="done"} 2' in body
    assert 'modpub_module_versions_total{outcome="published"} 2' in body
    assert "modpub_queue_depth 0" in body
    assert "modpub_publish_duration_seconds_count 2" in body
    assert 'modpub_publish_duration_seconds_bucket{le="+Inf"} 2' in body
    assert d.get("/healthz") == (200, "ok\n")
    assert f"{MODULE} v1.1.0 (job {ids[1]})" in d.text()
    assert d.stop() == 0
    assert "modpubd stopped" in d.text()
    assert not d.socket.exists()


def test_jobs_wait_while_daemon_is_down(tmp_path, daemons):
    tags = [f"v1.{i}.0" for i in range(5)]
    repo = make_repo(tmp_path, tags=tags)
    tree = tmp_path / "tree"
    d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)])
    daemons.append(d)
    d.start().wait_ready()
    first = write_job(d.spool, repo, tags[0])
    wait_until(lambda: first in jobs_in(d.spool, "done"), what="first job", on_fail=d.text)
    assert d.stop() == 0
    # Jobs arrive while the daemon is down: they wait in the queue.
    ids = [write_job(d.spool, repo, t) for t in tags[1:]]
    time.sleep(0.3)
    assert jobs_in(d.spool, "queue") == sorted(ids)
    r = run_modpub("jobs", "--config", d.config)
    assert r.returncode == 0, r.stderr
    assert [line.split()[:4] for line in r.stdout.splitlines()[1:]] == [
        [i, "queued", MODULE, t] for i, t in zip(ids, tags[1:])]
    d.start().wait_ready()
    wait_until(lambda: len(jobs_in(d.spool, "done")) == len(tags), what="all done",
               on_fail=d.text)
    assert read_list(tree, MODULE) == tags
    assert run_modpub("jobs", "--config", d.config).stdout == ""
    assert d.stop() == 0


def test_corrupt_job_files_are_set_aside(tmp_path, daemons):
    repo = make_repo(tmp_path)
    tree = tmp_path / "tree"
    d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)])
    daemons.append(d)
    spool = d.spool
    (spool / "queue").mkdir(parents=True)
    (spool / "queue" / "0001-garbage.job").write_text("{this is not json")
    (spool / "queue" / "0002-unreadable.job").mkdir()  # read(2) fails: EISDIR
    (spool / "queue" / "0003-missing-tag.job").write_text(json.dumps(
        {"format": "modpub-job/1", "id": "0003-missing-tag", "repo": str(repo.bare),
         "import_path": MODULE}))
    good = write_job(spool, repo, "v1.0.0")
    d.start().wait_ready()
    wait_until(lambda: good in jobs_in(spool, "done"), what="good job", on_fail=d.text)
    wait_until(lambda: len(list((spool / "corrupt").glob("*.reason"))) == 3, what="set aside")
    log = d.text()
    assert "0001-garbage.job: not valid JSON" in log
    assert "0002-unreadable.job: cannot read: Is a directory" in log
    assert "0003-missing-tag.job: key \"tag\" is missing" in log
    assert "set aside" in log
    assert (spool / "corrupt" / "0001-garbage.job").read_text() == "{this is not json"
    r = run_modpub("jobs", "--failed", "--spool", spool)
    assert r.returncode == 0
    assert [line.split()[:2] for line in r.stdout.splitlines()[1:]] == [
        ["0001-garbage.job", "corrupt"], ["0002-unreadable.job", "corrupt"],
        ["0003-missing-tag.job", "corrupt"]]
    status, body = d.get("/metrics")
    assert 'modpub_jobs_total{result="corrupt"} 3' in body
    assert "modpub_last_error_info{message=" in body
    assert read_list(tree, MODULE) == ["v1.0.0"]
    assert d.stop() == 0


def test_invalid_tag_fails_and_retry_requeues(tmp_path, daemons):
    repo = make_repo(tmp_path)
    repo.write("go.mod", "module corp.example/other\n")
    repo.commit("wrong module path")
    repo.tag("v1.1.0")
    tree = tmp_path / "tree"
    d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)])
    daemons.append(d)
    d.start().wait_ready()
    bad = write_job(d.spool, repo, "v1.1.0")
    wait_until(lambda: bad in jobs_in(d.spool, "failed"), what="failed job", on_fail=d.text)
    job = read_job(d.spool, "failed", bad)
    assert "not publishable" in job["last_error"]
    assert job["attempts"] == 0  # failed at once: retrying cannot help
    r = run_modpub("jobs", "--failed", "--config", d.config)
    assert r.stdout.splitlines()[1].split()[:4] == [bad, "failed", MODULE, "v1.1.0"]
    assert "tag v1.1.0 is not publishable" in r.stdout
    # `modpub retry` re-queues it; it fails again the same way.
    assert run_modpub("retry", "nonexistent", "--config", d.config).returncode == 1
    r = run_modpub("retry", bad, "--config", d.config)
    assert r.returncode == 0 and f"re-queued {bad}" in r.stdout
    wait_until(lambda: d.text().count(f"(job {bad}): failed") == 2 and
               jobs_in(d.spool, "failed") == [bad], what="second failure", on_fail=d.text)
    assert not tree.exists() or read_list(tree, MODULE) == []
    assert d.stop() == 0


def test_storage_failure_retries_with_backoff_then_publishes(tmp_path, daemons):
    repo = make_repo(tmp_path)
    mnt = tmp_path / "mnt"
    with tmpfs(mnt, "16m", read_only=True):
        tree = mnt / "tree"
        d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)],
                   retry={"initial_backoff_ms": 100, "max_backoff_ms": 800,
                          "max_attempts": 1000})
        daemons.append(d)
        d.start().wait_ready()
        job = write_job(d.spool, repo, "v1.0.0")
        wait_until(lambda: d.text().count("retrying in") >= 4, what="retries", on_fail=d.text)
        assert jobs_in(d.spool, "done") == []
        delays = [int(line.split("retrying in ")[1].split()[0])
                  for line in d.text().splitlines() if "retrying in" in line]
        # Exponential with +-20% jitter: 100, 200, 400, 800 (capped) ms.
        for i, ms in enumerate(delays[:4]):
            base = min(100 * 2 ** i, 800)
            assert 0.8 * base <= ms <= 1.2 * base, delays
        assert "Read-only file system" in d.text()
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        wait_until(lambda: job in jobs_in(d.spool, "done"), what="published after recovery",
                   on_fail=d.text)
        done = read_job(d.spool, "done", job)
        assert done["attempts"] >= 4
        assert [x["Result"] for x in done["result"]] == ["published"]
        assert read_list(tree, MODULE) == ["v1.0.0"]
        assert go_fetch_and_run(tmp_path / "go", tree, MODULE, "v1.0.0") == "v1.0.0"
        status, body = d.get("/metrics")
        assert 'modpub_jobs_total{result="done"} 1' in body
        retried = int(body.split('modpub_jobs_total{result="retried"} ')[1].split()[0])
        assert retried >= 4
        assert d.stop() == 0


def test_gives_up_after_max_attempts(tmp_path, daemons):
    repo = make_repo(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the storage directory should be")
    d = Daemon(tmp_path, [f"file://{blocker}/tree"], [(repo.bare, MODULE)],
               retry={"initial_backoff_ms": 10, "max_backoff_ms": 20, "max_attempts": 3})
    daemons.append(d)
    d.start().wait_ready()
    job = write_job(d.spool, repo, "v1.0.0")
    wait_until(lambda: job in jobs_in(d.spool, "failed"), what="failed", on_fail=d.text)
    failed = read_job(d.spool, "failed", job)
    assert failed["last_error"].startswith("gave up after 3 attempt(s): ")
    assert failed["attempts"] == 2
    assert d.stop() == 0


def test_two_daemons_on_one_spool_publish_each_job_once(tmp_path, daemons):
    repos = []
    for r in range(4):
        module = f"corp.example/two{r}"
        repos.append((make_repo(tmp_path, name=f"two{r}", module=module,
                                tags=[f"v1.{i}.0" for i in range(5)], files=1), module))
    tree = tmp_path / "tree"
    spool = tmp_path / "spool"
    cfg_repos = [(repo.bare, m) for repo, m in repos]
    a = Daemon(tmp_path, [f"file://{tree}"], cfg_repos, name="a", spool=spool, workers=3)
    b = Daemon(tmp_path, [f"file://{tree}"], cfg_repos, name="b", spool=spool, workers=3)
    daemons.extend([a, b])
    a.start().wait_ready()
    b.start().wait_ready()
    ids = []
    for i in range(5):
        for repo, module in repos:
            ids.append(write_job(spool, repo, f"v1.{i}.0", import_path=module))
    for d in (a, b):
        import socket as pysock
        with pysock.socket(pysock.AF_UNIX, pysock.SOCK_DGRAM) as s:
            s.sendto(b"wake", str(d.socket))
    wait_until(lambda: len(jobs_in(spool, "done")) == len(ids), what="all done",
               on_fail=lambda: a.text() + b.text())
    logs = a.text() + b.text()
    for job_id in ids:
        # Claimed and published by exactly one worker of one daemon.
        assert logs.count(f"(job {job_id}): publishing") == 1, job_id
    assert jobs_in(spool, "queue") == [] and jobs_in(spool, "claimed") == []
    for repo, module in repos:
        assert read_list(tree, module) == [f"v1.{i}.0" for i in range(5)]
    assert {n: logs.count(f"(job {n}): publishing") for n in ids}
    assert a.stop() == 0 and b.stop() == 0


def test_sigterm_finishes_running_publish_and_exits_0(tmp_path, daemons):
    repo = make_repo(tmp_path, files=20)
    tree = tmp_path / "tree"
    d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)])
    daemons.append(d)
    d.start(args=["--step-delay-ms", "100"]).wait_ready()
    job = write_job(d.spool, repo, "v1.0.0")
    wait_until(lambda: f"(job {job}): publishing" in d.text(), what="publish started",
               on_fail=d.text)
    assert d.stop() == 0
    assert jobs_in(d.spool, "done") == [job]
    assert jobs_in(d.spool, "claimed") == []
    assert read_list(tree, MODULE) == ["v1.0.0"]


# --- SIGKILL at random points ---------------------------------------------------------------

TRIALS = 30
CRASH_TAGS = [f"v1.{i}.0" for i in range(TRIALS)]
STEP_DELAY = ["--step-delay-ms", "15"]  # modpubd sleeps between write steps (fsio::Env)


def check_no_partial(tree: Path, ref):
    """Every file under a final name is complete (equal to a clean publish); every listed
    version has all its files."""
    mod_dir = tree / MODULE / "@v"
    if not mod_dir.exists():
        return
    listed = read_list(tree, MODULE)
    assert len(listed) == len(set(listed))
    for v in listed:
        for ext in ("zip", "mod", "info"):
            rel = f"{MODULE}/@v/{v}.{ext}"
            assert (tree / rel).read_bytes() == ref[rel], f"listed {v} without complete {ext}"
    for p in mod_dir.iterdir():
        if p.name.startswith(".") or p.name == "list":
            continue
        rel = str(p.relative_to(tree))
        assert p.read_bytes() == ref[rel], f"{rel} truncated or different"


def test_sigkill_mid_publish_every_version_published_once(tmp_path, daemons):
    repo = make_repo(tmp_path, tags=CRASH_TAGS, files=10)
    ref_tree = tmp_path / "ref"
    for tag in CRASH_TAGS:
        r = run_modpub("publish", "--repo", repo.bare, "--import-path", MODULE, "--tag", tag,
                       "--to", f"file://{ref_tree}")
        assert r.returncode == 0, r.stderr
    ref = snapshot(ref_tree)

    # How long one job takes with the step delay: the kills are spread over that span.
    probe = Daemon(tmp_path, [f"file://{tmp_path / 'probe-tree'}"], [(repo.bare, MODULE)],
                   name="probe", spool=tmp_path / "probe-spool")
    daemons.append(probe)
    job = write_job(probe.spool, repo, CRASH_TAGS[0])
    t0 = time.monotonic()
    probe.start(args=STEP_DELAY)
    wait_until(lambda: job in jobs_in(probe.spool, "done"), what="probe", on_fail=probe.text)
    span = time.monotonic() - t0
    assert probe.stop() == 0

    tree = tmp_path / "tree"
    rng = random.Random(int(os.environ.get("MODPUB_CRASH_SEED", "5")))
    d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)], workers=2, scan_ms=100)
    daemons.append(d)
    ids = {}
    interrupted = 0
    for trial in range(TRIALS):
        # A new job arrives for every start; earlier interrupted ones are still there.
        ids[write_job(d.spool, repo, CRASH_TAGS[trial])] = CRASH_TAGS[trial]
        d.start(args=STEP_DELAY)
        time.sleep(rng.uniform(0.0, span))
        d.kill()
        check_no_partial(tree, ref)
        interrupted += len(jobs_in(d.spool, "claimed"))
        assert sorted(jobs_in(d.spool, "done") + jobs_in(d.spool, "queue") +
                      jobs_in(d.spool, "claimed")) == sorted(ids)
    d.start().wait_ready()
    wait_until(lambda: len(jobs_in(d.spool, "done")) == len(ids), what="all done",
               on_fail=d.text)
    assert d.stop() == 0
    # Every job done exactly once (one file in done/, none elsewhere), every version stored
    # once and byte for byte as a clean publish writes it.
    assert jobs_in(d.spool, "done") == sorted(ids)
    assert jobs_in(d.spool, "queue") == [] and jobs_in(d.spool, "claimed") == []
    assert jobs_in(d.spool, "failed") == []
    assert read_list(tree, MODULE) == sorted(CRASH_TAGS, key=lambda v: int(v.split(".")[1]))
    stored = {k: v for k, v in snapshot(tree).items() if ".modpub-tmp-" not in k}
    assert stored == ref
    assert interrupted > 0, "no kill landed while a job was claimed"
    assert "re-queued" in d.text()
    for job_id in ids:
        result = read_job(d.spool, "done", job_id)["result"]
        assert [x["Result"] for x in result] in (["published"], ["unchanged"])
    r = run_modpub("ls", "--from", f"file://{tree}", "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == [
        {"Path": MODULE, "Versions": CRASH_TAGS}]


# --- systemd unit ---------------------------------------------------------------------------

def test_systemd_unit_verifies_and_is_hardened(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (scripts/install-deps installs systemd)")
    unit = (REPO_ROOT / "systemd" / "modpubd.service").read_text()
    keys = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            keys.setdefault(k, []).append(v)
    assert keys["Type"] == ["notify"]
    assert keys["User"] == ["modpub"]
    assert keys["ProtectSystem"] == ["strict"]
    assert keys["NoNewPrivileges"] == ["yes"]
    assert keys["PrivateTmp"] == ["yes"]
    assert keys["ProtectHome"] == ["yes"]
    assert "@system-service" in keys["SystemCallFilter"]
    assert set(keys["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    rw = keys["ReadWritePaths"][0].split()
    assert "/var/lib/modpub" in rw and "/run/modpub" in rw
    # verify checks that the binary exists: point the unit at the one just built.
    local = tmp_path / "modpubd.service"
    local.write_text(unit.replace("/usr/bin/modpubd", str(modpubd_bin())))
    r = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "modpubd.service" not in r.stderr, r.stderr


def test_example_config_is_valid():
    r = subprocess.run([str(modpubd_bin()), "--config", str(REPO_ROOT / "examples" / "modpub.toml"),
                        "--check-config"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "2 repositories" in r.stdout


# --- real pushes through the hooks (modpub hook install) -------------------------------------

def hook_bin_exists():
    return (modpub_bin().parent / "modpub-hook").exists()


class PushedRepo:
    """A bare repository with modpub's hooks installed (config = the daemon's), and a
    working clone to push from."""

    def __init__(self, root: Path, name, module):
        self.module = module
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True,
                       env=env)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.work)], check=True, env=env)

    def install(self, config):
        r = run_modpub("hook", "install", "--repo", self.bare, "--config", config)
        assert r.returncode == 0, r.stderr

    def commit_and_tag(self, tag):
        from support import GIT_ENV
        env = dict(os.environ, **GIT_ENV)
        (self.work / "go.mod").write_text(f"module {self.module}\n\ngo 1.19\n")
        (self.work / "lib.go").write_text(f'package lib\n\nconst Version = "{tag}"\n')
        for args in (["add", "-A"], ["commit", "-q", "-m", tag], ["tag", tag]):
            subprocess.run(["git", *args], cwd=self.work, env=env, check=True)

    def push(self, *refs):
        from support import GIT_ENV
        env = dict(os.environ, **GIT_ENV)
        return subprocess.run(["git", "push", str(self.bare), *refs], cwd=self.work, env=env,
                              capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not hook_bin_exists(), reason="modpub-hook not built")
def test_pushes_while_daemon_down_are_published_when_it_starts(tmp_path, daemons):
    repo = PushedRepo(tmp_path, "pushed", "corp.example/pushed")
    tree = tmp_path / "tree"
    d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, repo.module)])
    daemons.append(d)
    repo.install(d.config)
    tags = [f"v0.{i}.0" for i in range(4)]
    for tag in tags:  # no daemon running: every push still succeeds and queues its job
        repo.commit_and_tag(tag)
        r = repo.push("main", tag)
        assert r.returncode == 0, r.stderr
        assert f"modpub: queued {repo.module}@{tag}" in r.stderr
    assert len(jobs_in(d.spool, "queue")) == len(tags)
    assert not tree.exists()
    d.start().wait_ready()
    wait_until(lambda: len(jobs_in(d.spool, "done")) == len(tags), what="all published",
               on_fail=d.text)
    assert read_list(tree, repo.module) == tags
    assert d.stop() == 0


@pytest.mark.skipif(not hook_bin_exists(), reason="modpub-hook not built")
def test_20_concurrent_pushes_across_5_repos_all_published(tmp_path, daemons):
    repos = [PushedRepo(tmp_path, f"c{i}", f"corp.example/c{i}") for i in range(5)]
    tree = tmp_path / "tree"
    d = Daemon(tmp_path, [f"file://{tree}"], [(r.bare, r.module) for r in repos], workers=4)
    daemons.append(d)
    for r in repos:
        r.install(d.config)
        r.commit_and_tag("v0.1.0")
        assert r.push("main").returncode == 0
    d.start().wait_ready()
    tags = [f"v1.{i}.0" for i in range(4)]
    for r in repos:
        for tag in tags:
            r.commit_and_tag(tag)
    # 5 repos x 4 tags, each tag its own push, all at once.
    procs = []
    from support import GIT_ENV
    env = dict(os.environ, **GIT_ENV)
    for r in repos:
        for tag in tags:
            procs.append((r, tag, subprocess.Popen(["git", "push", str(r.bare), tag], cwd=r.work,
                                                   env=env, stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE, text=True)))
    for r, tag, p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert f"modpub: queued {r.module}@{tag}" in err
    wait_until(lambda: len(jobs_in(d.spool, "done")) == 20, what="20 published", on_fail=d.text)
    for r in repos:
        assert read_list(tree, r.module) == tags
    assert jobs_in(d.spool, "failed") == []
    assert go_fetch_and_run(tmp_path / "go", tree, "corp.example/c3", "v1.3.0") == "v1.3.0"
    assert d.stop() == 0


def test_sd_notify_ready_watchdog_stopping(tmp_path, daemons):
    import socket as pysock
    notify = tmp_path / "notify.sock"
    s = pysock.socket(pysock.AF_UNIX, pysock.SOCK_DGRAM)
    s.bind(str(notify))
    s.settimeout(20)
    try:
        d = Daemon(tmp_path, [f"file://{tmp_path / 'tree'}"], [])
        daemons.append(d)
        d.start(env={"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "200000"})
        seen = []
        while not any("WATCHDOG=1" in m for m in seen):
            seen.append(s.recv(4096).decode())
        assert "READY=1" in seen[0], seen
        assert f"MAINPID={d.proc.pid}" in seen[0], seen
        d.wait_ready()
        assert d.stop() == 0
        while not any("STOPPING=1" in m for m in seen):
            seen.append(s.recv(4096).decode())
    finally:
        s.close()


def test_storage_that_never_answers_is_retried_and_frees_the_worker(tmp_path, daemons):
    """An S3 endpoint that accepts connections and never answers: each publish attempt
    ends at storage_deadline_ms (1 s here, not attempts x 30 s), the job goes back to the
    queue with backoff (retried, not failed), and the single worker moves on to the next
    job meanwhile."""
    silent = SilentServer()
    try:
        repo = make_repo(tmp_path, tags=("v1.0.0", "v1.1.0"), files=1)
        url = f"s3://modules/p?endpoint=http://127.0.0.1:{silent.port}"
        d = Daemon(tmp_path, [url], [(repo.bare, MODULE)], workers=1,
                   retry={"initial_backoff_ms": 100, "max_backoff_ms": 400,
                          "max_attempts": 1000})
        d.config.write_text("storage_deadline_ms = 1000\n" + d.config.read_text())
        daemons.append(d)
        d.start(env={"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}).wait_ready()
        start = time.monotonic()
        jobs = [write_job(d.spool, repo, "v1.0.0"), write_job(d.spool, repo, "v1.1.0")]
        # Both jobs attempted at least twice by the one worker, each attempt ~1 s.
        wait_until(lambda: all(sum(f"(job {j})" in line and "retrying in" in line
                                   for line in d.text().splitlines()) >= 2 for j in jobs),
                   timeout=30, what="both jobs retried twice", on_fail=d.text)
        assert time.monotonic() - start < 15
        assert "no answer within the 1 s storage deadline (storage_deadline_ms in " \
               f"{d.config})" in d.text()
        assert jobs_in(d.spool, "failed") == []
        r = run_modpub("jobs", "--config", d.config)
        assert r.returncode == 0, r.stderr
        states = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
        assert sorted(states) == sorted(jobs), r.stdout
        for line in states.values():
            assert line.split()[1] in ("queued", "claimed", "running"), line
            assert int(line.split()[4]) >= 1, line  # ID STATE MODULE TAG ATTEMPTS ...
        assert d.stop() == 0
    finally:
        silent.stop()
