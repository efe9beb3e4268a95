"""`modpub publish`, `backfill` and `ls` against real consumers: the go command fetching
through GOPROXY=file:// and through Debian's nginx (examples/nginx/), the Athens disk
layout, and bad inputs (unwritable or full target, bad URLs, a different
zip already stored, module paths that would leave the root)."""

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from support import (GitRepo, athens_files, each_go, go, go_env, h1_of_zip, json_lines,
                     needs_go, nginx_serving, publish, read_list, run_modpub, semver_key,
                     snapshot, tmpfs, tree_files)

pytestmark = needs_go

WIDGETS = "corp.example/Widgets"  # upper case: "!"-escaped in the tree, %21 over HTTP
LEGACY = "corp.example/legacy"




def url(scheme, path):
    return f"{scheme}://{path}"


def results(proc):
    return [(j["Path"], j["Version"], j["Backend"], j["Result"]) for j in json_lines(proc.stdout)]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("publish")


@pytest.fixture(scope="module")
def repos(work):
    """Two repositories covering the module kinds: a root module with two versions, a
    subdirectory module, a v2 major subdirectory; and a repository without go.mod whose
    v2+ tags are +incompatible versions."""
    w = GitRepo(work, "widgets")
    w.write("go.mod", f"module {WIDGETS}\n\ngo 1.19\n")
    w.write("widgets.go", 'package widgets\n\nfunc Name() string { return "widgets v1.0" }\n')
    w.write("LICENSE", "Corp license\n")
    w.commit("v1.0.0")
    w.tag("v1.0.0")
    w.write("widgets.go", 'package widgets\n\nfunc Name() string { return "widgets v1.1" }\n')
    w.write("sub/go.mod", f"module {WIDGETS}/sub\n\ngo 1.19\n")
    w.write("sub/sub.go", 'package sub\n\nfunc Name() string { return "sub v0.1" }\n')
    w.write("v2/go.mod", f"module {WIDGETS}/v2\n\ngo 1.19\n")
    w.write("v2/widgets.go", 'package widgets\n\nfunc Name() string { return "widgets v2.0" }\n')
    w.commit("v1.1.0")
    w.tag("v1.1.0", "sub/v0.1.0", "v2.0.0")

    legacy = GitRepo(work, "legacy")
    legacy.write("legacy.go", 'package legacy\n\nfunc Name() string { return "legacy v2" }\n')
    legacy.commit("v2")
    legacy.tag("v2.0.0")
    legacy.write("legacy.go", 'package legacy\n\nfunc Name() string { return "legacy v3" }\n')
    legacy.commit("v3")
    legacy.tag("v3.1.0")
    return {"widgets": w, "legacy": legacy}


# What each tag publishes (module, version), and the versions `go list -m -versions` shows.
TAGS = [
    ("widgets", WIDGETS, "v1.0.0", [(WIDGETS, "v1.0.0")]),
    ("widgets", WIDGETS, "v1.1.0", [(WIDGETS, "v1.1.0")]),
    ("widgets", WIDGETS, "sub/v0.1.0", [(f"{WIDGETS}/sub", "v0.1.0")]),
    ("widgets", WIDGETS, "v2.0.0", [(f"{WIDGETS}/v2", "v2.0.0")]),
    ("legacy", LEGACY, "v2.0.0", [(LEGACY, "v2.0.0+incompatible")]),
    ("legacy", LEGACY, "v3.1.0", [(LEGACY, "v3.1.0+incompatible")]),
]


@pytest.fixture(scope="module")
def published(work, repos):
    """Every tag published once into a GOPROXY tree and an Athens root at the same time."""
    tree, athens = work / "tree", work / "athens"
    sums = {}
    for repo, import_path, tag, expected in TAGS:
        r = publish(repos[repo], import_path, tag, url("file", tree), url("athens-disk", athens))
        assert r.returncode == 0, r.stderr
        got = results(r)
        assert got == [(m, v, b, "published") for m, v in expected
                       for b in (url("file", tree), url("athens-disk", athens))], r.stdout
        for j in json_lines(r.stdout):
            sums[(j["Path"], j["Version"])] = j["Sum"]
    return {"tree": tree, "athens": athens, "sums": sums}


CONSUMER = f"""package main

import (
\t"fmt"

\tlegacy "{LEGACY}"
\twidgets "{WIDGETS}"
\t"{WIDGETS}/sub"
\twidgets2 "{WIDGETS}/v2"
)

func main() {{
\tfmt.Println(widgets.Name(), sub.Name(), widgets2.Name(), legacy.Name())
}}
"""


def consume(work: Path, goproxy, name, gotool):
    """A consumer module that `go get`s the published modules through `goproxy`, builds
    and runs; returns its output and `go list -m -versions` of each module."""
    app = work / f"app-{name}-{gotool.label}"
    app.mkdir()
    (app / "go.mod").write_text("module corp.example/app\n\ngo 1.19\n")
    (app / "main.go").write_text(CONSUMER)
    env = go_env(app, goproxy, work / "gocache", gotool)
    try:
        go("get", f"{WIDGETS}@v1.1.0", f"{WIDGETS}/sub@v0.1.0", f"{WIDGETS}/v2@v2.0.0",
           f"{LEGACY}@v2.0.0+incompatible", env=env, cwd=app)
        go("build", "-o", "app", ".", env=env, cwd=app)
        out = subprocess.run([str(app / "app")], capture_output=True, text=True, check=True).stdout
        versions = {}
        for m in (WIDGETS, f"{WIDGETS}/sub", f"{WIDGETS}/v2", LEGACY):
            fields = go("list", "-m", "-versions", m, env=env, cwd=app).stdout.split()
            assert fields[0] == m
            versions[m] = fields[1:]
        sums = (app / "go.sum").read_text()
        return out.strip(), versions, sums
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(app)], check=False)


def expected_versions():
    out = {}
    for _, _, _, mvs in TAGS:
        for m, v in mvs:
            out.setdefault(m, []).append(v)
    return out


@each_go
@pytest.mark.parametrize("via", ["file", "nginx"])
def test_go_fetches_and_builds_published_modules(work, published, via, gotool):
    tree = published["tree"]
    if via == "file":
        out, versions, sums = consume(work, f"file://{tree}", via, gotool)
    else:
        if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
            pytest.skip("nginx is not installed")
        run = work / f"nginx-run-{gotool.label}"
        with nginx_serving(tree, run) as proxy:
            out, versions, sums = consume(work, proxy, via, gotool)
            log = (run / "nginx" / "access.log").read_text()
            # go asked for the escaped path, percent-encoded, and nginx found it.
            assert "/corp.example/%21widgets/@v/v1.1.0.zip" in log
    assert out == "widgets v1.1 sub v0.1 widgets v2.0 legacy v2"
    # go.sum records what we published (go verified the zips against it).
    for (m, v), s in published["sums"].items():
        if v in ("v1.0.0", "v3.1.0+incompatible"):
            continue  # not required by the consumer
        assert f"{m} {v} {s}" in sums
    # `go list -m -versions` shows every published version.
    for m, vs in expected_versions().items():
        assert versions[m] == vs, m


def test_tree_layout_and_list(published):
    tree = published["tree"]
    for m, vs in expected_versions().items():
        assert read_list(tree, m) == sorted(vs, key=semver_key)
        for v in vs:
            files = tree_files(tree, m, v)
            assert h1_of_zip(files["zip"]) == published["sums"][(m, v)]
            assert files["info"].read_text().startswith(f'{{"Version":"{v}","Time":"')
    # Nothing but the proxy files, and modpub's hidden lock files.
    names = {p.name for p in tree.rglob("*") if p.is_file()}
    assert all(n == "list" or n == ".modpub.lock" or n.endswith((".zip", ".mod", ".info"))
               for n in names), names
    assert not [p for p in tree.rglob(".modpub-tmp-*")]


def test_athens_layout_exact_files_and_contents(published):
    tree, athens = published["tree"], published["athens"]
    expected = set()
    for m, vs in expected_versions().items():
        for v in vs:
            a, t = athens_files(athens, m, v), tree_files(tree, m, v)
            expected |= {str(p.relative_to(athens)) for p in a.values()}
            # Exactly these three entries in the version directory.
            assert sorted(p.name for p in (athens / m / v).iterdir()) == sorted(
                p.name for p in a.values())
            for part in ("zip", "mod", "info"):
                assert a[part].read_bytes() == t[part].read_bytes(), (m, v, part)
    stored = {k for k in snapshot(athens)}
    assert stored == expected
    r = run_modpub("ls", "--from", url("athens-disk", athens), "--json")
    assert r.returncode == 0, r.stderr
    listed = {j["Path"]: j["Versions"] for j in json_lines(r.stdout)}
    assert listed == {
        m: sorted(vs, key=semver_key) for m, vs in expected_versions().items()}


def test_republish_is_unchanged_and_touches_nothing(published, repos):
    tree, athens = published["tree"], published["athens"]
    before = snapshot(tree), snapshot(athens)
    mtimes = {p: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()}
    r = publish(repos["widgets"], WIDGETS, "v1.1.0", url("file", tree), url("athens-disk", athens))
    assert r.returncode == 0, r.stderr
    assert [x[3] for x in results(r)] == ["unchanged", "unchanged"]
    assert all(j["Message"] == "already published" for j in json_lines(r.stdout))
    assert (snapshot(tree), snapshot(athens)) == before
    assert {p: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()} == mtimes


@pytest.mark.parametrize("scheme", ["file", "athens-disk"])
def test_ls_does_not_report_a_version_with_a_missing_file(work, repos, scheme):
    root = work / f"missing-{scheme}"
    r = publish(repos["widgets"], WIDGETS, "v1.0.0", url(scheme, root))
    assert r.returncode == 0, r.stderr
    r = publish(repos["widgets"], WIDGETS, "v1.1.0", url(scheme, root))
    assert r.returncode == 0, r.stderr
    files = (tree_files if scheme == "file" else athens_files)(root, WIDGETS, "v1.1.0")
    files["mod"].unlink()
    r = run_modpub("ls", "--from", url(scheme, root), WIDGETS)
    assert r.stdout.split() == ["MODULE", "VERSIONS", WIDGETS, "v1.0.0"]
    assert r.returncode != 0
    assert f"{WIDGETS}@v1.1.0 is damaged" in r.stderr
    # Publishing it again reports the damage instead of repairing it.
    before = snapshot(root)
    r = publish(repos["widgets"], WIDGETS, "v1.1.0", url(scheme, root))
    assert r.returncode != 0
    assert results(r) == [(WIDGETS, "v1.1.0", url(scheme, root), "refused")]
    assert "damaged" in json_lines(r.stdout)[0]["Message"]
    assert snapshot(root) == before


def test_backfill_oldest_first_reports_invalid_and_reruns_clean(work):
    repo = GitRepo(work, "backfill")
    repo.write("go.mod", "module corp.example/bf\n\ngo 1.19\n")
    repo.write("bf.go", "package bf\n")
    repo.commit()
    repo.tag("v1.10.0", "v1.2.0", "v1.2", "v0.9.0-rc.1", "release", "v2.0.0")  # v2 needs /v2
    tree, athens = work / "bf-tree", work / "bf-athens"
    args = ["backfill", "--repo", repo.bare, "--import-path", "corp.example/bf",
            "--to", url("file", tree), "--to", url("athens-disk", athens)]
    r = run_modpub(*args)
    assert r.returncode == 0, r.stderr  # historical invalid tags are listed, not fatal
    assert "\r" not in r.stdout + r.stderr and "\033" not in r.stdout + r.stderr
    # One line per tag (stdout is no terminal), oldest first, then the table.
    tags = [line.split()[:2] for line in r.stdout.splitlines()
            if line.startswith(("v1.", "v2.", "v0."))]
    assert tags == [["v0.9.0-rc.1", "published"], ["v1.2", "invalid"], ["v1.2.0", "published"],
                    ["v1.10.0", "published"], ["v2.0.0", "invalid"]]
    table = r.stdout.splitlines()[r.stdout.splitlines().index("") + 1:]
    rows = {line.split()[0]: line.split()[1:] for line in table[1:]
            if line.startswith(("file:", "athens-disk:"))}
    header = table[0].split()
    assert header[:1] == ["STORAGE"] and {"PUBLISHED", "UNCHANGED", "INVALID", "FAILED"} <= set(header)
    col = {name: i - 1 for i, name in enumerate(header)}
    for u in (url("file", tree), url("athens-disk", athens)):
        assert rows[u][col["PUBLISHED"]] == "3" and rows[u][col["INVALID"]] == "2"
        assert rows[u][col["FAILED"]] == "0"
    assert run_modpub(*args, "--strict").returncode == 1  # unless told otherwise
    assert read_list(tree, "corp.example/bf") == ["v0.9.0-rc.1", "v1.2.0", "v1.10.0"]
    # Oldest first: the order of the JSON lines with --json on a re-run.
    r = run_modpub(*args, "--json")
    got = [(j.get("Version", j["Tag"]), j["Result"]) for j in json_lines(r.stdout)]
    assert got == [("v0.9.0-rc.1", "unchanged")] * 2 + [("v1.2", "invalid")] + [
        (v, "unchanged") for v in ("v1.2.0", "v1.10.0") for _ in (0, 1)] + [("v2.0.0", "invalid")]
    assert read_list(tree, "corp.example/bf") == ["v0.9.0-rc.1", "v1.2.0", "v1.10.0"]


# --- bad inputs -----------------------------------------------------------------------------



def small_repo(work, name, module):
    repo = GitRepo(work, name)
    repo.write("go.mod", f"module {module}\n\ngo 1.19\n")
    repo.write("x.go", "package x\n")
    repo.commit()
    repo.tag("v1.0.0")
    return repo


def test_unwritable_target_fails_clearly_and_others_still_get_the_module(work):
    repo = small_repo(work, "unwritable", "corp.example/unw")
    blocker = work / "unw-blocker"
    blocker.write_text("a regular file where a directory should be\n")
    bad = [url("file", blocker / "tree"), url("athens-disk", blocker / "athens")]
    good = url("file", work / "unw-good")
    r = publish(repo, "corp.example/unw", "v1.0.0", bad[0], good, bad[1])
    assert r.returncode == 2, r.stderr
    assert results(r) == [("corp.example/unw", "v1.0.0", bad[0], "failed"),
                          ("corp.example/unw", "v1.0.0", good, "published"),
                          ("corp.example/unw", "v1.0.0", bad[1], "failed")]
    for j in json_lines(r.stdout):
        if j["Result"] == "failed":
            assert str(blocker) in j["Message"], j
            assert "not a directory" in j["Message"].lower(), j
    assert blocker.read_text().startswith("a regular file")
    # Fixed and re-run: the rest is completed, nothing published twice.
    blocker.unlink()
    r = publish(repo, "corp.example/unw", "v1.0.0", bad[0], good, bad[1])
    assert r.returncode == 0, r.stderr
    assert [x[3] for x in results(r)] == ["published", "unchanged", "published"]


def test_read_only_target_fails_clearly(work):
    repo = small_repo(work, "readonly", "corp.example/ro")
    with tmpfs(work / "ro-mount", "1m", read_only=True) as mnt:
        r = publish(repo, "corp.example/ro", "v1.0.0", url("file", mnt / "t"),
                    url("athens-disk", mnt / "a"))
        assert r.returncode == 2
        assert [x[3] for x in results(r)] == ["failed", "failed"]
        for j in json_lines(r.stdout):
            assert "Read-only file system" in j["Message"], j
        assert list(mnt.iterdir()) == []


def test_full_filesystem_fails_without_losing_anything(work):
    module = "corp.example/big"
    repo = small_repo(work, "full", module)
    with tmpfs(work / "full-mount", "256k") as mnt:
        targets = [url("file", mnt / "t"), url("athens-disk", mnt / "a")]
        r = publish(repo, module, "v1.0.0", *targets)
        assert r.returncode == 0, r.stderr
        before = snapshot(mnt)
        # 400 KiB that deflate cannot shrink: the zip cannot fit.
        repo.write("blob.bin", random.Random(4).randbytes(400 << 10))
        repo.commit()
        repo.tag("v1.1.0")
        r = publish(repo, module, "v1.1.0", *targets)
        assert r.returncode == 2
        assert [x[3] for x in results(r)] == ["failed", "failed"]
        for j in json_lines(r.stdout):
            assert "No space left on device" in j["Message"], j
        # Nothing lost, nothing half-written, no temporary left behind.
        assert snapshot(mnt) == before
        assert not list(mnt.rglob(".modpub-tmp-*"))
        for t in targets:
            r = run_modpub("ls", "--from", t, "--json")
            assert (r.returncode, r.stdout) == (
                0, f'{{"Path":"{module}","Versions":["v1.0.0"]}}\n'), r.stderr


@pytest.mark.parametrize("bad", [
    "s3x://bucket/prefix",       # unknown scheme
    "http://127.0.0.1/goproxy",  # not a storage
    "file://relative/dir",       # a host part, not an absolute path
    "file:relative/dir",
    "relative/dir",
    "/abs/without/scheme",
    "athens-disk://rel",
    "file:///abs/../etc",
])
def test_bad_storage_urls_are_refused_before_anything_is_written(work, bad):
    repo = small_repo(work, f"url{abs(hash(bad))}", "corp.example/u")
    cwd = work / f"cwd{abs(hash(bad))}"
    cwd.mkdir()
    good = work / f"url-good{abs(hash(bad))}"
    r = run_modpub("publish", "--repo", repo.bare, "--import-path", "corp.example/u", "--tag",
                   "v1.0.0", "--to", url("file", good), "--to", bad, cwd=cwd)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith(f'modpub: storage URL "{bad}"'), r.stderr
    assert not good.exists() and list(cwd.iterdir()) == []
    r = run_modpub("ls", "--from", bad, cwd=cwd)
    assert r.returncode == 2 and f'"{bad}"' in r.stderr


@pytest.mark.parametrize("scheme", ["file", "athens-disk"])
def test_different_zip_under_the_same_version_is_refused(work, scheme):
    module = "corp.example/moved"
    repo = small_repo(work, f"moved-{scheme}", module)
    root = work / f"moved-{scheme}-store"
    r = publish(repo, module, "v1.0.0", url(scheme, root))
    assert r.returncode == 0, r.stderr
    old_sum = json_lines(r.stdout)[0]["Sum"]
    before = snapshot(root)
    # The tag is moved to other content: the same version, a different zip.
    repo.write("x.go", "package x\n\n// changed\n")
    repo.commit()
    repo.tag("v1.0.0", force=True)
    r = publish(repo, module, "v1.0.0", url(scheme, root))
    assert r.returncode == 1
    [j] = json_lines(r.stdout)
    assert j["Result"] == "refused" and j["Sum"] != old_sum
    assert f"stored {old_sum}" in j["Message"] and f"new {j['Sum']}" in j["Message"], j
    assert old_sum in r.stderr and j["Sum"] in r.stderr  # also told on stderr
    assert snapshot(root) == before


@pytest.mark.parametrize("import_path", [
    "corp.example/../../escaped",
    "../escaped",
    "/tmp/escaped",
    "corp.example/./escaped",
    "corp.example//escaped",
    "corp.example/!..",
    "corp.example/..%2fescaped",
])
def test_module_paths_that_would_leave_the_root_are_refused(work, import_path):
    base = work / f"escape{abs(hash(import_path))}"
    base.mkdir()
    repo = GitRepo(base, "repo")
    repo.write("x.go", "package x\n")  # no go.mod: only the import path decides
    repo.commit()
    repo.tag("v1.0.0")
    store = base / "store" / "deep"
    before = sorted(p.name for p in base.iterdir())
    r = publish(repo, import_path, "v1.0.0", url("file", store), url("athens-disk", store / "a"))
    assert r.returncode != 0
    assert r.stdout == ""
    assert import_path in r.stderr, r.stderr
    assert sorted(p.name for p in base.iterdir()) == before
    assert not Path("/tmp/escaped").exists()
    r = run_modpub("ls", "--from", url("file", store), import_path)
    assert r.returncode != 0 and r.stdout == ""
