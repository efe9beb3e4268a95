"""Bad inputs and bad days, driven through the real programs: each case asserts the clear
error (what is wrong and where) and that nothing was lost or written outside its place."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from support import modpub_bin, modpubd_bin

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
