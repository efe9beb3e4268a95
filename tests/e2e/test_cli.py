"""The `modpub` command line as a person meets it, driving the real programs: backfill from
a configuration (storages, signer key and checksum database as modpubd uses them), its
per-tag lines off a terminal, --dry-run writing nothing, historical invalid tags (exit 0,
--strict 1); `jobs` and `ls` tables, --json, empty and missing results; $MODPUB_CONFIG;
--version of the three programs; bare `modpub`; the refusal format."""

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from support import (REPO_ROOT, GitRepo, json_lines, keygen, modpub_bin, modpubd_bin, publish,
                     read_list, run_modpub, snapshot)

MODULE = "corp.example/cli"


def url(kind, path):
    return f"{kind}://{path}"


@pytest.fixture
def world(tmp_path):
    """A repository with two good version tags and two that go could never fetch (v1.2 is
    not canonical, v2.0.0 would need /v2), and a configuration naming it, one storage and
    a checksum database with its signer key."""
    repo = GitRepo(tmp_path, "cli")
    repo.write("go.mod", f"module {MODULE}\n\ngo 1.19\n")
    repo.write("cli.go", "package cli\n")
    repo.commit()
    repo.tag("v1.0.0", "v1.1.0", "v1.2", "v2.0.0", "release")
    key, _ = keygen(tmp_path / "keys", "sum.corp.example")
    tree = tmp_path / "tree"
    sumdb = tmp_path / "state" / "sumdb"
    config = tmp_path / "modpub.toml"
    config.write_text(f"""storage = ["file://{tree}"]
spool_dir = "{tmp_path / 'spool'}"
state_dir = "{tmp_path / 'state'}"
socket = "{tmp_path / 'modpubd.sock'}"

[sumdb]
name = "sum.corp.example"
signer_key = "{key}"
upstream = ""

[[repository]]
path = "{repo.bare}"
import_path = "{MODULE}"
""")
    return {"repo": repo, "tree": tree, "sumdb": sumdb, "config": config, "tmp": tmp_path}


def tag_lines(text):
    """The per-tag lines of a backfill: tag -> (status, rest)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s{2,}(would publish|would refuse|published|unchanged|refused|"
                     r"invalid|failed)(?:\s{2,}(.*))?$", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3) or "")
    return out


def order_of_tags(text):
    return [line.split()[0] for line in text.splitlines() if line.split()[:1] and
            line.split()[0] in ("v1.0.0", "v1.1.0", "v1.2", "v2.0.0", "v1.3.0")]


def test_backfill_from_a_configuration_signs_logs_and_reports_each_tag(world):
    r = run_modpub("backfill", "--config", world["config"], "--repo", MODULE)
    # Historical invalid tags are listed, but they cannot be changed: exit 0.
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = tag_lines(r.stdout)  # stdout is a pipe here, and so is stderr: lines all the same
    assert lines["v1.0.0"] == ("published", f"{MODULE}@v1.0.0")
    assert lines["v1.1.0"] == ("published", f"{MODULE}@v1.1.0")
    assert lines["v1.2"][0] == "invalid" and "not canonical" in lines["v1.2"][1]
    assert lines["v2.0.0"][0] == "invalid" and "/v2" in lines["v2.0.0"][1]
    assert order_of_tags(r.stdout) == ["v1.0.0", "v1.1.0", "v1.2", "v2.0.0"]  # semver order
    assert "release" not in lines
    # The summary table after the lines.
    head = next(line for line in r.stdout.splitlines() if line.startswith("STORAGE"))
    assert head.split() == ["STORAGE", "PUBLISHED", "UNCHANGED", "REFUSED", "INVALID", "FAILED"]
    row = next(line for line in r.stdout.splitlines() if line.startswith("file://"))
    assert row.split()[1:] == ["2", "0", "0", "2", "0"]
    assert "4 version tags; invalid: v1.2 v2.0.0" in r.stdout
    # Signed and logged as modpubd would: the .sig beside each version, both in the log.
    assert read_list(world["tree"], MODULE) == ["v1.0.0", "v1.1.0"]
    for v in ("v1.0.0", "v1.1.0"):
        assert (world["tree"] / MODULE / "@v" / f"{v}.sig").exists()
        assert f"{MODULE} {v} h1:" in (world["sumdb"] / "records").read_text()

    # The repository by its path this time; everything is there already.
    r = run_modpub("backfill", "--config", world["config"], "--repo", world["repo"].bare)
    assert r.returncode == 0, r.stderr
    assert {t: s for t, (s, _) in tag_lines(r.stdout).items()} == {
        "v1.0.0": "unchanged", "v1.1.0": "unchanged", "v1.2": "invalid", "v2.0.0": "invalid"}

    # --strict: an invalid tag is an error.
    r = run_modpub("backfill", "--config", world["config"], "--repo", MODULE, "--strict")
    assert r.returncode == 1, r.stderr


def test_backfill_honours_modpub_config_and_names_an_unknown_repository(world):
    env = {"MODPUB_CONFIG": str(world["config"])}
    r = run_modpub("backfill", "--repo", MODULE, env=env)
    assert r.returncode == 0, r.stderr
    assert read_list(world["tree"], MODULE) == ["v1.0.0", "v1.1.0"]
    r = run_modpub("backfill", "--repo", "corp.example/nope", env=env)
    assert r.returncode == 2
    assert "--repo corp.example/nope: no [[repository]]" in r.stderr and MODULE in r.stderr
    # The flags of a configuration-less run and --config do not mix.
    r = run_modpub("backfill", "--config", world["config"], "--repo", MODULE,
                   "--to", url("file", world["tmp"] / "other"))
    assert r.returncode == 2 and "drop --import-path, --to" in r.stderr


def test_dry_run_says_what_it_would_do_and_writes_nothing(world):
    r = run_modpub("backfill", "--config", world["config"], "--repo", MODULE)
    assert r.returncode == 0, r.stderr
    repo = world["repo"]
    repo.write("more.go", "package cli\n")
    repo.commit("more")
    repo.tag("v1.3.0")
    before = (snapshot(world["tree"]), snapshot(world["sumdb"]))
    r = run_modpub("backfill", "--config", world["config"], "--repo", MODULE, "--dry-run")
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = tag_lines(r.stdout)
    assert lines["v1.3.0"] == ("would publish", f"{MODULE}@v1.3.0")
    assert lines["v1.0.0"][0] == "unchanged" and lines["v1.1.0"][0] == "unchanged"
    assert lines["v1.2"][0] == "invalid"
    assert "dry run" in r.stdout and "nothing was written" in r.stdout
    assert (snapshot(world["tree"]), snapshot(world["sumdb"])) == before
    assert read_list(world["tree"], MODULE) == ["v1.0.0", "v1.1.0"]

    # A storage holding other content for v1.0.0: the dry run would refuse it (exit 1),
    # naming both hashes, and still writes nothing there.
    other = GitRepo(world["tmp"], "impostor")
    other.write("go.mod", f"module {MODULE}\n\ngo 1.19\n")
    other.write("impostor.go", "package cli // other content\n")
    other.commit()
    other.tag("v1.0.0")
    conflict = world["tmp"] / "conflict"
    assert publish(other, MODULE, "v1.0.0", url("file", conflict)).returncode == 0
    before = snapshot(conflict)
    r = run_modpub("backfill", "--repo", repo.bare, "--import-path", MODULE, "--to",
                   url("file", conflict), "--dry-run", "--json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert tag_lines(r.stderr)["v1.0.0"][0] == "would refuse"
    got = {(j.get("Tag"), j["Result"]) for j in json_lines(r.stdout)}
    assert ("v1.0.0", "refused") in got and ("v1.3.0", "published") in got
    assert all(j.get("DryRun") is True for j in json_lines(r.stdout))
    refused = next(j for j in json_lines(r.stdout) if j["Result"] == "refused")
    assert "h1:" in refused["Message"], refused
    assert snapshot(conflict) == before
    # The real run refuses it the same way: exit 1 for stored content it will not replace.
    r = run_modpub("backfill", "--repo", repo.bare, "--import-path", MODULE, "--to",
                   url("file", conflict))
    assert r.returncode == 1
    assert tag_lines(r.stdout)["v1.0.0"][0] == "refused"


def test_backfill_json_lines_name_the_tag_and_the_invalid_ones(world):
    r = run_modpub("backfill", "--config", world["config"], "--repo", MODULE, "--json")
    assert r.returncode == 0, r.stderr
    docs = json_lines(r.stdout)
    assert [(j["Tag"], j["Result"]) for j in docs] == [
        ("v1.0.0", "published"), ("v1.1.0", "published"), ("v1.2", "invalid"),
        ("v2.0.0", "invalid")]
    for j in docs:
        if j["Result"] == "published":
            assert {"Path", "Version", "Sum", "Backend", "Result", "Sumdb"} <= set(j), j
        else:
            assert j["Message"].startswith(j["Tag"] + ": "), j
    # The people's lines and the table go to stderr, as they go.
    assert tag_lines(r.stderr)["v1.0.0"][0] == "published"
    assert "STORAGE" in r.stderr


def test_publish_takes_a_configuration_and_refusals_keep_their_shape(world):
    r = run_modpub("publish", "--config", world["config"], "--repo", MODULE, "--tag", "v1.1.0")
    assert r.returncode == 0, r.stderr
    [j] = json_lines(r.stdout)
    assert (j["Version"], j["Result"]) == ("v1.1.0", "published") and "Sumdb" in j
    r = run_modpub("publish", "--config", world["config"], "--repo", MODULE, "--tag", "v9.9.9")
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["modpub: refused v9.9.9: tag does not exist"]
    r = run_modpub("publish", "--config", world["config"], "--repo", MODULE, "--tag", "v1.2")
    assert r.returncode == 1
    assert all(line.startswith("modpub: refused v1.2: ") for line in r.stderr.splitlines())


# --- jobs -----------------------------------------------------------------------------------

def write_job(spool: Path, tag, state="queue", error=""):
    job_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    job = {"format": "modpub-job/1", "id": job_id, "repo": "/srv/git/cli.git",
           "import_path": MODULE, "tag": tag, "commit": "0" * 40, "source": "cli",
           "attempts": 3 if error else 0, "created": "2024-01-02T03:04:05Z",
           "next_attempt": "2024-01-02T03:04:05Z", "last_error": error, "result": None,
           "finished": "2024-01-02T03:05:00Z" if error else ""}
    for d in ("tmp", "queue", state):
        (spool / d).mkdir(parents=True, exist_ok=True)
    (spool / state / f"{job_id}.job").write_text(json.dumps(job) + "\n")
    return job_id


def test_jobs_table_json_and_empty_results(world):
    spool = world["tmp"] / "spool"
    (spool / "queue").mkdir(parents=True)
    r = run_modpub("jobs", "--spool", spool)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "modpub: no jobs waiting\n")
    r = run_modpub("jobs", "--failed", "--spool", spool)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "modpub: no failed jobs\n")

    a = write_job(spool, "v1.0.0")
    b = write_job(spool, "v1.10.0")
    f = write_job(spool, "v1.1.0", "failed", "tag v1.1.0 is not publishable:\ngo.mod: wrong")
    r = run_modpub("jobs", "--spool", spool)
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split() == ["ID", "STATE", "MODULE", "TAG", "ATTEMPTS", "WHEN", "ERROR"]
    assert [row.split()[:5] for row in rows[1:]] == [
        [a, "queued", MODULE, "v1.0.0", "0"], [b, "queued", MODULE, "v1.10.0", "0"]]
    # Aligned: every column starts at the same offset in every row.
    for col in ("STATE", "MODULE", "TAG", "ATTEMPTS", "WHEN"):
        at = rows[0].index(col)
        assert all(row[at - 2:at] == "  " and row[at] != " " for row in rows[1:]), (col, rows)
    r = run_modpub("jobs", "--failed", "--spool", spool)
    assert r.stdout.splitlines()[1].split()[:4] == [f, "failed", MODULE, "v1.1.0"]
    assert "tag v1.1.0 is not publishable:;go.mod: wrong" in r.stdout  # one line per job

    r = run_modpub("jobs", "--json", "--spool", spool)
    docs = json_lines(r.stdout)
    assert [(j["Id"], j["State"], j["ImportPath"], j["Tag"], j["Queue"]) for j in docs] == [
        (a, "queued", MODULE, "v1.0.0", "spool"), (b, "queued", MODULE, "v1.10.0", "spool")]
    assert len(r.stdout.splitlines()) == 2 and "Next" in docs[0]
    r = run_modpub("jobs", "--failed", "--json", "--spool", spool)
    [j] = json_lines(r.stdout)
    assert j["Error"] == "tag v1.1.0 is not publishable:\ngo.mod: wrong"

    # $MODPUB_CONFIG names the spool when no flag does (its spool_dir is this spool).
    r = run_modpub("jobs", "--json", env={"MODPUB_CONFIG": str(world["config"])})
    assert r.returncode == 0, r.stderr
    assert [j["Id"] for j in json_lines(r.stdout)] == [a, b]
    r = run_modpub("retry", f, env={"MODPUB_CONFIG": str(world["config"])})
    assert r.returncode == 0 and f"re-queued {f}" in r.stdout, r.stderr
    # No modpubd here: the job waits in the spool, and retry says so.
    assert "modpubd is not running (no daemon listens on" in r.stderr, r.stderr
    r = run_modpub("jobs", env={"MODPUB_CONFIG": str(world["tmp"] / "missing.toml")})
    assert r.returncode == 2 and "missing.toml (from $MODPUB_CONFIG)" in r.stderr, r.stderr
    r = run_modpub("jobs", "forward", env={"MODPUB_CONFIG": str(world["config"])})
    assert r.returncode == 2 and "no queue in the configuration" in r.stderr, r.stderr


def test_sumdb_import_reads_the_configuration(world):
    gosum = world["tmp"] / "go.sum"
    gosum.write_text("golang.org/x/text v0.3.0 h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=\n")
    # [sumdb] upstream = "" in this configuration: nothing to import from, said so.
    r = run_modpub("sumdb", "import", gosum, env={"MODPUB_CONFIG": str(world["config"])})
    assert r.returncode == 2 and '[sumdb] upstream is "": nothing to import from' in r.stderr
    plain = world["tmp"] / "plain.toml"
    plain.write_text(world["config"].read_text().split("[sumdb]")[0] +
                     world["config"].read_text().split('upstream = ""\n')[1])
    r = run_modpub("sumdb", "import", gosum, "--config", plain)
    assert r.returncode == 2 and "no [sumdb] table" in r.stderr, r.stderr
    assert not world["sumdb"].exists()


# --- ls -------------------------------------------------------------------------------------

def test_ls_table_json_empty_and_missing(world):
    tree = world["tree"]
    r = run_modpub("ls", "--from", url("file", tree))
    assert r.returncode == 1 and f"{tree} does not exist" in r.stderr, r.stderr
    assert "no such storage" in r.stderr and r.stdout == ""
    tree.mkdir()
    r = run_modpub("ls", "--from", url("file", tree))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", f"modpub: no modules in file://{tree}\n")

    assert run_modpub("backfill", "--config", world["config"], "--repo", MODULE).returncode == 0
    other = GitRepo(world["tmp"], "long")
    other.write("go.mod", "module corp.example/a/much/longer/path\n\ngo 1.19\n")
    other.write("x.go", "package path\n")
    other.commit()
    other.tag("v0.1.0")
    assert publish(other, "corp.example/a/much/longer/path", "v0.1.0",
                   url("file", tree)).returncode == 0
    r = run_modpub("ls", "--from", url("file", tree))
    assert r.returncode == 0, r.stderr
    width = len("corp.example/a/much/longer/path")
    assert r.stdout.splitlines() == [
        f"{'MODULE':<{width}}  VERSIONS",
        "corp.example/a/much/longer/path  v0.1.0",
        f"{MODULE:<{width}}  v1.0.0 v1.1.0"]
    r = run_modpub("ls", "--from", url("file", tree), "--json")
    assert json_lines(r.stdout) == [
        {"Path": "corp.example/a/much/longer/path", "Versions": ["v0.1.0"]},
        {"Path": MODULE, "Versions": ["v1.0.0", "v1.1.0"]}]
    r = run_modpub("ls", "--from", url("file", tree), "corp.example/nope")
    assert r.returncode == 1 and r.stdout == ""
    assert f"corp.example/nope: no such module in file://{tree}" in r.stderr
    # Without --from: the configuration's first storage ($MODPUB_CONFIG or --config).
    r = run_modpub("ls", MODULE, env={"MODPUB_CONFIG": str(world["config"])})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].split() == [MODULE, "v1.0.0", "v1.1.0"]
    r = run_modpub("ls", "--config", world["config"], "--json", MODULE)
    assert json_lines(r.stdout) == [{"Path": MODULE, "Versions": ["v1.0.0", "v1.1.0"]}]


# --- the programs ---------------------------------------------------------------------------

def project_version():
    text = (REPO_ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(modpub VERSION (\S+)", text).group(1)


@pytest.mark.parametrize("program", ["modpub", "modpubd", "modpub-hook"])
def test_every_program_says_its_version(program, tmp_path):
    binary = modpub_bin().parent / program
    r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, cwd=tmp_path,
                       timeout=30, env={k: v for k, v in os.environ.items()
                                        if k != "MODPUB_CONFIG"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{program} {project_version()}"


def test_bare_modpub_prints_the_commands_and_exits_2():
    r = run_modpub()
    assert r.returncode == 2, (r.returncode, r.stderr)
    for command in ("publish", "backfill", "ls", "jobs", "retry", "zip", "--version"):
        assert command in r.stderr, r.stderr
    assert "exits with status 2" in r.stderr
    r = run_modpub("--help")
    assert r.returncode == 0 and "backfill" in r.stdout
    r = run_modpub("ls", "--no-such-option")
    assert r.returncode == 2 and "--no-such-option" in r.stderr


def test_modpubd_without_config_and_check_config_counts(world):
    r = subprocess.run([str(modpubd_bin())], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--config <toml> is required" in r.stderr, r.stderr
    r = subprocess.run([str(modpubd_bin()), "--config", str(world["config"]), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert ": OK: 1 repository, 1 storage, 2 workers," in r.stdout, r.stdout
