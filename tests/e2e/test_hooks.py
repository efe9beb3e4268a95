"""modpub's git hooks under real pushes: a working clone pushes into a bare repository whose
pre-receive/post-receive hooks (`modpub hook install`) git runs itself, with the pushed
objects in git's quarantine. Refused tags never reach the repository or the spool;
accepted version tags become one job file each."""

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

import support

from support import (GO_TOOLS, GitRepo, clean_gopath, go, go_env, h1_of_zip,
                     modpub_bin, modpubd_bin, needs_go, publish, run_modpub)

IMPORT = "corp.example/lib"


def git(*args, cwd, check=True, env=None):
    return support.git(*args, cwd=cwd, check=check, text=True, env=env)


class Server:
    """A bare repository with modpub's hooks, its config, spool and storage."""

    def __init__(self, root: Path, allowed=None, immutable=False, install=True):
        self.root = root
        self.repo = GitRepo(root, "lib")
        self.bare = self.repo.bare
        self.work = self.repo.work
        self.store = root / "store"
        self.spool = root / "spool"
        self.config = root / "modpub.toml"
        lines = [
            f'storage = ["file://{self.store}"]',
            f'spool_dir = "{self.spool}"',
            f'state_dir = "{root / "state"}"',
            f'socket = "{root / "modpubd.sock"}"',
            "",
            "[[repository]]",
            f'path = "{self.bare}"',
            f'import_path = "{IMPORT}"',
        ]
        if allowed is not None:
            lines.append("allowed_prefixes = [" + ", ".join(f'"{p}"' for p in allowed) + "]")
        if immutable:
            lines.append("immutable_tags = true")
        self.config.write_text("\n".join(lines) + "\n")
        if install:
            r = run_modpub("hook", "install", "--repo", self.bare, "--config", self.config)
            assert r.returncode == 0, r.stderr

    def push(self, *refspecs, force=False):
        args = ["push", *(["--force"] if force else []), str(self.bare), *refspecs]
        return git(*args, cwd=self.work, check=False)

    def commit(self, files, msg="commit"):
        for rel, content in files.items():
            self.repo.write(rel, content)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", msg, cwd=self.work)

    def tag(self, name, *extra):
        git("tag", *extra, name, cwd=self.work)

    def remote_tags(self):
        out = git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/tags",
                  cwd=self.bare).stdout
        return dict(line.split(" ") for line in out.splitlines())

    def jobs(self):
        queue = self.spool / "queue"
        if not queue.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(queue.glob("*.job"))]


def remote_lines(proc):
    """What the hooks printed, as the pushing user sees it."""
    return [line[len("remote: "):].rstrip() for line in proc.stderr.splitlines()
            if line.startswith("remote: ")]


GOOD = {"go.mod": f"module {IMPORT}\n\ngo 1.19\n", "lib.go": "package lib\n"}


@pytest.fixture
def server(tmp_path):
    return Server(tmp_path)


def test_good_tags_are_accepted_and_queued(server):
    server.commit(GOOD)
    server.tag("v1.0.0")
    server.tag("v1.1.0", "-a", "-m", "annotated")
    p = server.push("main", "v1.0.0", "v1.1.0")
    assert p.returncode == 0, p.stderr
    lines = remote_lines(p)
    assert f"modpub: queued {IMPORT}@v1.0.0" in lines
    assert f"modpub: queued {IMPORT}@v1.1.0" in lines
    assert set(server.remote_tags()) == {"v1.0.0", "v1.1.0"}
    jobs = server.jobs()
    assert sorted(j["tag"] for j in jobs) == ["v1.0.0", "v1.1.0"]
    head = git("rev-parse", "HEAD", cwd=server.work).stdout.strip()
    for j in jobs:
        assert j["format"] == "modpub-job/1"
        assert j["repo"] == str(server.bare)
        assert j["import_path"] == IMPORT
        assert j["commit"] == head  # the annotated tag peeled to its commit
        assert j["source"] == "hook"
        assert j["attempts"] == 0
    assert not list((server.spool / "tmp").iterdir())


def test_a_tag_naming_two_modules_is_one_job(server):
    server.commit({"lib.go": "package lib\n", "v3/go.mod": f"module {IMPORT}/v3\n"})
    server.tag("v3.0.0")
    p = server.push("main", "v3.0.0")
    assert p.returncode == 0, p.stderr
    assert f"modpub: queued {IMPORT}@v3.0.0+incompatible" in remote_lines(p)
    assert f"modpub: queued {IMPORT}/v3@v3.0.0" in remote_lines(p)
    assert [j["tag"] for j in server.jobs()] == ["v3.0.0"]


BAD = [
    # (id, files, tag, substrings of the refusal line)
    ("non-canonical", GOOD, "v1.2", ["not canonical", "v1.2.0"]),
    ("build-metadata", GOOD, "v1.0.0+meta", ["build metadata"]),
    ("path-mismatch", {"go.mod": "module corp.example/other\n"}, "v1.0.0",
     ["go.mod", "corp.example/other"]),
    ("v2-without-suffix", GOOD, "v2.0.0", ["go.mod", "/v2"]),
    ("no-module-line", {"go.mod": "go 1.19\n"}, "v1.0.0", ["go.mod", "missing module path"]),
    ("sub-without-go-mod", {**GOOD, "tools/x.go": "package tools\n"}, "tools/v1.0.0",
     ["missing tools/go.mod"]),
    ("invalid-file-name", {**GOOD, "bad:name.go": "package lib\n"}, "v1.0.0", ["bad:name.go"]),
    ("windows-reserved-name", {**GOOD, "aux.go": "package lib\n"}, "v1.0.0", ["aux.go"]),
    ("case-fold-collision", {**GOOD, "Util.go": "package lib\n", "util.go": "package lib\n"},
     "v1.0.0", ["util.go", "case"]),
    ("oversize-go-mod", {"go.mod": f"module {IMPORT}\n" + "\n" * (16 << 20)}, "v1.0.0",
     ["go.mod", "large"]),
]


@pytest.mark.parametrize("files,tag,expect", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_tag_is_refused_and_nothing_queued(server, files, tag, expect):
    server.commit(files)
    assert server.push("main").returncode == 0  # branches are not checked
    server.tag(tag)
    p = server.push(tag)
    assert p.returncode != 0
    refusals = [line for line in remote_lines(p) if line.startswith(f"modpub: refused {tag}: ")]
    assert refusals, p.stderr
    for s in expect:
        assert any(s.lower() in line.lower() for line in refusals), (s, refusals)
    assert "pre-receive hook declined" in p.stderr
    assert tag not in server.remote_tags()
    assert server.jobs() == []


def test_module_path_outside_allowed_prefixes(tmp_path):
    s = Server(tmp_path, allowed=[f"{IMPORT}/api"])
    s.commit({**GOOD, "api/go.mod": f"module {IMPORT}/api\n"})
    s.tag("v1.0.0")
    s.tag("api/v1.0.0")
    p = s.push("main", "v1.0.0")
    assert p.returncode != 0
    assert any(line.startswith(f'modpub: refused v1.0.0: go.mod: module path "{IMPORT}"')
               and f'"{IMPORT}/api"' in line for line in remote_lines(p)), p.stderr
    p = s.push("api/v1.0.0")
    assert p.returncode == 0, p.stderr
    assert [j["tag"] for j in s.jobs()] == ["api/v1.0.0"]


def test_one_bad_tag_refuses_the_whole_push(server):
    server.commit(GOOD)
    server.tag("v1.0.0")
    server.tag("v1.0")
    server.commit({"go.mod": "module corp.example/wrong\n"})
    server.tag("v1.1.0")
    p = server.push("main", "v1.0.0", "v1.0", "v1.1.0")
    assert p.returncode != 0
    lines = remote_lines(p)
    assert any(line.startswith("modpub: refused v1.0: ") for line in lines)
    assert any(line.startswith("modpub: refused v1.1.0: go.mod") for line in lines)
    assert not any(line.startswith("modpub: refused v1.0.0") for line in lines)
    assert server.remote_tags() == {}
    assert git("rev-parse", "--verify", "-q", "refs/heads/main", cwd=server.bare,
               check=False).returncode != 0
    assert server.jobs() == []


def test_branch_push_and_non_version_tags_pass(server):
    server.commit({"go.mod": "module corp.example/wrong\n", "Bad:name": "x"})
    server.tag("release-1")
    server.tag("nightly", "-a", "-m", "n")
    p = server.push("main", "release-1", "nightly")
    assert p.returncode == 0, p.stderr
    assert not [line for line in remote_lines(p) if line.startswith("modpub:")]
    server.commit({"more": "x"})
    server.tag("release-1", "-f")
    assert server.push("main", "release-1", force=True).returncode == 0
    assert server.push(":refs/tags/nightly").returncode == 0
    assert set(server.remote_tags()) == {"release-1"}
    assert server.jobs() == []


def test_published_tag_cannot_move_or_be_deleted(server):
    server.commit(GOOD)
    server.tag("v1.0.0")
    server.tag("v1.1.0")
    assert server.push("main", "v1.0.0", "v1.1.0").returncode == 0
    old = server.remote_tags()["v1.0.0"]
    r = publish(server.repo, IMPORT, "v1.0.0", f"file://{server.store}")
    assert r.returncode == 0, r.stderr

    server.commit({"lib.go": "package lib\n\nconst Changed = true\n"})
    server.tag("v1.0.0", "-f")
    p = server.push("v1.0.0", force=True)
    assert p.returncode != 0
    assert any(line.startswith(f"modpub: refused v1.0.0: {IMPORT}@v1.0.0 is published in file://")
               and "moving" in line for line in remote_lines(p)), p.stderr
    p = server.push(":refs/tags/v1.0.0")
    assert p.returncode != 0
    assert any(line.startswith(f"modpub: refused v1.0.0: {IMPORT}@v1.0.0 is published")
               and "deleting" in line for line in remote_lines(p)), p.stderr
    assert server.remote_tags()["v1.0.0"] == old

    # An unpublished version's tag may still move (the new target is checked) or go.
    server.tag("v1.1.0", "-f")
    p = server.push("v1.1.0", force=True)
    assert p.returncode == 0, p.stderr
    assert server.push(":refs/tags/v1.1.0").returncode == 0
    assert set(server.remote_tags()) == {"v1.0.0"}


def test_immutable_tags(tmp_path):
    s = Server(tmp_path, immutable=True)
    s.commit(GOOD)
    s.tag("v0.1.0")
    s.tag("release")
    assert s.push("main", "v0.1.0", "release").returncode == 0
    s.commit({"x.go": "package lib\n"})
    s.tag("v0.1.0", "-f")
    s.tag("release", "-f")
    p = s.push("v0.1.0", force=True)
    assert p.returncode != 0
    assert any(line.startswith("modpub: refused v0.1.0: moving") and "immutable_tags" in line
               for line in remote_lines(p)), p.stderr
    p = s.push(":refs/tags/v0.1.0")
    assert p.returncode != 0
    assert any(line.startswith("modpub: refused v0.1.0: deleting") for line in remote_lines(p))
    assert s.push("release", force=True).returncode == 0


def snapshot(d: Path):
    out = {}
    for p in sorted(d.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(d))] = (stat.S_IMODE(st.st_mode), st.st_mtime_ns,
                                      p.read_bytes() if p.is_file() else None)
    return out


def test_existing_hooks_still_run_and_their_refusal_stands(tmp_path):
    s = Server(tmp_path, install=False)
    hooks = s.bare / "hooks"
    log = tmp_path / "user-hook.log"
    (hooks / "pre-receive").write_text(
        "#!/bin/sh\n"
        f"while read old new ref; do echo \"pre $ref\" >> {log}\n"
        "  case $ref in *forbidden*) echo \"user hook: $ref is forbidden\"; exit 1;; esac\n"
        "done\n")
    (hooks / "post-receive").write_text(f"#!/bin/sh\nsed 's/^/post /' >> {log}\n")
    for h in ("pre-receive", "post-receive"):
        (hooks / h).chmod(0o755)
    before = snapshot(hooks)

    r = run_modpub("hook", "install", "--repo", s.bare, "--config", s.config)
    assert r.returncode == 0, r.stderr
    assert "runs first" in r.stdout
    s.commit(GOOD)
    s.tag("v1.0.0")
    p = s.push("main", "v1.0.0")
    assert p.returncode == 0, p.stderr
    text = log.read_text()
    assert "pre refs/tags/v1.0.0" in text and "pre refs/heads/main" in text
    assert "refs/tags/v1.0.0" in text.split("post", 1)[1]
    assert f"modpub: queued {IMPORT}@v1.0.0" in remote_lines(p)

    s.tag("forbidden-1")
    s.tag("v1.0.1")
    p = s.push("forbidden-1", "v1.0.1")
    assert p.returncode != 0
    assert "user hook: refs/tags/forbidden-1 is forbidden" in remote_lines(p)
    assert set(s.remote_tags()) == {"v1.0.0"}
    assert [j["tag"] for j in s.jobs()] == ["v1.0.0"]

    r = run_modpub("hook", "uninstall", "--repo", s.bare)
    assert r.returncode == 0, r.stderr
    assert snapshot(hooks) == before


def test_install_is_idempotent_and_uninstall_restores(tmp_path):
    s = Server(tmp_path, install=False)
    hooks = s.bare / "hooks"
    before = snapshot(hooks)
    for _ in range(2):
        r = run_modpub("hook", "install", "--repo", s.bare, "--config", s.config)
        assert r.returncode == 0, r.stderr
    assert "already installed" in r.stdout
    assert not (hooks / "modpub-chained" / "pre-receive").exists()  # never chained to itself
    shim = (hooks / "pre-receive").read_text()
    assert str(s.config) in shim and "modpub-hook" in shim
    assert r.returncode == 0
    r = run_modpub("hook", "uninstall", "--repo", s.bare)
    assert r.returncode == 0, r.stderr
    assert snapshot(hooks) == before
    s.commit({"go.mod": "module corp.example/wrong\n"})
    s.tag("v1.0.0")
    assert s.push("main", "v1.0.0").returncode == 0  # no hook any more


def test_core_hooks_path_is_honoured(tmp_path):
    s = Server(tmp_path, install=False)
    git("config", "core.hooksPath", "custom-hooks", cwd=s.bare)
    r = run_modpub("hook", "install", "--repo", s.bare, "--config", s.config)
    assert r.returncode == 0, r.stderr
    assert (s.bare / "custom-hooks" / "pre-receive").is_file()
    assert not (s.bare / "hooks" / "pre-receive").exists()
    s.commit({"go.mod": "module corp.example/wrong\n"})
    s.tag("v1.0.0")
    p = s.push("main", "v1.0.0")
    assert p.returncode != 0
    assert any(line.startswith("modpub: refused v1.0.0: go.mod") for line in remote_lines(p))
    r = run_modpub("hook", "uninstall", "--repo", s.bare)
    assert r.returncode == 0, r.stderr
    assert not (s.bare / "custom-hooks").exists()  # install created it


# --- where the shims find modpub-hook, and `hook install --all` ------------------------------

def installed_from_copy(tmp_path, s):
    """Installs s's hooks with a modpub copied to <tmp>/old-bin beside its modpub-hook, so
    that the program the shims record can go away without touching the build."""
    old = tmp_path / "old-bin"
    old.mkdir()
    for name in ("modpub", "modpub-hook"):
        src = modpub_bin().parent / name
        try:
            os.link(src, old / name)
        except OSError:
            shutil.copy2(src, old / name)
    r = subprocess.run([str(old / "modpub"), "hook", "install", "--repo", str(s.bare),
                        "--config", str(s.config)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert str(old / "modpub-hook") in (s.bare / "hooks" / "pre-receive").read_text()
    return old


def path_without_modpub_hook():
    dirs = [d for d in os.environ.get("PATH", "/usr/bin:/bin").split(":")
            if d and not (Path(d) / "modpub-hook").exists()]
    return ":".join(dirs)


def test_hooks_keep_working_after_the_binaries_move(tmp_path):
    s = Server(tmp_path, install=False)
    old = installed_from_copy(tmp_path, s)
    new = tmp_path / "new-bin"
    new.mkdir()
    shutil.copy2(old / "modpub-hook", new / "modpub-hook")
    (old / "modpub-hook").unlink()
    env = {"PATH": f"{new}:{path_without_modpub_hook()}", "MODPUB_HOOK": ""}  # "": unset

    s.commit({"go.mod": "module corp.example/wrong\n"})
    s.tag("v0.9.0")
    p = git("push", str(s.bare), "main", "v0.9.0", cwd=s.work, check=False, env=env)
    assert p.returncode != 0  # pre-receive (from PATH) still checks
    assert any(line.startswith("modpub: refused v0.9.0: go.mod") for line in remote_lines(p))
    s.commit(GOOD)
    s.tag("v1.0.0")
    p = git("push", str(s.bare), "main", "v1.0.0", cwd=s.work, check=False, env=env)
    assert p.returncode == 0, p.stderr
    assert f"modpub: queued {IMPORT}@v1.0.0" in remote_lines(p)  # post-receive too
    assert [j["tag"] for j in s.jobs()] == ["v1.0.0"]


def test_a_shim_without_modpub_hook_refuses_tags(tmp_path):
    s = Server(tmp_path, install=False)
    old = installed_from_copy(tmp_path, s)
    (old / "modpub-hook").unlink()
    path = path_without_modpub_hook()
    env = {"PATH": path, "MODPUB_HOOK": ""}  # "" counts as unset
    s.commit(GOOD)
    s.tag("v1.0.0")
    p = git("push", str(s.bare), "main", "v1.0.0", cwd=s.work, check=False, env=env)
    assert p.returncode != 0
    lines = remote_lines(p)
    missing = [line for line in lines if line.startswith("modpub: modpub-hook not found (PATH=")]
    assert missing and missing[0].endswith("; reinstall modpub or set MODPUB_HOOK)"), lines
    assert path in missing[0]
    assert "modpub: refused push: its tags cannot be checked without modpub-hook" in lines
    assert s.remote_tags() == {} and s.jobs() == []
    # A branch needs no check; post-receive only says what is missing.
    p = git("push", str(s.bare), "main", cwd=s.work, check=False, env=env)
    assert p.returncode == 0, p.stderr
    assert sum("modpub-hook not found" in line for line in remote_lines(p)) == 2
    # $MODPUB_HOOK brings it back without a new install.
    env["MODPUB_HOOK"] = str(modpub_bin().parent / "modpub-hook")
    p = git("push", str(s.bare), "v1.0.0", cwd=s.work, check=False, env=env)
    assert p.returncode == 0, p.stderr
    assert f"modpub: queued {IMPORT}@v1.0.0" in remote_lines(p)


def test_install_all_installs_every_local_repository(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    a = Server(tmp_path / "a", install=False)
    b = GitRepo(tmp_path / "b", "tools")
    missing = tmp_path / "gone.git"
    cfg = tmp_path / "all.toml"
    cfg.write_text(a.config.read_text() + "\n".join([
        "", "[[repository]]", f'path = "{b.bare}"', 'import_path = "corp.example/tools"',
        "", "[[repository]]", 'import_path = "corp.example/hosted"',
        'remote_url = "https://git.example/corp/hosted.git"', 'webhook_secret = "s3cret"',
        "", "[[repository]]", f'path = "{missing}"', 'import_path = "corp.example/gone"', ""]))

    r = run_modpub("hook", "install", "--all", "--config", cfg)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert len(out) == 3, out  # one line per repository (the failed one on stderr)
    assert out[0].startswith(f"modpub: {a.bare} (corp.example/lib): pre-receive: installed")
    assert out[1].startswith(f"modpub: {b.bare} (corp.example/tools): pre-receive: installed")
    assert "(corp.example/hosted): skipped, a webhook mirror" in out[2]
    err = r.stderr.splitlines()
    assert err[0].startswith(f"modpub: {missing} (corp.example/gone): ")
    assert err[-1] == "modpub: hooks not installed in 1 of 4 repositories (see above)"
    for repo in (a.bare, b.bare):
        assert f"--config '{cfg}'" in (repo / "hooks" / "pre-receive").read_text()

    # Again, through $MODPUB_CONFIG, with every repository there: all already in place.
    cfg.write_text(cfg.read_text().rsplit("\n[[repository]]", 1)[0] + "\n")
    r = run_modpub("hook", "install", "--all", env={"MODPUB_CONFIG": str(cfg)})
    assert r.returncode == 0, r.stderr
    assert sum("already installed" in line for line in r.stdout.splitlines()) == 2

    # The hooks it wrote check pushes with that configuration.
    a.commit({"go.mod": "module corp.example/wrong\n"})
    a.tag("v1.0.0")
    p = a.push("main", "v1.0.0")
    assert p.returncode != 0
    assert any(line.startswith("modpub: refused v1.0.0: go.mod") for line in remote_lines(p))

    for args in (["--all", "--repo", a.bare], []):
        r = run_modpub("hook", "install", *args, env={"MODPUB_CONFIG": str(cfg)})
        assert r.returncode != 0, args
    assert "--repo" in r.stderr and "--all" in r.stderr


def test_git_config_fallback_without_toml(tmp_path):
    s = Server(tmp_path, install=False)
    r = run_modpub("hook", "install", "--repo", s.bare)
    assert r.returncode == 0, r.stderr
    s.commit(GOOD)
    s.tag("v1.0.0")
    p = s.push("main", "v1.0.0")
    assert p.returncode != 0  # not configured: version tags are refused, not let through
    assert any("no modpub configuration" in line for line in remote_lines(p)), p.stderr
    assert s.push("main").returncode == 0  # branches are unaffected

    git("config", "modpub.importPath", IMPORT, cwd=s.bare)
    git("config", "modpub.spoolDir", s.spool, cwd=s.bare)
    git("config", "modpub.storage", f"file://{s.store}", cwd=s.bare)
    p = s.push("v1.0.0")
    assert p.returncode == 0, p.stderr
    assert f"modpub: queued {IMPORT}@v1.0.0" in remote_lines(p)
    assert [j["tag"] for j in s.jobs()] == ["v1.0.0"]

    git("config", "modpub.config", s.config, cwd=s.bare)  # the TOML file wins
    s.tag("v1.0.1")
    p = s.push("v1.0.1")
    assert p.returncode == 0, p.stderr
    assert len(s.jobs()) == 2


def test_post_receive_pokes_the_daemon_socket(server):
    import socket
    sock_path = server.root / "modpubd.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(sock_path))
        s.settimeout(10)
        server.commit(GOOD)
        server.tag("v1.0.0")
        p = server.push("main", "v1.0.0")
        assert p.returncode == 0, p.stderr
        assert s.recv(64)  # woken once the job is in the queue
        assert [j["tag"] for j in server.jobs()] == ["v1.0.0"]


def test_post_receive_never_fails_the_push(server):
    """The push is done when post-receive runs: a spool broken since pre-receive held the
    job is a warning (the daemon's reconciliation finds the tag), never a failure."""
    server.commit(GOOD)
    server.tag("v1.0.0")
    new = git("rev-parse", "HEAD", cwd=server.work).stdout.strip()
    assert server.push("main").returncode == 0
    server.spool.write_text("a file where the spool directory should be")
    hook = modpub_bin().parent / "modpub-hook"
    r = subprocess.run([str(hook), "post-receive", "--config", str(server.config)],
                       input=f"{'0' * 40} {new} refs/tags/v1.0.0\n", cwd=server.bare,
                       capture_output=True, text=True, env=dict(os.environ, GIT_DIR="."))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("modpub: warning: "), r.stdout
    assert "modpub: queued" not in r.stdout


def test_post_receive_takes_pre_receives_handoff_or_resolves_the_tag_itself(server):
    """pre-receive leaves what a tag publishes for post-receive (receive/handoff.hpp); a push
    consumes it. Without one (e.g. hooks of an older modpub), post-receive reads the tag."""
    server.commit({"lib.go": "package lib\n", "v3/go.mod": f"module {IMPORT}/v3\n"})
    server.tag("v3.0.0")
    p = server.push("main", "v3.0.0")
    assert p.returncode == 0, p.stderr
    handoff = server.bare / "modpub" / "handoff"
    assert handoff.is_dir() and not list(handoff.iterdir())
    # No daemon runs here: post-receive also says that the jobs wait for it
    # (test_push_feedback.py); the lines naming module versions are what this test is about.
    versions = lambda lines: sorted(line for line in lines  # noqa: E731
                                    if line.startswith("modpub: queued") and "@" in line)
    queued = versions(remote_lines(p))
    assert queued == [f"modpub: queued {IMPORT}/v3@v3.0.0",
                      f"modpub: queued {IMPORT}@v3.0.0+incompatible"]

    # The same update again, by hand, with no handoff: the same modules, from the objects.
    for job in (server.spool / "queue").glob("*.job"):
        job.unlink()
    new = git("rev-parse", "v3.0.0", cwd=server.bare).stdout.strip()
    hook = modpub_bin().parent / "modpub-hook"
    r = subprocess.run([str(hook), "post-receive", "--config", str(server.config)],
                       input=f"{'0' * 40} {new} refs/tags/v3.0.0\n", cwd=server.bare,
                       capture_output=True, text=True, env=dict(os.environ, GIT_DIR="."))
    assert r.returncode == 0, r.stderr
    assert versions(r.stdout.splitlines()) == queued
    assert [j["tag"] for j in server.jobs()] == ["v3.0.0"]


def test_a_refused_push_leaves_no_handoff_behind(server):
    server.commit(GOOD)
    server.tag("v1.0.0")
    server.tag("v1.2")  # not canonical: the whole push is refused
    p = server.push("main", "v1.0.0", "v1.2")
    assert p.returncode != 0
    handoff = server.bare / "modpub" / "handoff"
    assert not handoff.exists() or not list(handoff.iterdir())
    assert server.jobs() == []


# --- with modpubd ----------------------------------------------------------------------------

needs_modpubd = pytest.mark.skipif(not modpubd_bin().exists(), reason="modpubd is not built")


def add_daemon_table(config: Path):
    # No HTTP server; a scan interval of a minute, so only the hook's poke wakes it fast.
    with open(config, "a") as f:
        f.write('\n[daemon]\nhttp_listen = ""\nscan_interval_ms = 60000\n')


@contextlib.contextmanager
def running_modpubd(config: Path, socket_path: Path, log: Path):
    """modpubd on `config`, ready (socket bound) on entry, SIGTERM-ed (by PID) on exit."""
    with open(log, "a") as out:
        d = subprocess.Popen([str(modpubd_bin()), "--config", str(config)], stdout=out,
                             stderr=out)
        try:
            wait_for(lambda: socket_path.exists() or d.poll() is not None, "modpubd ready",
                     log)
            assert d.poll() is None, log.read_text()
            yield d
        finally:
            d.send_signal(signal.SIGTERM)
            try:
                assert d.wait(timeout=60) == 0, log.read_text()
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
                raise


def wait_for(cond, what, log, timeout=60):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + (
            log.read_text() if log.exists() else "")
        time.sleep(0.02)


def info_file(store: Path, module, version):
    return store / module / "@v" / f"{version}.info"


@needs_modpubd
@needs_go
def test_pushed_tag_is_published_by_modpubd_and_fetchable_by_go(tmp_path):
    """The product's main path: push a tag, modpubd (woken by the post-receive hook)
    publishes it, go fetches it through GOPROXY=file://; the tag is then immutable."""
    (tmp_path / "srv").mkdir()
    s = Server(tmp_path / "srv")
    add_daemon_table(s.config)
    log = tmp_path / "modpubd.log"
    with running_modpubd(s.config, s.root / "modpubd.sock", log):
        s.commit({**GOOD, "lib.go": 'package lib\n\nfunc Name() string { return "lib" }\n'})
        s.tag("v1.0.0")
        p = s.push("main", "v1.0.0")
        assert p.returncode == 0, p.stderr
        wait_for(info_file(s.store, IMPORT, "v1.0.0").exists, "v1.0.0 published", log)
    assert len(list((s.spool / "done").glob("*.job"))) == 1

    for tool in GO_TOOLS:  # every installed go fetches it
        env = go_env(tmp_path / f"go-{tool.label}", f"file://{s.store}", tmp_path / "gocache",
                     tool)
        try:
            consumer = tmp_path / f"consumer-{tool.label}"
            consumer.mkdir()
            (consumer / "go.mod").write_text("module corp.example/consumer\n\ngo 1.19\n")
            r = go("mod", "download", "-json", f"{IMPORT}@v1.0.0", env=env, cwd=consumer)
            got = json.loads(r.stdout)
            assert got["Version"] == "v1.0.0"
            assert got["Sum"] == h1_of_zip(s.store / IMPORT / "@v" / "v1.0.0.zip")
        finally:
            clean_gopath(env)

    s.commit({"lib.go": "package lib\n"})
    s.tag("v1.0.0", "-f")
    p = s.push("v1.0.0", force=True)
    assert p.returncode != 0
    assert any(line.startswith(f"modpub: refused v1.0.0: {IMPORT}@v1.0.0 is published")
               for line in remote_lines(p)), p.stderr
