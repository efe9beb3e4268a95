// The upstream test server's own module: golang.org/x/mod at the same version as
// tests/oracle/go.mod. Built by go >= the go line below (see README.md).
module modpub.test/upstream

go 1.26.0

require golang.org/x/mod v0.43.0
