"""The Debian package (cmake/ModpubPackage.cmake, packaging/deb/): built with cpack from the
build directory the suite tests (MODPUB_BIN's), then read with dpkg-deb — its files and
modes, control fields, conffiles — and its maintainer scripts run below a scratch root
(DPKG_ROOT, as `dpkg --root` sets it), never on this machine's own /etc or /var."""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from support import REPO_ROOT, modpub_bin

pytestmark = pytest.mark.skipif(
    shutil.which("cpack") is None or shutil.which("dpkg-deb") is None,
    reason="cpack or dpkg-deb not installed (scripts/install-deps installs cmake and dpkg-dev)")

BINARIES = ("modpub", "modpub-hook", "modpubd")
CONF = "etc/modpub/modpub.toml"


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120,
                          **kw)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """The .deb cpack makes from the suite's build directory."""
    build = modpub_bin().parent.parent
    assert (build / "CPackConfig.cmake").is_file(), (
        f"{build} has no CPackConfig.cmake: configure it again (cmake -S . -B {build})")
    out = tmp_path_factory.mktemp("deb")
    r = run("cpack", "-G", "DEB", "-B", out, cwd=build)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = list(out.glob("modpub_*.deb"))
    assert len(debs) == 1, r.stdout
    return debs[0]


@pytest.fixture(scope="module")
def control(deb, tmp_path_factory):
    d = tmp_path_factory.mktemp("control")
    r = run("dpkg-deb", "-e", deb, d)
    assert r.returncode == 0, r.stderr
    return d


def project_version():
    m = re.search(r"project\(modpub VERSION ([0-9.]+)", (REPO_ROOT / "CMakeLists.txt").read_text())
    return m.group(1)


def test_files_and_modes(deb):
    r = run("dpkg-deb", "-c", deb)
    assert r.returncode == 0, r.stderr
    entries = {}
    for line in r.stdout.splitlines():
        perms, owner, _size, _date, _time, path = line.split(None, 5)
        entries[path.split(" -> ")[0].lstrip(".")] = (perms, owner)
    for b in BINARIES:
        assert entries[f"/usr/bin/{b}"] == ("-rwxr-xr-x", "root/root"), b
    assert entries["/" + CONF] == ("-rw-r-----", "root/root")
    assert entries["/lib/systemd/system/modpubd.service"][0] == "-rw-r--r--"
    assert entries["/usr/lib/sysusers.d/modpub.conf"][0] == "-rw-r--r--"
    for doc in ("README.md", "hooks.md", "examples/modpub.toml"):
        assert f"/usr/share/doc/modpub/{doc}" in entries, doc
    # Nothing outside the package's places (no build paths, no /usr/local).
    tops = {p.split("/")[1] for p in entries if p.count("/") > 1}
    assert tops == {"usr", "etc", "lib"}, tops


def test_control_fields_conffiles_and_scripts(deb, control):
    fields = {}
    r = run("dpkg-deb", "-f", deb)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        if not line.startswith(" "):
            k, _, v = line.partition(": ")
            fields[k] = v
    assert fields["Package"] == "modpub"
    assert fields["Version"] == project_version()
    assert fields["Architecture"] == run("dpkg", "--print-architecture").stdout.strip()
    assert fields["Maintainer"]
    assert "Go modules" in fields["Description"]
    depends = [d.strip() for d in fields["Depends"].split(",")]
    assert "git" in depends
    # dpkg-shlibdeps found the libraries the binaries link.
    for lib in ("libgit2", "libzip", "libsystemd", "libstdc++6"):
        assert any(d.startswith(lib) for d in depends), (lib, depends)
    assert (control / "conffiles").read_text().split() == ["/" + CONF]
    for script in ("postinst", "prerm", "postrm"):
        p = control / script
        assert stat.S_IMODE(p.stat().st_mode) == 0o755, script
        r = run("sh", "-n", p)
        assert r.returncode == 0, r.stderr


def test_installed_tree_works(deb, tmp_path):
    root = tmp_path / "root"
    r = run("dpkg-deb", "-x", deb, root)
    assert r.returncode == 0, r.stderr
    unit = (root / "lib/systemd/system/modpubd.service").read_text()
    assert re.search(r"^ExecStart=/usr/bin/modpubd --config /etc/modpub/modpub.toml$", unit, re.M)
    assert "/usr/local" not in unit
    if shutil.which("systemd-analyze"):  # verify checks that ExecStart's binary exists
        local = root / "modpubd.service"
        local.write_text(unit.replace("/usr/bin/modpubd", str(root / "usr/bin/modpubd")))
        r = run("systemd-analyze", "verify", local)
        assert r.returncode == 0 and "modpubd.service" not in r.stderr, r.stdout + r.stderr
    # The conffile is the generated example, and the packaged daemon accepts it.
    text = (root / CONF).read_text()
    assert text == (REPO_ROOT / "examples/modpub.toml").read_text()
    # A fresh install is one machine: jobs stay in the spool, no Redis is asked for.
    assert not re.search(r"^queue\s*=", text, re.M)
    r = run(root / "usr/bin/modpubd", "--config", root / CONF, "--check-config")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(root / "usr/bin/modpub", "hook", "--help")
    assert r.returncode == 0 and "install" in r.stdout, r.stderr
    # Stripped: the package carries no debug sections.
    r = run("readelf", "-S", root / "usr/bin/modpub-hook")
    assert r.returncode == 0 and ".debug_info" not in r.stdout


def user_lines(root, name="modpub"):
    return [line for line in (root / "etc/passwd").read_text().splitlines()
            if line.startswith(name + ":")]


def ids(root):
    def field(file):
        for line in (root / "etc" / file).read_text().splitlines():
            if line.startswith("modpub:"):
                return int(line.split(":")[2])
    return field("passwd"), field("group")


@pytest.mark.skipif(os.geteuid() != 0, reason="postinst chowns to the user it creates: needs root")
@pytest.mark.skipif(shutil.which("systemd-sysusers") is None,
                    reason="systemd-sysusers (package systemd) makes the user below a root")
def test_maintainer_scripts_below_a_scratch_root(deb, control, tmp_path):
    root = tmp_path / "root"
    assert run("dpkg-deb", "-x", deb, root).returncode == 0
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/statoverride").write_text("")
    host_passwd = Path("/etc/passwd").read_text()
    env = dict(os.environ, DPKG_ROOT=str(root))

    def script(name, *args):
        r = run("sh", control / name, *args, env=env)
        assert r.returncode == 0, f"{name} {args}: {r.stdout}{r.stderr}"
        return r

    # First install, then the same again (dpkg-reconfigure): one user, same result.
    script("postinst", "configure", "")
    first = {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid)
             for p in (root / "var/lib/modpub").rglob("*")}
    script("postinst", "configure", "")
    assert len(user_lines(root)) == 1
    assert len([g for g in (root / "etc/group").read_text().splitlines()
                if g.startswith("modpub:")]) == 1
    uid, gid = ids(root)
    assert {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid)
            for p in (root / "var/lib/modpub").rglob("*")} == first
    top = (root / "var/lib/modpub").stat()
    assert (stat.S_IMODE(top.st_mode), top.st_uid, top.st_gid) == (0o2775, uid, gid)
    spool = root / "var/lib/modpub/spool"
    for d in (spool, spool / "queue", spool / "held", spool / "tmp",
              root / "var/lib/modpub/state"):
        st = d.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o2770, uid, gid), d
    conf = (root / CONF).stat()
    assert (stat.S_IMODE(conf.st_mode), conf.st_uid, conf.st_gid) == (0o640, 0, gid)
    # Recorded once (dpkg-statoverride names the group as this machine's NSS has it).
    overrides = (root / "var/lib/dpkg/statoverride").read_text().splitlines()
    assert len(overrides) == 1
    assert overrides[0].split()[0] == "root" and overrides[0].split()[2:] == ["640", "/" + CONF]

    # An upgrade keeps what the administrator changed: the config's text, a spool opened
    # to others, a removed state directory comes back.
    (root / CONF).write_text("# edited by the administrator\n")
    spool.chmod(0o2775)
    (root / "var/lib/modpub/state").rmdir()
    script("postinst", "configure", "0.0.9")
    assert (root / CONF).read_text() == "# edited by the administrator\n"
    assert stat.S_IMODE(spool.stat().st_mode) == 0o2775
    assert stat.S_IMODE((root / "var/lib/modpub/state").stat().st_mode) == 0o2770

    script("prerm", "remove")
    script("postrm", "remove")
    r = script("postrm", "purge")
    assert (root / "var/lib/dpkg/statoverride").read_text() == ""
    assert (spool / "queue").is_dir(), "purge must keep the spool and the state"
    assert "kept /var/lib/modpub" in r.stderr
    assert Path("/etc/passwd").read_text() == host_passwd  # this machine untouched
