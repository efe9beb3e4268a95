"""Bad inputs and bad days, driven through the real programs: each case asserts the clear
error (what is wrong and where) and that nothing was lost or written outside its place."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

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

    r = run_modpub("ls", "--from", url)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == f"{module} v1.0.0\n"
    for n, text in [(2, "v9.9.9 junk"), (3, "../../etc"), (4, "\\xff\\xfe"), (5, "v1.0"),
                    (6, "v1.0.0+meta")]:
        assert f'modpub: {module}@"{text}" is damaged (@v/list line {n}: not a version of ' \
               f'{module}' in r.stderr, r.stderr

    r = publish(repo, module, "v1.1.0", url)
    assert r.returncode == 0, r.stderr
    assert lst.read_text() == "v1.0.0\nv1.1.0\n"
    r = run_modpub("ls", "--from", url)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{module} v1.0.0 v1.1.0\n", "")
    clean_gopath(env)
    ok = go("list", "-m", f"{module}@latest", env=env, cwd=app)
    assert ok.stdout.strip() == f"{module} v1.1.0"
    ok = go("list", "-m", "-versions", module, env=env, cwd=app)
    assert ok.stdout.strip() == f"{module} v1.0.0 v1.1.0"
