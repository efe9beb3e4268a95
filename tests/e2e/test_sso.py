"""Single sign-on against a real modpubd: identity-provider tokens (JWTs made here with
Debian's python3-cryptography, keys in a JWKS file) decide reads by the roles in their
claim, every forged or stale token is refused with the reason in the daemon's log and
nothing else in the body, the admin API retries a failed job for an admin only. Against a
provider over HTTPS (discovery, key rotation) every installed go fetches over TLS with a
token: go 1.24+ through its GOAUTH command (`modpub goauth`), go 1.19 through .netrc."""

import base64
import hashlib
import hmac
import http.server
import json
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest

from support import (clean_gopath, each_go, free_port, go_download, go_env, make_cert,
                     modpub_bin, modpub_serve, publish_small_module, run_modpub, write_netrc)
from test_sumdb import NAME as SUMDB, keygen
from test_daemon import Daemon, daemons, jobs_in, make_repo, wait_until  # noqa: F401 (fixture)

crypto = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, utils  # noqa: E402

ISSUER = "https://sso.example/realms/corp"
MODULE = "corp.example/lib"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key, kid):
    nums = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": b64(nums.x.to_bytes(32, "big")), "y": b64(nums.y.to_bytes(32, "big"))}


def es256(key, kid, claims, header=None):
    head = b64(json.dumps(header or {"alg": "ES256", "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    return f"{head}.{body}." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def claims(groups, **over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": "modpub", "sub": "alice", "iat": now, "exp": now + 300,
         "groups": groups}
    c.update(over)
    return c


@pytest.fixture(scope="module")
def sso(tmp_path_factory):
    base = tmp_path_factory.mktemp("sso")
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    (base / "jwks.json").write_text(json.dumps({"keys": [jwk(key, "k1")]}))
    (base / "auth.toml").write_text(
        '[[role]]\nname = "readers"\nallow = ["corp.example/lib"]\n'
        '[[role]]\nname = "ops"\nallow = ["*"]\nadmin = true\n'
        f'[oidc]\nissuer = "{ISSUER}"\naudience = "modpub"\n'
        f'jwks_file = "{base / "jwks.json"}"\n')
    store = base / "store"
    publish_small_module(base, MODULE, "v1.0.0", f"file://{store}")
    (base / "git").mkdir()
    repo = make_repo(base / "git", tags=())
    d = Daemon(base, [f"file://{store}"], [(repo.bare, MODULE)])
    keys = base / "keys"
    keygen(keys)
    d.config.write_text(d.config.read_text() + f'\n[proxy]\nauth = "{base / "auth.toml"}"\n'
                        f'[sumdb]\nname = "{SUMDB}"\nsigner_key = "{keys / "signer.key"}"\n')
    d.start()
    d.wait_ready()
    yield {"daemon": d, "key": key, "other": other, "base": base}
    d.kill()


def get(d, path, token=None, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", method=method,
                                 data=b"" if method == "POST" else None)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_roles_in_the_token_decide_what_it_reads(sso):
    d, key = sso["daemon"], sso["key"]
    reader = es256(key, "k1", claims(["readers", "some-idp-group"]))
    status, body = get(d, f"/{MODULE}/@v/list", reader)
    assert (status, body.strip()) == (200, "v1.0.0")
    assert get(d, "/corp.example/other/@v/list", reader)[0] == 403
    assert get(d, f"/{MODULE}/@v/list")[0] == 401
    ops = es256(key, "k1", claims(["ops"]))
    assert get(d, f"/{MODULE}/@v/list", ops)[0] == 200


def test_every_surface_takes_the_token(sso):
    """The checksum database and the status page and its API, not only module routes."""
    d, key = sso["daemon"], sso["key"]
    reader = es256(key, "k1", claims(["readers"]))
    forged = es256(sso["other"], "k1", claims(["readers"]))
    for path in [f"/sumdb/{SUMDB}/latest", f"/sumdb/{SUMDB}/supported", "/api/status", "/"]:
        status, body = get(d, path, reader)
        assert status == 200, (path, body)
        assert get(d, path)[0] == 401, path
        assert get(d, path, forged)[0] == 401, path
    status, body = get(d, "/api/status", reader)
    assert MODULE in body
    # A token of a role that may read nothing sees no module on the page.
    nobody = es256(key, "k1", claims(["some-idp-group"]))
    status, body = get(d, "/api/status", nobody)
    assert status == 200 and MODULE not in body, body


# Each forgery with the reason the daemon's log gives for it.
ATTACKS = {
    "expired": (lambda k, o: es256(k, "k1", claims(["readers"], exp=int(time.time()) - 120)),
                "expired"),
    "not yet valid": (lambda k, o: es256(k, "k1", claims(["readers"],
                                                         nbf=int(time.time()) + 600)),
                      "not_yet_valid"),
    "wrong issuer": (lambda k, o: es256(k, "k1", claims(["readers"], iss="https://evil.example")),
                     "wrong_issuer"),
    "wrong audience": (lambda k, o: es256(k, "k1", claims(["readers"], aud="other-app")),
                       "wrong_audience"),
    "unknown kid": (lambda k, o: es256(o, "k9", claims(["readers"])), "unknown_kid"),
    "another key, same kid": (lambda k, o: es256(o, "k1", claims(["readers"])), "bad_signature"),
    "alg none": (lambda k, o: (b64(json.dumps({"alg": "none", "kid": "k1"}).encode()) + "." +
                               b64(json.dumps(claims(["readers"])).encode()) + "."),
                 "unsupported_alg"),
    "HS256 with the public key as secret": (lambda k, o: hs256_confusion(k), "unsupported_alg"),
    "truncated": (lambda k, o: es256(k, "k1", claims(["readers"]))[:-20], "bad_signature"),
    "roles claim of the wrong type": (lambda k, o: es256(k, "k1", claims({"readers": True})),
                                      "roles claim"),
}


def hs256_confusion(key):
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = b64(json.dumps(claims(["readers"])).encode())
    sig = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_forged_and_stale_tokens_are_refused(sso, attack):
    d = sso["daemon"]
    forge, reason = ATTACKS[attack]
    token = forge(sso["key"], sso["other"])
    status, body = get(d, f"/{MODULE}/@v/list", token)
    assert status == 401, (status, body)
    denials = [line for line in d.text().splitlines() if "auth: denied" in line]
    assert any(f"bearer verifier: {reason}" in line for line in denials), denials[-3:]
    assert token not in body and "v1.0.0" not in body
    assert token not in d.text()  # the log names the reason, never the token
    if attack == "alg none":
        assert "unsupported_alg: token alg \\x22none\\x22" in d.text()  # as a JWT


def test_oversized_tokens_are_refused(sso):
    d = sso["daemon"]
    # 1 MB: the server refuses the headers before anyone reads them.
    assert get(d, f"/{MODULE}/@v/list", "e" * (1 << 20))[0] == 431
    # 12 KB, within the header limit but above the verifier's 8 KiB: refused unparsed.
    padded = es256(sso["key"], "k1", claims(["readers"], pad="x" * 9000))
    status, body = get(d, f"/{MODULE}/@v/list", padded)
    assert status == 401 and "v1.0.0" not in body
    assert "bearer verifier: too_large" in d.text()


def write_failed_job(spool, job_id):
    (spool / "failed").mkdir(parents=True, exist_ok=True)
    job = {"format": "modpub-job/1", "id": job_id, "repo": "/nonexistent.git",
           "import_path": MODULE, "tag": "v9.9.9", "commit": "", "source": "cli",
           "attempts": 8, "created": "2026-01-01T00:00:00Z",
           "next_attempt": "2026-01-01T00:00:00Z", "last_error": "gave up", "result": None,
           "finished": "2026-01-01T00:00:00Z"}
    (spool / "failed" / f"{job_id}.job").write_text(json.dumps(job) + "\n")


def test_admin_api_retries_a_failed_job_for_admins_only(sso):
    d, key = sso["daemon"], sso["key"]
    job = "20260101T000000000Z-0000beef"
    write_failed_job(d.spool, job)
    path = f"/api/jobs/{job}/retry"
    assert get(d, path, method="POST")[0] == 401
    reader = es256(key, "k1", claims(["readers"]))
    assert get(d, path, reader, method="POST")[0] == 403
    assert job in jobs_in(d.spool, "failed")
    ops = es256(key, "k1", claims(["ops"]))
    status, body = get(d, path, ops, method="POST")
    assert status == 200, body
    assert json.loads(body) == {"job": job, "state": "queued"}
    # Back in the queue: the workers try it again (its repository is gone, so it fails
    # again later; what matters is that it was re-queued, once).
    wait_until(lambda: f"admin: job {job} re-queued" in d.text(), timeout=10,
               what="the re-queue logged", on_fail=d.text)
    assert get(d, "/api/jobs/no-such-job/retry", ops, method="POST")[0] == 404
    text = d.text()
    assert f'admin action "retry job {job}"' in text and "alice" in text
    assert "auth: denied" in text


# --- an identity provider over HTTPS, and the go command over TLS ---------------------------
# The provider is a small HTTPS server here (the same self-signed certificate as modpub's,
# given to modpub as [oidc] ca_file): discovery document and key set, each request logged.

class Provider:
    def __init__(self, work, cert, tls_key):
        self.keys = []  # JWKs served at /realms/corp/certs
        self.requests = []
        self.port = free_port()
        self.issuer = f"https://127.0.0.1:{self.port}/realms/corp"
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                provider.requests.append(self.path)
                if self.path == "/realms/corp/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/certs"}
                elif self.path == "/realms/corp/certs":
                    body = {"keys": list(provider.keys)}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(cert), str(tls_key))
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def key_fetches(self):
        return self.requests.count("/realms/corp/certs")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """`modpub serve` over TLS whose [oidc] issuer is the provider above (discovery over
    HTTPS, its CA as ca_file), serving MODULE v1.0.0 to the role "readers"."""
    work = tmp_path_factory.mktemp("idp")
    cert, tls_key = make_cert(work)
    provider = Provider(work, cert, tls_key)
    k1, k2 = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    provider.keys = [jwk(k1, "k1")]
    (work / "auth.toml").write_text(
        '[[role]]\nname = "readers"\nallow = ["corp.example/lib"]\n'
        f'[oidc]\nissuer = "{provider.issuer}"\naudience = "modpub"\nca_file = "{cert}"\n')
    tree = work / "tree"
    published = publish_small_module(work, MODULE, "v1.0.0", f"file://{tree}")
    try:
        with modpub_serve(work, tree, "--auth", work / "auth.toml", tls=(cert, tls_key)) as url:
            yield {"url": url, "cert": cert, "provider": provider, "k1": k1, "k2": k2,
                   "sum": published[0]["Sum"], "work": work, "log": work / "serve.log"}
    finally:
        provider.stop()


def idp_claims(idp, groups, **over):
    return claims(groups, iss=idp["provider"].issuer, **over)


@each_go
@pytest.mark.parametrize("groups,ok", [(["readers"], True), (["other"], False)],
                         ids=["reader", "stranger"])
def test_go_fetches_with_a_token_over_tls(idp, gotool, groups, ok):
    """go 1.24+ takes the token from its GOAUTH command (`modpub goauth`); go 1.19 has no
    GOAUTH, so the token is the .netrc password (any login that is no [[user]]'s)."""
    token = es256(idp["k1"], "k1", idp_claims(idp, groups))
    app = idp["work"] / f"app-{gotool.label}-{groups[0]}"
    app.mkdir()
    env = go_env(app, idp["url"], idp["work"] / "gocache", gotool)
    env["SSL_CERT_FILE"] = str(idp["cert"])
    if gotool.minor >= 24:
        env["MODPUB_TOKEN"] = token
        env["GOAUTH"] = " ".join([str(modpub_bin().resolve()), "goauth", "--token-env",
                                  "MODPUB_TOKEN", "--url", idp["url"]])
    else:
        write_netrc(env, idp["url"], "token", token)
    try:
        rc, data, err = go_download(f"{MODULE}@v1.0.0", env, app)
    finally:
        clean_gopath(env)
    if ok:
        assert rc == 0, err
        assert data["Sum"] == idp["sum"]
    else:
        assert rc != 0 and "403" in err, err


def tls_get(idp, path, token):
    req = urllib.request.Request(idp["url"] + path)
    req.add_header("Authorization", f"Bearer {token}")
    ctx = ssl.create_default_context(cafile=str(idp["cert"]))
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, r.headers.get_all("WWW-Authenticate") or [], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_all("WWW-Authenticate") or [], e.read().decode()


def test_a_rotated_key_is_fetched_once_and_made_up_kids_cost_nothing(idp):
    p = idp["provider"]
    assert p.requests[:2] == ["/realms/corp/.well-known/openid-configuration",
                              "/realms/corp/certs"]  # discovery over HTTPS at start
    status, _, _ = tls_get(idp, f"/{MODULE}/@v/list", es256(idp["k1"], "k1", idp_claims(idp, ["readers"])))
    assert status == 200
    before = p.key_fetches()
    # The provider rotates: k2 signs from now on, k1 leaves the set.
    p.keys = [jwk(idp["k2"], "k2")]
    status, _, body = tls_get(idp, f"/{MODULE}/@v/list",
                              es256(idp["k2"], "k2", idp_claims(idp, ["readers"])))
    assert (status, body.strip()) == (200, "v1.0.0")
    assert p.key_fetches() == before + 1
    # Tokens naming kids nobody published: refused, and no fetch within the minute.
    for i in range(10):
        status, challenges, body = tls_get(idp, f"/{MODULE}/@v/list",
                                        es256(idp["k2"], f"made-up-{i}", idp_claims(idp, ["readers"])))
        assert status == 401
        assert "unknown_kid" in body
        assert challenges == ['Basic realm="modpub"',
                              'Bearer realm="modpub", error="invalid_token"'], challenges
    assert p.key_fetches() == before + 1
    # The retired key still verifies tokens in flight.
    assert tls_get(idp, f"/{MODULE}/@v/list",
                   es256(idp["k1"], "k1", idp_claims(idp, ["readers"])))[0] == 200


def doctor_idp_line(idp, auth_file):
    """`modpub doctor --json` on a configuration whose [proxy] auth is `auth_file`: the
    identity provider's check."""
    config = idp["work"] / "doctor.toml"
    config.write_text(f'storage = ["file://{idp["work"] / "tree"}"]\n'
                      f'spool_dir = "{idp["work"] / "spool"}"\n'
                      f'state_dir = "{idp["work"] / "state"}"\n'
                      f'socket = "{idp["work"] / "modpubd.sock"}"\n'
                      f'[proxy]\nauth = "{auth_file}"\n')
    r = run_modpub("doctor", "--config", config, "--json", timeout=120)
    checks = [c for c in json.loads(r.stdout)["checks"]
              if c["what"].startswith("identity provider ")]
    assert len(checks) == 1, r.stdout
    return checks[0]


def test_doctor_checks_the_identity_providers_keys(idp):
    p = idp["provider"]
    good = doctor_idp_line(idp, idp["work"] / "auth.toml")
    assert good["status"] == "ok", good
    assert good["what"] == f"identity provider {p.issuer}: {len(p.keys)} key", good
    # Without the provider's CA, the certificate does not verify: the check says so.
    no_ca = idp["work"] / "no-ca.auth.toml"
    no_ca.write_text("\n".join(line for line in (idp["work"] / "auth.toml").read_text()
                               .splitlines() if not line.startswith("ca_file")) + "\n")
    bad = doctor_idp_line(idp, no_ca)
    assert bad["status"] == "fail", bad
    assert "no keys" in bad["problem"] and "certificate" in bad["problem"].lower(), bad
    assert "ca_file" in bad["advice"], bad
