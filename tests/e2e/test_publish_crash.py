"""Crash safety: `modpub publish` (and `backfill`) killed with SIGKILL at random points.
`modpub --step-delay-ms` makes modpub sleep between the steps of every write (before and
after each rename; fsio::Env), so that uniformly random kill times land on every step. After each
kill: no version is listed without its complete files, no file under a final name is
truncated or differs from what a clean publish writes, nothing stored before is lost;
and running the same command again completes the publish, byte for byte."""

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support import GitRepo, json_lines, modpub_bin, run_modpub, snapshot

MODULE = "corp.example/Crash"
ESCAPED = "corp.example/!crash"
DELAY_MS = 15
TRIALS = 50
TAGS = ["v1.0.0", "v1.1.0", "v1.2.0"]


def command(repo, targets, *, tag=None):
    args = [str(modpub_bin())]
    args += ["publish", "--tag", tag] if tag else ["backfill"]
    args += ["--repo", str(repo.bare), "--import-path", MODULE]
    for t in targets:
        args += ["--to", t]
    return args


def urls(base: Path):
    return [f"file://{base / 'tree'}", f"athens-disk://{base / 'athens'}"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("crash")
    repo = GitRepo(work, "crash")
    repo.write("go.mod", f"module {MODULE}\n\ngo 1.19\n")
    for i, tag in enumerate(TAGS):
        for j in range(30):
            repo.write(f"p{j}/f.go", f"package p{j}\n\n// {tag}\n" + "var x = 1\n" * 50)
        repo.commit(tag)
        repo.tag(tag)
    # What clean publishes write: every tag, and the state before the one being killed.
    ref, seed = work / "ref", work / "seed"
    for tag in TAGS:
        r = subprocess.run(command(repo, urls(ref), tag=tag), capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    r = subprocess.run(command(repo, urls(seed), tag=TAGS[0]), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return work, repo, snapshot(ref), seed


def check_invariants(base: Path, ref):
    """What a reader may see at any moment. Returns the state found: which files are
    stored, listed or being staged (to see that the kills hit different steps)."""
    state = []
    tree_dir = base / "tree" / ESCAPED / "@v"
    listed = (tree_dir / "list").read_text().splitlines() if (tree_dir / "list").exists() else []
    assert len(listed) == len(set(listed)) and listed == sorted(listed)
    assert TAGS[0] in listed  # stored before: never lost
    for v in listed:
        for ext in ("zip", "mod", "info"):
            rel = f"tree/{ESCAPED}/@v/{v}.{ext}"
            assert (base / rel).read_bytes() == ref[rel], f"listed {v} without complete {ext}"
    for p in tree_dir.iterdir():
        if p.name.startswith("."):
            if p.name.startswith(".modpub-tmp-"):
                state.append("tree temporary")
            continue
        rel = str(p.relative_to(base))
        if p.name != "list":
            assert p.read_bytes() == ref[rel], f"{rel} truncated or different"
            state.append(p.name + ("" if p.name.rsplit(".", 1)[0] in listed else " unlisted"))
    athens = base / "athens"
    complete_in_athens = []
    for p in athens.iterdir():
        assert p.name == "corp.example" or p.name.startswith(".modpub-tmp-"), p
        if p.name.startswith(".modpub-tmp-"):
            state.append("athens staging: " + " ".join(sorted(
                "temporary" if f.name.startswith(".modpub-tmp-") else f.name
                for f in p.iterdir())))
    for p in (athens / MODULE).iterdir():
        if p.name == ".modpub.lock":
            continue
        # A version directory appears only whole.
        assert sorted(f.name for f in p.iterdir()) == sorted(["go.mod", "source.zip",
                                                               f"{p.name}.info"]), p
        for f in p.iterdir():
            rel = str(f.relative_to(base))
            assert f.read_bytes() == ref[rel], f"{rel} truncated or different"
        complete_in_athens.append(p.name)
        state.append(f"athens {p.name}")
    # `ls` shows exactly the complete versions, and calls nothing damaged.
    for t, complete in zip(urls(base), (listed, sorted(complete_in_athens))):
        r = run_modpub("ls", "--from", t)
        assert "damaged" not in r.stderr, r.stderr
        assert r.stdout.split() == (["MODULE", "VERSIONS", MODULE, *complete] if complete else []), (
            t, r.stdout, r.stderr)
    return tuple(sorted(state))


def slowed(args):
    """The command with modpub's hidden --step-delay-ms (a global option: before the
    subcommand)."""
    return [args[0], "--step-delay-ms", str(DELAY_MS), *args[1:]]


def kill_at_random(args, rng, span):
    p = subprocess.Popen(slowed(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, span))
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)


def measure(args):
    start = time.monotonic()
    r = subprocess.run(slowed(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return time.monotonic() - start


def test_publish_killed_at_random_points(setup):
    work, repo, ref, seed = setup
    rng = random.Random(int(os.environ.get("MODPUB_CRASH_SEED", "4")))
    tag = TAGS[1]
    probe = work / "probe"
    shutil.copytree(seed, probe)
    span = measure(command(repo, urls(probe), tag=tag))
    states = set()
    for trial in range(TRIALS):
        base = work / f"trial{trial}"
        shutil.copytree(seed, base)
        kill_at_random(command(repo, urls(base), tag=tag), rng, span)
        states.add(check_invariants(base, ref))
        # The same command again completes it.
        r = subprocess.run(command(repo, urls(base), tag=tag), capture_output=True, text=True)
        assert r.returncode == 0, f"trial {trial}: {r.stderr}"
        assert {j["Result"] for j in json_lines(r.stdout)} <= {"published", "unchanged"}
        want = {k: v for k, v in ref.items()
                if TAGS[2] not in k and not k.endswith("/list")}
        got = snapshot(base)
        assert got.pop(f"tree/{ESCAPED}/@v/list").decode().split() == TAGS[:2]
        assert got == want, f"trial {trial}: files differ after the re-run"
        shutil.rmtree(base)
    # The kills landed on many different steps, not only before or after the writes.
    print(f"{len(states)} different states after {TRIALS} kills")
    assert len(states) >= 8, states


def test_backfill_killed_and_rerun_finishes_without_duplicates(setup):
    work, repo, ref, seed = setup
    rng = random.Random(7)
    probe = work / "bf-probe"
    shutil.copytree(seed, probe)
    span = measure(command(repo, urls(probe)))
    for trial in range(5):
        base = work / f"bf{trial}"
        shutil.copytree(seed, base)
        kill_at_random(command(repo, urls(base)), rng, span)
        check_invariants(base, ref)
        r = subprocess.run(command(repo, urls(base)), capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert snapshot(base) == ref
