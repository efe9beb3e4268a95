"""x/mod's own module-zip test vectors, replayed through git and `modpub zip`: those of
x/mod 0.7.0 (go 1.19), read in place from the Debian package (golang-golang-x-mod-dev), and
those of the current x/mod pinned in tests/oracle/go.mod (from the module cache, fetched
through the Go module proxy), each checked by an oracle built with its own x/mod.

Each vector (a txtar file) becomes a bare repository: its files are committed as one tree
(plumbing: hash-object, update-index, write-tree, commit-tree) and the tree is tagged with
the vector's version. `modpub zip --import-path <vector path> --tag <version>` must then
agree with what x/mod's zip_test.go expects of the vector:

  create/, create_from_dir/ (zip.Create, zip.CreateFromDir over the files)
      hash=...     modpub publishes <path>@<version> with exactly that Sum; the zip it
                   wrote hashes to it (dirhash.HashZip) and x/mod's zip.CheckZip accepts it.
      wantErr=...  modpub does not publish <path>@<version>: it refuses the tag, naming
                   the files the error names. (A tag can still publish another module
                   version: with no go.mod, example.com/m at tag v2.0.0 is served as
                   v2.0.0+incompatible, as the go command does; that is not the version
                   the vector forbids.)
  unzip/ (zip.Unzip of a zip holding the files under "<path>@<version>/")
      the same, with the prefix removed from the names. Two vectors refuse a zip that holds
      a go.mod below the root ("go.mod file not in module root directory"); from a tree,
      such a directory is another module that zip.Create leaves out (create/
      exclude_submodule). For them modpub must publish a zip WITHOUT that directory, which
      x/mod's CheckZip accepts: the vector's rule is checked on modpub's output.
  check_files/, check_dir/ (zip.CheckFiles, zip.CheckDir; a "want" file lists the
      valid, omitted and invalid files)
      with invalid files: modpub refuses the tag with one line "<file>: <x/mod reason>"
      per invalid file, and names no other file; then, the invalid files taken out of the
      tree, modpub publishes a zip holding exactly the valid files.

What git cannot hold is never faked. A tree holds one entry per name, never a file and a
directory of the same name, and git refuses some names itself ("..", ".git"; the
vector's entry is offered to `git update-index`, whose refusal is the reason). A vector
whose expected outcome depends on such an entry is skipped with that reason. A check_*
vector lists an outcome per file, so there only the entries git cannot hold are left
out, with their own lines of "want" (named in the test output). create_from_dir/
exclude_vcs is skipped: dropping .bzr/.hg/.svn directories is CreateFromDir's directory
walk, which the go command does not apply to a VCS download (zip.Create keeps them), and
its .git entry cannot be committed.

Current x/mod has vectors for modules whose go line says 1.24 or later, which go 1.24 and
later zip by another vendor rule than go 1.19-1.23 (docs/go-versions.md). Where the two
rules keep different files (RULES_DIFFER), modpub refuses the tag naming exactly those
files, and publishes the tree once they are taken out.

The summary test at the end prints how many vectors of each x/mod ran, passed and were
skipped, and why. A flavour whose vectors or oracle cannot be had here is left out, and
the summary says why.
"""

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import support

from support import GIT_ENV, NEWEST_GO, h1_of_zip, json_lines, modpub_bin

DEBIAN_XMOD = Path("/usr/share/gocode/src/golang.org/x/mod")
KINDS = ("check_dir", "check_files", "create", "create_from_dir", "unzip")
CHECK_PATH, CHECK_VERSION = b"example.com/check", b"v1.0.0"  # check_* vectors name none
NESTED_GOMOD_ERR = "go.mod file not in module root directory"
ORACLE_DIR = Path(__file__).resolve().parents[1] / "oracle"
# Vectors of current x/mod that go 1.24+ and go 1.19-1.23 zip differently, and the files
# they disagree on: modpub refuses them naming these files.
# (In create*/exclude_vendor_go124, sub/vendor/sub.txt says "excluded", but the vector's
# hash counts it: go 1.24+ keeps it.)
RULES_DIFFER = {
    "current:create/exclude_vendor_go124":
        ["pkg/vendor/vendor.go", "sub/vendor/sub.txt", "vendor/modules.txt"],
    "current:create_from_dir/exclude_vendor_go124":
        ["pkg/vendor/vendor.go", "sub/vendor/sub.txt", "vendor/modules.txt"],
    "current:check_files/various_go124": ["pkg/vendor/vendor.go", "vendor/modules.txt"],
    "current:check_dir/various_go124": ["pkg/vendor/vendor.go", "vendor/modules.txt"],
}
RULES_DIFFER_MSG = "the two would hash this version differently"

# --- reading the vectors ----------------------------------------------------------------------


def parse_txtar(data: bytes):
    """golang.org/x/tools/txtar.Parse: (comment, [(name, data)]). A marker line is
    "-- NAME --"; a file runs up to the next marker; the last one gets a final newline."""
    def is_marker(rest: bytes):
        if not rest.startswith(b"-- "):
            return None, None
        nl = rest.find(b"\n")
        line, after = (rest, b"") if nl < 0 else (rest[:nl], rest[nl + 1:])
        if not (line.endswith(b" --") and len(line) >= 6):
            return None, None
        return line[3:-3].strip().decode("utf-8", "surrogateescape"), after

    def find_marker(rest: bytes):
        i = 0
        while True:
            name, after = is_marker(rest[i:])
            if name:
                return rest[:i], name, after
            j = rest.find(b"\n-- ", i)
            if j < 0:
                return (rest if not rest or rest.endswith(b"\n") else rest + b"\n"), None, b""
            i = j + 1

    comment, name, rest = find_marker(data)
    files = []
    while name:
        body, next_name, rest = find_marker(rest)
        files.append((name, body))
        name = next_name
    return comment, files


@dataclass
class Vector:
    xmod: str  # "0.7.0" or "current"
    kind: str
    name: str
    path: bytes = b""
    version: bytes = b""
    want_err: str = ""
    hash: str = ""
    files: list = field(default_factory=list)  # [(module-relative name, bytes)]
    want: dict = None  # check_*: {"valid": [...], "omitted": [(p, why)], "invalid": [...]}
    unrepresentable: list = field(default_factory=list)  # [(name, reason)] (zip-level)

    @property
    def id(self):
        return f"{self.xmod}:{self.kind}/{self.name}"


def parse_want(text: str, kind: str):
    """The "want" file of check_files/check_dir: formatCheckedFiles' output."""
    want = {"valid": [], "omitted": [], "invalid": []}
    section = None
    for line in text.splitlines():
        if line in ("valid:", "omitted:", "invalid:"):
            section = line[:-1]
            continue
        if not line:
            continue
        if kind == "check_dir":
            assert line.startswith("$work/"), line
            line = line[len("$work/"):]
        if section == "valid":
            want["valid"].append(line)
        else:
            # "<path>: <reason>"; a path holds no ": " in these vectors, a reason may.
            p, _, why = line.partition(": ")
            want[section].append((p, why))
    return want


def read_vector(xmod: str, kind: str, path: Path) -> Vector:
    comment, files = parse_txtar(path.read_bytes())
    v = Vector(xmod, kind, path.stem)
    for line in comment.split(b"\n"):
        line = line.split(b"#", 1)[0].strip()  # readTest: '#' starts a comment
        if not line:
            continue
        key, _, value = line.partition(b"=")
        key, value = key.strip().decode(), value.strip()
        if key == "path":
            v.path = value
        elif key == "version":
            v.version = value
        elif key == "wantErr":
            v.want_err = value.decode("utf-8", "replace")
        elif key == "hash":
            v.hash = value.decode()
        else:
            raise AssertionError(f"{path}: unknown key {key!r}")
    if kind.startswith("check_"):
        v.path, v.version = CHECK_PATH, CHECK_VERSION
        for name, data in files:
            if name == "want":
                v.want = parse_want(data.decode(), kind)
            elif name == "go.mod" and not data.startswith(b"module"):
                # A check vector's root go.mod ("go 1.24") names no module; modpub refuses
                # such a go.mod, so the vector's own module path goes in front of its lines.
                v.files.append((name, b"module " + CHECK_PATH + b"\n" + data))
            else:
                v.files.append((name, data))
    elif kind == "unzip":
        prefix = v.path.decode("utf-8", "surrogateescape") + "@" + v.version.decode() + "/"
        for name, data in files:
            if name.startswith(prefix) and len(name) > len(prefix):
                v.files.append((name[len(prefix):], data))
            else:
                v.unrepresentable.append(
                    (name, f"zip entry {name!r} has no file name below the module prefix "
                           f"{prefix!r}: a git tree cannot hold a file without a name"))
    else:
        v.files = list(files)
    return v


# --- the two x/mods -------------------------------------------------------------------------

def current_go():
    """The newest installed go if it can build the current flavour (go.mod's go line)."""
    need = int(next(line for line in (ORACLE_DIR / "go.mod").read_text().splitlines()
                    if line.startswith("go 1.")).split(".")[1])
    return NEWEST_GO if NEWEST_GO and NEWEST_GO.minor >= need else None


def oracle_env(xmod):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    if xmod == "0.7.0":
        env.update(GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="", GOENV="off")
    else:
        env.update(GO111MODULE="on", GOFLAGS="-mod=readonly", GOENV="off", GOTOOLCHAIN="local")
        for k in ("GOPROXY", "GOMODCACHE", "GOPATH"):  # where the pinned x/mod comes from
            if k in os.environ:
                env[k] = os.environ[k]
    return env


def xmod_sources():
    """{flavour: x/mod source directory}, and {flavour: why it is absent}."""
    found, absent = {}, {}
    if (DEBIAN_XMOD / "zip" / "testdata").is_dir():
        found["0.7.0"] = DEBIAN_XMOD
    else:
        absent["0.7.0"] = f"Debian's x/mod 0.7.0 is not installed at {DEBIAN_XMOD}"
    go = current_go()
    if go is None:
        absent["current"] = "no go new enough for tests/oracle/go.mod is installed"
    else:
        r = subprocess.run([str(go.bin), "list", "-m", "-json", "golang.org/x/mod"],
                           cwd=ORACLE_DIR, env=oracle_env("current"), capture_output=True,
                           text=True, timeout=300)
        if r.returncode == 0:
            found["current"] = Path(json.loads(r.stdout)["Dir"])
        else:
            absent["current"] = f"cannot fetch the pinned x/mod: {r.stderr.strip()}"
    return found, absent


XMOD_DIRS, XMOD_ABSENT = xmod_sources()


def all_vectors():
    return [read_vector(xmod, kind, p) for xmod, d in sorted(XMOD_DIRS.items())
            for kind in KINDS for p in sorted((d / "zip" / "testdata" / kind).glob("*.txt"))]


VECTORS = all_vectors()
pytestmark = pytest.mark.skipif(not VECTORS, reason="no x/mod zip vectors here: " +
                                "; ".join(XMOD_ABSENT.values()))

# --- git ----------------------------------------------------------------------------------------


def git(bare: Path, *args, input=None, env=None, check=True):
    return support.git(*args, git_dir=bare, input=input, env=env, check=check)


class TreeBuilder:
    """One tree in a bare repository, built entry by entry through git's index, so that
    git itself decides which names it can hold."""

    def __init__(self, bare: Path):
        self.bare = bare
        if not bare.exists():
            subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True,
                           env=dict(os.environ, **GIT_ENV))
        self.index = bare / "vector-index"
        self.index.unlink(missing_ok=True)
        self.names = set()

    def add(self, name: str, data: bytes):
        """None if added, else why git cannot hold this entry in the tree."""
        if name in self.names:
            return f"a git tree holds one entry per name; the vector has {name!r} again"
        oid = git(self.bare, "hash-object", "-w", "--stdin", input=data).stdout.decode().strip()
        r = git(self.bare, "update-index", "--add", "--cacheinfo",
                f"100644,{oid},".encode() + name.encode("utf-8", "surrogateescape"),
                env={"GIT_INDEX_FILE": str(self.index)}, check=False)
        if r.returncode != 0:
            msg = r.stderr.decode("utf-8", "replace").strip().splitlines()
            return "git update-index refuses it: " + (msg[0] if msg else f"exit {r.returncode}")
        self.names.add(name)
        return None

    def tag(self, tag: bytes):
        env = {"GIT_INDEX_FILE": str(self.index)}
        if not self.index.exists():  # no entries: the empty tree
            git(self.bare, "read-tree", "--empty", env=env)
        tree = git(self.bare, "write-tree", env=env).stdout.decode().strip()
        commit = git(self.bare, "commit-tree", tree, "-m", "vector").stdout.decode().strip()
        git(self.bare, "tag", "-f", tag, commit)


# --- the x/mod oracle (zip.CheckZip + dirhash.HashZip over modpub's zips) ------------------


@pytest.fixture(scope="module")
def oracles(tmp_path_factory):
    """{flavour: function zip -> "ok:<h1>" / "err:<CheckZip error>"}, from each x/mod."""
    if NEWEST_GO is None:
        pytest.skip("go is not installed: cannot build the x/mod oracle")
    sources = sorted(str(p.name) for p in ORACLE_DIR.glob("*.go"))
    out = {}
    for xmod in XMOD_DIRS:
        binary = tmp_path_factory.mktemp("oracle") / f"xmod-oracle-{xmod}"
        go = current_go() if xmod == "current" else NEWEST_GO
        r = subprocess.run([str(go.bin), "build", "-o", str(binary), *sources], cwd=ORACLE_DIR,
                           env=oracle_env(xmod), capture_output=True, text=True)
        assert r.returncode == 0, f"building the {xmod} oracle: {r.stderr}"
        out[xmod] = oracle_function(binary)
    return out


def oracle_function(binary: Path):
    def check_zip(zip_path: Path, path: bytes, version: bytes):
        line = "\t".join(["zip.checkzip", bytes(zip_path).hex(), path.hex(), version.hex()])
        r = subprocess.run([str(binary)], input=(line + "\n").encode(), capture_output=True,
                           check=True)
        return bytes.fromhex(r.stdout.decode().strip()).decode("utf-8", "replace")

    return check_zip


# --- running one vector -----------------------------------------------------------------------

# Outcome of every vector, for the summary test: id -> "passed" | "skipped: <why>" | ...
OUTCOMES = {}
NOTES = {}


def run_zip(bare: Path, path: bytes, version: bytes, out: Path):
    args = [bytes(modpub_bin()), b"zip", b"--repo", bytes(bare), b"--import-path", path,
            b"--tag", version, b"--out", bytes(out)]
    r = subprocess.run(args, capture_output=True, timeout=120)
    stdout = r.stdout.decode("utf-8", "replace")
    stderr = r.stderr.decode("utf-8", "replace")
    return r.returncode, json_lines(stdout), stderr


def published(lines, path: bytes, version: bytes):
    want = (path.decode("utf-8", "replace"), version.decode())
    hits = [j for j in lines if (j["Path"], j["Version"]) == want]
    return hits[0] if hits else None


def zip_names(zip_path: Path, prefix: str):
    import zipfile
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
    assert all(n.startswith(prefix) for n in names), names
    return sorted(n[len(prefix):] for n in names)


def assert_published(tmp: Path, bare: Path, v: Vector, oracle, label=""):
    """modpub publishes <path>@<version>; returns its file names. The zip must hash to
    the reported Sum and pass x/mod's CheckZip with the same hash."""
    out = tmp / f"out{label}"
    code, lines, stderr = run_zip(bare, v.path, v.version, out)
    assert code == 0, f"{v.id}: modpub refused a tag x/mod accepts:\n{stderr}"
    mod = published(lines, v.path, v.version)
    assert mod, f"{v.id}: {v.path!r}@{v.version!r} not published: {lines}"
    zip_path = Path(mod["Zip"])
    assert h1_of_zip(zip_path) == mod["Sum"], f"{v.id}: zip does not hash to its Sum"
    assert oracle(zip_path, v.path, v.version) == "ok:" + mod["Sum"], \
        f"{v.id}: x/mod's CheckZip/HashZip disagree with modpub's zip"
    prefix = f"{mod['Path']}@{mod['Version']}/"
    return mod, zip_names(zip_path, prefix)


def assert_refused(tmp: Path, bare: Path, v: Vector, label=""):
    """modpub does not publish <path>@<version>; returns stderr. A non-zero exit leaves
    --out untouched, and every stderr line is a refusal naming the tag."""
    out = tmp / f"out{label}"
    code, lines, stderr = run_zip(bare, v.path, v.version, out)
    assert not published(lines, v.path, v.version), \
        f"{v.id}: modpub published what x/mod refuses ({v.want_err!r}): {lines}"
    if code != 0:
        assert not out.exists() or not any(out.iterdir()), f"{v.id}: refusal left files"
        tag = v.version.decode()
        problems = stderr.splitlines()
        assert problems, f"{v.id}: refused without a message"
        for line in problems:
            assert line.startswith(f"modpub: refused {tag}: "), f"{v.id}: {line!r}"
    return code, lines, stderr


def build(tmp: Path, v: Vector, files, label=""):
    """(bare repo tagged with the files, [(name, why git cannot hold it)], [(name, data)]
    of the entries it holds)."""
    bare = tmp / f"repo{label}.git"
    tb = TreeBuilder(bare)
    dropped, kept = [], []
    for name, data in files:
        why = tb.add(name, data)
        if why:
            dropped.append((name, why))
        else:
            kept.append((name, data))
    tb.tag(v.version)
    return bare, dropped, kept


def run_create_like(tmp: Path, v: Vector, oracle):
    """create/, create_from_dir/, unzip/: one outcome for the whole file set."""
    if f"{v.kind}/{v.name}" == "create_from_dir/exclude_vcs":
        return ("skipped: the expected hash drops .bzr/.hg/.svn directories, which only "
                "zip.CreateFromDir's directory walk does; the go command's zip from git keeps "
                "them (zip.Create; checked against real go by test_zip_vs_go.py), and "
                ".git/exclude cannot be committed")
    if v.unrepresentable:
        return "skipped: " + "; ".join(why for _, why in v.unrepresentable)
    bare, dropped, _ = build(tmp, v, v.files)
    if dropped:
        return "skipped: " + "; ".join(f"{name!r}: {why}" for name, why in dropped)

    if v.kind == "unzip" and v.want_err == NESTED_GOMOD_ERR:
        # The vector refuses a zip holding a nested go.mod; a tree with one is published
        # without that module's directory, and x/mod checks the zip modpub wrote.
        nested = sorted({n.rsplit("/", 1)[0] for n, _ in v.files
                         if "/" in n and n.rsplit("/", 1)[1].lower() == "go.mod"})
        assert nested, v.id
        _, names = assert_published(tmp, bare, v, oracle)
        for d in nested:
            assert not [n for n in names if n.startswith(d + "/")], \
                f"{v.id}: zip holds files of nested module {d}/: {names}"
        kept = sorted(n for n, _ in v.files if not any(n.startswith(d + "/") for d in nested))
        assert names == kept, f"{v.id}: {names} != {kept}"
        NOTES[v.id] = (f"translated: a tree with {', '.join(nested)}/go.mod is published "
                       "without that nested module (zip.Create), the zip passes CheckZip")
        return "passed"

    if v.want_err:
        code, lines, stderr = assert_refused(tmp, bare, v)
        # The files the x/mod error names must be named by modpub too.
        for name, _ in v.files:
            if f'"{name}"' in v.want_err or f"{name}:" in v.want_err:
                assert name in stderr, f"{v.id}: {name!r} not named in:\n{stderr}"
        if code == 0:
            NOTES[v.id] = ("not published as that version; published instead: " +
                           ", ".join(f"{j['Path']}@{j['Version']}" for j in lines))
        elif v.want_err in stderr:
            NOTES[v.id] = "x/mod's error text appears verbatim"
        return "passed"

    if v.id in RULES_DIFFER:
        kept = refused_for_vendor_rules(tmp, bare, v, v.files)
        bare, _, _ = build(tmp, v, kept, "-agreed")
        assert_published(tmp, bare, v, oracle, "-agreed")
        return "passed"
    mod, names = assert_published(tmp, bare, v, oracle)
    assert mod["Sum"] == v.hash, f"{v.id}: Sum {mod['Sum']} != vector hash {v.hash}"
    return "passed"


def refused_for_vendor_rules(tmp: Path, bare: Path, v: Vector, files):
    """A RULES_DIFFER vector: modpub refuses the tag, naming exactly the files go 1.24+ and
    go 1.19-1.23 zip differently; returns the files without them."""
    code, _, stderr = assert_refused(tmp, bare, v, "-rules")
    assert code != 0, v.id
    named = sorted(line.split(": ")[2] for line in stderr.splitlines())
    assert named == RULES_DIFFER[v.id], f"{v.id}: {stderr}"
    assert all(RULES_DIFFER_MSG in line for line in stderr.splitlines()), stderr
    NOTES[v.id] = ("refused: go 1.24+ and go 1.19-1.23 would zip " +
                   " and ".join(RULES_DIFFER[v.id]) + " differently; published without them")
    return [(n, d) for n, d in files if n not in RULES_DIFFER[v.id]]


def run_check(tmp: Path, v: Vector, oracle):
    """check_files/, check_dir/: valid, omitted and invalid files, one by one."""
    want = {k: list(x) for k, x in v.want.items()}
    bare, dropped, kept = build(tmp, v, v.files, "-full")
    for name, why in dropped:
        # Leave out the entry and the lines about it: the line about itself (or the
        # directory it is in, for check_dir), or for a second copy the duplicate error.
        def about(p, name=name):
            return p == name or name.startswith(p + "/")
        dup = any(n == name for n, _ in kept)
        want["omitted"] = [(p, r) for p, r in want["omitted"] if not about(p)]
        if dup:
            want["invalid"] = [(p, r) for p, r in want["invalid"]
                               if not (p == name and r.startswith("multiple entries"))]
        else:
            want["invalid"] = [(p, r) for p, r in want["invalid"] if not about(p)]
            want["valid"] = [p for p in want["valid"] if not about(p)]
    if dropped:
        NOTES[v.id] = "ran without entries git cannot hold: " + "; ".join(
            f"{name!r} ({why})" for name, why in dropped)

    invalid_paths = {p for p, _ in want["invalid"]}
    if want["invalid"]:
        code, _, stderr = assert_refused(tmp, bare, v, "-full")
        assert code != 0, v.id
        problems = [line.split(": ", 2)[2] for line in stderr.splitlines()]
        expected = [f"{p}: {r}" for p, r in want["invalid"]]
        assert sorted(problems) == sorted(expected), \
            f"{v.id}: modpub's problems differ from x/mod's invalid list"
        kept = [(n, d) for n, d in kept if n not in invalid_paths]
        bare, more, _ = build(tmp, v, kept, "-valid")
        assert not more, more
    if v.id in RULES_DIFFER:
        kept = refused_for_vendor_rules(tmp, bare, v, kept)
        want["valid"] = [p for p in want["valid"] if p not in RULES_DIFFER[v.id]]
        bare, _, _ = build(tmp, v, kept, "-agreed")
    mod, names = assert_published(tmp, bare, v, oracle)
    assert names == sorted(want["valid"]), f"{v.id}: zip files {names} != valid {want['valid']}"
    for p, _ in want["omitted"]:
        assert not [n for n in names if n == p or n.startswith(p + "/")], \
            f"{v.id}: omitted {p!r} is in the zip"
    return "passed"


@pytest.mark.parametrize("v", VECTORS or [None], ids=[v.id for v in VECTORS] or ["none"])
def test_vector(v, tmp_path, oracles):
    if v is None:
        pytest.skip("no vectors")
    oracle = oracles[v.xmod]
    OUTCOMES[v.id] = "failed"
    if v.kind.startswith("check_"):
        outcome = run_check(tmp_path, v, oracle)
    else:
        outcome = run_create_like(tmp_path, v, oracle)
    OUTCOMES[v.id] = outcome
    if outcome.startswith("skipped: "):
        pytest.skip(f"{v.id}: {outcome[len('skipped: '):]}")


def test_summary(capsys):
    """Every vector found ran or was skipped with a reason; prints the tally."""
    ids = [v.id for v in VECTORS]
    with capsys.disabled():
        for xmod, why in sorted(XMOD_ABSENT.items()):
            print(f"\nx/mod {xmod} zip vectors left out: {why}")
    missing = [i for i in ids if i not in OUTCOMES]
    if missing and len(missing) == len(ids):
        pytest.skip("the vector tests did not run in this session (run the whole file)")
    assert not missing, f"vectors not run: {missing}"
    passed = [i for i in ids if OUTCOMES[i] == "passed"]
    skipped = [i for i in ids if OUTCOMES[i].startswith("skipped")]
    failed = [i for i in ids if i not in passed and i not in skipped]
    with capsys.disabled():
        for xmod, d in sorted(XMOD_DIRS.items()):
            mine = [i for i in ids if i.startswith(xmod + ":")]
            n_skip = len([i for i in mine if i in skipped])
            n_pass = len([i for i in mine if i in passed])
            print(f"\nx/mod {xmod} zip vectors ({d}): {len(mine)} found, "
                  f"{len(mine) - n_skip} ran, {n_pass} passed, "
                  f"{len(mine) - n_pass - n_skip} failed, {n_skip} skipped")
        for i in skipped:
            print(f"  skipped {i}: {OUTCOMES[i][len('skipped: '):]}")
        for i, note in sorted(NOTES.items()):
            print(f"  note {i}: {note}")
    assert not failed, failed
