"""Single sign-on against a real modpubd: identity-provider tokens (JWTs made here with
Debian's python3-cryptography, keys in a JWKS file) decide reads by the roles in their
claim, every forged or stale token is refused with the reason in the daemon's log and
nothing else in the body, the admin API retries a failed job for an admin only, and go
(1.24+) fetches over TLS with a token its GOAUTH command (`modpub goauth`) hands it."""

import base64
import subprocess
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import pytest

from support import (clean_gopath, free_port, go_download, go_env, modpub_bin,
                     publish_small_module, stop_process, wait_for_port)
from test_goauth import GOAUTH_GO, make_cert
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
    d.config.write_text(d.config.read_text() + f'\n[proxy]\nauth = "{base / "auth.toml"}"\n')
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


ATTACKS = {
    "expired": lambda k, o: es256(k, "k1", claims(["readers"], exp=int(time.time()) - 120)),
    "not yet valid": lambda k, o: es256(k, "k1", claims(["readers"], nbf=int(time.time()) + 600)),
    "wrong issuer": lambda k, o: es256(k, "k1", claims(["readers"], iss="https://evil.example")),
    "wrong audience": lambda k, o: es256(k, "k1", claims(["readers"], aud="other-app")),
    "unknown kid": lambda k, o: es256(o, "k9", claims(["readers"])),
    "another key, same kid": lambda k, o: es256(o, "k1", claims(["readers"])),
    "alg none": lambda k, o: (b64(json.dumps({"alg": "none", "kid": "k1"}).encode()) + "." +
                              b64(json.dumps(claims(["readers"])).encode()) + "."),
    "HS256 with the public key as secret": lambda k, o: hs256_confusion(k),
    "truncated": lambda k, o: es256(k, "k1", claims(["readers"]))[:-20],
    "roles claim of the wrong type": lambda k, o: es256(k, "k1", claims({"readers": True})),
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
    token = ATTACKS[attack](sso["key"], sso["other"])
    status, body = get(d, f"/{MODULE}/@v/list", token)
    assert status == 401, (status, body)
    assert token not in body and "v1.0.0" not in body
    assert token not in d.text()  # the log names the reason, never the token
    if attack == "alg none":
        assert "unsupported_alg: token alg \\x22none\\x22" in d.text()  # as a JWT


def test_an_oversized_token_is_refused(sso):
    d = sso["daemon"]
    status, _ = get(d, f"/{MODULE}/@v/list", "e" * (1 << 20))
    assert 400 <= status < 500


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


# --- the go command with an identity provider's token, through GOAUTH over TLS -------------

def test_go_fetches_with_a_token_from_goauth(tmp_path):
    if GOAUTH_GO is None:
        pytest.skip("no go 1.24+ installed (go 1.19 has no GOAUTH)")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk(key, "k1")]}))
    (tmp_path / "auth.toml").write_text(
        '[[role]]\nname = "readers"\nallow = ["corp.example/lib"]\n'
        f'[oidc]\nissuer = "{ISSUER}"\naudience = "modpub"\n'
        f'jwks_file = "{tmp_path / "jwks.json"}"\n')
    tree = tmp_path / "tree"
    published = publish_small_module(tmp_path, MODULE, "v1.0.0", f"file://{tree}")
    cert, tls_key = make_cert(tmp_path)
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([str(modpub_bin()), "serve", "--from", f"file://{tree}", "--listen",
                             f"127.0.0.1:{port}", "--auth", str(tmp_path / "auth.toml"),
                             "--tls-cert", str(cert), "--tls-key", str(tls_key)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for_port(port, proc=proc), (tmp_path / "serve.log").read_text()
        url = f"https://127.0.0.1:{port}"
        for name, groups, ok in [("reader", ["readers"], True), ("stranger", ["other"], False)]:
            app = tmp_path / name
            app.mkdir()
            env = go_env(app, url, tmp_path / "gocache", GOAUTH_GO)
            env["SSL_CERT_FILE"] = str(cert)
            env["MODPUB_TOKEN"] = es256(key, "k1", claims(groups))
            env["GOAUTH"] = " ".join([str(modpub_bin().resolve()), "goauth", "--token-env",
                                      "MODPUB_TOKEN", "--url", url])
            try:
                rc, data, err = go_download(f"{MODULE}@v1.0.0", env, app)
            finally:
                clean_gopath(env)
            if ok:
                assert rc == 0, err
                assert data["Sum"] == published[0]["Sum"]
            else:
                assert rc != 0 and "403" in err, err
    finally:
        stop_process(proc)
        log.close()
