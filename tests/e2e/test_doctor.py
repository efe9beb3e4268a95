"""`modpub doctor` on a real installation: a bare repository with hooks installed by
`modpub hook install --config`, spool and state directories, a running modpubd from the
build, file storage and a checksum database with a key from `modpub keygen` -> every check
passes, exit status 0; then a broken installation (a repository missing, hooks absent on
another, a spool without group write and setgid, no daemon, storage on a read-only file
system, a signer key of mode 0644 made for another name) -> each problem is a ✗ line with
its advice, exit status 1. Both outputs are printed (pytest -s shows them)."""

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from support import GitRepo, keygen, run_modpub, tmpfs
from test_daemon import Daemon, daemons, jobs_in, wait_until  # noqa: F401 (fixture)

NAME = "sum.corp.example"
LIB = "corp.example/doctor"


def doctor(config, *args):
    r = run_modpub("doctor", "--config", config, *args, timeout=120)
    print(f"\n$ modpub doctor --config {config} {' '.join(args)}  (exit status {r.returncode})")
    print(r.stdout + r.stderr)
    return r


def sumdb_tables(key: Path, name=NAME):
    return f'\n[proxy]\n\n[sumdb]\nname = "{name}"\nsigner_key = "{key}"\n'


@pytest.fixture
def group_umask():
    """umask 002, as the systemd unit's UMask and a git server shared by a group: the
    spool's directories that the daemon and the hooks make stay group-writable."""
    old = os.umask(0o002)
    yield
    os.umask(old)


def test_healthy_installation(tmp_path, daemons, group_umask):
    signer, _ = keygen(tmp_path / "keys", NAME)
    tree = tmp_path / "goproxy"
    repo = GitRepo(tmp_path, "doctor")
    spool = tmp_path / "spool"
    spool.mkdir()
    os.chmod(spool, 0o2775)  # git users' hooks write jobs here
    d = Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, LIB)], spool=spool)
    d.config.write_text(d.config.read_text() + sumdb_tables(signer))
    r = run_modpub("hook", "install", "--repo", repo.bare, "--config", d.config)
    assert r.returncode == 0, r.stderr
    daemons.append(d.start())
    d.wait_ready()
    # One published version, so that the log, the tiles and the clock have something to check.
    repo.write("go.mod", f"module {LIB}\n\ngo 1.19\n")
    repo.write("doctor.go", "package doctor\n")
    repo.commit("v1.0.0")
    repo.tag("v1.0.0")
    wait_until(lambda: len(jobs_in(spool, "done")) == 1, timeout=90, what="the publish",
               on_fail=d.text)

    r = doctor(d.config)
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(line.startswith("✓ ") for line in lines[:-1]), r.stdout
    for what in (f"repository {repo.bare}", f"pre-receive hook of {repo.bare}",
                 f"post-receive hook of {repo.bare}", f"spool_dir {spool}", f"socket {d.socket}",
                 f"modpubd at http://127.0.0.1:{d.port}/healthz", f"storage file://{tree}",
                 f"signer key file {signer}", f"signer key of {NAME}",
                 "checksum database log", "1 records, tiles match the tree",
                 f"tree head served at http://127.0.0.1:{d.port}/sumdb/{NAME}/latest", "clock"):
        assert f"✓ {what}" in r.stdout or what in r.stdout, what
    assert "healthy (" in lines[-1] and "0 failed" in lines[-1], lines[-1]
    # Nothing of the probe is left in the storage.
    assert not (tree / ".modpub-doctor").exists()

    r = run_modpub("doctor", "--config", d.config, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["healthy"] is True
    assert {c["status"] for c in report["checks"]} == {"ok"}, report


@contextlib.contextmanager
def read_only_dir(path: Path):
    """A read-only tmpfs at `path` (root bypasses permissions, not a read-only mount)."""
    with tmpfs(path, "1m", read_only=True):
        yield path


def test_broken_installation(tmp_path):
    # A key of another name, readable by everyone.
    signer, _ = keygen(tmp_path / "keys", "other.example")
    os.chmod(signer, 0o644)
    missing = tmp_path / "gone.git"
    no_hooks = GitRepo(tmp_path, "nohooks").bare
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o755)
    os.chmod(spool, 0o755)
    (tmp_path / "state").mkdir()
    socket = tmp_path / "run" / "modpubd.sock"
    # A port nobody listens on: modpubd is not running.
    d = Daemon(tmp_path, [], [(missing, "corp.example/gone"), (no_hooks, "corp.example/nohooks")],
               spool=spool)
    with read_only_dir(tmp_path / "ro-store") as ro:
        config = tmp_path / "modpub.toml"
        config.write_text(d.config.read_text()
                          .replace('storage = []', f'storage = ["file://{ro}"]')
                          .replace(f'socket = "{d.socket}"', f'socket = "{socket}"')
                          .replace(f'state_dir = "{d.dir / "state"}"',
                                   f'state_dir = "{tmp_path / "state"}"')
                          + sumdb_tables(signer))
        r = doctor(config)
        assert r.returncode == 1, r.stdout + r.stderr
        expected = [
            (f"✗ repository {missing}: does not exist", f"git init --bare {missing}"),
            (f"- hooks of {missing}: skipped: the repository does not exist", ""),
            (f"✗ pre-receive hook of {no_hooks}: not installed",
             f"modpub hook install --repo {no_hooks} --config {config}"),
            (f"✗ post-receive hook of {no_hooks}: not installed",
             f"modpub hook install --repo {no_hooks} --config {config}"),
            (f"✗ spool_dir {spool}: {spool} has mode 0755 (no group write and setgid)",
             f"chmod -R g+w {spool}"),
            (f"✗ socket {socket}: modpubd is not running", "systemctl start modpubd"),
            (f"✗ modpubd at http://127.0.0.1:{d.port}/healthz:", "systemctl start modpubd"),
            (f"✗ storage file://{ro}:", "Read-only file system"),
            (f"✗ signer key file {signer}: mode 0644", f"chmod 600 {signer}"),
            (f"✗ signer key of {NAME}: {signer} is the key of \"other.example\"",
             f"use the key made for {NAME}"),
        ]
        lines = r.stdout.splitlines()
        for start, advice in expected:
            found = [line for line in lines if line.startswith(start)]
            assert found, f"no line starting {start!r} in:\n{r.stdout}"
            assert advice in found[0], f"{advice!r} not in {found[0]!r}"
        assert "NOT healthy" in lines[-1], lines[-1]
        # The read-only storage holds nothing new, and nothing was created anywhere else.
        assert list(ro.iterdir()) == []
        assert not missing.exists()

        r = run_modpub("doctor", "--config", config, "--json")
        assert r.returncode == 1
        report = json.loads(r.stdout)
        assert report["healthy"] is False
        failed = [c for c in report["checks"] if c["status"] == "fail"]
        assert len(failed) == report["summary"]["failed"] >= len(expected) - 1
        assert all(c["advice"] for c in failed), failed


def test_default_config_is_modpub_config_variable(tmp_path):
    config = tmp_path / "modpub.toml"
    config.write_text("storage = []\n")  # invalid: every problem is listed
    r = subprocess.run([str(Path(os.environ.get("MODPUB_BIN", "modpub"))), "doctor"],
                       env={**os.environ, "MODPUB_CONFIG": str(config)}, capture_output=True,
                       text=True, timeout=60)
    print(r.stdout)
    assert r.returncode == 1
    assert r.stdout.startswith(f"✗ configuration {config}: invalid:"), r.stdout
    assert "spool_dir" in r.stdout and "socket" in r.stdout
    assert "- every other check: skipped: the configuration does not load" in r.stdout
