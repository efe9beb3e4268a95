"""What docs/operations.md promises an operator, against the real programs: the nginx TLS
server block of examples/nginx/ in front of a real modpubd, the retention of finished
jobs, and a Grafana dashboard whose every series the daemon serves."""

import json
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support import REPO_ROOT, free_port, stop_process, wait_for_port
from test_daemon import Daemon, daemons, make_repo, wait_until  # noqa: F401 (fixture)

TLS_EXAMPLE = REPO_ROOT / "examples" / "nginx" / "modpubd-tls.conf"
DASHBOARD = REPO_ROOT / "examples" / "grafana" / "modpub-dashboard.json"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def self_signed(dir: Path):
    key, cert = dir / "key.pem", dir / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=proxy.corp.example", "-addext", "subjectAltName=DNS:proxy.corp.example",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


def tls_nginx_conf(work: Path, daemon_port, https_port, http_port):
    """The example as an operator would install it: only the certificate paths, the ports
    and the daemon's address changed."""
    key, cert = self_signed(work)
    site = TLS_EXAMPLE.read_text()
    for old, new in [("/etc/ssl/certs/proxy.corp.example.pem", str(cert)),
                     ("/etc/ssl/private/proxy.corp.example.key", str(key)),
                     ("127.0.0.1:8780", f"127.0.0.1:{daemon_port}"),
                     ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
                     ("listen [::]:443 ssl http2;", ""),
                     ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                     ("listen [::]:80;", "")]:
        assert old in site, old
        site = site.replace(old, new)
    (work / "site.conf").write_text(site)
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    main = (f"user {user};\nworker_processes 1;\npid {work}/nginx.pid;\n"
            f"error_log {work}/error.log;\nevents {{}}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {work}/body;\n"
            f"  proxy_temp_path {work}/proxy;\n  include {work}/site.conf;\n}}\n")
    conf = work / "nginx.conf"
    conf.write_text(main)
    return conf, cert


def https_get(port, path, cert):
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False  # the certificate names proxy.corp.example; we dial 127.0.0.1
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}",
                                 headers={"Host": "proxy.corp.example"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_tls_example_serves_the_daemon_and_keeps_metrics_private(tmp_path, daemons):
    (tmp_path / "git").mkdir()
    repo = make_repo(tmp_path / "git", tags=())
    d = Daemon(tmp_path, [f"file://{tmp_path / 'store'}"], [(repo.bare, "corp.example/lib")])
    daemons.append(d.start())
    d.wait_ready()
    work = tmp_path / "nginx"
    work.mkdir()
    https_port, http_port = free_port(), free_port()
    conf, cert = tls_nginx_conf(work, d.port, https_port, http_port)
    t = subprocess.run([NGINX, "-t", "-p", str(work), "-c", str(conf)], capture_output=True,
                       text=True)
    assert t.returncode == 0, t.stderr
    proc = subprocess.Popen([NGINX, "-p", str(work), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for_port(https_port, proc=proc), (work / "error.log").read_text()
        status, body = https_get(https_port, "/healthz", cert)
        assert status == 200, body
        # /metrics only from the monitoring network: loopback is not in it.
        status, _ = https_get(https_port, "/metrics", cert)
        assert status == 403
        # Plain http only redirects: go would send credentials over it otherwise.
        req = urllib.request.Request(f"http://127.0.0.1:{http_port}/corp.example/lib/@v/list")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        try:
            urllib.request.build_opener(NoRedirect).open(req, timeout=5)
            raise AssertionError("plain http answered")
        except urllib.error.HTTPError as e:
            assert e.code == 308
            assert e.headers["Location"].startswith("https://")
    finally:
        stop_process(proc)


def write_done_job(spool: Path, job_id, age_days):
    done = spool / "done"
    done.mkdir(parents=True, exist_ok=True)
    job = {"format": "modpub-job/1", "id": job_id, "repo": "/srv/git/lib.git",
           "import_path": "corp.example/lib", "tag": "v1.0.0", "commit": "", "source": "cli",
           "attempts": 1, "created": "2026-01-01T00:00:00Z", "next_attempt": "2026-01-01T00:00:00Z",
           "last_error": "", "result": None, "finished": "2026-01-01T00:00:00Z"}
    path = done / f"{job_id}.job"
    path.write_text(json.dumps(job) + "\n")
    t = time.time() - age_days * 86400
    os.utime(path, (t, t))
    return path


def test_finished_jobs_older_than_the_retention_are_deleted(tmp_path, daemons):
    (tmp_path / "git").mkdir()
    repo = make_repo(tmp_path / "git", tags=())
    d = Daemon(tmp_path, [f"file://{tmp_path / 'store'}"], [(repo.bare, "corp.example/lib")])
    text = d.config.read_text().replace("[daemon]\n", "[daemon]\nkeep_done_jobs_days = 2\n")
    d.config.write_text(text)
    old = write_done_job(d.spool, "20260101T000000000Z-00000001", age_days=3)
    fresh = write_done_job(d.spool, "20260101T000000000Z-00000002", age_days=1)
    failed = d.spool / "failed"
    failed.mkdir(parents=True, exist_ok=True)
    kept_failed = failed / "20260101T000000000Z-00000003.job"
    shutil.copy(old, kept_failed)
    os.utime(kept_failed, (0, 0))
    daemons.append(d.start())
    d.wait_ready()
    wait_until(lambda: not old.exists(), timeout=20, what="the old done job deleted",
               on_fail=d.text)
    assert fresh.exists() and kept_failed.exists()
    assert "deleted 1 finished job(s) older than 2 days" in d.text()


def dashboard_series():
    dash = json.loads(DASHBOARD.read_text())
    names = set()
    for panel in dash["panels"]:
        for target in panel["targets"]:
            names |= set(re.findall(r"\b(modpub_[a-z_]+?)(?:_bucket)?\b(?=[{\[( ]|$)",
                                    target["expr"]))
    return names


# Series the daemon serves only in some setups; each is checked where the suite runs that
# setup (the cluster and upstream tests read /metrics too).
ONLY_WITH = {
    "modpub_cluster_queue_jobs": "a Redis queue",
    "modpub_sumdb_upstream_lookups_total": "sumdb.upstream",
}


def test_every_dashboard_series_is_served(tmp_path, daemons):
    names = dashboard_series()
    assert len(names) >= 10, names
    (tmp_path / "git").mkdir()
    repo = make_repo(tmp_path / "git", tags=())
    d = Daemon(tmp_path, [f"file://{tmp_path / 'store'}"], [(repo.bare, "corp.example/lib")])
    daemons.append(d.start())
    d.wait_ready()
    _, metrics = d.get("/metrics")
    served = set(re.findall(r"^# TYPE (modpub_[a-z_]+) ", metrics, re.M))
    missing = sorted(n for n in names - served if n not in ONLY_WITH)
    assert not missing, f"the dashboard asks for series modpubd does not serve: {missing}"
