"""`modpub goauth`, the GOAUTH command (go 1.24+) for modpub's Bearer tokens, with the real
go command against `modpub serve --auth` over TLS on 127.0.0.1: .netrc (go's default
GOAUTH) with every installed go, the token through GOAUTH with go 1.26, 401/403 refusals,
and the command's own rules (no token over plain http to a non-loopback host, nothing for
URLs outside the --url prefixes). Nothing here connects anywhere but 127.0.0.1: GOPROXY is
the local server alone (no `direct`), GOSUMDB is off and `modpub goauth` never connects."""

import os
from pathlib import Path

import pytest

from support import (GO_TOOLS, clean_gopath, each_go, go_download, go_env, make_cert,
                     modpub_bin, modpub_serve, publish_small_module, run_modpub)

MOD = "corp.example/Tools"
TOKEN = "ci-0123456789abcdef-token"
OTHER_TOKEN = "other-team-token"
# GOAUTH commands exist from go 1.24 on; go 1.19 only reads .netrc.
GOAUTH_GO = next((t for t in GO_TOOLS if t.minor >= 24), None)
needs_goauth_go = pytest.mark.skipif(GOAUTH_GO is None, reason="no go 1.24+ installed")


def hashed(*args, secret):
    r = run_modpub("auth-hash", *args, input=secret + "\n")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def write_auth(work: Path):
    """alice (Basic, for .netrc) and the ci token read corp.example; the other token only
    corp.example/other."""
    auth = work / "auth.toml"
    auth.write_text(f'''realm = "modpub-test"
[[user]]
name = "alice"
password = "{hashed(secret="alice-pw")}"
allow = ["corp.example"]
[[token]]
name = "ci"
sha256 = "{hashed("--token", secret=TOKEN)}"
allow = ["corp.example"]
[[token]]
name = "other"
sha256 = "{hashed("--token", secret=OTHER_TOKEN)}"
allow = ["corp.example/other"]
''')
    return auth


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("goauth")
    tree = work / "tree"
    r = publish_small_module(work, MOD, "v0.2.0", f"file://{tree}")
    cert, key = make_cert(work)
    with modpub_serve(work, tree, "--auth", write_auth(work), tls=(cert, key)) as url:
        yield {"work": work, "url": url, "port": int(url.rsplit(":", 1)[1]), "cert": cert,
               "sum": r[0]["Sum"]}


def token_file(work: Path, name, token):
    p = work / name
    p.write_text(token + "\n")
    p.chmod(0o600)
    return p


def goauth_cmd(*args):
    # go runs the command from the module's directory: the binary's path must be absolute.
    return " ".join([str(modpub_bin().resolve()), "goauth", *map(str, args)])


def download(server, name, gotool, goauth=None, netrc=None, extra_env=None):
    """`go mod download -json` of the published module through the server, in a fresh
    module cache: (returncode, JSON, stderr)."""
    app = server["work"] / name
    app.mkdir()
    env = go_env(app, server["url"], server["work"] / "gocache", gotool)
    env["SSL_CERT_FILE"] = str(server["cert"])
    env.pop("NETRC", None)
    env.update(extra_env or {})
    if goauth is not None:
        env["GOAUTH"] = goauth
    if netrc is not None:
        (Path(env["HOME"]) / ".netrc").write_text(netrc)
    try:
        return go_download(f"{MOD}@v0.2.0", env, app)
    finally:
        clean_gopath(env)


# --- (a) go's default GOAUTH, .netrc ----------------------------------------------------------

@each_go
def test_netrc_default(server, gotool):
    # go 1.24+ looks a .netrc machine up with the URL's port (golang/go#81253: a host-only
    # line no longer matches https://127.0.0.1:PORT); go 1.19 compares the host alone.
    netrc = "".join(f"machine {m} login alice password alice-pw\n"
                    for m in ("127.0.0.1", f"127.0.0.1:{server['port']}"))
    rc, data, err = download(server, f"netrc-{gotool.label}", gotool, netrc=netrc)
    assert rc == 0, err
    assert data["Sum"] == server["sum"]
    rc, _, err = download(server, f"no-netrc-{gotool.label}", gotool)
    assert rc != 0
    assert "401" in err and "authentication required" in err, err


# --- (b), (c) the token through GOAUTH ----------------------------------------------------------

@needs_goauth_go
@pytest.mark.parametrize("name,token,prefix,failure", [
    ("ci", TOKEN, "", None),
    # The server's reason shows that go sent the token it got from GOAUTH.
    ("wrong", "not-a-known-token", "", "401 Unauthorized: unknown token"),
    # (c) a token allowed only corp.example/other.
    ("other", OTHER_TOKEN, "", "403 Forbidden"),
    # A --url prefix that does not cover the proxy: go gets no credentials for it.
    ("elsewhere", TOKEN, "/elsewhere", "401 Unauthorized: authentication required"),
], ids=["ci", "wrong", "other", "elsewhere"])
def test_goauth_token_file(server, name, token, prefix, failure):
    tok = token_file(server["work"], f"{name}.token", token)
    rc, data, err = download(server, f"goauth-{name}", GOAUTH_GO,
                             goauth=goauth_cmd("--token-file", tok, "--url",
                                               server["url"] + prefix))
    if failure is None:
        assert rc == 0, err
        assert data["Sum"] == server["sum"]
    else:
        assert rc != 0 and failure in err, err


@needs_goauth_go
def test_goauth_token_env_and_no_url(server):
    """--token-env (go passes its environment on), and no --url: the token then goes to
    the server that answered 401, when go asks again with the URL."""
    env = {"MODPUB_TEST_TOKEN": TOKEN}
    for name, extra in (("env", ["--url", server["url"] + "/corp.example"]), ("no-url", [])):
        rc, data, err = download(server, f"goauth-{name}", GOAUTH_GO, extra_env=env,
                                 goauth=goauth_cmd("--token-env", "MODPUB_TEST_TOKEN", *extra))
        assert rc == 0, err
        assert data["Sum"] == server["sum"]


# --- (d), (e) the command's own rules -------------------------------------------------------------

def goauth(*args, input=None):
    return run_modpub("goauth", *args, input=input)


def test_plain_http_only_to_loopback(server):
    tok = token_file(server["work"], "rules.token", TOKEN)
    r = goauth("--token-file", tok, "--url", "https://127.0.0.1:1", "--url", "http://10.1.2.3")
    assert r.returncode != 0 and r.stdout == ""
    assert "http://10.1.2.3" in r.stderr
    assert "never sent over plain http to a non-loopback host" in r.stderr
    local = f"http://127.0.0.1:{server['port']}"
    r = goauth("--token-file", tok, "--url", local, "--url", "http://localhost:1/p")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{local}\nhttp://localhost:1/p\n\nAuthorization: Bearer {TOKEN}\n\n"


def test_url_argument_outside_the_prefixes_prints_nothing(server):
    tok = token_file(server["work"], "arg.token", TOKEN)
    base = server["url"]
    args = ["--token-file", tok, "--url", base + "/goproxy"]
    status = "HTTP/1.1 401 Unauthorized\nWww-Authenticate: Basic realm=\"x\"\n\n"
    for outside in (base + "/other/corp.example/@v/list", base + "/goproxyx/m/@v/list",
                    "https://127.0.0.2:1/goproxy/m", "http://127.0.0.1:1/goproxy/m"):
        r = goauth(*args, outside, input=status)
        assert (r.returncode, r.stdout) == (0, ""), (outside, r.stderr)
    r = goauth(*args, base + "/goproxy/corp.example/%21tools/@v/list", input=status)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{base}/goproxy\n\nAuthorization: Bearer {TOKEN}\n\n"


def test_without_url_only_a_401_gets_the_token(server):
    tok = token_file(server["work"], "host.token", TOKEN)
    url = server["url"] + "/corp.example/%21tools/@v/list"
    r = goauth("--token-file", tok)
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    r = goauth("--token-file", tok, url, input="HTTP/2.0 404 Not Found\n\n")
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    r = goauth("--token-file", tok, url, input="HTTP/1.1 401 Unauthorized\n\n")
    assert r.stdout == f"{server['url']}\n\nAuthorization: Bearer {TOKEN}\n\n"
    r = goauth("--token-file", tok, "http://10.1.2.3/m", input="HTTP/1.1 401 Unauthorized\n\n")
    assert (r.returncode, r.stdout) == (0, ""), r.stderr


@pytest.mark.parametrize("content,mode,message", [
    ("", 0o600, "the token is empty"),
    ("two words\n", 0o600, "whitespace or a control character"),
    (TOKEN + "\n", 0o644, "chmod 600"),
    (TOKEN + "\n", 0o620, "chmod 600"),
], ids=["empty", "two-words", "mode-644", "mode-620"])
def test_bad_token_files_are_refused(server, tmp_path, content, mode, message):
    tok = tmp_path / "token"
    tok.write_text(content)
    tok.chmod(mode)
    r = goauth("--token-file", tok, "--url", server["url"])
    assert r.returncode != 0 and r.stdout == ""
    assert message in r.stderr and str(tok) in r.stderr


def test_token_source_errors(server):
    r = goauth("--token-file", server["work"] / "absent.token", "--url", server["url"])
    assert r.returncode != 0 and "cannot open" in r.stderr
    assert "MODPUB_TEST_UNSET_TOKEN" not in os.environ
    r = goauth("--token-env", "MODPUB_TEST_UNSET_TOKEN")
    assert r.returncode != 0 and "MODPUB_TEST_UNSET_TOKEN is not set" in r.stderr
    r = goauth("--url", server["url"])
    assert r.returncode != 0 and "exactly one of --token-file and --token-env" in r.stderr


def test_help_shows_the_goauth_line():
    r = run_modpub("goauth", "--help")
    assert r.returncode == 0
    assert ("GOAUTH='modpub goauth --token-file /etc/modpub/token --url "
            "https://goproxy.corp.example'") in r.stdout
