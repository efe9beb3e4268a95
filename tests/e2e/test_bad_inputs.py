"""Bad inputs and bad days, driven through the real programs: each case asserts the clear
error (what is wrong and where) and that nothing was lost or written outside its place."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import support

from support import (GitRepo, SilentServer, clean_gopath, each_go, go, go_env, json_lines,
                     modpub_bin, modpubd_bin, publish, run_modpub)

as_another_user = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
                                     reason="needs root to run a program as another user")


def as_nobody(*args):
    return subprocess.run(["runuser", "-u", "nobody", "--", str(modpub_bin()), *map(str, args)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def open_dir():
    """A directory every user may search (pytest's own tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="modpub-bad-inputs-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def spool_with_a_claimed_job(root: Path):
    spool = root / "spool"
    for d in ("queue", "done", "failed", "tmp", "corrupt", "owners", "intake",
              "claimed/owner-1"):
        (spool / d).mkdir(parents=True)
    (spool / "claimed" / "owner-1" / "20260101T000000000Z-0000.job").write_text("{}\n")
    return spool


@as_another_user
@pytest.mark.parametrize("unsearchable,code,named", [
    ("claimed", 2, "claimed/owner-1"),  # the owners cannot be examined: an error
    ("claimed/owner-1", 0, "claimed/owner-1/20260101T000000000Z-0000.job"),  # a damaged entry
])
def test_jobs_on_a_spool_it_cannot_search_says_so(open_dir, unsearchable, code, named):
    """Readable but not searchable (r--): listing works, examining an entry fails with
    EACCES. `modpub jobs` names the path it cannot read, as an error (exit 2) or on the
    job's own line, like any unreadable job file; it never aborts, and changes nothing."""
    spool = spool_with_a_claimed_job(open_dir)
    (spool / unsearchable).chmod(0o744)
    before = sorted(p.relative_to(spool) for p in spool.rglob("*"))
    r = as_nobody("jobs", "--spool", spool)
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Permission denied" in r.stdout + r.stderr, r.stdout + r.stderr
    assert str(spool / named) in r.stdout + r.stderr, r.stdout + r.stderr
    assert "terminate called" not in r.stderr
    (spool / unsearchable).chmod(0o755)
    assert sorted(p.relative_to(spool) for p in spool.rglob("*")) == before


@as_another_user
def test_jobs_with_a_spool_path_it_cannot_reach_says_so(open_dir):
    spool = spool_with_a_claimed_job(open_dir)
    open_dir.chmod(0o700)
    r = as_nobody("jobs", "--spool", spool)
    open_dir.chmod(0o755)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f"{spool}/queue: Permission denied" in r.stderr, r.stderr


GOOD_HEAD = 'storage = ["file:///srv/x"]\nstate_dir = "/s"\nsocket = "/t.sock"\n'


@pytest.mark.parametrize("text,said", [
    (GOOD_HEAD + 'spool_dir = "/var/sp\\u0000ool"\n',
     ":4:13: spool_dir: the path holds a NUL character"),
    (GOOD_HEAD + 'spool_dir = "/sp"\n[daemon]\nhttp_listen = "0.0.0.0:0"\n',
     ':6:15: daemon.http_listen: "0.0.0.0:0": port 0 cannot be listened on'),
    ('storage = ["file:///a/../b"]\nstate_dir = "/s"\nsocket = "/t.sock"\nspool_dir = "/sp"\n',
     ':1:12: storage[0]: storage URL "file:///a/../b": "." and ".." are not allowed'),
], ids=["nul-in-path", "port-0", "dotdot-in-file-url"])
def test_check_config_explains_bad_values(tmp_path, text, said):
    config = tmp_path / "modpub.toml"
    config.write_text(text)
    r = subprocess.run([str(modpubd_bin()), "--config", str(config), "--check-config"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"modpubd: {config}{said}" in r.stderr, r.stderr


def test_a_directory_given_as_the_config_file_is_named_as_such(tmp_path):
    r = subprocess.run([str(modpubd_bin()), "--config", str(tmp_path), "--check-config"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"modpubd: {tmp_path}: is a directory, not a configuration file" in r.stderr
    assert "missing (required)" not in r.stderr, r.stderr


# --- nothing accepted is ever lost: a full spool, a post-receive that never ran, a lost job -----

from test_hooks import (GOOD, IMPORT, Server, add_daemon_table, info_file,  # noqa: E402
                        needs_modpubd, remote_lines, running_modpubd, wait_for)

can_mount = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"),
                               reason="needs root to mount a small tmpfs as a full disk")


@contextlib.contextmanager
def small_disk(where: Path, size_kib=256):
    """A tmpfs of `size_kib` mounted at `where` (unmounted on exit); fill it with fill()."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
                   check=True)
    try:
        yield where / "filler"
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(filler: Path):
    """Writes zeros to `filler` until the disk is full (ENOSPC)."""
    r = subprocess.run(["sh", "-c", f"cat /dev/zero >> '{filler}'"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "No space left on device" in r.stderr, r.stderr


@can_mount
def test_a_full_spool_disk_refuses_the_push_instead_of_losing_the_publish(tmp_path):
    s = Server(tmp_path)
    s.commit(GOOD)
    s.tag("v1.0.0")
    # The spool's directories exist (a daemon made them), then the disk fills up.
    with small_disk(s.spool) as filler:
        for d in ("tmp", "queue", "held", "claimed", "owners", "done", "failed", "corrupt",
                  "intake"):
            (s.spool / d).mkdir(exist_ok=True)
        fill(filler)
        p = s.push("main", "v1.0.0")
        lines = remote_lines(p)
        assert p.returncode != 0, p.stderr
        assert any("v1.0.0: cannot make its publish job durable" in line and
                   "No space left on device" in line for line in lines), p.stderr
        assert any(f"free space in the spool {s.spool} (spool_dir)" in line
                   for line in lines), p.stderr
        assert "v1.0.0" not in s.remote_tags()  # refused: the pusher knows to push again
        assert not list((s.spool / "held").iterdir())
        assert not list((s.spool / "queue").iterdir())
        # Room again: the same push is accepted and its job is queued.
        filler.unlink()
        p = s.push("main", "v1.0.0")
        assert p.returncode == 0, p.stderr
        assert [j["tag"] for j in s.jobs()] == ["v1.0.0"]
        assert not list((s.spool / "held").iterdir())


def test_a_spool_that_is_not_a_directory_refuses_the_push(tmp_path):
    s = Server(tmp_path)
    s.spool.write_text("a file where the spool directory should be")
    s.commit(GOOD)
    s.tag("v1.0.0")
    p = s.push("main", "v1.0.0")
    assert p.returncode != 0
    assert any(line.startswith("modpub: refused push: cannot open the job spool:") and
               str(s.spool) in line for line in remote_lines(p)), p.stderr
    assert "v1.0.0" not in s.remote_tags()


def test_post_receive_releases_the_job_pre_receive_held(tmp_path):
    s = Server(tmp_path)
    s.commit(GOOD)
    s.tag("v1.0.0")
    p = s.push("main", "v1.0.0")
    assert p.returncode == 0, p.stderr
    assert f"modpub: queued {IMPORT}@v1.0.0" in remote_lines(p)
    assert [j["tag"] for j in s.jobs()] == ["v1.0.0"]
    assert not list((s.spool / "held").iterdir())


def age(path: Path, seconds: float):
    t = time.time() - seconds
    os.utime(path, (t, t))


@needs_modpubd
def test_the_daemon_settles_held_jobs_whose_post_receive_never_ran(tmp_path):
    """A push accepted by pre-receive whose post-receive did not run (killed, not installed):
    the held job is queued by the daemon's reconciliation; a held job of a push that was not
    accepted after all (the tag is not there) is dropped."""
    s = Server(tmp_path)
    add_daemon_table(s.config)
    (s.bare / "hooks" / "post-receive").unlink()
    s.commit(GOOD)
    s.tag("v1.0.0")
    p = s.push("main", "v1.0.0")
    assert p.returncode == 0, p.stderr
    held = list((s.spool / "held").glob("*.job"))
    assert len(held) == 1 and s.jobs() == []
    # A second held job, of a push refused after pre-receive: its tag never arrived.
    ghost = s.spool / "held" / ("f" * 32 + ".job")
    doc = json.loads(held[0].read_text())
    doc.update(id="20260101T000000000Z-ghost", tag="v9.9.9")
    ghost.write_text(json.dumps(doc))
    for f in (held[0], ghost):
        age(f, 3600)  # older than the grace a post-receive gets
    log = tmp_path / "modpubd.log"
    with running_modpubd(s.config, s.root / "modpubd.sock", log):
        wait_for(info_file(s.store, IMPORT, "v1.0.0").exists, "v1.0.0 published", log)
    text = log.read_text()
    assert f"reconcile: {IMPORT} v1.0.0: queued the job its push held" in text
    assert f"reconcile: {IMPORT} v9.9.9: dropped the job its push held" in text
    assert not list((s.spool / "held").iterdir())


@needs_modpubd
def test_the_daemon_queues_version_tags_storage_lacks(tmp_path):
    """Tags pushed while the hooks were not installed (or whose webhook was lost) are found by
    the reconciliation at start and published; a tag go could never fetch is left alone."""
    s = Server(tmp_path, install=False)
    add_daemon_table(s.config)
    s.commit(GOOD)
    s.tag("v1.0.0")
    s.commit({"lib.go": "package lib\n\nconst X = 2\n"})
    s.tag("v1.1.0")
    s.tag("v1.2")  # not canonical: never published, never queued
    assert s.push("main", "v1.0.0", "v1.1.0", "v1.2").returncode == 0
    assert s.jobs() == []
    log = tmp_path / "modpubd.log"
    with running_modpubd(s.config, s.root / "modpubd.sock", log):
        for v in ("v1.0.0", "v1.1.0"):
            wait_for(info_file(s.store, IMPORT, v).exists, f"{v} published", log)
        wait_for(lambda: "reconcile: pass done" in log.read_text(), "a reconciliation", log)
    text = log.read_text()
    for v in ("v1.0.0", "v1.1.0"):
        assert f"reconcile: {IMPORT}: missing (first: {IMPORT}@{v} in file://{s.store}): " \
               f"queued tag {v}" in text
    assert "tag v1.2" not in text
    assert not (s.store / IMPORT / "@v" / "v1.2.0.info").exists()
    # A restart finds nothing missing: no job is queued twice.
    log2 = tmp_path / "modpubd2.log"
    with running_modpubd(s.config, s.root / "modpubd.sock", log2):
        wait_for(lambda: "reconcile: pass done" in log2.read_text(), "a reconciliation", log2)
    assert "0 tag(s) queued" in log2.read_text()
    assert len(list((s.spool / "done").glob("*.job"))) == 2


# --- build directories: removed on SIGINT/SIGTERM, swept after SIGKILL ---------------------------

def slow_publish(tmp_path: Path, tmpdir: Path):
    """`modpub publish` sleeping 3 s at each storage write step, with TMPDIR=`tmpdir`."""
    repo = GitRepo(tmp_path, "lib")
    repo.write("go.mod", "module corp.example/lib\n\ngo 1.19\n")
    repo.write("lib.go", "package lib\n")
    repo.commit()
    repo.tag("v1.0.0")
    tmpdir.mkdir(exist_ok=True)
    args = [str(modpub_bin()), "--step-delay-ms", "3000", "publish", "--repo", str(repo.bare),
            "--import-path", "corp.example/lib", "--tag", "v1.0.0",
            "--to", f"file://{tmp_path / 'store'}"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TMPDIR=str(tmpdir)))


def build_dirs(tmpdir: Path):
    return sorted(tmpdir.glob("modpub-build-*"))


def wait_for_build_dir(tmpdir: Path, proc):
    deadline = time.monotonic() + 30
    while not build_dirs(tmpdir):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no build directory appeared"
        time.sleep(0.02)
    time.sleep(0.2)  # inside a slowed storage step, with the zip written


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_an_interrupted_publish_removes_its_build_directory(tmp_path, sig):
    tmpdir = tmp_path / "tmp"
    p = slow_publish(tmp_path, tmpdir)
    try:
        wait_for_build_dir(tmpdir, p)
        assert list(build_dirs(tmpdir)[0].glob("*.zip")), "the zip is built before storage"
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + sig, (p.returncode, err)
    assert f"modpub: stopped by {signal.strsignal(sig)}: removed 1 build directory under" in err
    assert build_dirs(tmpdir) == []


def test_a_killed_publishs_build_directory_is_swept_by_the_next_run(tmp_path):
    tmpdir = tmp_path / "tmp"
    p = slow_publish(tmp_path, tmpdir)
    try:
        wait_for_build_dir(tmpdir, p)
    finally:
        p.kill()
        p.wait()
    left = build_dirs(tmpdir)
    assert len(left) == 1 and list(left[0].glob("*.zip"))  # SIGKILL leaves the partial zip
    # The next run sweeps it at start, and leaves a live process's build directory alone.
    other = tmp_path / "other"
    other.mkdir()
    live = slow_publish(other, tmpdir)
    try:
        deadline = time.monotonic() + 30
        while left[0].exists() or not build_dirs(tmpdir):
            assert time.monotonic() < deadline and live.poll() is None, "not swept"
            time.sleep(0.02)
        mine = build_dirs(tmpdir)
        r = subprocess.run([str(modpub_bin()), "publish", "--repo", str(tmp_path / "lib.git"),
                            "--import-path", "corp.example/lib", "--tag", "v1.0.0",
                            "--to", f"file://{tmp_path / 'store'}"], capture_output=True,
                           text=True, env=dict(os.environ, TMPDIR=str(tmpdir)), timeout=60)
        assert r.returncode == 0, r.stderr
        assert len(mine) == 1 and mine[0].exists()  # the live one's: kept
    finally:
        live.kill()
        live.wait()


# --- a storage that never answers ----------------------------------------------------------

@pytest.fixture
def silent_server():
    s = SilentServer()
    yield s
    s.stop()


S3_TEST_ENV = {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}


def small_repo(work: Path, module, *tags):
    repo = GitRepo(work, "small")
    repo.write("go.mod", f"module {module}\n\ngo 1.19\n")
    for tag in tags:
        repo.write("small.go", f'package small\n\nconst Version = "{tag}"\n')
        repo.commit(tag)
        repo.tag(tag)
    return repo


def test_publish_to_a_storage_that_never_answers_fails_at_its_deadline(tmp_path, silent_server):
    """Without an overall deadline this costs attempts x the 30 s stall timeout (over
    300 s, silently); with --storage-deadline 2 the storage fails after 2 s, saying which
    storage, which request and which deadline, and the exit status says 'failed'."""
    repo = small_repo(tmp_path, "corp.example/small", "v1.0.0")
    url = f"s3://modules/p?endpoint=http://127.0.0.1:{silent_server.port}"
    start = time.monotonic()
    r = run_modpub("publish", "--repo", repo.bare, "--import-path", "corp.example/small",
                   "--tag", "v1.0.0", "--to", url, "--storage-deadline", "2",
                   env=S3_TEST_ENV, timeout=120)
    took = time.monotonic() - start
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert 2 <= took < 2 + 8, took  # building the small module, then one deadline
    [line] = json_lines(r.stdout)
    assert line["Result"] == "failed", line
    assert line["Message"].startswith(f"{url}: S3 "), line
    assert "modules/p/corp.example/small/@v/" in line["Message"], line
    assert "no answer within the 2 s storage deadline (--storage-deadline)" in line["Message"]
    assert silent_server.held, "modpub never connected"


@pytest.mark.parametrize("scheme,blocker", [
    ("file", "corp.example/small/@v/list"),
    ("athens-disk", "corp.example/small/v1.0.0/go.mod"),
])
def test_publish_to_a_filesystem_that_blocks_fails_at_its_deadline(tmp_path, scheme, blocker):
    """A local or mounted filesystem that stops answering (here: a FIFO where a stored
    file should be, which blocks whoever opens it, as a hung mount blocks a read) costs one
    deadline, not a publish that never returns; publishing again once the filesystem
    answers completes the version."""
    repo = small_repo(tmp_path, "corp.example/small", "v1.0.0")
    root = tmp_path / "store"
    fifo = root / blocker
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    url = f"{scheme}://{root}"
    argv = ["publish", "--repo", repo.bare, "--import-path", "corp.example/small",
            "--tag", "v1.0.0", "--to", url]
    start = time.monotonic()
    r = run_modpub(*argv, "--storage-deadline", "1", timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert 1 <= took < 1 + 8, took
    [line] = json_lines(r.stdout)
    assert line["Result"] == "failed", line
    assert line["Message"].startswith(f"{url}: put corp.example/small@v1.0.0: "), line
    assert "no answer within the 1 s storage deadline (--storage-deadline)" in line["Message"]
    fifo.unlink()  # the filesystem answers again
    if scheme == "athens-disk":
        fifo.parent.rmdir()  # an empty version directory is damage Athens reports
    r = run_modpub(*argv, "--storage-deadline", "1", timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    [line] = json_lines(r.stdout)
    assert line["Result"] == "published", line


def test_pre_receive_against_a_filesystem_that_blocks_refuses_at_its_deadline(tmp_path):
    """A tag move asks the storage whether the version is published; a filesystem that
    does not answer is "maybe published" (the move is refused) after storage_deadline_ms."""
    s = Server(tmp_path)
    s.commit(GOOD)
    s.tag("v1.0.0")
    assert s.push("main", "v1.0.0").returncode == 0
    s.config.write_text(s.config.read_text().replace(
        f'storage = ["file://{s.store}"]',
        f'storage = ["file://{s.store}"]\nstorage_deadline_ms = 1000'))
    stored_list = Path(s.store) / IMPORT / "@v" / "list"  # it stops answering
    stored_list.parent.mkdir(parents=True)
    os.mkfifo(stored_list)
    s.commit({"lib.go": "package lib\n\nconst Moved = true\n"})
    s.tag("v1.0.0", "-f")
    start = time.monotonic()
    p = support.git("push", "--force", str(s.bare), "v1.0.0", cwd=s.work, check=False, text=True)
    took = time.monotonic() - start
    assert p.returncode != 0, p.stderr
    assert took < 15, took
    assert "no answer within the 1 s storage deadline (storage_deadline_ms in " in p.stderr, \
        p.stderr


# --- junk in a stored version list ---------------------------------------------------------

@each_go
def test_junk_in_a_stored_list_is_reported_and_cleaned_by_the_next_publish(tmp_path, gotool):
    """Lines that are no canonical version in @v/list (hand edits, other tools): go takes
    the first word of each line that is valid semver, so "v9.9.9 junk" becomes @latest and
    `go list -m M@latest` fails (see storage_conformance_test.cpp for what each go does
    with each kind of line). `modpub ls` reports them as damage, and the next publish
    writes the list without them."""
    module = "corp.example/small"
    repo = small_repo(tmp_path, module, "v1.0.0", "v1.1.0")
    tree = tmp_path / "tree"
    url = f"file://{tree}"
    r = publish(repo, module, "v1.0.0", url)
    assert r.returncode == 0, r.stderr
    lst = tree / module / "@v" / "list"
    lst.write_bytes(lst.read_bytes() + b"v9.9.9 junk\n../../etc\n\xff\xfe\nv1.0\nv1.0.0+meta\n")
    env = go_env(tmp_path / "go", url, tmp_path / "gocache", gotool)
    app = tmp_path / "app"
    app.mkdir()
    broken = go("list", "-m", f"{module}@latest", env=env, cwd=app, check=False)
    assert broken.returncode != 0 and "v9.9.9" in broken.stderr, broken.stderr  # the damage is real

    r = run_modpub("ls", "--from", url, "--json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == f'{{"Path":"{module}","Versions":["v1.0.0"]}}\n'
    for n, text in [(2, "v9.9.9 junk"), (3, "../../etc"), (4, "\\xff\\xfe"), (5, "v1.0"),
                    (6, "v1.0.0+meta")]:
        assert f'modpub: {module}@"{text}" is damaged (@v/list line {n}: not a version of ' \
               f'{module}' in r.stderr, r.stderr

    r = publish(repo, module, "v1.1.0", url)
    assert r.returncode == 0, r.stderr
    assert lst.read_text() == "v1.0.0\nv1.1.0\n"
    r = run_modpub("ls", "--from", url, "--json")
    assert (r.returncode, r.stdout, r.stderr) == (
        0, f'{{"Path":"{module}","Versions":["v1.0.0","v1.1.0"]}}\n', "")
    clean_gopath(env)
    ok = go("list", "-m", f"{module}@latest", env=env, cwd=app)
    assert ok.stdout.strip() == f"{module} v1.1.0"
    ok = go("list", "-m", "-versions", module, env=env, cwd=app)
    assert ok.stdout.strip() == f"{module} v1.0.0 v1.1.0"


# --- SIGHUP: reload what can be reloaded, keep serving -----------------------------------------

import hashlib  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from support import free_port, publish_small_module, wait_for_port  # noqa: E402


def token_file(path: Path, *tokens):
    path.write_text("".join(
        f'[[token]]\nname = "t{i}"\nsha256 = "{hashlib.sha256(t.encode()).hexdigest()}"\n'
        f'allow = ["*"]\n' for i, t in enumerate(tokens)))


def status_with(port, path, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_sighup_makes_modpub_serve_reload_its_auth_file(tmp_path):
    publish_small_module(tmp_path, "corp.example/hup", "v1.0.0", f"file://{tmp_path / 'tree'}")
    auth = tmp_path / "auth.toml"
    token_file(auth, "old-token")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        p = subprocess.Popen([str(modpub_bin()), "serve", "--from", f"file://{tmp_path / 'tree'}",
                              "--listen", f"127.0.0.1:{port}", "--auth", str(auth)],
                             stdout=out, stderr=out)
    try:
        assert wait_for_port(port, proc=p)
        info = "/corp.example/hup/@v/v1.0.0.info"
        assert status_with(port, info, "old-token") == 200
        token_file(auth, "new-token")
        p.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "SIGHUP: reloaded" not in log.read_text():
            assert time.monotonic() < deadline and p.poll() is None, log.read_text()
            time.sleep(0.02)
        assert status_with(port, info, "old-token") == 401
        assert status_with(port, info, "new-token") == 200
        # A file that does not load changes nothing.
        auth.write_text("[[token]]\nname = \n")
        p.send_signal(signal.SIGHUP)
        while "the credentials in effect stay" not in log.read_text():
            assert time.monotonic() < deadline and p.poll() is None, log.read_text()
            time.sleep(0.02)
        assert status_with(port, info, "new-token") == 200
        assert p.poll() is None
    finally:
        p.terminate()
        assert p.wait(timeout=20) == 0


@needs_modpubd
def test_sighup_makes_modpubd_reload_and_name_what_waits_for_a_restart(tmp_path):
    s = Server(tmp_path, install=False)
    auth = tmp_path / "auth.toml"
    token_file(auth, "old-token")
    port = free_port()
    base = s.config.read_text()
    daemon = f'\n[daemon]\nhttp_listen = "127.0.0.1:{port}"\nworkers = 2\n' \
             f'[proxy]\nauth = "{auth}"\n'
    s.config.write_text(base + daemon)
    log = tmp_path / "modpubd.log"
    with running_modpubd(s.config, s.root / "modpubd.sock", log) as d:
        assert wait_for_port(port, proc=d)
        assert status_with(port, "/healthz", "") == 200
        token_file(auth, "new-token")
        s.config.write_text('log_level = "debug"\n' + base +
                            daemon.replace("workers = 2", "workers = 3"))
        d.send_signal(signal.SIGHUP)
        wait_for(lambda: "applied at the next restart" in log.read_text(), "the reload", log)
        text = log.read_text()
        assert "SIGHUP: log_level is now debug" in text
        assert "SIGHUP: reloaded " + str(auth) + ": 1 user(s) and token(s)" in text
        assert "applied at the next restart: daemon.workers" in text
        assert status_with(port, "/corp.example/x/@v/list", "old-token") == 401
        assert status_with(port, "/corp.example/x/@v/list", "new-token") == 404
        # A configuration that does not load is refused; the daemon goes on.
        s.config.write_text("storage = 1\n")
        d.send_signal(signal.SIGHUP)
        wait_for(lambda: "does not load; the running configuration stays" in log.read_text(),
                 "the refused reload", log)
        assert d.poll() is None and status_with(port, "/healthz", "") == 200


@needs_modpubd
def test_sighup_makes_modpubd_publish_a_repository_added_to_its_configuration(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    s = Server(tmp_path / "a")
    add_daemon_table(s.config)
    log = tmp_path / "modpubd.log"
    with running_modpubd(s.config, s.root / "modpubd.sock", log) as d:
        other = GitRepo(tmp_path / "b", "other")
        with open(s.config, "a") as f:
            f.write(f'\n[[repository]]\npath = "{other.bare}"\n'
                    f'import_path = "corp.example/other"\n')
        d.send_signal(signal.SIGHUP)
        wait_for(lambda: "[[repository]] reloaded: 2 repositories (was 1)" in log.read_text(),
                 "the reload", log)
        r = run_modpub("hook", "install", "--repo", other.bare, "--config", s.config)
        assert r.returncode == 0, r.stderr
        other.write("go.mod", "module corp.example/other\n\ngo 1.19\n")
        other.write("o.go", "package other\n")
        other.commit()
        other.tag("v0.1.0")  # pushed: the hooks queue it, the daemon's workers know the repo
        wait_for(info_file(s.store, "corp.example/other", "v0.1.0").exists,
                 "the new repository's version published", log)
    assert "is not configured" not in log.read_text()


def test_pre_receive_against_a_storage_that_never_answers_refuses_at_its_deadline(
        tmp_path, silent_server):
    """Moving a version tag makes pre-receive ask every storage whether the version is
    published; a storage that never answers is "maybe published" (fail closed) once
    storage_deadline_ms has passed, not after minutes of a push hanging."""
    s = Server(tmp_path)
    s.commit(GOOD)
    s.tag("v1.0.0")
    assert s.push("main", "v1.0.0").returncode == 0  # a new tag: no storage is asked
    url = f"s3://modules/p?endpoint=http://127.0.0.1:{silent_server.port}"
    text = s.config.read_text().replace(f'storage = ["file://{s.store}"]',
                                        f'storage = ["{url}"]\nstorage_deadline_ms = 1000')
    s.config.write_text(text)
    s.commit({"lib.go": "package lib\n\nconst Moved = true\n"})
    s.tag("v1.0.0", "-f")
    start = time.monotonic()
    p = support.git("push", "--force", str(s.bare), "v1.0.0", cwd=s.work, check=False,
                    text=True, env=S3_TEST_ENV)
    took = time.monotonic() - start
    assert p.returncode != 0, p.stderr
    assert took < 15, took
    assert "no answer within the 1 s storage deadline (storage_deadline_ms in " in p.stderr, \
        p.stderr
    assert silent_server.held, "the hook never asked the storage"
