"""GitHub and GitLab webhooks into modpubd, end to end: deliveries shaped like
the real ones (fixtures/webhook/: headers and bodies as the providers document them),
signatures computed by `openssl dgst -sha256 -hmac`, the remote served by `git daemon`
(or a file:// URL), the real daemon fetching into its mirror and publishing, real `go`
fetching the result through GOPROXY=file://.

Documented answers (src/modpub/webhook/service.hpp): 202 queued, 200 ping/replay,
204 ignored (non-tag ref, non-version tag, unsupported event, deleted tag), 400 malformed,
401 bad/missing signature or token, 404 unknown repository, 413 body too large,
408 body not received within webhook.body_deadline_ms."""

import http.client
import json
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from support import git_daemon, intake_job_ids, read_list, run_modpub
from test_daemon import Daemon, daemons, go_fetch_and_run, jobs_in, make_repo, read_job, wait_until  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures" / "webhook"
ZERO = "0" * 40
MAX_BODY = 65536


def openssl_hmac(secret: str, body: bytes) -> str:
    r = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", secret], input=body,
                       capture_output=True, check=True)
    return r.stdout.decode().split()[-1]  # "SHA2-256(stdin)= <hex>"


def render(name, **subs):
    text = (FIXTURES / name).read_text()
    for k, v in subs.items():
        text = text.replace("{{" + k + "}}", v)
    assert "{{" not in text, f"unfilled placeholder in {name}"
    json.loads(text)  # the fixture stays valid JSON
    return text.encode()


def repo_subs(full_name, clone_url, html_url=None):
    name = full_name.split("/")[-1]
    html = html_url or f"https://github.corp.example/{full_name}"
    return {"NAME": name, "FULL_NAME": full_name, "CLONE_URL": clone_url, "HTML_URL": html,
            "GIT_URL": f"git://github.corp.example/{full_name}.git",
            "SSH_URL": f"git@github.corp.example:{full_name}.git"}


def rev(repo, tag):
    return subprocess.run(["git", "rev-parse", f"refs/tags/{tag}^{{commit}}"], cwd=repo.bare,
                          capture_output=True, text=True, check=True).stdout.strip()


def post(port, path, body: bytes, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def github(port, event, body, secret=None, delivery=None, sign_with=None, form=False):
    headers = json.loads((FIXTURES / "github_push_tag.headers.json").read_text())
    headers["X-GitHub-Event"] = event
    headers["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
    if form:
        from urllib.parse import quote_plus
        body = b"payload=" + quote_plus(body.decode()).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + openssl_hmac(secret, body)
    if sign_with is not None:
        headers["X-Hub-Signature-256"] = sign_with
    return post(port, "/hooks/github", body, headers)


def gitlab(port, body, token=None, delivery=None, event="Tag Push Hook"):
    headers = json.loads((FIXTURES / "gitlab_tag_push.headers.json").read_text())
    headers["X-Gitlab-Event"] = event
    headers["X-Gitlab-Event-UUID"] = delivery or str(uuid.uuid4())
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return post(port, "/hooks/gitlab", body, headers)


def push_body(full_name, clone_url, tag, before=ZERO, after=None, commit=None, created=True,
              deleted=False):
    head = "null" if commit is None else json.dumps({"id": commit, "message": tag})
    return render("github_push_tag.json", TAG=tag, BEFORE=before, AFTER=after or commit or ZERO,
                  CREATED=json.dumps(created), DELETED=json.dumps(deleted), HEAD_COMMIT=head,
                  **repo_subs(full_name, clone_url))


class HookDaemon(Daemon):
    """A Daemon whose configuration also has [webhook] and mirrored repositories."""

    def __init__(self, base, storage, remotes, **kw):
        super().__init__(base, storage, [], **kw)
        lines = ["[webhook]", f"max_body_bytes = {MAX_BODY}", "read_timeout_ms = 1000",
                 "body_deadline_ms = 2000", "threads = 8", "fetch_timeout_ms = 20000"]
        for r in remotes:
            lines += ["[[repository]]"] + [f"{k} = {json.dumps(v)}" for k, v in r.items()]
        with open(self.config, "a") as f:
            f.write("\n".join(lines) + "\n")


def all_jobs(spool):
    """Every job in the spool by state, each id once ("intake": only in a journal).

    Read in the order a job moves (journal, queue/, claimed/, done/ or failed/), so a job
    moving on while this runs is seen in a later state rather than missed."""
    journaled = intake_job_ids(spool)
    jobs = {s: jobs_in(spool, s) for s in ("queue", "claimed", "done", "failed")}
    known = set(sum(jobs.values(), []))
    jobs["intake"] = sorted(set(i for i in journaled if i not in known))
    return jobs


@pytest.fixture
def remotes(tmp_path):
    base = tmp_path / "remotes"
    (base / "corp").mkdir(parents=True)
    return base


def test_github_and_gitlab_tag_events_publish_fetchable_modules(tmp_path, remotes, daemons):
    hooked = make_repo(remotes / "corp", name="hooked", module="corp.example/hooked",
                       tags=("v1.0.0",))
    glab = make_repo(remotes / "corp", name="glab", module="corp.example/glab", tags=("v0.1.0",))
    tree = tmp_path / "tree"
    with git_daemon(remotes) as host:
        gh_remote = f"git://{host}/corp/hooked.git"
        gl_remote = f"file://{glab.bare}"
        d = HookDaemon(tmp_path, [f"file://{tree}"], [
            {"import_path": "corp.example/hooked", "remote_url": gh_remote,
             "webhook_secret": "gh-secret", "provider": "github"},
            {"import_path": "corp.example/glab", "remote_url": gl_remote,
             "webhook_secret": "gl-token", "provider": "gitlab"},
        ])
        daemons.append(d)
        d.start().wait_ready()
        # GitHub's web URLs in the payload; the configured remote is found by full_name.
        c1 = rev(hooked, "v1.0.0")
        body = push_body("corp/hooked", "https://github.corp.example/corp/hooked.git", "v1.0.0",
                         commit=c1)
        delivery = str(uuid.uuid4())
        status, text = github(d.port, "push", body, secret="gh-secret", delivery=delivery)
        assert status == 202, text
        job1 = json.loads(text)["job"]
        # The job is durable before the answer: it is in the spool (any state) already.
        assert job1 in sum(all_jobs(d.spool).values(), [])
        wait_until(lambda: jobs_in(d.spool, "done") == [job1], what="github job done",
                   on_fail=d.text)
        job = read_job(d.spool, "done", job1)
        assert (job["source"], job["tag"], job["commit"]) == ("webhook", "v1.0.0", c1)
        assert (d.dir / "state" / "mirrors" / "corp.example_hooked.git" / "HEAD").exists()

        # Replays (same X-GitHub-Delivery): 200, no second job -- also after a restart.
        status, text = github(d.port, "push", body, secret="gh-secret", delivery=delivery)
        assert status == 200 and "duplicate" in text
        assert d.stop() == 0
        d.start().wait_ready()
        status, _ = github(d.port, "push", body, secret="gh-secret", delivery=delivery)
        assert status == 200
        assert sum(len(v) for v in all_jobs(d.spool).values()) == 1

        # A `create` event, form-encoded (payload=...), for a new tag pushed to the remote.
        hooked.write("lib.go", 'package daemonlib\n\nconst Version = "v1.1.0"\n')
        hooked.commit("v1.1.0")
        hooked.tag("v1.1.0")
        body = render("github_create_tag.json", TAG="v1.1.0",
                      **repo_subs("corp/hooked", "https://github.corp.example/corp/hooked.git"))
        status, text = github(d.port, "create", body, secret="gh-secret", form=True)
        assert status == 202, text
        job2 = json.loads(text)["job"]
        wait_until(lambda: job2 in jobs_in(d.spool, "done"), what="create job done",
                   on_fail=d.text)
        assert read_list(tree, "corp.example/hooked") == ["v1.0.0", "v1.1.0"]
        assert go_fetch_and_run(tmp_path / "go", tree, "corp.example/hooked", "v1.1.0") == "v1.1.0"

        # GitLab Tag Push Hook, matched by its git_http_url; replay by X-Gitlab-Event-UUID.
        c2 = rev(glab, "v0.1.0")
        gl_body = render("gitlab_tag_push.json", TAG="v0.1.0", BEFORE=ZERO, AFTER=c2,
                         CHECKOUT_SHA=json.dumps(c2),
                         **repo_subs("corp/glab", gl_remote, "https://gitlab.corp.example/corp/glab"))
        gl_id = str(uuid.uuid4())
        status, text = gitlab(d.port, gl_body, token="gl-token", delivery=gl_id)
        assert status == 202, text
        assert gitlab(d.port, gl_body, token="gl-token", delivery=gl_id)[0] == 200
        wait_until(lambda: read_list(tree, "corp.example/glab") == ["v0.1.0"],
                   what="gitlab version published", on_fail=d.text)
        wait_until(lambda: len(jobs_in(d.spool, "done")) == 3, what="3 jobs done", on_fail=d.text)

        # The published tag deleted, then moved on the remote: never unpublished; alerts.
        body = push_body("corp/hooked", "https://github.corp.example/corp/hooked.git", "v1.0.0",
                         before=c1, after=ZERO, created=False, deleted=True)
        status, _ = github(d.port, "push", body, secret="gh-secret")
        assert status == 204
        hooked.write("lib.go", 'package daemonlib\n\nconst Version = "moved"\n')
        hooked.commit("moved")
        hooked.tag("v1.0.0", force=True)
        c3 = rev(hooked, "v1.0.0")
        body = push_body("corp/hooked", "https://github.corp.example/corp/hooked.git", "v1.0.0",
                         before=c1, commit=c3, created=False)
        status, text = github(d.port, "push", body, secret="gh-secret")
        assert status == 202, text
        moved_job = json.loads(text)["job"]
        wait_until(lambda: moved_job in jobs_in(d.spool, "failed"), what="moved tag refused",
                   on_fail=d.text)
        assert "refused" in read_job(d.spool, "failed", moved_job)["last_error"]
        _, metrics = d.get("/metrics")
        assert 'modpub_webhook_tag_alerts_total{provider="github",kind="deleted"} 1' in metrics
        assert 'modpub_webhook_tag_alerts_total{provider="github",kind="moved"} 1' in metrics
        assert 'modpub_webhook_deliveries_total{provider="github",result="queued"}' in metrics
        assert "ALERT webhook github: published version tag v1.0.0 of corp.example/hooked was deleted" in d.text()
        # Still the first content: go gets v1.0.0 as published.
        assert go_fetch_and_run(tmp_path / "go2", tree, "corp.example/hooked", "v1.0.0") == "v1.0.0"
        assert d.stop() == 0


def test_rejected_deliveries_queue_nothing(tmp_path, remotes, daemons):
    lib = make_repo(remotes / "corp", name="lib", module="corp.example/lib", tags=("v1.0.0",))
    d = HookDaemon(tmp_path, [f"file://{tmp_path / 'tree'}"], [
        {"import_path": "corp.example/lib", "remote_url": f"file://{lib.bare}",
         "webhook_secret": "lib-secret", "provider": "github"},
        {"import_path": "corp.example/other", "remote_url": "https://github.corp.example/corp/other.git",
         "webhook_secret": "other-secret", "provider": "github"},
        {"import_path": "corp.example/gl", "remote_url": "https://gitlab.corp.example/corp/gl.git",
         "webhook_secret": "gl-token", "provider": "gitlab"},
    ])
    daemons.append(d)
    d.start().wait_ready()
    url = f"file://{lib.bare}"  # matched by URL (a file:// remote has no "owner/name")
    body = push_body("corp/lib", url, "v1.0.0", commit=rev(lib, "v1.0.0"))
    forged = "sha256=" + openssl_hmac("lib-secret", body + b" ")
    assert github(d.port, "push", body, sign_with=forged)[0] == 401
    assert github(d.port, "push", body)[0] == 401  # no signature header
    assert github(d.port, "push", body, secret="other-secret")[0] == 401
    assert github(d.port, "push", body, sign_with="sha1=" + "0" * 40)[0] == 401
    gl_body = render("gitlab_tag_push.json", TAG="v1.0.0", BEFORE=ZERO, AFTER="1" * 40,
                     CHECKOUT_SHA=json.dumps("1" * 40),
                     **repo_subs("corp/gl", "https://gitlab.corp.example/corp/gl.git"))
    assert gitlab(d.port, gl_body, token="wrong-token")[0] == 401
    assert gitlab(d.port, gl_body)[0] == 401  # no token
    assert "401: signature does not match" in d.text()

    # Malformed JSON (signed, so only the JSON is wrong) -> 400.
    assert github(d.port, "push", b'{"ref": "refs/tags/v1', secret="lib-secret")[0] == 400
    # Non-tag ref, non-version tag, unsupported event -> 204 with the reason.
    branch = push_body("corp/lib", url, "x", commit="2" * 40).replace(b"refs/tags/x", b"refs/heads/main")
    assert github(d.port, "push", branch, secret="lib-secret")[0] == 204
    assert github(d.port, "push", push_body("corp/lib", url, "release-1", commit="3" * 40),
                  secret="lib-secret")[0] == 204
    issues = json.dumps({"action": "opened", "issue": {"number": 1},
                         "repository": {"full_name": "corp/lib", "clone_url": url}}).encode()
    assert github(d.port, "issues", issues, secret="lib-secret")[0] == 204
    assert gitlab(d.port, gl_body, token="gl-token", event="Push Hook")[0] == 204
    # Unknown repository -> 404 and a log line naming it.
    unknown = push_body("corp/nope", "https://github.corp.example/corp/nope.git", "v1.0.0",
                        commit="4" * 40)
    assert github(d.port, "push", unknown, secret="lib-secret")[0] == 404
    assert "repository [corp/nope" in d.text()
    # Ping -> 200.
    ping = render("github_ping.json", **repo_subs("corp/lib", url))
    assert github(d.port, "ping", ping, secret="lib-secret")[0] == 200

    # Oversized body: 413 as soon as the headers are read, without the body being sent.
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"X-GitHub-Event: push\r\nContent-Length: 10000000\r\n\r\n" + b"{" * 1000)
        reply = s.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 413"), reply
    # Chunked (no Content-Length) past the limit: 413 too.
    big = b'{"pad": "' + b"x" * (MAX_BODY + 10) + b'"}'
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    conn.request("POST", "/hooks/github", body=iter([big]), encode_chunked=True,
                 headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                          "X-GitHub-Delivery": "big", "Transfer-Encoding": "chunked"})
    assert conn.getresponse().status == 413
    conn.close()

    assert all_jobs(d.spool) == {"queue": [], "claimed": [], "done": [], "failed": [],
                                 "intake": []}
    _, metrics = d.get("/metrics")
    assert 'modpub_webhook_deliveries_total{provider="github",result="unauthorized"} 4' in metrics
    assert 'modpub_webhook_deliveries_total{provider="gitlab",result="unauthorized"} 2' in metrics

    # Slowloris: clients trickling a body hold a thread each, but never all of them; other
    # requests are answered meanwhile, and the slow ones are cut at the body deadline.
    slow = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
        s.sendall(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"X-GitHub-Event: push\r\nContent-Length: 5000\r\n\r\n{")
        slow.append(s)
    for i in range(3):
        for s in slow:
            s.sendall(b" ")
        assert github(d.port, "ping", ping, secret="lib-secret")[0] == 200
        assert d.get("/healthz")[0] == 200
        time.sleep(0.3)
    for s in slow:
        reply = b""
        try:
            while True:
                s.sendall(b" ")
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
                if b"\r\n\r\n" in reply:
                    break
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.close()
        assert reply == b"" or reply.startswith(b"HTTP/1.1 408"), reply
    assert all_jobs(d.spool)["queue"] == [] and all_jobs(d.spool)["intake"] == []
    assert d.stop() == 0


def test_refs_that_can_never_be_versions_are_answered_at_intake(tmp_path, remotes, daemons):
    """A ref git itself refuses gets 400, a tag no module version can have gets 204 with
    the rule in the log; neither becomes a job (they used to be queued and retried
    max_attempts times). A fetchable tag delivered after them is still published."""
    lib = make_repo(remotes / "corp", name="lib", module="corp.example/lib", tags=("v1.0.0",))
    d = HookDaemon(tmp_path, [f"file://{tmp_path / 'tree'}"], [
        {"import_path": "corp.example/lib", "remote_url": f"file://{lib.bare}",
         "webhook_secret": "lib-secret", "provider": "github"},
    ])
    daemons.append(d)
    d.start().wait_ready()
    url = f"file://{lib.bare}"
    never_a_git_ref = ["x/../v1.0.0", "v1.0.0.lock", "has space/v1.0.0", "v1.0.0~1",
                       "dir//v1.0.0", "a:b/v1.0.0"]
    never_a_version = ["--upload-pack=touch/v1.0.0", "\u00fcber/v1.0.0", "v1.0", "v01.0.0",
                       "v1.0.0+build", "sub/V1.0.0"]
    for tag in never_a_git_ref + never_a_version:
        body = push_body("corp/lib", url, "TAGPLACEHOLDER", commit="5" * 40)
        body = body.replace(b"TAGPLACEHOLDER", json.dumps(tag).encode()[1:-1])
        status, text = github(d.port, "push", body, secret="lib-secret")
        assert status == (400 if tag in never_a_git_ref else 204), (tag, status, text)
        if status == 400:
            assert "bad_request" in text, (tag, text)
    log = d.text()
    assert "--upload-pack=touch/v1.0.0" in log, log[-3000:]
    assert all_jobs(d.spool) == {"queue": [], "claimed": [], "done": [], "failed": [],
                                 "intake": []}
    _, metrics = d.get("/metrics")
    assert 'modpub_webhook_deliveries_total{provider="github",result="bad_request"} 6' in metrics
    assert 'modpub_webhook_deliveries_total{provider="github",result="ignored"} 6' in metrics
    good = push_body("corp/lib", url, "v1.0.0", commit=rev(lib, "v1.0.0"))
    assert github(d.port, "push", good, secret="lib-secret")[0] == 202
    wait_until(lambda: read_list(tmp_path / "tree", "corp.example/lib") == ["v1.0.0"], 60,
               "corp.example/lib@v1.0.0 published", d.text)
    assert d.stop() == 0


def test_unreachable_remote_retried_then_failed(tmp_path, remotes, daemons):
    d = HookDaemon(tmp_path, [f"file://{tmp_path / 'tree'}"], [
        {"import_path": "corp.example/gone", "remote_url": "git://127.0.0.1:1/corp/gone.git",
         "webhook_secret": "s", "provider": "github"},
    ], retry={"initial_backoff_ms": 100, "max_backoff_ms": 300, "max_attempts": 3})
    daemons.append(d)
    d.start().wait_ready()
    body = push_body("corp/gone", "https://github.corp.example/corp/gone.git", "v1.0.0",
                     commit="5" * 40)
    status, text = github(d.port, "push", body, secret="s")
    assert status == 202, text
    job = json.loads(text)["job"]
    wait_until(lambda: job in jobs_in(d.spool, "failed"), what="job failed", on_fail=d.text)
    failed = read_job(d.spool, "failed", job)
    assert failed["attempts"] == 2  # two retries recorded, the third attempt failed it
    assert "gave up after 3 attempt(s)" in failed["last_error"]
    assert "fetching tag v1.0.0 from git://127.0.0.1:1/corp/gone.git" in failed["last_error"]
    assert d.text().count("retrying in") == 2
    r = run_modpub("jobs", "--failed", "--config", d.config)
    assert r.returncode == 0, r.stderr
    assert job in r.stdout and "fetching tag v1.0.0" in r.stdout, r.stdout
    assert d.stop() == 0


@pytest.mark.parametrize("name", ["github/modpub.toml", "gitlab/modpub.toml", "gitea/modpub.toml",
                                  "cluster/worker.toml", "cluster/git-server.toml"])
def test_example_configs_are_valid(name, tmp_path):
    from test_daemon import modpubd_bin
    cfg = Path(__file__).resolve().parents[2] / "examples" / name
    text = cfg.read_text()
    if 'signer_key = "/etc/modpub/sumdb.key"' in text:
        # --check-config reads the key: the example's own path, with a key of its name.
        name_line = next(l for l in text.splitlines() if l.startswith("name = "))
        r = run_modpub("keygen", "--name", name_line.split('"')[1], "--out", tmp_path / "keys")
        assert r.returncode == 0, r.stderr
        cfg = tmp_path / "modpub.toml"
        cfg.write_text(text.replace("/etc/modpub/sumdb.key", str(tmp_path / "keys" / "signer.key")))
    r = subprocess.run([str(modpubd_bin()), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_tag_go_could_not_fetch_becomes_failed_job(tmp_path, remotes, daemons):
    bad = make_repo(remotes / "corp", name="bad", module="corp.example/elsewhere", tags=("v1.0.0",))
    d = HookDaemon(tmp_path, [f"file://{tmp_path / 'tree'}"], [
        {"import_path": "corp.example/bad", "remote_url": f"file://{bad.bare}",
         "webhook_secret": "s", "provider": "gitlab"},
    ])
    daemons.append(d)
    d.start().wait_ready()
    c = rev(bad, "v1.0.0")
    body = render("gitlab_tag_push.json", TAG="v1.0.0", BEFORE=ZERO, AFTER=c,
                  CHECKOUT_SHA=json.dumps(c), **repo_subs("corp/bad", f"file://{bad.bare}"))
    status, text = gitlab(d.port, body, token="s")
    assert status == 202, text
    job = json.loads(text)["job"]
    wait_until(lambda: job in jobs_in(d.spool, "failed"), what="job failed", on_fail=d.text)
    failed = read_job(d.spool, "failed", job)
    assert failed["attempts"] == 0  # not retried: retrying cannot help
    assert "cannot be published" in failed["last_error"]
    assert "corp.example/elsewhere" in failed["last_error"], failed["last_error"]
    r = run_modpub("jobs", "--failed", "--config", d.config)
    assert job in r.stdout and "cannot be published" in r.stdout, r.stdout
    assert not (tmp_path / "tree").exists() or read_list(tmp_path / "tree", "corp.example/bad") == []
    assert d.stop() == 0
