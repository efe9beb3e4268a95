"""`modpub zip` against the real go command (every installed supported go: 1.26 and 1.19;
direct mode from `git daemon`).

A session-wide corpus of generated repositories covers every rule of which directory and
which module a tag names (major versions, +incompatible, LICENSE copying, nested modules,
vendoring by either rule, go.mod directives of every go version, symlinks, gitlinks, VCS
directories, git attributes, odd file names, sizes). Every module version is fetched once by go (`go mod download -json`, all in
one batch from one git daemon) and built once by modpub; the test for a module version
then compares Sum, GoModSum, the .mod bytes and the .info, and checks that go, pointed at
modpub's output with GOPROXY=file://, downloads the very same zip.

Expectations are checked against go too: a version marked "same" must be downloadable
by go, one marked "refused" must be refused by go, and one marked "go_only" (the one
intended difference, FACTS.md: a go.mod declaring some other module path) must be
downloadable by go and refused by modpub. Where the go versions differ on a tag, the
expectation names the version (`Expect.go`, docs/go-versions.md): modpub publishes only what
every supported go downloads with the same hashes.
"""

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import (GIT_ENV, GO_TOOLS, GitRepo, clean_gopath, each_go, git_daemon, go,
                     go_direct_env, go_env, json_lines, needs_go, run_modpub)

pytestmark = needs_go

HOST = os.environ.get("MODPUB_E2E_GIT_HOST", "127.0.0.1")  # as support.git_daemon picks it
SAME, REFUSED, GO_ONLY = "same", "refused", "go_only"


# --- repositories ---------------------------------------------------------------------------

class Repo(GitRepo):
    """GitRepo plus what the corpus needs: commit dates, annotated tags, symlinks,
    executable bits and gitlinks."""

    def __init__(self, root: Path, name: str):
        super().__init__(root, name)
        self.name = name
        self.import_path = f"{HOST}/zip/{name}.git"
        self.pending_gitlinks = []

    def git(self, *args, date=None, input=None):
        env = dict(os.environ, **GIT_ENV)
        if date:
            env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
        r = subprocess.run(["git", *args], cwd=self.work, env=env, input=input,
                           capture_output=True, check=True)
        return r.stdout

    def symlink(self, rel, target):
        p = self.work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)

    def executable(self, rel, content):
        self.write(rel, content)
        (self.work / rel).chmod(0o755)

    def gitlink(self, rel, commit="0123456789abcdef0123456789abcdef01234567"):
        """A submodule entry (mode 160000) without a checkout: staged after `add -A`."""
        self.pending_gitlinks.append((rel, commit))

    def commit(self, msg="commit", date=None):
        self.git("add", "-A")
        for rel, sha in self.pending_gitlinks:
            self.git("update-index", "--add", "--cacheinfo", f"160000,{sha},{rel}")
        self.pending_gitlinks = []
        self.git("commit", "-q", "--allow-empty", "-m", msg, date=date)

    def tag(self, *names, annotated=False, date=None, target="HEAD"):
        for name in names:
            if annotated:
                self.git("tag", "-a", "-m", f"release {name}", name, target, date=date)
            else:
                self.git("tag", name, target)
        self.push()

    def mod(self, suffix=""):
        return self.import_path + suffix

    def server_attributes(self, text):
        """The server repository's own $GIT_DIR/info/attributes (never fetched by go)."""
        (self.bare / "info").mkdir(exist_ok=True)
        (self.bare / "info" / "attributes").write_text(text)


@dataclass
class Expect:
    tag: str
    suffix: str   # module path = import path + suffix
    version: str  # as go names it (+incompatible included)
    kind: str = SAME
    why: str = ""  # GO_ONLY, or a refusal: what modpub's refusal says
    # What one go version does where it differs from `kind` (label -> SAME/REFUSED), e.g.
    # {"go1.19": SAME} for a tag go 1.26 refuses, which modpub then refuses too.
    go: dict = field(default_factory=dict)

    def go_kind(self, label):
        return self.go.get(label, REFUSED if self.kind == REFUSED else SAME)


@dataclass
class Case:
    name: str
    build: object  # function(Repo) -> list[Expect]
    repo: Repo = None
    expects: list = field(default_factory=list)


CASES = []


def case(fn):
    CASES.append(Case(fn.__name__, fn))
    return fn


def gomod(repo, suffix="", extra=""):
    return f"module {repo.mod(suffix)}\n\ngo 1.19\n{extra}"


@case
def root_basic(r):
    r.write("go.mod", gomod(r))
    r.write("lib.go", "package lib\n\nfunc Hello() string { return \"hi\" }\n")
    r.write("README.md", "# lib\n")
    r.write("LICENSE", "root license\n")
    r.commit(date="2023-05-06T07:08:09+05:30")
    r.tag("v0.0.1")
    r.tag("v1.0.0", annotated=True, date="2030-01-01T00:00:00Z")  # tagger date != commit date
    r.write("lib.go", "package lib\n\nfunc Hello() string { return \"hello\" }\n")
    r.commit(date="2024-02-29T23:59:59-08:00")
    r.tag("v1.0.1")
    return [Expect("v0.0.1", "", "v0.0.1"), Expect("v1.0.0", "", "v1.0.0"),
            Expect("v1.0.1", "", "v1.0.1")]


@case
def prerelease(r):
    r.write("go.mod", gomod(r))
    r.write("a.go", "package a\n")
    r.commit()
    r.tag("v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-0.3.7", "v1.0.0-x.7.z.92")
    r.write("b.go", "package a\n")
    r.commit()
    r.tag("v1.0.0-rc.1", annotated=True)
    return [Expect(t, "", t) for t in
            ("v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-0.3.7", "v1.0.0-x.7.z.92", "v1.0.0-rc.1")]


@case
def subdir_modules(r):
    r.write("go.mod", gomod(r))
    r.write("root.go", "package root\n")
    r.write("LICENSE", "the root LICENSE\n")
    r.write("sub/go.mod", gomod(r, "/sub"))
    r.write("sub/sub.go", "package sub\n")
    r.write("a/b/go.mod", gomod(r, "/a/b"))
    r.write("a/b/b.go", "package b\n")
    r.write("a/a.go", "package a\n")  # part of the root module
    r.commit()
    r.tag("v1.0.0", "sub/v1.2.3", "a/b/v0.1.0")
    r.tag("sub/v1.2.4", annotated=True)
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("sub/v1.2.3", "/sub", "v1.2.3"),
            Expect("sub/v1.2.4", "/sub", "v1.2.4"), Expect("a/b/v0.1.0", "/a/b", "v0.1.0")]


@case
def subdir_without_gomod(r):
    r.write("go.mod", gomod(r))
    r.write("sub/sub.go", "package sub\n")
    r.commit()
    r.tag("sub/v1.0.0")
    return [Expect("sub/v1.0.0", "/sub", "v1.0.0", REFUSED)]


@case
def subdir_own_license(r):
    r.write("LICENSE", "root\n")
    r.write("sub/go.mod", gomod(r, "/sub"))
    r.write("sub/LICENSE", "sub's own\n")
    r.write("sub/x.go", "package sub\n")
    r.write("deep/er/go.mod", gomod(r, "/deep/er"))  # no LICENSE of its own: root's
    r.commit()
    r.tag("sub/v1.0.0", "deep/er/v1.0.0")
    return [Expect("sub/v1.0.0", "/sub", "v1.0.0"),
            Expect("deep/er/v1.0.0", "/deep/er", "v1.0.0")]


@case
def license_symlinks(r):
    # Root LICENSE is a symlink: the root module drops it, a subdirectory module gets the
    # link's target text (go reads it with `git cat-file blob`) as a regular file.
    r.write("COPYING", "the real license text\n")
    r.symlink("LICENSE", "COPYING")
    r.write("go.mod", gomod(r))
    r.write("sub/go.mod", gomod(r, "/sub"))
    r.write("sub/s.go", "package sub\n")
    # A subdirectory LICENSE that is a symlink counts as "has a LICENSE" and is dropped.
    r.write("other/go.mod", gomod(r, "/other"))
    r.symlink("other/LICENSE", "../COPYING")
    r.commit()
    r.tag("v1.0.0", "sub/v1.0.0", "other/v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("sub/v1.0.0", "/sub", "v1.0.0"),
            Expect("other/v1.0.0", "/other", "v1.0.0")]


@case
def license_filtered(r):
    # The copied root LICENSE is read raw, not through the export filters.
    r.write(".gitattributes", "LICENSE text eol=crlf\n")
    r.write("LICENSE", "line one\nline two\n")
    r.write("go.mod", gomod(r))
    r.write("sub/go.mod", gomod(r, "/sub"))
    r.commit()
    r.tag("v1.0.0", "sub/v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("sub/v1.0.0", "/sub", "v1.0.0")]


@case
def major_in_root_gomod(r):
    r.write("go.mod", gomod(r, "/v2"))
    r.write("v.go", "package v\n")
    r.commit()
    r.tag("v2.0.0", "v2.1.0-beta.1")
    r.write("w.go", "package v\n")
    r.commit()
    r.tag("v2.1.0", annotated=True)
    return [Expect("v2.0.0", "/v2", "v2.0.0"), Expect("v2.1.0-beta.1", "/v2", "v2.1.0-beta.1"),
            Expect("v2.1.0", "/v2", "v2.1.0"),
            Expect("v2.0.0", "", "v2.0.0", REFUSED)]  # go.mod exists: no +incompatible


@case
def major_subdirectory(r):
    r.write("go.mod", gomod(r))
    r.write("v1.go", "package lib\n")
    r.write("LICENSE", "root license\n")
    r.write("v2/go.mod", gomod(r, "/v2"))
    r.write("v2/v2.go", "package lib\n")
    r.commit()
    r.tag("v1.0.0", "v2.0.0")
    r.write("v3/go.mod", gomod(r, "/v3"))
    r.write("v3/LICENSE", "v3 license\n")
    r.commit()
    r.tag("v3.0.0")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("v2.0.0", "/v2", "v2.0.0"),
            Expect("v2.0.0", "", "v2.0.0", REFUSED), Expect("v3.0.0", "/v3", "v3.0.0")]


@case
def major_root_and_subdirectory(r):
    # No root go.mod: one v2 tag publishes the root as +incompatible (go accepts the
    # explicit +incompatible request, go.dev/issue/51324) and v2/ as the /v2 module.
    r.write("lib.go", "package lib\n")
    r.write("LICENSE", "license\n")
    r.write("v2/go.mod", gomod(r, "/v2"))
    r.write("v2/lib.go", "package lib\n")
    r.commit()
    r.tag("v2.0.0")
    return [Expect("v2.0.0", "", "v2.0.0+incompatible"), Expect("v2.0.0", "/v2", "v2.0.0")]


@case
def incompatible(r):
    r.write("lib.go", "package lib\n")
    r.commit()
    r.tag("v1.0.0", "v3.0.0", "v4.0.0-rc.1")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("v3.0.0", "", "v3.0.0+incompatible"),
            Expect("v4.0.0-rc.1", "", "v4.0.0-rc.1+incompatible"),
            Expect("v3.0.0", "/v3", "v3.0.0", REFUSED)]


@case
def incompatible_refused(r):
    r.write("go.mod", gomod(r))
    r.write("lib.go", "package lib\n")
    r.commit()
    r.tag("v2.0.0")
    return [Expect("v2.0.0", "", "v2.0.0+incompatible", REFUSED),
            Expect("v2.0.0", "/v2", "v2.0.0", REFUSED)]


@case
def both_declare_major(r):
    r.write("go.mod", gomod(r, "/v2"))
    r.write("v2/go.mod", gomod(r, "/v2"))
    r.commit()
    r.tag("v2.0.0")
    return [Expect("v2.0.0", "/v2", "v2.0.0", REFUSED)]


@case
def gomod_syntax(r):
    r.write("go.mod", f'// leading comment\n\nmodule "{r.mod()}" // trailing\n\n'
                      "go 1.19\n\nrequire (\n\texample.com/x v1.0.0 // indirect\n)\n")
    r.write("lib.go", "package lib\n")
    r.commit()
    r.tag("v1.0.0")
    r.write("go.mod", f"// Deprecated: use {r.mod('/v2')} instead.\nmodule {r.mod()}\r\n")
    r.commit()
    r.tag("v1.1.0")
    # `go mod download` accepts the next two: its quick scan (modfile.ModulePath) reads
    # the module path of the block form as "(" and that of the one-line parentheses as
    # "( <path> )". modpub refuses both on purpose (FACTS.md: refuse what does not
    # declare the path the tag publishes, as the go command's scan reads it).
    r.write("go.mod", f"module (\n\t{r.mod()}\n)\n")
    r.commit()
    r.tag("v1.2.0")
    r.write("go.mod", f"module ( {r.mod()} )\n")
    r.commit()
    r.tag("v1.3.0")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("v1.1.0", "", "v1.1.0"),
            Expect("v1.2.0", "", "v1.2.0", GO_ONLY, "quick scan of go.mod"),
            Expect("v1.3.0", "", "v1.3.0", GO_ONLY, "usage: module module/path")]


@case
def gomod_missing(r):
    r.write("main.go", "package main\n")
    r.write("sub/go.mod", gomod(r, "/sub"))  # a nested module: dropped from the root
    r.write("sub/x.go", "package sub\n")
    r.commit()
    r.tag("v0.3.0")
    return [Expect("v0.3.0", "", "v0.3.0")]


@case
def gomod_other_path(r):
    # The one intended difference (FACTS.md): go downloads it, no build can use it.
    r.write("go.mod", "module example.com/somebody/else\n")
    r.write("sub/go.mod", f"module {r.mod('/elsewhere')}\n")
    r.commit()
    r.tag("v1.0.0", "sub/v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0", GO_ONLY, "declares module path"),
            Expect("sub/v1.0.0", "/sub", "v1.0.0", GO_ONLY, "declares module path")]


@case
def gomod_without_module_line(r):
    r.write("go.mod", "go 1.19\n")
    r.write("x.go", "package x\n")
    r.commit()
    r.tag("v1.0.0")
    r.write("go.mod", 'module "unterminated\n')
    r.commit()
    r.tag("v1.0.1")
    return [Expect("v1.0.0", "", "v1.0.0", REFUSED), Expect("v1.0.1", "", "v1.0.1", REFUSED)]


@case
def nested_modules(r):
    r.write("go.mod", gomod(r))
    r.write("a.go", "package a\n")
    r.write("inner/go.mod", gomod(r, "/inner"))
    r.write("inner/i.go", "package inner\n")
    r.write("inner/deep/d.go", "package deep\n")
    r.write("odd/Go.MOD", "module whatever\n")  # any case marks a nested module
    r.write("odd/o.go", "package odd\n")
    r.write("linked/l.go", "package linked\n")
    r.symlink("linked/go.mod", "../go.mod")  # a symlinked go.mod does not
    r.write("notmod/go.mod/x.txt", "a directory named go.mod\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def vendoring(r):
    r.write("go.mod", gomod(r))
    r.write("a.go", "package a\n")
    r.write("vendor/modules.txt", "# example.com/dep v1.0.0\n")
    r.write("vendor/top.go", "package vendor\n")
    r.write("vendor/example.com/dep/dep.go", "package dep\n")
    r.write("pkg/vendor/modules.txt", "nested vendor: omitted by the offset quirk\n")
    r.write("pkg/vendor/x/y.go", "package y\n")
    r.write("pkgvendor/z.go", "package z\n")
    r.write("sub/vendored/v.go", "package vendored\n")
    r.write("vendorx/w.go", "package w\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def vendoring_go124_rules_agree(r):
    # From go 1.24 on, a module's go line picks the vendor rule; here both rules leave the
    # same files, so every supported go builds one zip.
    r.write("go.mod", f"module {r.mod()}\n\ngo 1.24\n")
    r.write("a.go", "package a\n")
    r.write("vendor/example.com/dep/dep.go", "package dep\n")
    r.write("pkg/vendor/sub/w.go", "package sub\n")
    r.write("pkgvendor/z.go", "package z\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def vendoring_go124_rules_differ(r):
    # go 1.24+ drops vendor/modules.txt and keeps files directly in a nested vendor/;
    # go 1.19-1.23 do the reverse: two zips, two hashes (docs/go-versions.md).
    r.write("go.mod", f"module {r.mod()}\n\ngo 1.24\n")
    r.write("a.go", "package a\n")
    r.write("vendor/modules.txt", "# example.com/dep v1.0.0\n")
    r.commit()
    r.tag("v1.0.0")
    r.remove("vendor/modules.txt")
    r.write("go.mod", f"module {r.mod()}\n\ngo 1.25rc1\n")
    r.write("pkg/vendor/v.go", "package vendor\n")
    r.commit()
    r.tag("v1.1.0")
    why = "the two would hash this version differently"
    return [Expect("v1.0.0", "", "v1.0.0", GO_ONLY, why),
            Expect("v1.1.0", "", "v1.1.0", GO_ONLY, why)]


@case
def gomod_newer_directives(r):
    # What go.mod files of go 1.21-1.26 carry: go lines with a patch or rc version,
    # toolchain, godebug (line and block), tool, ignore, retract with rationale, CRLF.
    r.write("go.mod", f"// The library.\nmodule {r.mod()} // trailing\n\ngo 1.26.0\n\n"
                      "toolchain go1.26.8\n\ngodebug default=go1.21\n\n"
                      "godebug (\n\tpanicnil=1\n\tasynctimerchan=0 // why\n)\n\n"
                      "tool example.com/cmd/gen\n\ntool (\n\texample.com/a\n\texample.com/b\n)\n\n"
                      "ignore ./node_modules\n\nignore (\n\t\"./docs site\" // not Go\n)\n\n"
                      "retract v0.9.0 // published by mistake\n\n"
                      "retract (\n\t[v0.1.0, v0.2.0] // broken\n)\n")
    r.write("lib.go", "package lib\n")
    r.commit()
    r.tag("v1.0.0")
    r.write("go.mod", f"module {r.mod()}\r\n\r\ngo 1.21rc1\r\ntoolchain go1.21rc1\r\n")
    r.commit()
    r.tag("v1.1.0")
    r.write("go.mod", f"module {r.mod()}\n\ngo 1.24.0\n")
    r.commit()
    r.tag("v1.2.0")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("v1.1.0", "", "v1.1.0"),
            Expect("v1.2.0", "", "v1.2.0")]


@case
def gomod_go_line_too_new(r):
    # go 1.26 refuses a module needing a newer go (GOTOOLCHAIN=local); go 1.19 takes it.
    r.write("go.mod", f"module {r.mod()}\n\ngo 1.99\n")
    r.write("lib.go", "package lib\n")
    r.commit()
    r.tag("v1.0.0")
    r.write("go.mod", f"module {r.mod()}\n\ngo 1.26.9\n")
    r.commit()
    r.tag("v1.1.0")
    return [Expect(t, "", t, REFUSED, "is newer than go 1.26.8", go={"go1.19": SAME})
            for t in ("v1.0.0", "v1.1.0")]


@case
def gomod_malformed_ignore(r):
    # go 1.25+ reads a dependency's ignore lines: `go get` of this version fails there
    # (go mod download does not parse it); go 1.19 skips them. modpub refuses.
    r.write("go.mod", f"module {r.mod()}\n\ngo 1.24\n\nignore a b\n")
    r.write("lib.go", "package lib\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0", GO_ONLY, "ignore directive expects exactly one")]


@case
def gomod_utf8_bom(r):
    # A byte order mark before "module": the go command's quick scan finds no module line.
    r.write("go.mod", f"\ufeffmodule {r.mod()}\n\ngo 1.21\n")
    r.write("lib.go", "package lib\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0", REFUSED)]


@case
def symlinks_and_gitlinks(r):
    r.write("go.mod", gomod(r))
    r.write("real.go", "package lib\n")
    r.symlink("link.go", "real.go")
    r.symlink("dirlink", "pkg")
    r.symlink("dangling", "does/not/exist")
    r.write("pkg/p.go", "package pkg\n")
    r.gitlink("third_party/sub")
    r.gitlink("gitlinked")
    r.write("sub/go.mod", gomod(r, "/sub"))
    r.gitlink("sub/module")
    r.commit()
    r.tag("v1.0.0", "sub/v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("sub/v1.0.0", "/sub", "v1.0.0")]


@case
def vcs_directories(r):
    r.write("go.mod", gomod(r))
    r.write(".hg/hgrc", "[paths]\n")
    r.write(".svn/entries", "12\n")
    r.write(".bzr/branch-format", "Bazaar-NG meta directory, format 1\n")
    r.write(".hg_archival.txt", "repo: 0000\n")  # dropped at the root only
    r.write("sub/.hg_archival.txt", "kept\n")
    r.write(".github/workflows/ci.yml", "on: push\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def attributes_eol(r):
    r.write(".gitattributes", "*.crlf text eol=crlf\n*.lf text eol=lf\n*.auto text=auto\n"
                              "*.autocrlf text=auto eol=crlf\n*.bin binary\n*.txt -text\n")
    r.write("go.mod", gomod(r))
    r.write("a.crlf", "one\ntwo\nthree")
    r.write("mixed.crlf", "one\r\ntwo\nthree\r\n")
    r.write("zero.crlf", b"bin\x00ary\nline\n")
    r.write("lone-cr.crlf", "a\rb\nc\n")
    r.write("a.lf", "one\r\ntwo\n")
    r.write("a.auto", "auto\nfile\n")
    r.write("a.autocrlf", "auto\nto crlf\n")
    r.write("mixed.autocrlf", "auto\r\nmixed\n")
    r.write("zero.autocrlf", b"\x00binary\nfile\n")
    r.write("x.bin", "not\nconverted\n")
    r.write("x.txt", "not\nconverted\n")
    r.write("plain.go", "package lib\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def attributes_legacy_crlf(r):
    r.write(".gitattributes", "*.a crlf\n*.b -crlf\n*.c crlf=input\n*.d eol=crlf\n"
                              "*.e text\n")
    r.write("go.mod", gomod(r))
    for ext in "abcde":
        r.write(f"f.{ext}", "x\ny\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def attributes_ident(r):
    r.write(".gitattributes", "*.id ident\n")
    r.write("go.mod", gomod(r))
    r.write("one.id", "version: $Id$\n")
    r.write("two.id", "$Id$ and again $Id$\n")
    r.write("old.id", "$Id: 0000000000000000000000000000000000000000 $\nnext\n")
    r.write("broken.id", "$Id: no end\n$Id$\n")
    r.write("spaces.id", "$Id: some other vcs $ $Id:x$ $Id:$ $Id: y $\n")
    r.write("binary.id", b"\x00\x01$Id$\x00")  # git expands in binary files too
    r.write("plain.txt", "$Id$ not expanded\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def attributes_export(r):
    # export-ignore and export-subst are NOT honoured by go (info/attributes override).
    r.write(".gitattributes", "ignored/** export-ignore\nignored export-ignore\n"
                              "subst.txt export-subst\n*.ign export-ignore\n")
    r.write("go.mod", gomod(r))
    r.write("ignored/x.go", "package ignored\n")
    r.write("a.ign", "ignored?\n")
    r.write("subst.txt", "commit $Format:%H$\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def attributes_filters(r):
    # A filter driver (git-lfs) is not configured in go's cache repository: as-is.
    r.write(".gitattributes", "*.lfs filter=lfs diff=lfs merge=lfs -text\n"
                              "*.enc working-tree-encoding=UTF-16LE text\n")
    r.write("go.mod", gomod(r))
    r.write("big.lfs", "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n")
    r.write("utf16.enc", "hello\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def attributes_encoding(r):
    # git archive re-encodes UTF-8 blobs into the working-tree-encoding (git add decoded
    # the work tree files from it), after the end-of-line conversion.
    r.write(".gitattributes", "*.u16 working-tree-encoding=UTF-16\n"
                              "*.bom working-tree-encoding=UTF-16LE-BOM\n"
                              "*.lat working-tree-encoding=latin-1 text eol=crlf\n"
                              "*.u8 working-tree-encoding=utf8 ident\n"
                              "*.sj working-tree-encoding=SHIFT-JIS\n")
    r.write("go.mod", gomod(r))
    r.write("a.u16", "héllo\nwörld\n".encode("utf-16"))
    r.write("a.bom", b"\xff\xfe" + "bom\n".encode("utf-16-le"))
    r.write("a.lat", "caf\xe9\nna\xefve\n".encode("latin-1"))
    r.write("a.u8", "$Id$ ü\n")
    r.write("a.sj", "日本語\n".encode("shift-jis"))
    r.write("empty.u16", b"")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def attributes_encoding_true(r):
    # git dies on "working-tree-encoding" without a value: go cannot fetch the version.
    r.write("go.mod", gomod(r))
    r.write("a.txt", "a\n")
    r.commit()
    r.write(".gitattributes", "*.txt working-tree-encoding\n")
    # Committed with plumbing only: git add and update-index die on it as archive does.
    oid = r.git("hash-object", "-w", "--no-filters", ".gitattributes").decode().strip()
    listing = r.git("ls-tree", "HEAD") + f"100644 blob {oid}\t.gitattributes\n".encode()
    tree = r.git("mktree", input=listing).decode().strip()
    commit = r.git("commit-tree", tree, "-p", "HEAD", "-m", "attributes").decode().strip()
    r.git("update-ref", "refs/heads/main", commit)
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0", REFUSED)]


@case
def attributes_in_subdirectory(r):
    r.write(".gitattributes", "*.txt text eol=crlf\n")
    r.write("go.mod", gomod(r))
    r.write("sub/go.mod", gomod(r, "/sub"))
    r.write("sub/.gitattributes", "*.id ident\nkeep.txt -text\n")
    r.write("sub/a.txt", "a\nb\n")
    r.write("sub/keep.txt", "a\nb\n")
    r.write("sub/x.id", "$Id$\n")
    r.write("sub/deeper/.gitattributes", "*.txt eol=lf\n")
    r.write("sub/deeper/d.txt", "d\ne\n")
    r.commit()
    r.tag("v1.0.0", "sub/v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("sub/v1.0.0", "/sub", "v1.0.0")]


@case
def attributes_on_the_server(r):
    # go fetches into a cache repository of its own: the server's info/attributes (here
    # converting every file) changes nothing; only the commit's .gitattributes counts.
    r.server_attributes("* text eol=crlf ident\n*.go working-tree-encoding=UTF-16\n")
    r.write(".gitattributes", "*.txt text eol=crlf\n")
    r.write("go.mod", gomod(r))
    r.write("lib.go", "package lib // $Id$\n\nvar X = 1\n")
    r.write("a.txt", "a\nb\n")
    r.write("doc/x.md", "x\ny $Id$\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def file_names(r):
    r.write("go.mod", gomod(r))
    for name in ("héllo.go", "日本語/テスト.txt", "with space.txt", "x@y+z~w.txt",
                 "(paren)[br]{c}.txt", "a!#$%&,=^_.txt", "-dash", ".dotfile",
                 "dir.with.dots/f", "Ünïcödé/Ä.txt", "UPPER.TXT", "com0.txt", "conx.txt",
                 "lpt10/x", "x/con-y", "lead~1/x", "ǅ.txt", "ß.txt"):
        r.write(name, f"{name}\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def contents(r):
    r.write("go.mod", gomod(r))
    r.write("empty.go", "")
    r.write("sub/empty", "")
    r.executable("run.sh", "#!/bin/sh\necho hi\n")
    r.executable("bin/tool", b"\x7fELF\x00\x01\x02")
    r.write("binary.dat", bytes(range(256)) * 64)
    # A moderately large, partly compressible file (6 MiB).
    block = b"".join(i.to_bytes(4, "little") * 3 + b"line of text\n" for i in range(65536))
    r.write("large.dat", (block * 8)[: 6 << 20])
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0")]


@case
def empty_module(r):
    r.write("README", "only a readme\n")
    r.commit()
    r.git("rm", "-q", "README")
    r.commit()
    r.tag("v0.1.0")
    r.write("go.mod", gomod(r))
    r.commit()
    r.tag("v0.2.0")
    return [Expect("v0.1.0", "", "v0.1.0"), Expect("v0.2.0", "", "v0.2.0")]


@case
def deep_tag_prefix(r):
    r.write("a/b/c/d/go.mod", gomod(r, "/a/b/c/d/v2"))
    r.write("a/b/c/d/x.go", "package d\n")
    r.write("a/b/c/d/v3/go.mod", gomod(r, "/a/b/c/d/v3"))
    r.write("LICENSE", "root\n")
    r.commit()
    r.tag("a/b/c/d/v2.0.0", "a/b/c/d/v3.1.0")
    return [Expect("a/b/c/d/v2.0.0", "/a/b/c/d/v2", "v2.0.0"),
            Expect("a/b/c/d/v3.1.0", "/a/b/c/d/v3", "v3.1.0")]


@case
def subdir_major_subdirectory(r):
    # A subdirectory module whose v2 lives in sub/v2 (tag sub/v2.0.0).
    r.write("sub/go.mod", gomod(r, "/sub"))
    r.write("sub/v2/go.mod", gomod(r, "/sub/v2"))
    r.write("sub/v2/x.go", "package sub\n")
    r.commit()
    r.tag("sub/v2.0.0", "sub/v1.5.0")
    return [Expect("sub/v2.0.0", "/sub/v2", "v2.0.0"), Expect("sub/v1.5.0", "/sub", "v1.5.0"),
            Expect("sub/v2.0.0", "/sub", "v2.0.0", REFUSED)]


@case
def case_fold_collision(r):
    r.write("go.mod", gomod(r))
    r.write("README", "a\n")
    r.write("readme", "b\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0", REFUSED)]


@case
def invalid_file_names(r):
    r.write("go.mod", gomod(r))
    for name in ("a:b.txt", "com1.txt", "NUL", "aux.tar.gz", "quote'.txt", "back`tick",
                 "emoji😀.txt", "nbsp\u00a0.txt", "ok.txt", "x/PRN.go", "trail.", "dir./f",
                 "a\\b.txt", "star*.txt", "q?.txt", 'dq".txt', "lt<.txt", "pipe|.txt", "semi;.txt"):
        r.write(name, f"{name}\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0", REFUSED)]


@case
def gomod_upper_case_at_root(r):
    r.write("go.mod", gomod(r))
    r.write("GO.MOD", "module x\n")
    r.commit()
    r.tag("v1.0.0")
    return [Expect("v1.0.0", "", "v1.0.0", REFUSED)]


@case
def tag_history(r):
    # Tags on older commits: each version is its own commit's tree and time.
    r.write("go.mod", gomod(r))
    r.write("v.go", "package v\nconst V = 1\n")
    r.commit(date="2020-01-01T00:00:00Z")
    r.tag("v1.0.0")
    r.write("v.go", "package v\nconst V = 2\n")
    r.remove("go.mod")
    r.commit(date="2021-06-15T12:30:00+02:00")
    r.tag("v1.1.0", annotated=True)
    r.write("go.mod", gomod(r))
    r.commit(date="2022-12-31T23:59:59Z")
    r.tag("v1.2.0")
    return [Expect("v1.0.0", "", "v1.0.0"), Expect("v1.1.0", "", "v1.1.0"),
            Expect("v1.2.0", "", "v1.2.0")]


# --- running modpub and go ------------------------------------------------------------------

def decode_stream(text):
    """The JSON objects `go mod download -json` prints, one after the other."""
    dec, out, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def go_batch(targets, env, cwd):
    """One `go mod download -json` for every module@version: {(path, version): record}."""
    r = go("mod", "download", "-json", *targets, env=env, cwd=cwd, check=False, timeout=600)
    records = decode_stream(r.stdout)
    by_key = {(d.get("Path"), d.get("Version")): d for d in records}
    missing = [t for t in targets if tuple(t.split("@", 1)) not in by_key]
    assert not missing, f"go printed nothing for {missing}:\n{r.stderr}"
    return by_key


def modpub_zip(repo, tag, out):
    r = run_modpub("zip", "--repo", repo.bare, "--import-path", repo.import_path, "--tag", tag,
                   "--out", out)
    return {"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr, "out": out,
            "modules": {(d["Path"], d["Version"]): d for d in json_lines(r.stdout)}}


def merge_tree(src: Path, dst: Path):
    """Copies a GOPROXY tree into dst; @v/list files are rebuilt afterwards."""
    for p in src.rglob("*"):
        if p.is_file() and p.name != "list" and not p.name.startswith("."):
            t = dst / p.relative_to(src)
            t.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, t)


def write_lists(tree: Path):
    for vdir in tree.rglob("@v"):
        versions = sorted(p.name[:-5] for p in vdir.glob("*.info"))
        (vdir / "list").write_text("".join(v + "\n" for v in versions))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("zip-vs-go")
    (base / "git" / "zip").mkdir(parents=True)
    for c in CASES:
        c.repo = Repo(base / "git" / "zip", c.name)
        c.expects = c.build(c.repo)

    # modpub: one run per tag, each into an --out of its own.
    tags = sorted({(c.name, e.tag) for c in CASES for e in c.expects})
    by_name = {c.name: c for c in CASES}

    def zip_one(key):
        name, tag = key
        return key, modpub_zip(by_name[name].repo, tag, base / "out" / name / tag.replace("/", "_"))

    with ThreadPoolExecutor(4) as pool:
        zips = dict(pool.map(zip_one, tags))

    targets = sorted({f"{c.repo.mod(e.suffix)}@{e.version}" for c in CASES for e in c.expects})
    # Each go, direct from git.
    direct, envs = {}, []
    with git_daemon(base / "git") as host:
        assert host == HOST
        for tool in GO_TOOLS:
            work = base / f"direct-{tool.label}"
            work.mkdir()
            envs.append(go_direct_env(work, base / "gocache", host, tool))
            direct[tool.label] = go_batch(targets, envs[-1], work)

    # Each go, from modpub's output as a GOPROXY tree.
    proxy_tree = base / "proxy"
    proxy_tree.mkdir()
    for z in zips.values():
        if z["rc"] == 0:
            merge_tree(z["out"], proxy_tree)
    write_lists(proxy_tree)
    served = [t for t in targets if any(tuple(t.split("@", 1)) in z["modules"]
                                        for z in zips.values())]
    proxied = {}
    for tool in GO_TOOLS:
        work = base / f"viaproxy-{tool.label}"
        work.mkdir()
        envs.append(go_env(work, f"file://{proxy_tree}", base / "gocache", tool))
        envs[-1]["GONOSUMDB"] = HOST
        proxied[tool.label] = go_batch(served, envs[-1], work) if served else {}

    yield {"zips": zips, "direct": direct, "proxied": proxied}
    for env in envs:
        clean_gopath(env)


def _expectation_ids():
    """Expectations are only known once the repositories are built; parametrize by the
    (case, index) and let the test look the expectation up."""
    # Count expectations without building repositories: call each builder on a recorder.
    class Recorder:
        import_path = f"{HOST}/zip/x.git"

        def mod(self, suffix=""):
            return self.import_path + suffix

        def __getattr__(self, name):
            return lambda *a, **k: b""

    ids = []
    for c in CASES:
        for i, e in enumerate(c.build(Recorder())):
            ids.append(pytest.param(c.name, i, id=f"{c.name}:{e.tag}:{e.suffix or '.'}@{e.version}"))
    return ids


def read(p):
    return Path(p).read_bytes()


@each_go
@pytest.mark.parametrize("name,index", _expectation_ids())
def test_module_version(corpus, name, index, gotool):
    c = next(c for c in CASES if c.name == name)
    e = c.expects[index]
    path = c.repo.mod(e.suffix)
    key = (path, e.version)
    g = corpus["direct"][gotool.label][key]
    z = corpus["zips"][(name, e.tag)]
    diag = (f"modpub rc={z['rc']}\nstdout: {z['stdout']}\nstderr: {z['stderr']}\n"
            f"{gotool.version}: {g}")

    if e.go_kind(gotool.label) == REFUSED:
        assert g.get("Error"), f"{gotool.version} was expected to refuse {path}@{e.version}: {g}"
    else:
        assert not g.get("Error"), \
            f"{gotool.version} was expected to download {path}@{e.version}: {g}"

    if e.kind == SAME:
        assert z["rc"] == 0, diag
        m = z["modules"].get(key)
        assert m, f"modpub did not publish {path}@{e.version}\n{diag}"
        assert m["Sum"] == g["Sum"], diag
        assert m["GoModSum"] == g["GoModSum"], diag
        assert read(m["GoMod"]) == read(g["GoMod"])
        # go may add fields (Origin) to its .info: Version and Time must agree.
        mi, gi = json.loads(read(m["Info"])), json.loads(read(g["Info"]))
        assert (mi["Version"], mi["Time"]) == (gi["Version"], gi["Time"])
        assert set(mi) == {"Version", "Time"}
        # go fetching modpub's files through GOPROXY=file:// gets the same zip.
        p = corpus["proxied"][gotool.label][key]
        assert not p.get("Error"), p
        assert p["Sum"] == g["Sum"] and p["GoModSum"] == g["GoModSum"]
        return

    # go refuses, or (GO_ONLY) go accepts what modpub refuses on purpose.
    assert key not in z["modules"], diag
    if z["modules"]:
        return  # the tag also publishes another module (e.g. vN/ beside a refused root)
    assert z["rc"] != 0, diag
    lines = [ln for ln in z["stderr"].splitlines() if ln.strip()]
    assert lines and all(e.tag in ln for ln in lines), diag
    out = Path(z["out"])
    assert not out.exists() or not any(out.iterdir()), f"{out} not empty: {list(out.rglob('*'))}"
    if e.why:
        assert e.why in z["stderr"], diag


def test_corpus_size():
    assert len(CASES) >= 30
