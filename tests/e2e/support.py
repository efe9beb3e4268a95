"""Helpers shared by the end-to-end tests and the benchmarks: git repositories, a git
daemon for go's direct mode, running modpub and go, an nginx serving a GOPROXY tree, and
checks of what is stored.

Self-contained on purpose (standard library only), so that bench/ scripts can use it too.
"""

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import string
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NGINX_TEMPLATE = REPO_ROOT / "examples" / "nginx" / "goproxy.conf.template"


def modpub_bin():
    return Path(os.environ.get("MODPUB_BIN", REPO_ROOT / "build" / "bin" / "modpub"))


def modpubd_bin():
    """The daemon built beside modpub."""
    return modpub_bin().parent / "modpubd"


# --- git ------------------------------------------------------------------------------------

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "modpub test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "modpub test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
}


class GitRepo:
    """A work tree to commit and tag in, pushed to a bare repository (`bare`) that
    modpub reads, as a git server would hold it."""

    def __init__(self, root: Path, name: str = "repo"):
        self.work = root / f"{name}-work"
        self.bare = root / f"{name}.git"
        self._git("init", "-q", "-b", "main", str(self.work), cwd=root)
        self._git("init", "-q", "--bare", str(self.bare), cwd=root)

    def _git(self, *args, cwd=None):
        env = dict(os.environ, **GIT_ENV)
        subprocess.run(["git", *args], cwd=cwd or self.work, env=env, check=True,
                       stdout=subprocess.DEVNULL)

    def write(self, rel: str, content):
        p = self.work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)

    def remove(self, rel: str):
        (self.work / rel).unlink()

    def commit(self, msg="commit"):
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "-m", msg)

    def tag(self, *names, force=False):
        for name in names:
            self._git("tag", *(["-f"] if force else []), name)
        self.push()

    def push(self):
        self._git("push", "-q", "--force", str(self.bare), "main", "--tags")


# --- modpub ---------------------------------------------------------------------------------

def run_modpub(*args, env=None, timeout=300, **kw):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([str(modpub_bin()), *map(str, args)], env=e, capture_output=True,
                          text=True, timeout=timeout, **kw)


def keygen(out: Path, name):
    """`modpub keygen --name <name> --out <out>`: (signer key file, verifier key text)."""
    r = run_modpub("keygen", "--name", name, "--out", out)
    assert r.returncode == 0, r.stderr
    return out / "signer.key", (out / "verifier.key").read_text().strip()


def git(*args, cwd=None, git_dir=None, input=None, env=None, check=True, text=False):
    """git with the tests' fixed identity and dates (GIT_ENV); `git_dir` for a bare
    repository. Returns the CompletedProcess (output as bytes unless `text`)."""
    e = dict(os.environ, **GIT_ENV, **(env or {}))
    pre = ["--git-dir", str(git_dir)] if git_dir else []
    argv = [a if isinstance(a, (str, bytes)) else str(a) for a in args]  # bytes: raw names
    return subprocess.run(["git", *pre, *argv], cwd=cwd, env=e, input=input,
                          capture_output=True, check=check, text=text)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def publish_small_module(work: Path, module, tag, *urls):
    """A one-package module at `tag` in a new repository under `work`, published by
    `modpub publish` to `urls`; returns the JSON line of each storage."""
    repo = GitRepo(work, "small")
    repo.write("go.mod", f"module {module}\n\ngo 1.19\n")
    repo.write("small.go", "package small\n")
    repo.commit()
    repo.tag(tag)
    r = publish(repo, module, tag, *urls)
    assert r.returncode == 0, r.stderr
    return json_lines(r.stdout)


def publish(repo: GitRepo, import_path, tag, *urls, env=None):
    args = ["publish", "--repo", repo.bare, "--import-path", import_path, "--tag", tag]
    for u in urls:
        args += ["--to", u]
    return run_modpub(*args, env=env)


# --- hashes and stored files ----------------------------------------------------------------

def intake_job_ids(spool: Path):
    """Ids of the jobs recorded in the spool's intake journals (spool/intake/*.log, one
    "<crc32> <job JSON>" line each), in order; a line still being written is skipped.
    modpubd's webhook intake moves these jobs into queue/ as the runners make room, so an
    id may also be in a spool directory already."""
    ids = []
    for log in sorted((spool / "intake").glob("*.log")) if (spool / "intake").exists() else []:
        for line in log.read_bytes().splitlines():
            try:
                ids.append(json.loads(line.split(b" ", 1)[1])["id"])
            except (IndexError, ValueError, KeyError):
                pass
    return ids


def h1_of_zip(path):
    """dirhash.HashZip: the h1 of a module zip, as go.sum records it. The summary lines
    are ordered by file NAME (not by the lines themselves, which start with the hash)."""
    with zipfile.ZipFile(path) as z:
        lines = "".join(f"{hashlib.sha256(z.read(n)).hexdigest()}  {n}\n"
                        for n in sorted(z.namelist()))
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


@contextlib.contextmanager
def tmpfs(path: Path, size, read_only=False):
    """A small tmpfs mounted at `path` (root only; the test is skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def escape(s):
    """module.EscapePath / EscapeVersion: upper-case letters as "!" + lower case."""
    return "".join("!" + c.lower() if c.isupper() else c for c in s)


def tree_files(tree: Path, module, version):
    d = tree / escape(module) / "@v"
    v = escape(version)
    return {"zip": d / f"{v}.zip", "mod": d / f"{v}.mod", "info": d / f"{v}.info"}


def athens_files(root: Path, module, version):
    d = root / module / version
    return {"zip": d / "source.zip", "mod": d / "go.mod", "info": d / f"{version}.info"}


def read_list(tree: Path, module):
    p = tree / escape(module) / "@v" / "list"
    return p.read_text().splitlines() if p.exists() else []


def semver_key(v):
    """Enough of semver ordering for the versions these tests use."""
    core, _, pre = v[1:].split("+")[0].partition("-")
    nums = tuple(int(x) for x in core.split("."))
    pre_key = (1,) if not pre else (0, *[(0, int(p), "") if p.isdigit() else (1, 0, p)
                                         for p in pre.split(".")])
    return (nums, pre_key)


def snapshot(root: Path):
    """Every regular file under root (relative path -> bytes), lock files left out."""
    out = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != ".modpub.lock":
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


# --- go -------------------------------------------------------------------------------------
#
# Every comparison with go runs against each supported go that is installed, each selected
# by its full path (never by PATH order): the current release (go 1.26, /usr/local/go) and
# Debian 12's go 1.19 (/usr/lib/go-1.19). $MODPUB_E2E_GO (colon-separated paths) replaces
# the list. A go environment (go_env) names its go by GOROOT, so go() runs the go the
# environment was made for.

GO_CANDIDATES = ("/usr/local/go/bin/go", "/usr/lib/go-1.19/bin/go")


class GoTool:
    """One installed go: its binary, GOROOT and version ("go1.26.8"; minor 26)."""

    def __init__(self, binary: Path):
        self.bin = Path(binary)
        r = subprocess.run([str(self.bin), "env", "GOROOT", "GOVERSION"], capture_output=True,
                           text=True, env={k: v for k, v in os.environ.items()
                                           if not k.startswith("GO")}, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"{binary} env: {r.stderr}")
        goroot, self.version = r.stdout.split()
        self.goroot = Path(goroot)
        self.minor = int(self.version.removeprefix("go").split(".")[1].split("rc")[0])

    @property
    def label(self):
        """go1.26 / go1.19: the id a test is parametrized with."""
        return f"go1.{self.minor}"

    def __repr__(self):
        return f"{self.version} ({self.bin})"


def _installed_gos():
    paths = os.environ.get("MODPUB_E2E_GO")
    paths = paths.split(":") if paths else GO_CANDIDATES
    tools, seen = [], set()
    for p in paths:
        if p and os.access(p, os.X_OK):
            t = GoTool(Path(p))
            if t.goroot not in seen:
                seen.add(t.goroot)
                tools.append(t)
    return sorted(tools, key=lambda t: -t.minor)


GO_TOOLS = _installed_gos()
# The go for tests that need one go to prepare something (the newest installed); None when
# no go is installed (tests that need one skip).
NEWEST_GO = GO_TOOLS[0] if GO_TOOLS else None
needs_go = pytest.mark.skipif(NEWEST_GO is None, reason="go is not installed (" +
                              ", ".join(GO_CANDIDATES) + ")")
# Parametrizes a test over every installed go: `def test_x(gotool)` with ids go1.26, go1.19.
each_go = pytest.mark.parametrize("gotool", GO_TOOLS, ids=[t.label for t in GO_TOOLS]) \
    if GO_TOOLS else needs_go


def go_env(work: Path, goproxy, gocache: Path, gotool: GoTool = None):
    """A clean environment for `gotool` (default: the newest go) with its own GOPATH and
    module cache under `work`. The build cache is per go version (`gocache` gets the
    version appended), so two gos never share one."""
    gotool = gotool or NEWEST_GO
    if gotool is None:
        pytest.skip("go is not installed")
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update({
        "HOME": str(home),
        "GOROOT": str(gotool.goroot),
        "GOPATH": str(work / "gopath"),
        "GOMODCACHE": str(work / "gopath" / "pkg" / "mod"),
        "GOCACHE": f"{gocache}-{gotool.label}",
        "GOENV": "off",
        "GO111MODULE": "on",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": goproxy,
        "GONOSUMDB": "corp.example",
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
    })
    return env


def write_netrc(env, url, login, password):
    """The .netrc of a go environment, for a server at `url` (https://host:port). go 1.19
    matches a machine line by host alone, go 1.24 and later (GOAUTH=netrc) by host:port
    when the URL has a port, so a server on a port needs both lines."""
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host = hostport.rsplit(":", 1)[0] if ":" in hostport else hostport
    lines = {f"machine {h} login {login} password {password}\n" for h in (host, hostport)}
    (Path(env["HOME"]) / ".netrc").write_text("".join(sorted(lines)))


def go_bin(env):
    """The go binary of an environment made by go_env."""
    return Path(env["GOROOT"]) / "bin" / "go"


def go_version(env):
    """The label (go1.26, go1.19) of an environment's go, for messages."""
    return next((t.label for t in GO_TOOLS if str(t.goroot) == env["GOROOT"]), env["GOROOT"])


# Which go each test ran (nodeid -> {label}), for the summary conftest.py prints.
GO_RUNS = {}


def go(*args, env, cwd, check=True, timeout=300):
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    if test:
        GO_RUNS.setdefault(test, set()).add(go_version(env))
    r = subprocess.run([str(go_bin(env)), *args], env=env, cwd=cwd, capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{go_version(env)} {' '.join(args)} failed ({r.returncode}):\n"
                             f"{r.stdout}{r.stderr}")
    return r


def clean_gopath(env):
    """The module cache is read-only; make it removable."""
    gopath = Path(env["GOPATH"])
    if gopath.exists():
        subprocess.run(["chmod", "-R", "u+w", str(gopath)], check=False)
        shutil.rmtree(gopath, ignore_errors=True)


def go_direct_env(work: Path, gocache: Path, host: str, gotool: GoTool = None):
    """go in direct mode, fetching from the git daemon on `host` (see git_daemon)."""
    env = go_env(work, "direct", gocache, gotool)
    env.pop("GONOSUMDB")
    env.update({"GOPRIVATE": host, "GOINSECURE": host, "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"})
    return env


def go_download(module_at_version, env, cwd):
    """`go mod download -json M@V`: (returncode, parsed JSON or None, stderr)."""
    r = go("mod", "download", "-json", module_at_version, env=env, cwd=cwd, check=False)
    try:
        data = json.loads(r.stdout) if r.stdout.strip() else None
    except json.JSONDecodeError:
        data = None
    if data is not None and data.get("Error"):
        return 1, data, data["Error"]
    return r.returncode, data, r.stderr


# --- git daemon -----------------------------------------------------------------------------

GIT_DAEMON_PORT = 9418  # go's git:// scheme has no port: a module path may not carry one


@contextlib.contextmanager
def git_daemon(base: Path):
    """`git daemon` exporting every repository under `base` on <host>:9418, where host is
    $MODPUB_E2E_GIT_HOST or 127.0.0.1; yields the host. Module paths are then
    "<host>/<repo dir relative to base>". The port is fixed, so a lock file serializes
    test runs that share a host (set MODPUB_E2E_GIT_HOST=127.0.0.2 etc. to run in parallel)."""
    host = os.environ.get("MODPUB_E2E_GIT_HOST", "127.0.0.1")
    lock = open(f"/tmp/modpub-e2e-git-daemon-{host}.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    proc = subprocess.Popen(
        ["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={base}",
         f"--listen={host}", f"--port={GIT_DAEMON_PORT}", "--informative-errors", str(base)],
        env=dict(os.environ, **GIT_ENV), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    (host, GIT_DAEMON_PORT), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("git daemon did not start: " +
                                     (proc.stderr.read().decode() if proc.poll() is not None else "timeout"))
            time.sleep(0.05)
        yield host
    finally:
        stop_process(proc)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def stop_process(proc):
    """Stops a server the test started, by its own PID: SIGTERM, then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_cert(work: Path):
    """A self-signed TLS certificate and key for 127.0.0.1 in `work` (tls.crt, tls.key)."""
    cert, key = work / "tls.crt", work / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@contextlib.contextmanager
def modpub_serve(work: Path, tree: Path, *args, tls=None):
    """`modpub serve --from file://<tree> <args>` on a free 127.0.0.1 port, over TLS with
    `tls` = (cert, key) when given; yields its URL (its log: work/serve.log). Stopped by
    its own PID on leaving."""
    port = free_port()
    cmd = [str(modpub_bin()), "serve", "--from", f"file://{tree}", "--listen",
           f"127.0.0.1:{port}", *map(str, args)]
    if tls:
        cmd += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    with open(work / "serve.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert wait_for_port(port, proc=proc), (work / "serve.log").read_text()
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        finally:
            stop_process(proc)


# --- nginx ----------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def nginx_serving(tree: Path, work: Path):
    """Debian's nginx serving `tree` on a free loopback port with the configuration from
    examples/nginx/; yields the GOPROXY URL."""
    prefix = work / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = string.Template(NGINX_TEMPLATE.read_text()).safe_substitute(
        NGINX_USER="root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
        NGINX_PREFIX=str(prefix),
        GOPROXY_LISTEN=f"127.0.0.1:{port}",
        GOPROXY_ROOT=str(tree),
    )
    conf_path = prefix / "goproxy.conf"
    conf_path.write_text(conf)
    tree.mkdir(parents=True, exist_ok=True)
    cmd = [shutil.which("nginx") or "/usr/sbin/nginx", "-e", str(prefix / "error.log"),
           "-p", str(prefix), "-c", str(conf_path), "-g", "daemon off;"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if not wait_for_port(port, proc=proc):
            out = proc.stdout.read().decode() if proc.poll() is not None else ""
            log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
            raise AssertionError(f"nginx did not start: {out}\n{log}")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


# --- a server that never answers ------------------------------------------------------------

class SilentServer:
    """A TCP server on 127.0.0.1 (a free port) that accepts every connection and never
    sends a byte: what a hung S3 endpoint or a stuck load balancer looks like. Runs on a
    thread of the test; stop() closes the listener and every held connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.held, self.stopping = [], False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.held.append(conn)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        for c in self.held:
            c.close()
        self.sock.close()
