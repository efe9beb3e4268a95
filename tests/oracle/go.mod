// The x/mod oracle's own module: the current golang.org/x/mod from the Go module proxy,
// pinned here and in go.sum. Built by the newest installed go (>= the go line below).
// Debian's go 1.19 builds the same sources in GOPATH mode against x/mod 0.7.0
// (golang-golang-x-mod-dev), which ignores this file.
module modpub.test/oracle

go 1.26.0

require golang.org/x/mod v0.43.0
