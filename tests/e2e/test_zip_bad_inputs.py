"""`modpub zip` refusing bad inputs: every refusal exits non-zero, prints
one stderr line per problem naming the tag, the file and the rule, and leaves nothing
behind: not in --out, not in the temporary build directory.

Which of these the go command refuses too is checked against go itself in
test_zip_vs_go.py (case-fold collisions, file names, /vN, missing module lines, ...); the
sizes here are x/mod's limits (zip.MaxZipFile, MaxGoMod, MaxLICENSE). Large trees are
made of one blob repeated under many names, written straight into the bare repository
with plumbing, so these tests take seconds.
"""

import os
import subprocess
from pathlib import Path

import pytest

import support

from support import GIT_ENV, GitRepo, run_modpub

IMPORT = "corp.example/lib"
MiB = 1 << 20


def git(repo_dir: Path, *args, input=None):
    return support.git(*args, git_dir=repo_dir, input=input).stdout.decode().strip()


def blob(bare: Path, data: bytes):
    return git(bare, "hash-object", "-w", "--stdin", input=data)


def zero_blob(bare: Path, size: int):
    """A blob of `size` zero bytes, streamed into git without a file on disk."""
    p = subprocess.Popen(["git", "--git-dir", str(bare), "hash-object", "-w", "--stdin"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=dict(os.environ, **GIT_ENV))
    chunk = bytes(MiB)
    left = size
    while left > 0:
        n = min(left, MiB)
        p.stdin.write(chunk[:n])
        left -= n
    out, _ = p.communicate()
    assert p.returncode == 0
    return out.decode().strip()


def tree_of(bare: Path, entries):
    """A flat tree from {name: blob id}."""
    listing = "".join(f"100644 blob {oid}\t{name}\n" for name, oid in sorted(entries.items()))
    return git(bare, "mktree", input=listing.encode())


def commit_and_tag(bare: Path, tree, tag):
    commit = git(bare, "commit-tree", tree, "-m", "c")
    git(bare, "tag", tag, commit)


@pytest.fixture
def env(tmp_path):
    """A private TMPDIR, to see that modpub's build directory is removed too."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {"TMPDIR": str(tmp)}


def refuse(repo_dir, tag, env, tmp_path, *, import_path=IMPORT, rules=(), files=(),
           lines=None):
    """Runs modpub zip, asserts a clean refusal and returns the stderr lines."""
    out = tmp_path / "out"
    r = run_modpub("zip", "--repo", repo_dir, "--import-path", import_path, "--tag", tag,
                   "--out", out, env=env)
    diag = f"rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
    assert r.returncode != 0, diag
    assert r.stdout.strip() == "", diag
    got = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert got, diag
    for ln in got:
        assert tag in ln, f"line does not name tag {tag}: {ln}\n{diag}"
    for rule in rules:
        assert any(rule in ln for ln in got), f"no line says {rule!r}\n{diag}"
    for f in files:
        assert any(f in ln for ln in got), f"no line names file {f!r}\n{diag}"
    if lines is not None:
        assert len(got) == lines, diag
    assert not out.exists() or not any(out.rglob("*")), list(out.rglob("*"))
    assert not any(Path(env["TMPDIR"]).iterdir()), list(Path(env["TMPDIR"]).iterdir())
    return got


def make(tmp_path, files, tags=("v1.0.0",)):
    repo = GitRepo(tmp_path)
    for name, content in files.items():
        repo.write(name, content)
    repo.commit()
    repo.tag(*tags)
    return repo


@pytest.mark.parametrize("tag,rule", [
    ("v1.0", "not canonical"),
    ("v1", "not canonical"),
    ("v1.0.0+build", "build metadata"),
    ("sub/v1.2", "not canonical"),
    ("1.0.0", "not a semantic version"),
    ("release-1", "not a semantic version"),
    ("v01.0.0", "not a semantic version"),
    ("v1.0.0-01", "not a semantic version"),
    ("v0.0.0-20240102030405-abcdefabcdef", "pseudo-version"),
])
def test_non_canonical_and_non_semver_tags(tmp_path, env, tag, rule):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n", "sub/go.mod": f"module {IMPORT}/sub\n"},
                tags=(tag,))
    refuse(repo.bare, tag, env, tmp_path, rules=[rule])


def test_missing_tag(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n"})
    refuse(repo.bare, "v9.9.9", env, tmp_path, rules=["does not exist"])


def test_gomod_declaring_another_path(tmp_path, env):
    repo = make(tmp_path, {"go.mod": "module other.example/lib\n",
                           "sub/go.mod": f"module {IMPORT}/elsewhere\n"},
                tags=("v1.0.0", "sub/v1.0.0"))
    refuse(repo.bare, "v1.0.0", env, tmp_path, files=["go.mod"],
           rules=['declares module path "other.example/lib"', f'publishes "{IMPORT}"'])
    refuse(repo.bare, "sub/v1.0.0", env, tmp_path, files=["sub/go.mod"],
           rules=[f'declares module path "{IMPORT}/elsewhere"', f'publishes "{IMPORT}/sub"'])


def test_major_version_without_suffix(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n", "lib.go": "package lib\n"},
                tags=("v2.0.0",))
    refuse(repo.bare, "v2.0.0", env, tmp_path, files=["go.mod"], rules=["non-.../v2 module path"])


def test_major_subdirectory_and_root_both_claiming_it(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}/v2\n", "v2/go.mod": f"module {IMPORT}/v2\n"},
                tags=("v2.0.0",))
    refuse(repo.bare, "v2.0.0", env, tmp_path, files=["go.mod", "v2/go.mod"],
           rules=["both declare"])


def test_subdirectory_without_gomod(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n", "sub/x.go": "package sub\n"},
                tags=("sub/v1.0.0",))
    refuse(repo.bare, "sub/v1.0.0", env, tmp_path, files=["sub/go.mod"], rules=["missing"])


@pytest.mark.parametrize("content,rule", [
    ("go 1.19\n", "missing module path"),
    ("// module corp.example/lib\n", "missing module path"),
    ('module "corp.example/lib\n', "missing module path"),
    (f"module {IMPORT}\n\nrequire (\n\texample.com/x\n)\n", "go.mod:4"),
    (f"module {IMPORT}\nmodule {IMPORT}\n", "go.mod:2"),
])
def test_missing_or_malformed_module_line(tmp_path, env, content, rule):
    repo = make(tmp_path, {"go.mod": content})
    refuse(repo.bare, "v1.0.0", env, tmp_path, files=["go.mod"], rules=[rule])


def test_invalid_file_names_are_all_reported(tmp_path, env):
    bad = {"a:b.txt": "invalid char ':'",
           "com1.txt": '"com1" disallowed as path element component on Windows',
           "x/NUL": '"NUL" disallowed',
           "trail.": "trailing dot in path element",
           "dir./f": "trailing dot in path element",
           "quote'.txt": "invalid char",
           "emoji\U0001F600.txt": "invalid char"}
    files = {"go.mod": f"module {IMPORT}\n", "ok.go": "package lib\n"}
    files.update({name: "x\n" for name in bad})
    repo = make(tmp_path, files)
    got = refuse(repo.bare, "v1.0.0", env, tmp_path, lines=len(bad))
    for name, rule in bad.items():
        assert any(name in ln and rule in ln for ln in got), (name, rule, got)


def test_upper_case_gomod_at_root(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n", "GO.MOD": "x\n"})
    refuse(repo.bare, "v1.0.0", env, tmp_path, files=["GO.MOD"],
           rules=["go.mod files must have lowercase names"])


def test_case_fold_collisions(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n", "README": "a\n", "readme": "b\n",
                           "Dir/x.go": "package x\n", "dir/y.go": "package y\n",
                           "K.txt": "kelvin\n", "\u212a.txt": "kelvin sign\n"})
    got = refuse(repo.bare, "v1.0.0", env, tmp_path,
                 rules=["case-insensitive file name collision"], lines=3)
    for pair in (("README", "readme"), ("Dir", "dir"), ("K.txt", "\u212a.txt")):
        assert any(all(p in ln for p in pair) for ln in got), (pair, got)


def test_subdirectory_module_problems_name_full_paths(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n", "sub/go.mod": f"module {IMPORT}/sub\n",
                           "sub/a:b": "x\n"}, tags=("sub/v1.0.0",))
    refuse(repo.bare, "sub/v1.0.0", env, tmp_path, files=["sub/a:b"], rules=["invalid char"])


def test_gomod_over_16_mib(tmp_path, env):
    bare = tmp_path / "big.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    head = f"module {IMPORT}\n// ".encode()
    gomod = blob(bare, head + b"x" * (16 * MiB + 1 - len(head) - 1) + b"\n")
    commit_and_tag(bare, tree_of(bare, {"go.mod": gomod}), "v1.0.0")
    refuse(bare, "v1.0.0", env, tmp_path, files=["go.mod"], rules=["go.mod file too large"])


def test_license_over_16_mib(tmp_path, env):
    bare = tmp_path / "big.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    gomod = blob(bare, f"module {IMPORT}\n".encode())
    lic = zero_blob(bare, 16 * MiB + 1)
    commit_and_tag(bare, tree_of(bare, {"go.mod": gomod, "LICENSE": lic}), "v1.0.0")
    refuse(bare, "v1.0.0", env, tmp_path, files=["LICENSE"], rules=["LICENSE file too large"])
    # A LICENSE of exactly 16 MiB is fine (not refused for its size).
    ok = zero_blob(bare, 16 * MiB)
    commit_and_tag(bare, tree_of(bare, {"go.mod": gomod, "LICENSE": ok}), "v1.0.1")
    r = run_modpub("zip", "--repo", bare, "--import-path", IMPORT, "--tag", "v1.0.1",
                   "--out", tmp_path / "ok", env=env)
    assert r.returncode == 0, r.stderr


def test_module_over_500_mib(tmp_path, env):
    bare = tmp_path / "huge.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    gomod = blob(bare, f"module {IMPORT}\n".encode())
    eight = zero_blob(bare, 8 * MiB)  # one blob, 63 names: 504 MiB unpacked
    entries = {f"data/part{i:02d}.bin": eight for i in range(63)}
    data_tree = tree_of(bare, {k.split("/")[1]: v for k, v in entries.items()})
    listing = f"100644 blob {gomod}\tgo.mod\n040000 tree {data_tree}\tdata\n"
    commit_and_tag(bare, git(bare, "mktree", input=listing.encode()), "v1.0.0")
    refuse(bare, "v1.0.0", env, tmp_path, rules=["module source tree too large"])


def test_tag_pointing_at_a_tree_or_a_blob(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n"})
    git(repo.bare, "tag", "v1.1.0", "v1.0.0^{tree}")
    git(repo.bare, "tag", "v1.2.0", "v1.0.0:go.mod")
    git(repo.bare, "tag", "-a", "-m", "annotated", "v1.3.0", "v1.0.0:go.mod")
    refuse(repo.bare, "v1.1.0", env, tmp_path, rules=["points at a tree, not a commit"])
    refuse(repo.bare, "v1.2.0", env, tmp_path, rules=["points at a blob, not a commit"])
    refuse(repo.bare, "v1.3.0", env, tmp_path, rules=["points at a blob, not a commit"])


@pytest.mark.parametrize("what", ["missing", "empty-dir", "file", "work-tree-subdir"])
def test_repo_path_that_is_not_a_repository(tmp_path, env, what):
    target = tmp_path / "target"
    if what == "empty-dir":
        target.mkdir()
    elif what == "file":
        target.write_text("not a repository\n")
    elif what == "work-tree-subdir":
        repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n", "sub/x.go": "package sub\n"})
        target = repo.work / "sub"  # inside a repository, but no discovery upwards
    out = tmp_path / "out"
    r = run_modpub("zip", "--repo", target, "--import-path", IMPORT, "--tag", "v1.0.0",
                   "--out", out, env=env)
    assert r.returncode != 0
    assert str(target) in r.stderr and "not a git repository" in r.stderr, r.stderr
    assert not out.exists()
    assert not any(Path(env["TMPDIR"]).iterdir())


def test_bad_import_path(tmp_path, env):
    repo = make(tmp_path, {"go.mod": "module corp.example/lib\n"})
    r = run_modpub("zip", "--repo", repo.bare, "--import-path", "Corp Example/lib", "--tag",
                   "v1.0.0", "--out", tmp_path / "out", env=env)
    assert r.returncode != 0
    assert "import path" in r.stderr and "v1.0.0" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_refusal_keeps_existing_out_untouched(tmp_path, env):
    repo = make(tmp_path, {"go.mod": f"module {IMPORT}\n", "a:b": "x\n"})
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "file").write_text("mine\n")
    r = run_modpub("zip", "--repo", repo.bare, "--import-path", IMPORT, "--tag", "v1.0.0",
                   "--out", out, env=env)
    assert r.returncode != 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["keep", "keep/file"]
    assert (out / "keep" / "file").read_text() == "mine\n"
