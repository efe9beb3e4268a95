// Verifying a published module version against its detached signature (`modpub verify`).
//
// The signature (storage/backend.hpp, "Signatures") is a note signed over the version's
// go.sum lines: "<path> <version> <h1 of zip>\n<path> <version>/go.mod <h1 of go.mod>\n".
// Verification fetches .sig, .zip and .mod from a proxy storage (file://, athens-disk://)
// or a GOPROXY URL (http://, https://; ~/.netrc credentials are used), then checks, each
// reported on its own: the signature opens with the verifier key and names this version;
// the zip's h1 equals the signed one; the go.mod's h1 equals the signed one.
#pragma once

#include <string>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/sign/sign.hpp"

namespace modpub::publish {

struct Check {
  std::string what;  // "signature", "zip", "mod"
  bool ok = false;
  std::string detail;  // what was found (hashes, the failure)
};

// An Error when the source cannot be used at all (bad URL, invalid module@version);
// otherwise one Check per item, in the order signature, zip, mod. `ca_file`: for https,
// the CA certificates to trust instead of the system's ("" = system).
Result<std::vector<Check>> VerifyVersion(const std::string& from, const std::string& path,
                                         const std::string& version, const sign::Verifier& key,
                                         const std::string& ca_file = "");

}  // namespace modpub::publish
