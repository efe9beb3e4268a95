"""modpubd's admin API against a real daemon, next to its command-line twins: every failed
job re-queued (POST /api/jobs/retry-failed, `modpub retry --all-failed`) for an admin only,
a backfill started over HTTP (POST /api/backfill) publishing tags the repository has but
storage never got, which go then fetches, one backfill at a time (409), a daemon stopped
mid-backfill exiting cleanly, and the audit lines ("admin: <effect>; <action> by <who>")
that the daemon and the CLI write the same way. With redis-server installed, a failed job
of the cluster queue is retried over HTTP from the queue's dead letters.

Admins and readers are bearer tokens of an auth file ([[token]], sha256 of the token)."""

import getpass
import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request

import pytest

from support import read_list, run_modpub
from test_daemon import (MODULE, Daemon, daemons, go_fetch_and_run, jobs_in,  # noqa: F401
                         make_repo, now_rfc3339, wait_until)

ADMIN, READER = "admin-secret-token", "reader-secret-token"
REDIS = "/usr/bin/redis-server"
UNIX_USER = f"unix:{getpass.getuser()}"


def auth_file(path):
    sha = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    path.write_text(f'[[token]]\nname = "ops"\nsha256 = "{sha(ADMIN)}"\nallow = ["*"]\n'
                    f'admin = true\n'
                    f'[[token]]\nname = "reader"\nsha256 = "{sha(READER)}"\nallow = ["*"]\n')
    return path


def with_auth(d, base):
    """The daemon's [proxy] with an auth file: the admin API's admins."""
    auth = auth_file(base / "auth.toml")
    d.config.write_text(d.config.read_text() + f'\n[proxy]\nauth = "{auth}"\n')
    return d


def call(d, path, token=None, method="POST"):
    """(status, parsed JSON or text, headers) of one request to the daemon."""
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", method=method,
                                 data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body, headers = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, body, headers = e.code, e.read().decode(), e.headers
    try:
        return status, json.loads(body), headers
    except ValueError:
        return status, body, headers


def write_failed(spool, repo, tag, job_id):
    """A job in failed/ as a worker leaves one that gave up (the spool's job format)."""
    commit = os.popen(f"git -C {repo.bare} rev-parse refs/tags/{tag}^{{commit}}").read().strip()
    job = {"format": "modpub-job/1", "id": job_id, "repo": str(repo.bare),
           "import_path": MODULE, "tag": tag, "commit": commit, "source": "cli",
           "attempts": 5, "created": now_rfc3339(), "next_attempt": now_rfc3339(),
           "last_error": "storage unreachable", "result": None, "finished": now_rfc3339()}
    for state in ("tmp", "queue", "failed"):
        (spool / state).mkdir(parents=True, exist_ok=True)
    (spool / "failed" / f"{job_id}.job").write_text(json.dumps(job) + "\n")
    return job_id


def wait_backfill_idle(d, timeout=120):
    state = {}

    def idle():
        nonlocal state
        status, state, _ = call(d, "/api/backfill", ADMIN, method="GET")
        assert status == 200, state
        return not state["running"]
    wait_until(idle, timeout=timeout, what="the backfill run to end", on_fail=d.text)
    return state


def test_retry_failed_requeues_every_failed_job_for_admins_only(tmp_path, daemons):
    repo = make_repo(tmp_path, tags=("v1.0.0", "v1.1.0"))
    tree = tmp_path / "tree"
    d = with_auth(Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)]), tmp_path)
    daemons.append(d)
    ids = [write_failed(d.spool, repo, "v1.0.0", "20260101T000000000Z-0000aaaa"),
           write_failed(d.spool, repo, "v1.1.0", "20260101T000000001Z-0000bbbb")]
    d.start().wait_ready()

    status, body, headers = call(d, "/api/jobs/retry-failed")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm="), body
    assert call(d, "/api/jobs/retry-failed", READER)[0] == 403
    assert call(d, "/api/jobs/retry-failed?force=1", ADMIN)[0] == 400
    assert jobs_in(d.spool, "failed") == ids  # refused: nothing moved

    status, body, _ = call(d, "/api/jobs/retry-failed", ADMIN)
    assert status == 200, body
    assert body == {"requeued": ids, "cluster": [], "spool": ids}
    # Re-queued with their attempts reset, the workers woken: both versions published.
    wait_until(lambda: jobs_in(d.spool, "done") == ids, what="the jobs done", on_fail=d.text)
    assert read_list(tree, MODULE) == ["v1.0.0", "v1.1.0"]
    log = d.text()
    for job in ids:
        assert f"admin: job {job} re-queued (spool); retry-failed by ops" in log, log
    assert f"admin: 2 failed jobs re-queued (spool: {ids[0]}, {ids[1]}); retry-failed by ops" in log
    assert 'auth: admin action "retry every failed job" allowed to' in log
    assert 'auth: admin action "retry every failed job" forbidden to reader' in log

    # Nothing failed any more: 200, an empty list.
    status, body, _ = call(d, "/api/jobs/retry-failed", ADMIN)
    assert (status, body["requeued"]) == (200, [])
    assert d.stop() == 0


def test_cli_retry_writes_the_audit_lines_the_daemon_writes(tmp_path):
    repo = make_repo(tmp_path, tags=("v1.0.0", "v1.1.0"))
    d = Daemon(tmp_path, [f"file://{tmp_path / 'tree'}"], [(repo.bare, MODULE)])  # not started
    one = write_failed(d.spool, repo, "v1.0.0", "20260101T000000000Z-0000cccc")
    two = write_failed(d.spool, repo, "v1.1.0", "20260101T000000001Z-0000dddd")
    r = run_modpub("retry", one, "--config", d.config)
    assert r.returncode == 0, r.stderr
    assert f"modpub: re-queued {one}" in r.stdout
    assert f"modpub: admin: job {one} re-queued (spool); retry by {UNIX_USER}" in r.stderr
    r = run_modpub("retry", one, "--config", d.config)  # not failed any more
    assert r.returncode == 1
    assert f"admin: job {one} not re-queued: job {one} is not in failed/" in r.stderr
    assert f"; retry by {UNIX_USER}" in r.stderr

    # --all-failed, and never together with ids, nor neither.
    assert run_modpub("retry", "--all-failed", two, "--config", d.config).returncode == 2
    r = run_modpub("retry", "--config", d.config)
    assert r.returncode == 2 and "--all-failed" in r.stderr
    assert "--all-failed" in run_modpub("retry", "--help").stdout
    r = run_modpub("retry", "--all-failed", "--config", d.config)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"modpub: re-queued {two}\n"
    assert f"admin: job {two} re-queued (spool); retry-failed by {UNIX_USER}" in r.stderr
    assert f"admin: 1 failed job re-queued (spool: {two}); retry-failed by {UNIX_USER}" in r.stderr
    assert jobs_in(d.spool, "queue") == [one, two] and jobs_in(d.spool, "failed") == []
    r = run_modpub("retry", "--all-failed", "--config", d.config)
    assert r.returncode == 0 and "no failed jobs" in r.stderr


def test_backfill_over_http_publishes_tags_storage_never_got(tmp_path, daemons):
    # Tags pushed without hooks and with reconciliation off: nothing queued them.
    repo = make_repo(tmp_path, tags=("v1.0.0", "v1.1.0"))
    repo.tag("v1.2")  # not canonical: listed as invalid, as `modpub backfill` lists it
    tree = tmp_path / "tree"
    d = with_auth(Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)]), tmp_path)
    daemons.append(d)
    d.start().wait_ready()
    assert not (tree / MODULE).exists()

    assert call(d, "/api/backfill")[0] == 401
    assert call(d, "/api/backfill", READER)[0] == 403
    assert call(d, "/api/backfill", READER, method="GET")[0] == 403
    status, body, _ = call(d, "/api/backfill?repo=corp.example/nope", ADMIN)
    assert status == 400 and "no [[repository]]" in body["error"] and MODULE in body["error"]
    assert call(d, "/api/backfill?dry_run=maybe", ADMIN)[0] == 400
    assert call(d, "/api/backfill", ADMIN, method="GET")[1] == {"running": False, "run": None}

    status, body, _ = call(d, f"/api/backfill?repo={MODULE}", ADMIN)
    assert status == 202, body
    assert body == {"run": 1, "state": "running", "dry_run": False, "repositories": [MODULE]}
    state = wait_backfill_idle(d)
    run = state["run"]
    assert (run["id"], run["by"], run["state"], run["dry_run"]) == (1, "ops", "finished", False)
    [summary] = run["summary"]
    assert summary["repository"] == MODULE and summary["version_tags"] == 3
    assert summary["invalid"] == ["v1.2"]
    assert summary["storages"] == {f"file://{tree}": {"published": 2, "unchanged": 0,
                                                      "refused": 0, "failed": 0}}
    assert read_list(tree, MODULE) == ["v1.0.0", "v1.1.0"]
    assert go_fetch_and_run(tmp_path / "go", tree, MODULE, "v1.1.0") == "v1.1.0"
    log = d.text()
    assert f"admin: backfill of {MODULE} started; backfill by ops" in log
    assert (f"admin: backfill of {MODULE} finished: file://{tree}: 2 published, 0 unchanged, "
            f"0 refused, 0 failed; 1 invalid tag (v1.2); 3 version tags; backfill by ops") in log
    assert f'auth: admin action "backfill {MODULE}" allowed to' in log

    # A dry run over every repository: nothing left to publish.
    status, body, _ = call(d, "/api/backfill?dry_run=1", ADMIN)
    assert status == 202 and body["run"] == 2 and body["dry_run"] is True
    [summary] = wait_backfill_idle(d)["run"]["summary"]
    assert summary["storages"][f"file://{tree}"]["unchanged"] == 2
    assert f"admin: backfill of {MODULE} started (dry run); backfill by ops" in d.text()

    # The command line's twin writes the same lines, naming its Unix user.
    r = run_modpub("backfill", "--config", d.config, "--repo", MODULE)
    assert r.returncode == 0, r.stderr
    assert f"modpub: admin: backfill of {MODULE} started; backfill by {UNIX_USER}" in r.stderr
    assert (f"modpub: admin: backfill of {MODULE} finished: file://{tree}: 0 published, "
            f"2 unchanged, 0 refused, 0 failed; 1 invalid tag (v1.2); 3 version tags; "
            f"backfill by {UNIX_USER}") in r.stderr
    assert d.stop() == 0


def test_one_backfill_at_a_time_and_a_stop_mid_run_exits_cleanly(tmp_path, daemons):
    tags = tuple(f"v1.{i}.0" for i in range(6))
    repo = make_repo(tmp_path, tags=tags, files=10)
    tree = tmp_path / "tree"
    d = with_auth(Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)]), tmp_path)
    daemons.append(d)
    # Every durable write step sleeps 100 ms: a tag's publish takes a second or more, so
    # the run is still going when the next request comes.
    d.start(args=["--step-delay-ms", "100"]).wait_ready(timeout=60)
    status, body, _ = call(d, "/api/backfill", ADMIN)
    assert status == 202, body
    status, busy, _ = call(d, "/api/backfill", ADMIN)
    assert status == 409, busy
    assert busy["run"] == 1 and "still going on" in busy["error"]
    status, state, _ = call(d, "/api/backfill", ADMIN, method="GET")
    assert state["running"] is True and state["run"]["state"] == "running"
    wait_until(lambda: f"admin: backfill run 1 of {MODULE}: v1.0.0 published" in d.text(),
               timeout=60, what="the first tag published", on_fail=d.text)
    # SIGTERM mid-run: the tag in progress finishes, the run stops before the next one.
    started = time.monotonic()
    assert d.stop(timeout=60) == 0, d.text()
    assert time.monotonic() - started < 30
    log = d.text()
    assert "modpubd stopped" in log
    m = re.search(rf"admin: backfill of {re.escape(MODULE)} finished: .*; (\d) version tags?, "
                  r"stopped early; backfill by ops", log)
    assert m and int(m.group(1)) < len(tags), log
    published = read_list(tree, MODULE)
    assert published == list(tags[:len(published)]) and 1 <= len(published) < len(tags)


@pytest.mark.skipif(not os.access(REDIS, os.X_OK), reason="redis-server is absent")
def test_retry_over_http_takes_a_failed_job_from_the_cluster_queue(tmp_path, daemons):
    from test_cluster import Redis, with_queue
    redis = Redis(tmp_path).start()
    try:
        repo = make_repo(tmp_path, tags=("v1.0.0",))
        tree = tmp_path / "tree"
        d = with_auth(Daemon(tmp_path, [f"file://{tree}"], [(repo.bare, MODULE)]), tmp_path)
        with_queue(d.config, redis.url())
        daemons.append(d)
        # A job whose repository is not configured: the node's forwarder hands it to Redis,
        # a worker fails it at once into the dead letters.
        job = write_failed(d.spool, repo, "v1.0.0", "20260101T000000000Z-0000eeee")
        queued = d.spool / "queue" / f"{job}.job"
        queued.parent.mkdir(parents=True, exist_ok=True)
        text = (d.spool / "failed" / f"{job}.job").read_text()
        (d.spool / "failed" / f"{job}.job").unlink()
        queued.write_text(text.replace(str(repo.bare), str(tmp_path / "elsewhere.git")))
        d.start().wait_ready()
        wait_until(lambda: job in run_modpub("jobs", "--failed", "--config", d.config).stdout,
                   timeout=60, what="the job dead-lettered", on_fail=d.text)

        assert call(d, f"/api/jobs/{job}/retry", READER)[0] == 403
        status, body, _ = call(d, f"/api/jobs/{job}/retry", ADMIN)
        assert (status, body) == (200, {"job": job, "state": "queued"})
        assert f"admin: job {job} re-queued (cluster queue); retry by ops" in d.text()
        # Back in the stream: a worker takes it again and fails it again, into the dead
        # letters, where retry-failed finds it.
        wait_until(lambda: job in run_modpub("jobs", "--failed", "--config", d.config).stdout,
                   timeout=60, what="the job failed again", on_fail=d.text)
        status, body, _ = call(d, "/api/jobs/retry-failed", ADMIN)
        assert status == 200 and body["cluster"] == [job] and body["spool"] == [], body
        assert d.stop() == 0
    finally:
        redis.kill()
