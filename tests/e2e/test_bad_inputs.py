"""Bad inputs and bad days, driven through the real programs: each case asserts the clear
error (what is wrong and where) and that nothing was lost or written outside its place."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from support import modpub_bin

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
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


def test_jobs_with_a_spool_path_it_cannot_reach_says_so(open_dir):
    spool = spool_with_a_claimed_job(open_dir)
    open_dir.chmod(0o700)
    r = as_nobody("jobs", "--spool", spool)
    open_dir.chmod(0o755)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f"{spool}/queue: Permission denied" in r.stderr, r.stderr
