"""What a pushing user is told about the daemon: post-receive pokes modpubd's wake-up socket
after it queued jobs, and when nobody listens there it says so (the jobs wait in the spool
and are published when the daemon starts). The push succeeds either way."""

import socket

from test_hooks import GOOD, IMPORT, Server, remote_lines

NOT_RUNNING = "modpubd is not running — it will publish when it starts"


def pushed_tag(tmp_path, before_push=None):
    server = Server(tmp_path)
    server.commit(GOOD)
    server.tag("v1.0.0")
    if before_push:
        before_push(server)
    p = server.push("v1.0.0")
    assert p.returncode == 0, p.stderr
    assert f"modpub: queued {IMPORT}@v1.0.0" in remote_lines(p)
    assert len(server.jobs()) == 1
    return server, remote_lines(p)


def test_no_socket_file_says_the_daemon_is_not_running(tmp_path):
    server, lines = pushed_tag(tmp_path)
    said = [line for line in lines if NOT_RUNNING in line]
    assert len(said) == 1, lines
    assert said[0].startswith("modpub: queued jobs wait in ")
    assert str(server.spool) in said[0] and str(tmp_path / "modpubd.sock") in said[0]


def test_socket_left_by_a_dead_daemon_says_not_running(tmp_path):
    # A daemon killed with SIGKILL leaves its socket file; nobody has it bound any more.
    def stale_socket(server):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(str(server.root / "modpubd.sock"))
        s.close()

    _, lines = pushed_tag(tmp_path, stale_socket)
    assert any(NOT_RUNNING in line for line in lines), lines


def test_a_listening_daemon_is_woken_and_nothing_is_said(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        def listen(server):
            listener.bind(str(server.root / "modpubd.sock"))
            listener.settimeout(10)

        _, lines = pushed_tag(tmp_path, listen)
        assert not any("not running" in line for line in lines), lines
        assert listener.recv(64) == b"wake"
    finally:
        listener.close()
