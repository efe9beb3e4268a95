#!/usr/bin/python3
"""LDAP / Active Directory authenticator for nginx `auth_request` in front of modpubd.

nginx sends it a subrequest carrying the client's `Authorization: Basic` header. It finds
the user's entry (a search bound as a service account, or anonymously), binds as that
entry with the password, reads the user's groups and answers
  200  with X-Remote-User (the entry's name attribute) and X-Remote-Groups (group names,
       comma-separated): nginx copies both to modpubd, whose [proxy_headers] trusts them;
  401  with WWW-Authenticate: Basic for missing or wrong credentials, an unknown or
       ambiguous user (go then retries with ~/.netrc; nginx passes the header on);
  502  when the directory answers the service account's bind or search with an error
       (a configuration problem: see the log);
  503  when the directory cannot be reached or times out.
nginx turns anything but 2xx/401/403 into 500: it fails closed.

It decides who someone is, not what they may read: modpub's [[role]]s do that.
Listens on loopback only; logs decisions (user names, never passwords) to stderr.
Needs Debian's python3-ldap3. Options: --help; or in an INI file (--config), section
[ldap-auth], keys named as the flags without the dashes (bind-dn = ...); flags win.
"""

import argparse
import base64
import configparser
import contextlib
import hashlib
import ipaddress
import logging
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ldap3 import FIRST, NONE, SUBTREE, Connection, Server, ServerPool, Tls
from ldap3.core.exceptions import LDAPException, LDAPInvalidFilterError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

log = logging.getLogger("modpub-ldap-auth")
INVALID_CREDENTIALS = 49  # LDAP result code; AD also uses it for locked/expired accounts


class Unavailable(Exception):
    """The directory could not be asked (-> 503)."""


class Misconfigured(Exception):
    """The directory refused the service account or the search (-> 502)."""


def options(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", help="INI file, section [ldap-auth]")
    p.add_argument("--listen", default="127.0.0.1:8781", help="loopback host:port")
    p.add_argument("--url", action="append",
                   help="ldap://host[:port] or ldaps://host[:port]; repeat for fail-over")
    p.add_argument("--starttls", action="store_true", help="StartTLS on ldap:// URLs")
    p.add_argument("--ca-file", help="CA certificates (PEM) that sign the directory's cert")
    p.add_argument("--insecure-plaintext", action="store_true",
                   help="allow passwords in clear to a non-loopback directory (testing only)")
    # Whole seconds: ldap3 hands the receive timeout to the socket as an integer.
    p.add_argument("--timeout", type=int, default=5, help="seconds per connect/answer")
    p.add_argument("--bind-dn", default="", help="service account for the search; "
                   "empty: anonymous search")
    p.add_argument("--bind-password-file", default="", help="the service account's password")
    p.add_argument("--user-base", required=False, help="where users are searched")
    p.add_argument("--user-filter", default="(uid={user})",
                   help="{user} is the escaped login; AD: (sAMAccountName={user})")
    p.add_argument("--user-name-attr", default="uid",
                   help="the attribute sent as X-Remote-User; AD: sAMAccountName")
    p.add_argument("--groups-from", choices=["member", "memberof"], default="member",
                   help="member: search groups listing the user's DN; memberof: the user "
                   "entry's memberOf (AD, or OpenLDAP's memberof overlay)")
    p.add_argument("--group-base", default="", help="where groups are searched (member)")
    p.add_argument("--group-filter", default="(&(objectClass=groupOfNames)(member={dn}))",
                   help="{dn} is the user's escaped DN (member); AD nested groups: "
                   "(member:1.2.840.113556.1.4.1941:={dn})")
    p.add_argument("--group-name-attr", default="cn", help="the group's name attribute")
    p.add_argument("--cache-seconds", type=float, default=60.0,
                   help="how long a successful check is reused (0: never)")
    p.add_argument("--realm", default="modpub", help="for WWW-Authenticate")
    first, _ = p.parse_known_args(argv)
    if first.config:
        ini = configparser.ConfigParser(interpolation=None)
        if not ini.read(first.config):
            p.error(f"cannot read {first.config}")
        known = {a.dest for a in p._actions}
        section = dict(ini["ldap-auth"]) if ini.has_section("ldap-auth") else {}
        for key, value in section.items():
            dest = key.replace("-", "_")
            if dest not in known or dest == "config":
                p.error(f"{first.config}: unknown key {key!r} in [ldap-auth]")
            action = next(a for a in p._actions if a.dest == dest)
            if isinstance(action, argparse._StoreTrueAction):
                p.set_defaults(**{dest: ini.getboolean("ldap-auth", key)})
            elif isinstance(action, argparse._AppendAction):
                p.set_defaults(**{dest: value.split()})
            else:
                p.set_defaults(**{dest: action.type(value) if action.type else value})
    o = p.parse_args(argv)
    if not o.url or not o.user_base:
        p.error("--url and --user-base are required (flags or the INI file)")
    host, _, port = o.listen.rpartition(":")
    try:
        if not ipaddress.ip_address(host.strip("[]")).is_loopback:
            p.error(f"--listen {o.listen}: only a loopback address; nginx on the same "
                    "machine is the one client that may ask")
    except ValueError:
        p.error(f"--listen {o.listen}: want an IP address and a port")
    o.listen = (host.strip("[]"), int(port))
    for url in o.url:
        plain = url.startswith("ldap://") and not o.starttls
        loopback = url.split("://", 1)[-1].split(":")[0].split("/")[0] in (
            "127.0.0.1", "localhost", "[::1]")
        if plain and not loopback and not o.insecure_plaintext:
            p.error(f"{url}: passwords would cross the network in clear; use ldaps://, "
                    "--starttls, or --insecure-plaintext for a test directory")
    o.bind_password = ""
    if o.bind_password_file:
        with open(o.bind_password_file, encoding="utf-8") as f:
            o.bind_password = f.read().rstrip("\n")
    return o


class Directory:
    def __init__(self, o):
        self.o = o
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=o.ca_file) \
            if (o.ca_file or o.starttls or any(u.startswith("ldaps:") for u in o.url)) else None
        servers = [Server(u, use_ssl=u.startswith("ldaps:"), tls=tls, get_info=NONE,
                          connect_timeout=o.timeout) for u in o.url]
        # active=1: try each server once per connection, then give up (503), never loop.
        self.pool = ServerPool(servers, FIRST, active=1, exhaust=False)

    def _bind(self, dn, password):
        """A bound connection, or None when the directory says invalid credentials."""
        c = Connection(self.pool, user=dn or None, password=password or None,
                       receive_timeout=self.o.timeout, read_only=True, auto_referrals=False,
                       raise_exceptions=False)
        bound = False
        try:
            c.open()
            if self.o.starttls and not c.start_tls():
                raise Unavailable(f"StartTLS refused: {c.result.get('description')}")
            bound = c.bind()
            if bound:
                return c
            if c.result.get("result") == INVALID_CREDENTIALS:
                return None
            raise Unavailable(f"bind answered {c.result.get('description')}")
        except LDAPException as e:
            raise Unavailable(f"{type(e).__name__}: {e}") from None
        finally:
            if not bound:
                with contextlib.suppress(LDAPException):
                    c.unbind()

    def _search(self, c, base, query, attrs, limit=0):
        try:
            c.search(base, query, SUBTREE, attributes=attrs, size_limit=limit)
        except LDAPInvalidFilterError as e:  # from the configuration: input is escaped
            raise Misconfigured(f"filter {query!r}: {e}") from None
        except LDAPException as e:
            raise Unavailable(f"{type(e).__name__}: {e}") from None
        if c.result.get("result") not in (0, 4):  # success, sizeLimitExceeded
            raise Misconfigured(f"search of {base} answered {c.result.get('description')}")
        return [e for e in c.response if e.get("type") == "searchResEntry"]

    def check(self, login, password):
        """(name, [groups]) when the password is right, else None."""
        o = self.o
        service = self._bind(o.bind_dn, o.bind_password)
        if service is None:
            raise Misconfigured("the service account's bind was refused (--bind-dn)")
        try:
            query = o.user_filter.format(user=escape_filter_chars(login))
            attrs = [o.user_name_attr] + (["memberOf"] if o.groups_from == "memberof" else [])
            found = self._search(service, o.user_base, query, attrs, limit=2)
            if len(found) != 1:
                log.info("denied %r: %s", login, "no such user" if not found else "ambiguous")
                return None
            entry = found[0]
            user = self._bind(entry["dn"], password)
            if user is None:
                log.info("denied %r: wrong password", login)
                return None
            user.unbind()
            name = first_value(entry["attributes"].get(o.user_name_attr)) or login
            return name, self._groups(service, entry)
        finally:
            service.unbind()

    def _groups(self, c, entry):
        o = self.o
        if o.groups_from == "memberof":
            names = [rdn_value(dn) for dn in entry["attributes"].get("memberOf", [])]
        else:
            query = o.group_filter.format(dn=escape_filter_chars(entry["dn"]))
            names = [first_value(g["attributes"].get(o.group_name_attr))
                     for g in self._search(c, o.group_base or o.user_base, query,
                                           [o.group_name_attr])]
        # modpub splits the header at commas; a name with one, or a control character,
        # cannot be a role name there.
        return sorted({n for n in names if n and "," not in n and n.isprintable()})


def first_value(v):
    if isinstance(v, list):
        return str(v[0]) if v else ""
    return str(v) if v is not None else ""


def rdn_value(dn):
    """"CN=go-readers,OU=Groups,DC=corp" -> "go-readers"."""
    try:
        return parse_dn(dn, escape=False, strip=True)[0][1]
    except Exception:  # a DN the directory made; skip what does not parse
        return ""


def parse_basic(header):
    """(login, password) of an `Authorization: Basic` value, or None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, sep, password = base64.b64decode(value.strip(), validate=True) \
            .decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    # An empty password is an LDAP "unauthenticated bind" that many servers accept:
    # never let it through.
    if not sep or not login or not password or len(login) > 256 or not login.isprintable() \
            or "\0" in password:
        return None
    return login, password


class Cache:
    """Successful checks by SHA-256 of the credentials (never the credentials)."""

    def __init__(self, ttl):
        self.ttl, self.lock, self.entries = ttl, threading.Lock(), {}

    def get(self, key):
        with self.lock:
            hit = self.entries.get(key)
            return hit[1] if hit and hit[0] > time.monotonic() else None

    def put(self, key, value):
        if self.ttl <= 0:
            return
        with self.lock:
            now = time.monotonic()
            if len(self.entries) > 10000:
                self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            self.entries[key] = (now + self.ttl, value)


class Handler(BaseHTTPRequestHandler):
    timeout = 30  # seconds a client may take to send the request
    server_version, sys_version = "modpub-ldap-auth", ""
    directory = cache = realm = None

    def answer(self):
        creds = parse_basic(self.headers.get("Authorization", ""))
        if creds is None:
            return self.reply(401)
        key = hashlib.sha256("\0".join(creds).encode()).hexdigest()
        result = self.cache.get(key)
        if result is None:
            try:
                result = self.directory.check(*creds)
            except Unavailable as e:
                log.error("LDAP unavailable: %s", e)
                return self.reply(503)
            except Misconfigured as e:
                log.error("LDAP refused the lookup: %s", e)
                return self.reply(502)
            except Exception as e:  # a bug here: answer (nginx fails closed), keep serving
                log.error("internal error: %s: %s", type(e).__name__, e)
                return self.reply(500)
            if result is None:
                return self.reply(401)
            self.cache.put(key, result)
            log.info("allowed %r as %r, groups %s", creds[0], result[0], ",".join(result[1]))
        name, groups = result
        return self.reply(200, {"X-Remote-User": name, "X-Remote-Groups": ",".join(groups)})

    def reply(self, status, headers=None):
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", f'Basic realm="{self.realm}", charset="UTF-8"')
        for k, v in (headers or {}).items():
            # UTF-8 names pass as bytes (send_header encodes Latin-1).
            self.send_header(k, v.encode("utf-8").decode("latin-1"))
        self.send_header("Content-Length", "0")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    # The subrequest has the client's method; the answer never depends on it.
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = answer

    def log_message(self, fmt, *args):  # nginx keeps the access log
        pass


def main(argv):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    o = options(argv)
    Handler.directory, Handler.cache, Handler.realm = Directory(o), Cache(o.cache_seconds), \
        o.realm
    ThreadingHTTPServer.address_family = socket.AF_INET6 if ":" in o.listen[0] else socket.AF_INET
    server = ThreadingHTTPServer(o.listen, Handler)
    server.daemon_threads = True
    log.info("listening on %s:%d, directory %s", *o.listen, " ".join(o.url))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
