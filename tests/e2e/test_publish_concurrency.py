"""Concurrency: 50 `modpub publish` processes started at once, each a different version of
one module, plus 5 more publishing one of those versions again, all into the same GOPROXY
tree and Athens root. The list must end up with exactly the 50 versions, semver-sorted,
every version complete and consistent, each published exactly once per storage."""

import collections
import json
import subprocess
import time
import zipfile

from support import (GitRepo, athens_files, h1_of_zip, json_lines, modpub_bin, read_list,
                     tree_files)

MODULE = "corp.example/Busy"
VERSIONS = [f"v1.{minor}.{patch}" for minor in range(2) for patch in range(25)]  # 50
DUPLICATED = "v1.0.7"
DUPLICATES = 5




def test_fifty_concurrent_publishers(tmp_path):
    repo = GitRepo(tmp_path, "busy")
    repo.write("go.mod", f"module {MODULE}\n\ngo 1.19\n")
    for i in range(20):
        repo.write(f"pkg{i}/f.go", f"package pkg{i}\n\nconst N = {i}\n")
    repo.commit()
    repo.tag(*VERSIONS)  # one commit, 50 versions: each zip differs by its version prefix

    tree, athens = tmp_path / "tree", tmp_path / "athens"
    targets = [f"file://{tree}", f"athens-disk://{athens}"]
    jobs = VERSIONS + [DUPLICATED] * DUPLICATES
    procs = []
    for v in jobs:
        args = [str(modpub_bin()), "publish", "--repo", str(repo.bare), "--import-path", MODULE,
                "--tag", v]
        for t in targets:
            args += ["--to", t]
        procs.append((v, subprocess.Popen(args, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)))
    deadline = time.monotonic() + 120
    outcomes = collections.defaultdict(list)  # (version, backend) -> results
    sums = {}
    for v, p in procs:
        out, err = p.communicate(timeout=max(1, deadline - time.monotonic()))
        assert p.returncode == 0, f"{v}: {err}"
        lines = json_lines(out)
        assert len(lines) == 2, out
        for j in lines:
            assert (j["Path"], j["Version"]) == (MODULE, v)
            outcomes[(v, j["Backend"])].append(j["Result"])
            sums.setdefault(v, j["Sum"])
            assert sums[v] == j["Sum"]

    # Each version published exactly once per storage; the duplicates found it there.
    for v in VERSIONS:
        for t in targets:
            got = sorted(outcomes[(v, t)])
            n = 1 + (DUPLICATES if v == DUPLICATED else 0)
            assert got == ["published"] + ["unchanged"] * (n - 1), (v, t, got)

    # The list: exactly the 50 versions, in semver order (v1.0.9 before v1.0.10, which
    # string order would not give), without duplicates.
    listed = read_list(tree, MODULE)
    assert listed == sorted(VERSIONS, key=lambda s: tuple(int(x) for x in s[1:].split(".")))
    assert len(listed) == len(set(listed)) == 50

    # Every version complete and consistent in both layouts.
    for v in VERSIONS:
        t, a = tree_files(tree, MODULE, v), athens_files(athens, MODULE, v)
        assert h1_of_zip(t["zip"]) == sums[v]
        with zipfile.ZipFile(t["zip"]) as z:
            assert all(n.startswith(f"{MODULE}@{v}/") for n in z.namelist())
        assert t["mod"].read_text() == f"module {MODULE}\n\ngo 1.19\n"
        assert json.loads(t["info"].read_text())["Version"] == v
        assert sorted(p.name for p in (athens / MODULE / v).iterdir()) == sorted(
            p.name for p in a.values())
        for part in ("zip", "mod", "info"):
            assert a[part].read_bytes() == t[part].read_bytes()
    assert sorted(p.name for p in (athens / MODULE).iterdir()) == sorted(
        VERSIONS + [".modpub.lock"])
    assert not list(tmp_path.rglob(".modpub-tmp-*"))
