"""pytest configuration of the end-to-end suite: the summary of which go ran which test."""

import os

import support
from support import GO_RUNS, GO_TOOLS, REPO_ROOT

_OUTCOMES = {}


# The hooks' shims run $MODPUB_HOOK, else modpub-hook from PATH, else the program recorded
# at install: on a machine where the modpub package is installed, PATH would give the
# packaged /usr/bin/modpub-hook instead of the build under test. Tests of the lookup itself
# set MODPUB_HOOK for their pushes.
os.environ.setdefault("MODPUB_HOOK", str(support.modpub_bin().parent / "modpub-hook"))


def pytest_collection_modifyitems(items):
    """A test parametrized with a go (support.each_go) compares with that go, even when a
    shared fixture ran it: count it for that go."""
    for item in items:
        tool = getattr(getattr(item, "callspec", None), "params", {}).get("gotool")
        if tool is not None:
            GO_RUNS.setdefault(item.nodeid, set()).add(tool.label)


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES.setdefault(report.nodeid, report.outcome)


def pytest_terminal_summary(terminalreporter):
    """One line per go: how many tests ran it and how they ended; the full list (test ->
    go versions) goes to build/e2e-go-versions.txt."""
    tr = terminalreporter
    tr.write_sep("-", "go versions exercised")
    ran = set(_OUTCOMES)
    if not GO_TOOLS:
        tr.write_line("no go installed: every comparison with go was skipped")
    for tool in GO_TOOLS:
        tests = [t for t, labels in GO_RUNS.items() if tool.label in labels and t in ran]
        ends = {}
        for t in tests:
            o = _OUTCOMES.get(t, "passed")
            ends[o] = ends.get(o, 0) + 1
        detail = ", ".join(f"{n} {o}" for o, n in sorted(ends.items())) or "none"
        tr.write_line(f"{tool.version} ({tool.bin}): {len(tests)} tests ran it ({detail})")
    out = REPO_ROOT / "build" / "e2e-go-versions.txt"
    if out.parent.is_dir():
        out.write_text("".join(f"{t}\t{' '.join(sorted(v))}\n"
                               for t, v in sorted(GO_RUNS.items()) if t in ran))
        tr.write_line(f"per test: {out}")
