"""LDAP / Active Directory logins through nginx `auth_request`, end to end: Debian's real
slapd (a free loopback port, its own slapd.conf and mdb database under the test's tmp
directory, the memberof overlay), the authenticator of examples/nginx/ldap/,
examples/nginx/modpubd-ldap.conf in Debian's nginx over TLS, and modpubd with
examples/auth/ldap.auth.toml, which trusts nginx's user and groups headers. The real go
command (every installed go, with .netrc) reads as a directory user; a wrong password is
a 401, a user in no group of a role gets 403, and the X-Remote-User / X-Remote-Groups
that a client sends itself never reach modpub: nginx replaces or removes them."""

import base64
import http.client
import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from support import (REPO_ROOT, clean_gopath, each_go, free_port, go_download, go_env,
                     publish_small_module, stop_process, wait_for_port,
                     write_netrc)
from test_daemon import Daemon, make_repo
from test_goauth import make_cert

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PYTHON = "/usr/bin/python3"  # Debian's, where python3-ldap3 installs
AUTHENTICATOR = REPO_ROOT / "examples" / "nginx" / "ldap" / "modpub-ldap-auth.py"
NGINX_EXAMPLE = REPO_ROOT / "examples" / "nginx" / "modpubd-ldap.conf"
AUTH_EXAMPLE = REPO_ROOT / "examples" / "auth" / "ldap.auth.toml"


def _missing():
    for tool in (SLAPD, shutil.which("slaptest"), shutil.which("slappasswd"),
                 shutil.which("ldapadd")):
        if not tool or not os.access(tool, os.X_OK):
            return "slapd or ldap-utils is not installed (scripts/install-deps)"
    if not os.access(NGINX, os.X_OK):
        return "nginx is not installed"
    if subprocess.run([PYTHON, "-c", "import ldap3"], capture_output=True).returncode != 0:
        return "python3-ldap3 is not installed (scripts/install-deps)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))

SUFFIX = "dc=corp,dc=example"
SERVICE_DN = f"cn=modpub,ou=services,{SUFFIX}"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave pw é"}
# Group cn -> members. Only go-readers, go-admins and "Team B Developers" are [[role]]s of
# examples/auth/ldap.auth.toml; "staff" is a group modpub does not know.
GROUPS = {"go-readers": ["alice"], "go-admins": ["carol"], "Team B Developers": ["dave"],
          "staff": ["alice", "bob", "carol", "dave"]}
TEAM_A = "corp.example/team-a/lib"  # go-readers may read it
TEAM_B = "corp.example/team-b/lib"  # "Team B Developers" may read it


def ssha(password):
    r = subprocess.run(["slappasswd", "-h", "{SSHA}", "-s", password], capture_output=True,
                       text=True, check=True)
    return r.stdout.strip()


def directory_ldif():
    out = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: Corp\n"]
    for ou in ("people", "groups", "services"):
        out.append(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n")
    out.append(f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\n"
               f"objectClass: simpleSecurityObject\ncn: modpub\n"
               f"userPassword: {ssha('service-pw')}\n")
    for uid, pw in PASSWORDS.items():
        out.append(f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                   f"cn: {uid}\nsn: {uid}\nuserPassword: {ssha(pw)}\n")
    for cn, members in GROUPS.items():
        out.append(f"dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n" +
                   "".join(f"member: uid={m},ou=people,{SUFFIX}\n" for m in members))
    return "\n".join(out)


def start_slapd(base: Path):
    """slapd in the foreground (-d 0) on a free port; returns (process, ldap URL). The
    directory is loaded over LDAP by its root DN, so that the memberof overlay fills in
    each user's memberOf (slapadd would bypass it)."""
    d = base / "slapd"
    (d / "db").mkdir(parents=True)
    conf = d / "slapd.conf"
    conf.write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
database mdb
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
rootpw {ssha("admin-pw")}
directory {d}/db
maxsize 16777216
overlay memberof
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{SERVICE_DN}" read by * none
""")
    r = subprocess.run(["slaptest", "-u", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    log = open(d / "slapd.log", "w")
    proc = subprocess.Popen([SLAPD, "-d", "0", "-f", str(conf), "-h", url + "/"],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    if not wait_for_port(port, proc=proc):
        stop_process(proc)
        raise AssertionError("slapd did not start: " + (d / "slapd.log").read_text())
    # LDAPNOINIT: no /etc/ldap/ldap.conf or ~/.ldaprc of this machine applies.
    r = subprocess.run(["ldapadd", "-x", "-H", url, "-D", f"cn=admin,{SUFFIX}", "-w", "admin-pw"],
                       input=directory_ldif(), capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, LDAPNOINIT="1"))
    assert r.returncode == 0, r.stderr
    return proc, url


def start_authenticator(base: Path, name, *args):
    """The authenticator on a free port; returns (process, port, log path)."""
    port = free_port()
    log_path = base / f"{name}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([PYTHON, str(AUTHENTICATOR), "--listen", f"127.0.0.1:{port}",
                             *map(str, args)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    if not wait_for_port(port, proc=proc):
        stop_process(proc)
        raise AssertionError(f"the authenticator did not start: {log_path.read_text()}")
    return proc, port, log_path


def sub_once(text, old, new):
    assert text.count(old) == 1, f"{NGINX_EXAMPLE.name} no longer has {old!r} once"
    return text.replace(old, new)


def start_nginx(base: Path, serve_port, auth_port, cert, key):
    """examples/nginx/modpubd-ldap.conf with this test's ports and certificate, inside a
    minimal nginx.conf under a temp prefix; returns (process, https URL)."""
    prefix = base / "nginx"
    prefix.mkdir()
    https, plain = free_port(), free_port()
    server = NGINX_EXAMPLE.read_text()
    for old, new in [("server 127.0.0.1:8780;", f"server 127.0.0.1:{serve_port};"),
                     ("server 127.0.0.1:8781;", f"server 127.0.0.1:{auth_port};"),
                     ("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
                     ("listen [::]:443 ssl http2;", ""),
                     ("listen 80;", f"listen 127.0.0.1:{plain};"), ("listen [::]:80;", ""),
                     ("/etc/ssl/certs/proxy.corp.example.pem", str(cert)),
                     ("/etc/ssl/private/proxy.corp.example.key", str(key))]:
        server = sub_once(server, old, new)
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    temps = "".join(f"  {t}_temp_path {prefix}/{t};\n"
                    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = prefix / "nginx.conf"
    conf.write_text(f"user {user};\nworker_processes 1;\npid {prefix}/nginx.pid;\n"
                    f"error_log {prefix}/error.log warn;\nevents {{ worker_connections 64; }}\n"
                    f"http {{\n  access_log {prefix}/access.log;\n{temps}{server}\n}}\n")
    proc = subprocess.Popen([NGINX, "-e", str(prefix / "error.log"), "-p", str(prefix), "-c",
                             str(conf), "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if not wait_for_port(https, proc=proc):
        stop_process(proc)
        raise AssertionError("nginx did not start: " + (prefix / "error.log").read_text())
    return proc, f"https://127.0.0.1:{https}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("ldap")
    stops = []  # run in reverse at the end
    try:
        slapd, ldap_url = start_slapd(base)
        stops.append(lambda: stop_process(slapd))
        tree = base / "tree"
        sums = {}
        for mod in (TEAM_A, TEAM_B):
            work = base / mod.replace("/", "_")
            work.mkdir()
            sums[mod] = publish_small_module(work, mod, "v1.0.0", f"file://{tree}")[0]["Sum"]
        (base / "git").mkdir()
        daemon = Daemon(base, [f"file://{tree}"], [(make_repo(base / "git", tags=()).bare, TEAM_A)])
        daemon.config.write_text(daemon.config.read_text() +
                                 f'\n[proxy]\nauth = "{AUTH_EXAMPLE}"\n')
        daemon.start()
        stops.append(daemon.stop)
        daemon.wait_ready()
        (base / "service-pw").write_text("service-pw\n")
        # The instance nginx asks takes its settings from an INI file, as under systemd.
        ini = base / "ldap-auth.ini"
        ini.write_text(f"[ldap-auth]\nurl = {ldap_url}\ntimeout = 3\nbind-dn = {SERVICE_DN}\n"
                       f"bind_password_file = {base / 'service-pw'}\n"
                       f"user-base = ou=people,{SUFFIX}\ngroup-base = ou=groups,{SUFFIX}\n")
        auth, auth_port, auth_log = start_authenticator(base, "ldap-auth", "--config", ini)
        stops.append(lambda: stop_process(auth))
        cert, key = make_cert(base)
        nginx, url = start_nginx(base, daemon.port, auth_port, cert, key)
        stops.append(lambda: stop_process(nginx))
        yield {"base": base, "url": url, "cert": cert, "sums": sums, "ldap": ldap_url,
               "daemon": daemon, "auth_log": auth_log}
    finally:
        for stop in reversed(stops):
            stop()


def request(stack, path, login=None, password=None, headers=None):
    """GET `path` through nginx: (status, headers, body)."""
    ctx = ssl.create_default_context(cafile=str(stack["cert"]))
    host, port = stack["url"].removeprefix("https://").split(":")
    c = http.client.HTTPSConnection(host, int(port), timeout=30, context=ctx)
    h = dict(headers or {})
    if login is not None:
        h["Authorization"] = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
    c.request("GET", path, headers=h)
    r = c.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


def listing(mod):
    return f"/{mod}/@v/list"


@each_go
def test_go_fetches_as_a_directory_user(stack, gotool):
    for who, password, ok in [("alice", PASSWORDS["alice"], True), ("alice", "wrong", False)]:
        app = stack["base"] / f"app-{gotool.label}-{'ok' if ok else 'wrong'}"
        app.mkdir()
        env = go_env(app, stack["url"], stack["base"] / "gocache", gotool)
        env["SSL_CERT_FILE"] = str(stack["cert"])
        write_netrc(env, stack["url"], who, password)
        try:
            rc, data, err = go_download(f"{TEAM_A}@v1.0.0", env, app)
        finally:
            clean_gopath(env)
        if ok:
            assert rc == 0, err
            assert data["Sum"] == stack["sums"][TEAM_A]
        else:
            assert rc != 0 and "401" in err, err


def test_logins_and_roles(stack):
    status, headers, _ = request(stack, listing(TEAM_A))
    assert status == 401
    assert headers.get("www-authenticate", "").startswith('Basic realm="modpub"')
    assert request(stack, listing(TEAM_A), "alice", "wrong")[0] == 401
    assert request(stack, listing(TEAM_A), "nobody", "x")[0] == 401
    # An empty password would be an LDAP unauthenticated bind, which slapd accepts.
    assert request(stack, listing(TEAM_A), "alice", "")[0] == 401
    # Filter metacharacters are escaped: "ali*" is no uid, not a pattern matching alice.
    assert request(stack, listing(TEAM_A), "ali*", PASSWORDS["alice"])[0] == 401
    assert request(stack, listing(TEAM_A), "alice)(uid=*", PASSWORDS["alice"])[0] == 401

    assert request(stack, listing(TEAM_A), "alice", PASSWORDS["alice"])[:3:2] == (200, b"v1.0.0\n")
    assert request(stack, listing(TEAM_B), "alice", PASSWORDS["alice"])[0] == 403
    # bob logs in (only the unknown group "staff"): he reads nothing.
    assert request(stack, listing(TEAM_A), "bob", PASSWORDS["bob"])[0] == 403
    # A group name with spaces, a password beyond ASCII.
    assert request(stack, listing(TEAM_B), "dave", PASSWORDS["dave"])[0] == 200
    assert request(stack, listing(TEAM_A), "dave", PASSWORDS["dave"])[0] == 403
    for mod in (TEAM_A, TEAM_B):
        assert request(stack, listing(mod), "carol", PASSWORDS["carol"])[0] == 200


SPOOFS = {
    "as written": {"X-Remote-User": "carol", "X-Remote-Groups": "go-admins"},
    "lower case": {"x-remote-user": "carol", "x-remote-groups": "go-admins"},
    "groups only": {"X-Remote-Groups": "go-admins,go-readers"},
}


@pytest.mark.parametrize("spoof", sorted(SPOOFS))
def test_client_sent_identity_headers_are_replaced(stack, spoof):
    headers = SPOOFS[spoof]
    # bob's own login with carol's headers: modpub sees bob, with bob's groups.
    status, _, body = request(stack, listing(TEAM_A), "bob", PASSWORDS["bob"], headers)
    assert status == 403, body
    denied = [line for line in stack["daemon"].text().splitlines()
              if "auth: denied" in line and TEAM_A in line]
    assert denied and "bob" in denied[-1] and "carol" not in denied[-1], denied
    # Without a login nginx stops the request before modpub.
    assert request(stack, listing(TEAM_A), headers=headers)[0] == 401


def test_the_authenticator_itself(stack):
    """The authenticator asked directly: groups from memberOf, an unreachable directory
    (503), a refused service account (502); nothing logs a password."""
    base, ldap_url = stack["base"], stack["ldap"]
    common = ["--timeout", "2", "--user-base", f"ou=people,{SUFFIX}", "--bind-dn", SERVICE_DN,
              "--bind-password-file", base / "service-pw"]
    (base / "wrong-pw").write_text("nope\n")
    dead = f"ldap://127.0.0.1:{free_port()}"
    cases = {"memberof": ["--url", ldap_url, "--groups-from", "memberof"],
             "unreachable": ["--url", dead],
             "bad-service": ["--url", ldap_url, "--bind-password-file", base / "wrong-pw"]}
    procs = {}
    try:
        for name, args in cases.items():
            procs[name] = start_authenticator(base, name, *common, *args)

        def ask(name, login, password):
            c = http.client.HTTPConnection("127.0.0.1", procs[name][1], timeout=30)
            auth = base64.b64encode(f"{login}:{password}".encode()).decode()
            c.request("GET", "/", headers={"Authorization": f"Basic {auth}"})
            r = c.getresponse()
            r.read()
            return r.status, r.getheader("X-Remote-User"), r.getheader("X-Remote-Groups")

        assert ask("memberof", "alice", PASSWORDS["alice"]) == (200, "alice", "go-readers,staff")
        assert ask("memberof", "dave", PASSWORDS["dave"]) == (200, "dave",
                                                              "Team B Developers,staff")
        assert ask("memberof", "bob", "wrong")[0] == 401
        assert ask("unreachable", "alice", PASSWORDS["alice"])[0] == 503
        assert ask("bad-service", "alice", PASSWORDS["alice"])[0] == 502
    finally:
        for proc, _, _ in procs.values():
            stop_process(proc)
    logs = [stack["auth_log"]] + [procs[n][2] for n in procs]
    text = "".join(p.read_text() for p in logs)
    assert "allowed 'alice'" in text and "LDAP unavailable" in text
    for pw in PASSWORDS.values():
        assert pw not in text
    assert "service-pw" not in text.replace(str(base / "service-pw"), "")
