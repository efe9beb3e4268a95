#!/usr/bin/env bash
# Self-test of tests/upstream: builds the server, makes a GOPROXY tree with two small
# module versions, and checks every -mode with the REAL go command as the client (each
# go listed in CLIENT_GOS). Everything is on 127.0.0.1; servers are stopped by PID.
#
#   tests/upstream/selftest.sh
#   SERVER_GO=/usr/local/go/bin/go CLIENT_GOS="/usr/local/go/bin/go /usr/lib/go-1.19/bin/go" \
#       tests/upstream/selftest.sh
#
# Needs no network beyond the Go module proxy for building (x/mod, unless cached) and
# the local servers. Exit status 0 iff every check passed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SERVER_GO=${SERVER_GO:-/usr/local/go/bin/go}
CLIENT_GOS=${CLIENT_GOS:-/usr/local/go/bin/go /usr/lib/go-1.19/bin/go}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/upstream-selftest.XXXXXX")
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
	chmod -R u+w "$TMP" 2>/dev/null   # the module cache is read-only
	rm -rf "$TMP"
}
trap cleanup EXIT

FAILS=0
RESULTS=()
pass() { RESULTS+=("PASS  $*"); echo "PASS  $*"; }
fail() { RESULTS+=("FAIL  $*"); echo "FAIL  $*"; FAILS=$((FAILS + 1)); }
die() { echo "selftest: $*" >&2; exit 1; }

# --- build, keys, GOPROXY tree ----------------------------------------------------------
BIN=$TMP/upstream
(cd "$HERE" && GOFLAGS=-mod=readonly "$SERVER_GO" build -o "$BIN" .) || die "build failed"
"$BIN" -keygen "$TMP/keys" -name upstream.test || die "keygen failed"
VKEY=$(cat "$TMP/keys/verifier.key")
case "$VKEY" in upstream.test+*) ;; *) die "bad verifier key: $VKEY" ;; esac
grep -q '^PRIVATE+KEY+upstream.test+' "$TMP/keys/signer.key" || die "bad signer key"

# alpha is record 0, beta record 1 (the LAST record: the one -mode fork alters).
ALPHA=example.com/upstream/alpha
BETA=example.com/upstream/beta
for m in alpha beta; do
	mkdir -p "$TMP/src/$m"
	printf 'module example.com/upstream/%s\n\ngo 1.16\n' "$m" >"$TMP/src/$m/go.mod"
	printf 'package %s\n\nconst Name = "%s"\n' "$m" "$m" >"$TMP/src/$m/$m.go"
done
"$BIN" -makezip "$ALPHA@v1.0.0" "$TMP/src/alpha" "$TMP/proxy" || die "makezip alpha failed"
"$BIN" -makezip "$BETA@v1.1.0" "$TMP/src/beta" "$TMP/proxy" || die "makezip beta failed"
for f in list v1.0.0.info v1.0.0.mod v1.0.0.zip; do
	[ -f "$TMP/proxy/$ALPHA/@v/$f" ] || die "makezip did not write $ALPHA/@v/$f"
done

# --- server control -----------------------------------------------------------------------
PORT=
start_server() { # MODE
	rm -f "$TMP/port"
	REQLOG=$TMP/requests-$1
	: >"$REQLOG"
	"$BIN" -listen 127.0.0.1:0 -port-file "$TMP/port" -key "$TMP/keys/signer.key" \
		-goproxy "$TMP/proxy" -requests "$REQLOG" -mode "$1" 2>>"$TMP/server.log" &
	SERVER_PID=$!
	for _ in $(seq 100); do
		[ -s "$TMP/port" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || die "server (mode $1) exited: $(cat "$TMP/server.log")"
		sleep 0.1
	done
	PORT=$(cat "$TMP/port") || die "no port file"
}
stop_server() { # MODE
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	local rc=$?
	SERVER_PID=
	if [ "$rc" = 0 ]; then pass "server mode $1: SIGTERM -> exit 0"; else fail "server mode $1: SIGTERM -> exit $rc"; fi
}

# go_download GOBIN GOPATHDIR MODULE@VERSION: runs the real go command as a client of the
# running server in a fresh module directory; output in $OUT, status in $RC.
go_download() {
	local gobin=$1 gopath=$2 modver=$3 client
	client=$(mktemp -d "$TMP/client.XXXXXX")
	printf 'module selftest.local/client\n\ngo 1.19\n' >"$client/go.mod"
	OUT=$(cd "$client" && env -u GOMODCACHE -u GOROOT GOENV=off GOTOOLCHAIN=local \
		GOPROXY="http://127.0.0.1:$PORT/proxy" GOSUMDB="$VKEY http://127.0.0.1:$PORT" \
		GOFLAGS=-mod=mod GONOSUMDB= GONOSUMCHECK= GOPRIVATE= GONOPROXY= GOINSECURE= \
		GOPATH="$gopath" GOCACHE="$gopath/cache" \
		"$gobin" mod download -json "$modver" 2>&1)
	RC=$?
}

# expect_ok LABEL / expect_fail LABEL REGEX: judge the last go_download.
expect_ok() {
	if [ "$RC" = 0 ] && grep -q '"Sum": "h1:' <<<"$OUT" && ! grep -q '"Error"' <<<"$OUT"; then
		pass "$1"
	else
		fail "$1 (rc=$RC): $OUT"
	fi
}
expect_fail() {
	if [ "$RC" != 0 ] && grep -Eq "$2" <<<"$OUT"; then
		pass "$1 [$(grep -Eo "$2" <<<"$OUT" | head -1)]"
	else
		fail "$1 (rc=$RC, want /$2/): $OUT"
	fi
}
expect_request() { # LABEL LINE: the request log of the current server has LINE
	if grep -qxF "$2" "$REQLOG"; then pass "$1: request log has '$2'"; else fail "$1: request log lacks '$2'"; fi
}

# --- checks per client go -------------------------------------------------------------------
n=0
for GOBIN in $CLIENT_GOS; do
	n=$((n + 1))
	GV=$("$GOBIN" env GOVERSION 2>/dev/null || "$GOBIN" version)
	G=$TMP/gopath-$n # per client go: honest GOPATH, reused by the fork-detection check

	start_server honest
	go_download "$GOBIN" "$G" "$ALPHA@v1.0.0"
	expect_ok "$GV honest: download $ALPHA@v1.0.0"
	go_download "$GOBIN" "$TMP/gopath-$n-beta" "$BETA@v1.1.0"
	expect_ok "$GV honest: download $BETA@v1.1.0"
	expect_request "$GV honest" "GET /lookup/$ALPHA@v1.0.0"
	expect_request "$GV honest" "GET /proxy/$ALPHA/@v/v1.0.0.zip"
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/lookup/example.com/nosuch@v1.0.0")
	if [ "$code" = 404 ]; then pass "$GV honest: unknown module lookup -> 404"; else fail "$GV honest: unknown module lookup -> $code, want 404"; fi
	stop_server honest

	start_server changed
	go_download "$GOBIN" "$TMP/gopath-$n-changed" "$ALPHA@v1.0.0"
	expect_fail "$GV changed: download $ALPHA@v1.0.0 fails" 'cannot authenticate record data'
	stop_server changed

	start_server wrongkey
	go_download "$GOBIN" "$TMP/gopath-$n-wrongkey" "$ALPHA@v1.0.0"
	expect_fail "$GV wrongkey: download $ALPHA@v1.0.0 fails" 'note has no verifiable signatures'
	stop_server wrongkey

	start_server fork
	# A fresh client: the forked tree is self-consistent, but beta's zip hash is wrong.
	go_download "$GOBIN" "$TMP/gopath-$n-fork" "$BETA@v1.1.0"
	expect_fail "$GV fork: fresh client, download $BETA@v1.1.0 fails" 'checksum mismatch'
	# The client that saw the honest tree of the same size (GOPATH $G) detects the fork.
	go_download "$GOBIN" "$G" "$BETA@v1.1.0"
	[ -n "${SELFTEST_VERBOSE:-}" ] && echo "$OUT"
	expect_fail "$GV fork: client that saw the honest tree detects the fork" 'misbehavior detected'
	stop_server fork
done

echo
echo "=== summary ==="
printf '%s\n' "${RESULTS[@]}"
echo "$FAILS failure(s)"
[ "$FAILS" = 0 ]
