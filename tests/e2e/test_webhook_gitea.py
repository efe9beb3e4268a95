"""Gitea and Forgejo webhooks into modpubd (POST /hooks/gitea), end to end: deliveries
shaped like the real ones (fixtures/webhook/gitea_*.json: the payloads of Gitea's
modules/structs/hook.go, with the headers Gitea and Forgejo send), signatures computed by
`openssl dgst -sha256 -hmac`, the remote served by `git daemon` (or a file:// URL), the
real daemon fetching into its mirror and publishing, real `go` fetching the result.

Answers as for GitHub (src/modpub/webhook/service.hpp): 202 queued or coalesced, 200
replay, 204 ignored or alert, 401 bad/missing signature, 404 unknown repository or one
whose provider is not "gitea", 413 body too large."""

import http.client
import json
import socket
import subprocess
import uuid

from support import git_daemon, read_list
from test_daemon import daemons, go_fetch_and_run, jobs_in, make_repo, read_job, wait_until  # noqa: F401
from test_webhook import (FIXTURES, MAX_BODY, ZERO, HookDaemon, all_jobs, openssl_hmac, post,  # noqa: F401
                          remotes, render, rev)


def gitea_subs(full_name, clone_url):
    return {"NAME": full_name.split("/")[-1], "FULL_NAME": full_name, "CLONE_URL": clone_url,
            "HTML_URL": f"https://gitea.corp.example/{full_name}",
            "SSH_URL": f"git@gitea.corp.example:{full_name}.git"}


def head_commit(commit, full_name, message):
    """Gitea's PayloadCommit of a push's head_commit."""
    who = {"name": "A Developer", "email": "dev@corp.example", "username": "dev"}
    return json.dumps({"id": commit, "message": message + "\n",
                       "url": f"https://gitea.corp.example/{full_name}/commit/{commit}",
                       "author": who, "committer": who, "verification": None,
                       "timestamp": "2024-05-13T16:02:51+02:00",
                       "added": [], "removed": [], "modified": []})


def gitea_push(full_name, clone_url, tag, commit=None, before=ZERO, after=None):
    """A push of refs/tags/<tag>: new (before = zeros, as Gitea always sends for a tag) with
    head_commit = commit, or deleted (commit None, after = zeros)."""
    head = "null" if commit is None else head_commit(commit, full_name, tag)
    return render("gitea_push_tag.json", TAG=tag, BEFORE=before, AFTER=after or commit or ZERO,
                  HEAD_COMMIT=head, **gitea_subs(full_name, clone_url))


def gitea(port, event, body, secret=None, delivery=None, family="gitea", signature=None):
    """POST /hooks/gitea with the headers the server sends: family "gitea" (X-Gitea-*,
    X-Gogs-*, X-GitHub-*, X-Hub-Signature-256, as Gitea does), "forgejo" (X-Forgejo-* as
    well, as Forgejo does) or "forgejo-only" (X-Forgejo-* alone). `signature` replaces the
    one computed with `secret`; neither: no signature headers."""
    headers = json.loads((FIXTURES / "gitea.headers.json").read_text())
    delivery = delivery or str(uuid.uuid4())
    sig = signature if signature is not None else (
        openssl_hmac(secret, body) if secret is not None else None)
    names = {"gitea": ["Gitea", "Gogs"], "forgejo": ["Forgejo", "Gitea", "Gogs"],
             "forgejo-only": ["Forgejo"]}[family]
    for name in names:
        headers[f"X-{name}-Event"] = event
        headers[f"X-{name}-Event-Type"] = event
        headers[f"X-{name}-Delivery"] = delivery
        if sig is not None:
            headers[f"X-{name}-Signature"] = sig
    if family != "forgejo-only":
        headers.update({"X-GitHub-Event": event, "X-GitHub-Event-Type": event,
                        "X-GitHub-Delivery": delivery})
        if sig is not None:
            headers["X-Hub-Signature-256"] = "sha256=" + sig
    return post(port, "/hooks/gitea", body, headers)


def test_gitea_and_forgejo_tag_pushes_publish_fetchable_modules(tmp_path, remotes, daemons):
    hooked = make_repo(remotes / "corp", name="hooked", module="corp.example/hooked",
                       tags=("v1.0.0",))
    tree = tmp_path / "tree"
    web = "https://gitea.corp.example/corp/hooked.git"
    with git_daemon(remotes) as host:
        d = HookDaemon(tmp_path, [f"file://{tree}"], [
            {"import_path": "corp.example/hooked", "remote_url": f"git://{host}/corp/hooked.git",
             "webhook_secret": "gitea-secret", "provider": "gitea"},
        ])
        daemons.append(d)
        d.start().wait_ready()
        # Gitea's push of the new tag, then its `create` of it: one job (coalesced, or a
        # second one finding the version unchanged if the first has started already).
        c1 = rev(hooked, "v1.0.0")
        body = gitea_push("corp/hooked", web, "v1.0.0", commit=c1)
        delivery = str(uuid.uuid4())
        status, text = gitea(d.port, "push", body, secret="gitea-secret", delivery=delivery)
        assert status == 202, text
        job1 = json.loads(text)["job"]
        assert job1 in sum(all_jobs(d.spool).values(), [])  # durable before the answer
        create = render("gitea_create_tag.json", TAG="v1.0.0", SHA=c1,
                        **gitea_subs("corp/hooked", web))
        status, text = gitea(d.port, "create", create, secret="gitea-secret")
        assert status == 202, text
        wait_until(lambda: job1 in jobs_in(d.spool, "done"), what="gitea job done",
                   on_fail=d.text)
        job = read_job(d.spool, "done", job1)
        assert (job["source"], job["tag"], job["commit"]) == ("webhook", "v1.0.0", c1)
        assert read_list(tree, "corp.example/hooked") == ["v1.0.0"]
        assert go_fetch_and_run(tmp_path / "go", tree, "corp.example/hooked", "v1.0.0") == "v1.0.0"

        # A replay (same X-Gitea-Delivery): 200, no job.
        wait_until(lambda: not any(all_jobs(d.spool)[s] for s in ("intake", "queue", "claimed")),
                   what="no job waiting or running", on_fail=d.text)
        jobs_before = sum(len(v) for v in all_jobs(d.spool).values())
        status, text = gitea(d.port, "push", body, secret="gitea-secret", delivery=delivery)
        assert status == 200 and "duplicate" in text, text
        assert sum(len(v) for v in all_jobs(d.spool).values()) == jobs_before

        # Forgejo, with its own headers only, for an annotated tag: `after` is the tag
        # object, head_commit the commit; the job records the commit.
        hooked.write("lib.go", 'package daemonlib\n\nconst Version = "v1.1.0"\n')
        hooked.commit("v1.1.0")
        hooked._git("tag", "-a", "-m", "release v1.1.0", "v1.1.0")
        hooked.push()
        c2 = rev(hooked, "v1.1.0")
        tag_object = subprocess.run(["git", "rev-parse", "refs/tags/v1.1.0"], cwd=hooked.bare,
                                    capture_output=True, text=True, check=True).stdout.strip()
        assert tag_object != c2
        body = gitea_push("corp/hooked", web, "v1.1.0", commit=c2, after=tag_object)
        status, text = gitea(d.port, "push", body, secret="gitea-secret", family="forgejo-only")
        assert status == 202, text
        job2 = json.loads(text)["job"]
        wait_until(lambda: job2 in jobs_in(d.spool, "done"), what="forgejo job done",
                   on_fail=d.text)
        assert read_job(d.spool, "done", job2)["commit"] == c2
        assert read_list(tree, "corp.example/hooked") == ["v1.0.0", "v1.1.0"]
        assert go_fetch_and_run(tmp_path / "go2", tree, "corp.example/hooked", "v1.1.0") == "v1.1.0"

        # The published v1.0.0 deleted: Forgejo (both header families) announces it by a
        # push and by a `delete`; one ALERT, nothing queued, the version stays.
        deleted = gitea_push("corp/hooked", web, "v1.0.0", before=c1)
        status, _ = gitea(d.port, "push", deleted, secret="gitea-secret", family="forgejo")
        assert status == 204
        gone = render("gitea_delete_tag.json", TAG="v1.0.0", **gitea_subs("corp/hooked", web))
        status, text = gitea(d.port, "delete", gone, secret="gitea-secret", family="forgejo")
        assert status == 204, text
        alert = "ALERT webhook gitea: published version tag v1.0.0 of corp.example/hooked was deleted"
        assert d.text().count(alert) == 1, d.text()[-3000:]
        _, metrics = d.get("/metrics")
        assert 'modpub_webhook_tag_alerts_total{provider="gitea",kind="deleted"} 1' in metrics
        assert 'modpub_webhook_deliveries_total{provider="gitea",result="alert"} 2' in metrics
        assert 'modpub_webhook_deliveries_total{provider="gitea",result="duplicate"} 1' in metrics
        assert read_list(tree, "corp.example/hooked") == ["v1.0.0", "v1.1.0"]
        assert all_jobs(d.spool)["failed"] == []
        assert d.stop() == 0


def test_gitea_rejected_deliveries_queue_nothing(tmp_path, remotes, daemons):
    lib = make_repo(remotes / "corp", name="lib", module="corp.example/lib", tags=("v1.0.0",))
    url = f"file://{lib.bare}"  # matched by URL (a file:// remote has no "owner/name")
    d = HookDaemon(tmp_path, [f"file://{tmp_path / 'tree'}"], [
        {"import_path": "corp.example/lib", "remote_url": url,
         "webhook_secret": "lib-secret", "provider": "gitea"},
        {"import_path": "corp.example/gh", "remote_url": "https://github.corp.example/corp/gh.git",
         "webhook_secret": "gh-secret", "provider": "github"},
        {"import_path": "corp.example/any", "remote_url": "https://git.corp.example/corp/any.git",
         "webhook_secret": "any-secret"},
    ])
    daemons.append(d)
    d.start().wait_ready()
    body = gitea_push("corp/lib", url, "v1.0.0", commit=rev(lib, "v1.0.0"))
    forged = openssl_hmac("lib-secret", body + b" ")
    assert gitea(d.port, "push", body, signature=forged)[0] == 401
    assert gitea(d.port, "push", body, signature=forged, family="forgejo-only")[0] == 401
    assert gitea(d.port, "push", body)[0] == 401  # no signature headers at all
    assert gitea(d.port, "push", body, secret="gh-secret")[0] == 401
    # GitHub's form of the signature is not Gitea's.
    assert gitea(d.port, "push", body, signature="sha256=" + openssl_hmac("lib-secret", body))[0] == 401
    log = d.text()
    assert "webhook gitea: delivery" in log and "401: signature does not match" in log
    assert "401: no X-Gitea-Signature / X-Forgejo-Signature" in log

    # Wrong provider: a Gitea delivery naming the github repository, correctly signed,
    # and a GitHub delivery naming the gitea one: both refused as unknown (404).
    gh = gitea_push("corp/gh", "https://github.corp.example/corp/gh.git", "v1.0.0",
                    commit="1" * 40)
    status, text = gitea(d.port, "push", gh, secret="gh-secret")
    assert status == 404, text
    gh_headers = json.loads((FIXTURES / "github_push_tag.headers.json").read_text())
    gh_headers.update({"X-GitHub-Delivery": str(uuid.uuid4()),
                       "X-Hub-Signature-256": "sha256=" + openssl_hmac("lib-secret", body)})
    assert post(d.port, "/hooks/github", body, gh_headers)[0] == 404
    # No provider accepts Gitea's deliveries: matched (so a wrong signature is 401, not 404).
    anyrepo = gitea_push("corp/any", "https://git.corp.example/corp/any.git", "v1.0.0",
                         commit="2" * 40)
    assert gitea(d.port, "push", anyrepo, secret="wrong")[0] == 401

    # "Test Delivery" (a push of the default branch), another event: 204.
    branch = body.replace(b'"refs/tags/v1.0.0"', b'"refs/heads/main"')
    assert gitea(d.port, "push", branch, secret="lib-secret")[0] == 204
    assert gitea(d.port, "issues", body, secret="lib-secret")[0] == 204

    # Oversized body: 413 from Content-Length before the body is read, and chunked.
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(b"POST /hooks/gitea HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"X-Gitea-Event: push\r\nContent-Length: 10000000\r\n\r\n" + b"{" * 1000)
        reply = s.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 413"), reply
    big = b'{"pad": "' + b"x" * (MAX_BODY + 10) + b'"}'
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    conn.request("POST", "/hooks/gitea", body=iter([big]), encode_chunked=True,
                 headers={"Content-Type": "application/json", "X-Gitea-Event": "push",
                          "X-Gitea-Delivery": "big", "Transfer-Encoding": "chunked"})
    assert conn.getresponse().status == 413
    conn.close()

    assert all_jobs(d.spool) == {"queue": [], "claimed": [], "done": [], "failed": [],
                                 "intake": []}
    _, metrics = d.get("/metrics")
    assert 'modpub_webhook_deliveries_total{provider="gitea",result="unauthorized"} 6' in metrics
    assert 'modpub_webhook_deliveries_total{provider="gitea",result="unknown_repo"} 1' in metrics
    assert 'modpub_webhook_deliveries_total{provider="github",result="unknown_repo"} 1' in metrics
    assert 'modpub_webhook_deliveries_total{provider="gitea",result="ignored"} 2' in metrics
    assert 'modpub_webhook_deliveries_total{provider="gitea",result="too_large"} 2' in metrics
    assert d.stop() == 0
