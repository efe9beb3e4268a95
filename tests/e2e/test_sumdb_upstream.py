"""One checksum database for private and public modules.

The "public" world is tests/upstream: an independent checksum database built on
golang.org/x/mod/sumdb's server with its own key, which also serves its modules as a
GOPROXY (/proxy/). Our side is `modpub serve` with our log and key, `--sumdb-upstream`
naming that database and `--private corp.example`. A private module requiring two public
ones is fetched, tidied and built by the real go (1.26 and 1.19) with only our GOSUMDB:
the public lines come from upstream, verified and logged by us, the private ones from our
publish. Upstream's request log never shows a private path; a lying upstream (a changed
record, another key) is refused and nothing is logged; with upstream stopped, what was
logged still verifies and the rest fails clearly. Skipped without go."""

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from support import (GitRepo, NEWEST_GO, clean_gopath, each_go, free_port, go, go_env,
                     needs_go, run_modpub, stop_process, wait_for_port)
from test_sumdb import NAME, keygen, publish_signed, serving

pytestmark = needs_go

UPSTREAM_SRC = Path(__file__).resolve().parents[1] / "upstream"
PUBLIC = {"example.org/pub/alpha": "v1.0.0", "example.org/pub/beta": "v1.2.0"}
UNASKED = {"example.org/pub/gamma": "v1.0.0"}  # public, never looked up before upstream stops
PRIVATE = "corp.example/private/app"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("upstream")
    binary = work / "upstream"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update({"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "HOME": str(work),
                "GOPATH": str(work / "build-gopath"), "GOCACHE": str(work / "build-cache")})
    r = subprocess.run([str(NEWEST_GO.bin), "build", "-o", str(binary), "."], cwd=UPSTREAM_SRC,
                       env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.skip("cannot build tests/upstream: " + r.stderr[-2000:])
    subprocess.run(["chmod", "-R", "u+w", str(work / "build-gopath")], check=False)
    keys = work / "upkeys"
    r = subprocess.run([str(binary), "-keygen", str(keys), "-name", "sum.public.example"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    up_vkey = (keys / "verifier.key").read_text().strip()
    public_tree = work / "public"
    for module, version in {**PUBLIC, **UNASKED}.items():
        src = work / "src" / module.rsplit("/", 1)[1]
        src.mkdir(parents=True)
        (src / "go.mod").write_text(f"module {module}\n\ngo 1.19\n")
        name = module.rsplit("/", 1)[1]
        (src / f"{name}.go").write_text(f'package {name}\n\nfunc Name() string {{ return "{name}" }}\n')
        r = subprocess.run([str(binary), "-makezip", f"{module}@{version}", str(src),
                            str(public_tree)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    # Our side: a private module that needs both public ones, published and logged by us.
    ours = work / "ours"
    vkey = keygen(ours)
    repo = GitRepo(work, "private")
    repo.write("go.mod", f"module {PRIVATE}\n\ngo 1.19\n\nrequire (\n" + "".join(
        f"\t{m} {v}\n" for m, v in PUBLIC.items()) + ")\n")
    repo.write("app.go", "package app\n\nimport (\n\t\"example.org/pub/alpha\"\n"
               "\t\"example.org/pub/beta\"\n)\n\nfunc Names() string { return alpha.Name() + beta.Name() }\n")
    repo.commit("v1.0.0")
    repo.tag("v1.0.0")
    tree = work / "tree"
    lines = publish_signed(repo, PRIVATE, "v1.0.0", tree, work / "sumdb", ours)
    yield {"work": work, "binary": binary, "upkeys": keys, "up_vkey": up_vkey,
           "public": public_tree, "ours": ours, "vkey": vkey, "tree": tree,
           "sumdb": work / "sumdb", "private_sum": lines[0]["Sum"]}


@contextlib.contextmanager
def upstream(world, name, mode="honest"):
    """tests/upstream serving the public modules (and their checksum database)."""
    port_file = world["work"] / f"{name}.port"
    requests = world["work"] / f"{name}.requests"
    proc = subprocess.Popen([str(world["binary"]), "-listen", "127.0.0.1:0", "-port-file",
                             str(port_file), "-key", str(world["upkeys"] / "signer.key"),
                             "-goproxy", str(world["public"]), "-requests", str(requests),
                             "-mode", mode], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            subprocess.run(["sleep", "0.05"])
        port = int(port_file.read_text())
        assert wait_for_port(port, proc=proc)
        yield f"http://127.0.0.1:{port}", requests
    finally:
        stop_process(proc)


def app_env(world, gotool, label, serve_url, up_url):
    app = world["work"] / f"app-{label}-{gotool.label}"
    app.mkdir()
    (app / "go.mod").write_text(f"module corp.example/consumer\n\ngo 1.19\n\nrequire {PRIVATE} v1.0.0\n")
    (app / "main.go").write_text(f'package main\n\nimport "{PRIVATE}"\n\n'
                                 "func main() { println(app.Names()) }\n")
    # Our proxy first, then upstream's for what we do not have (404 falls through).
    env = go_env(app, f"{serve_url},{up_url}/proxy", world["work"] / f"cache-{label}", gotool)
    for k in ("GONOSUMDB", "GOPRIVATE", "GONOSUMCHECK"):
        env.pop(k, None)
    env["GOSUMDB"] = f"{world['vkey']} {serve_url}/sumdb/{NAME}"
    return app, env


def served(world, up_url, sumdb=None):
    return serving(world["tree"], "--sumdb", sumdb or world["sumdb"], "--sumdb-key",
                   world["ours"] / "signer.key", "--sumdb-upstream",
                   f"{world['up_vkey']} {up_url}", "--private", "corp.example")


@each_go
def test_one_gosumdb_verifies_private_and_public_modules(world, gotool):
    with upstream(world, f"honest-{gotool.label}") as (up_url, requests):
        with served(world, up_url) as url:
            app, env = app_env(world, gotool, "mixed", url, up_url)
            try:
                go("mod", "tidy", env=env, cwd=app)
                go("build", "./...", env=env, cwd=app)
                gosum = (app / "go.sum").read_text().splitlines()
                assert f"{PRIVATE} v1.0.0 {world['private_sum']}" in gosum
                for module, version in PUBLIC.items():
                    # The public lines are upstream's own, as go would have had them.
                    up = subprocess.run(["curl", "-sf", f"{up_url}/lookup/{module}@{version}"],
                                        capture_output=True, text=True, timeout=30).stdout
                    for line in up.split("\n")[1:3]:
                        assert line in gosum, (line, gosum)
            finally:
                clean_gopath(env)
        asked = requests.read_text()
        assert "/lookup/example.org/pub/alpha@v1.0.0" in asked
        assert "corp.example" not in asked, asked


@each_go
@pytest.mark.parametrize("mode", ["changed", "wrongkey"])
def test_a_lying_upstream_is_refused_and_nothing_is_logged(world, tmp_path, mode, gotool):
    why = {"changed": "the inclusion proof fails", "wrongkey": "is not signed by"}[mode]
    with upstream(world, f"liar-{mode}-{gotool.label}", mode) as (up_url, _):
        with served(world, up_url, sumdb=tmp_path / "sumdb") as url:
            app, env = app_env(world, gotool, f"liar-{mode}", url, up_url)
            try:
                r = go("mod", "download", "example.org/pub/beta@v1.2.0", env=env, cwd=app,
                       check=False)
                assert r.returncode != 0
                # go says which module could not be verified, and relays our reason.
                assert "example.org/pub/beta@v1.2.0: verifying" in r.stderr, r.stderr
                assert "502" in r.stderr and why in r.stderr, r.stderr
            finally:
                clean_gopath(env)
            r = subprocess.run(["curl", "-s", f"{url}/sumdb/{NAME}/lookup/example.org/pub/beta@v1.2.0"],
                               capture_output=True, text=True, timeout=30)
            assert why in r.stdout, r.stdout
            latest = subprocess.run(["curl", "-s", f"{url}/sumdb/{NAME}/latest"],
                                    capture_output=True, text=True, timeout=30).stdout
            assert latest.startswith("go.sum database tree\n0\n"), latest


@each_go
def test_upstream_down_logged_records_still_verify_and_others_fail_clearly(world, gotool):
    with upstream(world, f"warm-{gotool.label}") as (up_url, _):
        with served(world, up_url) as url:
            r = subprocess.run(["curl", "-sf", f"{url}/sumdb/{NAME}/lookup/example.org/pub/alpha@v1.0.0"],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0
    dead = f"http://127.0.0.1:{free_port()}"
    with upstream(world, f"modules-only-{gotool.label}") as (proxy_url, _):
        with served(world, dead) as url:
            app, env = app_env(world, gotool, "down", url, proxy_url)
            try:
                rc = go("mod", "download", "example.org/pub/alpha@v1.0.0", env=env, cwd=app,
                        check=False)
                assert rc.returncode == 0, rc.stderr  # logged: verified by our log alone
                never = go("mod", "download", "example.org/pub/gamma@v1.0.0", env=env, cwd=app,
                           check=False)
                assert never.returncode != 0
                # The module itself was found; its checksum could not be vouched for.
                assert "verifying" in never.stderr and "502" in never.stderr, never.stderr
            finally:
                clean_gopath(env)


def test_an_upstream_that_forks_after_we_saw_its_tree_is_refused(world, tmp_path):
    """We saw upstream's tree; it comes back with the same key and a different history
    (its last record changed). Our lookups of it are refused, across our restart too."""
    sumdb = tmp_path / "sumdb"
    with upstream(world, "before-fork") as (up_url, _):
        with served(world, up_url, sumdb=sumdb) as url:
            r = subprocess.run(["curl", "-sf", f"{url}/sumdb/{NAME}/lookup/example.org/pub/alpha@v1.0.0"],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0
    assert (sumdb / "upstream-latest").exists()  # what we saw, kept for the next start
    with upstream(world, "forked", "fork") as (up_url, _):
        with served(world, up_url, sumdb=sumdb) as url:
            r = subprocess.run(["curl", "-s", "-w", "\n%{http_code}",
                                f"{url}/sumdb/{NAME}/lookup/example.org/pub/gamma@v1.0.0"],
                               capture_output=True, text=True, timeout=30)
            body, code = r.stdout.rsplit("\n", 1)
            assert code == "502" and "a fork" in body, r.stdout


def test_sumdb_import_warms_the_log_for_serving_without_upstream(world, tmp_path):
    """`modpub sumdb import <go.sum>`: public lines verified upstream and logged, private
    ones skipped (never asked), a line that disagrees with upstream refused; then the log
    answers for the imported versions with no upstream at all."""
    sumdb = tmp_path / "sumdb"
    lines = []
    with upstream(world, "import") as (up_url, requests):
        for module, version in {**PUBLIC, **UNASKED}.items():
            up = subprocess.run(["curl", "-sf", f"{up_url}/lookup/{module}@{version}"],
                                capture_output=True, text=True, timeout=30).stdout
            lines += up.split("\n")[1:3]
        gosum = tmp_path / "go.sum"
        tampered = lines[:4] + [lines[4].replace("h1:", "h1:x")] + lines[5:]
        gosum.write_text("\n".join(tampered + [f"{PRIVATE} v1.0.0 {world['private_sum']}"]) + "\n")
        r = run_modpub("sumdb", "import", gosum, "--sumdb", sumdb, "--sumdb-key",
                       world["ours"] / "signer.key", "--upstream", f"{world['up_vkey']} {up_url}",
                       "--private", "corp.example")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "logged example.org/pub/alpha@v1.0.0" in r.stdout
        assert "logged example.org/pub/beta@v1.2.0" in r.stdout
        assert f"skipped {PRIVATE}@v1.0.0 (private)" in r.stdout
        assert "example.org/pub/gamma@v1.0.0" in r.stderr and "disagrees" in r.stderr, r.stderr
        assert "2 logged, 0 already logged, 1 private skipped, 1 failed" in r.stderr, r.stderr
        assert "corp.example" not in requests.read_text()
        # Without private prefixes the go.sum's private lines would be sent: refused.
        r = run_modpub("sumdb", "import", gosum, "--sumdb", sumdb, "--sumdb-key",
                       world["ours"] / "signer.key", "--upstream", f"{world['up_vkey']} {up_url}")
        assert r.returncode == 2 and "needs --private" in r.stderr, r.stderr
        assert "corp.example" not in requests.read_text()
    dead = f"http://127.0.0.1:{free_port()}"
    with served(world, dead, sumdb=sumdb) as url:
        ok = subprocess.run(["curl", "-sf", f"{url}/sumdb/{NAME}/lookup/example.org/pub/beta@v1.2.0"],
                            capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0 and lines[2] in ok.stdout, ok.stdout


def test_zz_no_upstream_of_this_suite_was_asked_a_private_path(world):
    """Every request every upstream above received (one log file each): none names a
    private module path, in a lookup, a tile or a proxy request."""
    logs = sorted(world["work"].glob("*.requests"))
    assert len(logs) >= 5, logs
    for log in logs:
        text = log.read_text()
        assert "corp.example" not in text and "corp%2E" not in text.lower(), (log, text)
