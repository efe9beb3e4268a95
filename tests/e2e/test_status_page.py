"""modpubd's status page (GET /, GET /api/status) end to end: real repositories with
modpub's hooks, real pushes, the real daemon publishing into a GOPROXY tree and serving it
with auth, and the page read in Debian's headless Chromium (playwright-core from
tools/node_modules, scripts/install-deps) at a phone's and a desktop's width.

Screenshots go to <build dir>/test-artifacts/status-page-{phone,desktop}.png (build dir:
MODPUB_BIN's parent's parent)."""

import base64
import calendar
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from support import GIT_ENV, REPO_ROOT, free_port, modpub_bin, modpubd_bin, read_list, run_modpub

ALPHA = "corp.example/alpha"
BETA = "corp.example/beta"
# A tag whose name a pusher chooses: quotes and markup are allowed in git ref names.
HOSTILE_TAG = "v1.0.0-x\"><script>alert('pwned')<"
USERS = {"alice": ("alice-pw", ["*"]), "bob": ("bob-pw", [BETA])}

PLAYWRIGHT = REPO_ROOT / "tools" / "node_modules" / "playwright-core"
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_SCRIPT = Path(__file__).with_name("status_page_browser.js")


def browser_missing():
    if not shutil.which("node"):
        return "node is not installed"
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (scripts/install-deps)"
    if not (PLAYWRIGHT / "package.json").exists():
        return "playwright-core is not in tools/node_modules (scripts/install-deps)"
    return ""


def artifacts_dir():
    d = modpub_bin().resolve().parent.parent / "test-artifacts"
    d.mkdir(parents=True, exist_ok=True)
    return d


class Repo:
    """A bare repository with modpub's hooks and a clone to push tags from."""

    def __init__(self, root: Path, name, module):
        self.module = module
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        env = dict(os.environ, **GIT_ENV)
        for args in (["init", "-q", "--bare", "-b", "main", str(self.bare)],
                     ["init", "-q", "-b", "main", str(self.work)]):
            subprocess.run(["git", *args], check=True, env=env)

    def push_tag(self, tag):
        env = dict(os.environ, **GIT_ENV)
        (self.work / "go.mod").write_text(f"module {self.module}\n\ngo 1.19\n")
        (self.work / "lib.go").write_text(f'package lib\n\nconst Version = "{tag}"\n')
        for args in (["add", "-A"], ["commit", "-q", "-m", tag], ["tag", tag]):
            subprocess.run(["git", *args], cwd=self.work, env=env, check=True)
        r = subprocess.run(["git", "push", str(self.bare), "main", tag], cwd=self.work, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"queued {self.module}@{tag}" in r.stderr, r.stderr


def write_job(spool: Path, repo: Repo, tag, commit, due_in=0.0):
    """A job in the spool's documented format (jobs/spool.hpp), written as the hooks do:
    tmp/, fsync, rename into queue/. For what a push cannot queue: a tag name the hooks
    would not pass on, a job not due for a while."""
    def at(t):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
    job_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    job = {"format": "modpub-job/1", "id": job_id, "repo": str(repo.bare),
           "import_path": repo.module, "tag": tag, "commit": commit, "source": "cli",
           "attempts": 0, "created": at(time.time()), "next_attempt": at(time.time() + due_in),
           "last_error": "", "result": None, "finished": ""}
    tmp = spool / "tmp" / f".writer-{job_id}"
    with open(tmp, "w") as f:
        f.write(json.dumps(job) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, spool / "queue" / f"{job_id}.job")
    return job_id


class StatusDaemon:
    """modpubd with [proxy] and an auth file, its own spool, state, socket and port."""

    def __init__(self, base: Path, repos):
        self.base = base
        self.tree = base / "tree"
        self.spool = base / "spool"
        self.port = free_port()
        self.log = base / "modpubd.log"
        self.config = base / "modpub.toml"
        auth = base / "auth.toml"
        lines = []
        for name, (password, allow) in USERS.items():
            h = run_modpub("auth-hash", input=password + "\n")
            assert h.returncode == 0, h.stderr
            lines += ["[[user]]", f'name = "{name}"', f'password = "{h.stdout.strip()}"',
                      "allow = [" + ", ".join(f'"{a}"' for a in allow) + "]"]
        auth.write_text("\n".join(lines) + "\n")
        cfg = [
            'log_level = "debug"',
            f'storage = ["file://{self.tree}"]',
            f'spool_dir = "{self.spool}"',
            f'state_dir = "{base / "state"}"',
            f'socket = "{base / "modpubd.sock"}"',
            "[daemon]",
            f'http_listen = "127.0.0.1:{self.port}"',
            "scan_interval_ms = 200",
            "reconcile_interval_ms = 0",
            "[retry]",
            "initial_backoff_ms = 100",
            "max_attempts = 2",
            "[proxy]",
            f'auth = "{auth}"',
        ]
        for r in repos:
            cfg += ["[[repository]]", f'path = "{r.bare}"', f'import_path = "{r.module}"']
        self.config.write_text("\n".join(cfg) + "\n")
        self.proc = None

    def start(self):
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([str(modpubd_bin()), "--config", str(self.config)],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"modpubd exited:\n{self.text()}"
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("modpubd not ready:\n" + self.text())

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def get(self, path, user=None):
        """(status, headers, body) of GET path, as `user` (Basic) or anonymous."""
        req = urllib.request.Request(self.url + path)
        if user:
            creds = base64.b64encode(f"{user}:{USERS[user][0]}".encode()).decode()
            req.add_header("Authorization", "Basic " + creds)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def status(self, user="alice"):
        code, _, body = self.get("/api/status", user)
        assert code == 200, body
        return json.loads(body)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        if self.proc:
            self.logf.close()

    def text(self):
        return self.log.read_text() if self.log.exists() else ""


def wait_until(cond, what, on_fail, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{on_fail()}")


def repo_named(status, module):
    return next(r for r in status["repositories"] if r["import_path"] == module)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """alpha v1.0.0 and v1.1.0 and beta v0.1.0 pushed and published; then a job for a
    tag no version can have (failed), one for a tag that no longer exists (failed) and one
    due in an hour (pending)."""
    if not (modpub_bin().parent / "modpub-hook").exists():
        pytest.skip("modpub-hook not built")
    base = tmp_path_factory.mktemp("status")
    alpha, beta = Repo(base, "alpha", ALPHA), Repo(base, "beta", BETA)
    d = StatusDaemon(base, [alpha, beta])
    for r in (alpha, beta):
        h = run_modpub("hook", "install", "--repo", r.bare, "--config", d.config)
        assert h.returncode == 0, h.stderr
    d.start()
    try:
        alpha.push_tag("v1.0.0")
        alpha.push_tag("v1.1.0")
        beta.push_tag("v0.1.0")
        wait_until(lambda: read_list(d.tree, ALPHA) == ["v1.0.0", "v1.1.0"] and
                   read_list(d.tree, BETA) == ["v0.1.0"], "three versions published", d.text)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=alpha.work, capture_output=True,
                              text=True, check=True).stdout.strip()
        write_job(d.spool, alpha, HOSTILE_TAG, head)
        write_job(d.spool, beta, "v0.2.0", "0" * 40)  # never pushed: it no longer exists
        write_job(d.spool, alpha, "v1.2.0", head, due_in=3600)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:  # as the hooks wake it
            s.sendto(b"wake", str(base / "modpubd.sock"))

        def settled():
            s = d.status()
            a, b = repo_named(s, ALPHA), repo_named(s, BETA)
            return a["failed_total"] == 1 and b["failed_total"] == 1 and a["pending_total"] == 1
        wait_until(settled, "the failures and the pending job on the page", d.text)
        yield d
    finally:
        d.stop()


def test_api_status_matches_what_was_published(published):
    d = published
    s = d.status()
    assert s["format"] == "modpub-status/1"
    assert s["daemon"]["version"]
    assert s["daemon"]["uptime_seconds"] >= 0
    assert s["storage"]["url"] == f"file://{d.tree}" and s["storage"]["error"] == ""
    assert s["proxy"] == {"prefix": ""}
    assert s["queue_depth"] == 1  # v1.2.0, due in an hour
    assert [r["import_path"] for r in s["repositories"]] == [ALPHA, BETA]
    alpha, beta = repo_named(s, ALPHA), repo_named(s, BETA)
    assert [(m["path"], m["latest"], m["versions"]) for m in alpha["modules"]] == [
        (ALPHA, "v1.1.0", len(read_list(d.tree, ALPHA)))]
    assert [(m["path"], m["latest"], m["versions"]) for m in beta["modules"]] == [(BETA, "v0.1.0", 1)]
    m = alpha["modules"][0]
    info = json.loads((d.tree / ALPHA / "@v" / "v1.1.0.info").read_text())
    assert m["latest_time"] == info["Time"]
    # last_published: when v1.1.0's .info was written (the file's time).
    stored = (d.tree / ALPHA / "@v" / "v1.1.0.info").stat().st_mtime
    published_at = calendar.timegm(time.strptime(m["last_published"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(published_at - stored) <= 2, (m["last_published"], stored)
    assert s["last_publish"] is not None
    # Each module links to its list on the proxy, which answers it with the same versions.
    assert m["list_url"] == f"/{ALPHA}/@v/list"
    code, _, body = d.get(m["list_url"], "alice")
    assert code == 200 and body.split() == ["v1.0.0", "v1.1.0"]

    assert [(j["tag"], j["state"]) for j in alpha["pending"]] == [("v1.2.0", "queued")]
    [failed] = alpha["failed"]
    assert failed["tag"] == HOSTILE_TAG
    assert "is not a canonical semantic version" in failed["error"], failed
    [gone] = beta["failed"]
    assert gone["tag"] == "v0.2.0" and "no longer exists" in gone["error"], gone
    assert beta["pending"] == [] and beta["pending_total"] == 0


def test_auth_applies_to_the_status_page(published):
    d = published
    for path in ("/", "/api/status"):
        code, headers, _ = d.get(path)
        assert code == 401, path
        assert headers["WWW-Authenticate"].startswith("Basic realm=")
        req = urllib.request.Request(d.url + path)
        req.add_header("Authorization", "Basic " + base64.b64encode(b"alice:wrong").decode())
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 401
    # bob may read beta only: alpha, its modules and its failed tag are not his to see.
    s = d.status("bob")
    assert [r["import_path"] for r in s["repositories"]] == [BETA]
    code, headers, html = d.get("/", "bob")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert BETA in html and ALPHA not in html and "pwned" not in html
    code, _, html = d.get("/", "alice")
    assert code == 200 and ALPHA in html


def test_page_escapes_what_pushers_control(published):
    code, _, html = published.get("/", "alice")
    assert code == 200
    assert "<script" not in html
    assert "v1.0.0-x&quot;&gt;&lt;script&gt;alert(&#39;pwned&#39;)&lt;" in html


def test_page_answers_fast_from_memory(published):
    d = published
    times = []
    for _ in range(20):
        t = time.perf_counter()
        code, _, _ = d.get("/", "alice")
        times.append(time.perf_counter() - t)
        assert code == 200
    times.sort()
    assert times[len(times) // 2] < 0.1, times


@pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "browser present")
def test_page_in_headless_chromium_phone_and_desktop(published):
    d = published
    out = artifacts_dir()
    env = dict(os.environ, PLAYWRIGHT_CORE=str(PLAYWRIGHT), CHROMIUM=str(CHROMIUM))
    r = subprocess.run(["node", str(BROWSER_SCRIPT), d.url + "/", str(out), "alice:alice-pw"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr
    views = json.loads(r.stdout)
    for name in ("phone", "desktop"):
        v = views[name]
        print(f"{name} screenshot: {v['screenshot']}")
        assert v["status"] == 200, v
        assert v["title"] == "modpub status"
        text = v["text"]
        for expected in (ALPHA, BETA, "v1.1.0", "v0.1.0", "2 versions", "Nothing pending.",
                         "v1.2.0", "no longer exists", "Queue depth"):
            assert expected in text, (name, expected, text)
        # The hostile tag is shown as text, never run as markup.
        assert HOSTILE_TAG in text, text
        assert v["scripts"] == 0
        assert f"/{ALPHA}/@v/list" in v["links"], v["links"]
        # The screenshot holds a page: ink on a background, several colours.
        ink = v["ink"]
        assert ink["inked"] > 0.01 and ink["colours"] >= 4, ink
        assert Path(v["screenshot"]).stat().st_size > 10_000
    phone = views["phone"]
    assert phone["innerWidth"] == 390, phone  # the viewport meta took effect
    assert phone["scrollWidth"] <= phone["innerWidth"], phone  # no horizontal scrolling
    assert phone["ink"]["width"] == 390 * 2
    assert views["desktop"]["innerWidth"] == 1280
    assert views["desktop"]["scrollWidth"] <= 1280
