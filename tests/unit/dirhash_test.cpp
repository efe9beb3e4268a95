// Unit tests for modpub::dirhash.
//
// The expected hashes were computed with the real Go code: a throwaway program run as
//   GO111MODULE=off GOPATH=/usr/share/gocode go run vec.go   (go 1.19.8, x/mod 0.7.0)
// calling crypto/sha256.Sum256 and golang.org/x/mod/sumdb/dirhash.Hash1 on the same
// inputs. The go.mod hash of example.com/version v1.1.0 is also recorded in go's own
// test data (src/cmd/go/testdata/script/import_unix_tag.txt), which pins down that the
// go.mod hash names the file plain "go.mod".

#include "modpub/dirhash/dirhash.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace modpub::dirhash {
namespace {

Digest DigestOf(std::string_view data) { return Sha256::Of(data); }

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(Hex(Sha256::Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256::Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256::Of(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  const std::string data(1000000, 'a');
  Sha256 h;
  // Uneven pieces, including empty ones, cross the 64-byte block boundaries.
  std::size_t at = 0;
  for (std::size_t piece = 0; at < data.size(); piece = (piece * 7 + 13) % 1000) {
    std::size_t n = std::min(piece, data.size() - at);
    h.Update(data.data() + at, n);
    at += n;
  }
  EXPECT_EQ(h.Finish(), Sha256::Of(data));
}

TEST(Sha256, MisuseIsAProgrammingError) {
  Sha256 h;
  h.Update("x");
  (void)h.Finish();
  EXPECT_THROW(h.Update("y"), std::logic_error);
  EXPECT_THROW((void)h.Finish(), std::logic_error);
}

TEST(Hex, LowerCase) {
  Digest d{};
  d[0] = 0xAB;
  d[31] = 0x0F;
  EXPECT_EQ(Hex(d), "ab" + std::string(60, '0') + "0f");
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
}

TEST(Base64, HighBytesUseTheStandardAlphabet) {
  EXPECT_EQ(Base64("\xfb\xff"), "+/8=");
  EXPECT_EQ(Base64(std::string("\0\0\0", 3)), "AAAA");
  EXPECT_EQ(Base64("\xff\xff\xff"), "////");
}

TEST(Hash1, EmptySetIsTheHashOfNothing) {
  auto h = Hash1({});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

TEST(Hash1, KnownAnswerFromGo) {
  auto h = Hash1({{"example.com/m@v1.0.0/go.mod", DigestOf("module example.com/m\n")},
                  {"example.com/m@v1.0.0/a.go", DigestOf("package a\n")}});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, "h1:mf3ZgaLi4oSAsMraSF2c/29zuDnyW+GWSJW1ofY+5Bk=");
}

TEST(Hash1, SortsBytewiseWhateverTheInputOrder) {
  // Go sorts "a-b" < "a/B" < "a/b" < "a/b0" < "a/é" (bytes: '-' < '/', 'B' < 'b' < 0xC3).
  std::vector<FileDigest> files = {{"m@v1.0.0/a/é", DigestOf("3")},
                                   {"m@v1.0.0/a/b0", DigestOf("")},
                                   {"m@v1.0.0/a/b", DigestOf("1")},
                                   {"m@v1.0.0/a-b", DigestOf("4")},
                                   {"m@v1.0.0/a/B", DigestOf("2")}};
  const std::string want = "h1:Au6nqGRrNuSBmwYza1KeD5RtSNzlDSBxQdKLGGjCks8=";
  auto h = Hash1(files);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, want);
  std::reverse(files.begin(), files.end());
  EXPECT_EQ(Hash1(files).value(), want);
}

TEST(Hash1, RejectsNewlinesInNames) {
  auto h = Hash1({{"a\nb", DigestOf("x")}});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.message(), "dirhash: filenames with newlines are not supported");
  // Anywhere in the set, not just first.
  EXPECT_FALSE(Hash1({{"a", DigestOf("")}, {"z/\n", DigestOf("")}}).ok());
  // A carriage return is fine.
  EXPECT_TRUE(Hash1({{"a\rb", DigestOf("x")}}).ok());
}

TEST(HashGoMod, NamesTheFileGoModOnly) {
  // Recorded by go itself: "example.com/version v1.1.0/go.mod h1:S7K9Bn...".
  EXPECT_EQ(HashGoMod("module example.com/version\n"),
            "h1:S7K9BnT4o5wT4PCczXPfWVzpjD4ud4e7AJMQJEgiu2Q=");
  EXPECT_EQ(HashGoMod("example.com/version", "v1.1.0", "module example.com/version\n"),
            "h1:S7K9BnT4o5wT4PCczXPfWVzpjD4ud4e7AJMQJEgiu2Q=");
  EXPECT_EQ(HashGoMod(""), "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY=");
  EXPECT_EQ(HashGoMod("module \"example.com/a b\"\n"),
            "h1:fCqvkUPBd2Lln9A6GOcHbOW1BD0AbxUg7VpHr3i6LBw=");
  // The same as Hash1 over {"go.mod"}; path and version do not matter.
  EXPECT_EQ(HashGoMod("a", "v1.0.0", "x"), Hash1({{"go.mod", DigestOf("x")}}).value());
  EXPECT_EQ(HashGoMod("a", "v1.0.0", "x"), HashGoMod("b", "v2.0.0", "x"));
}

}  // namespace
}  // namespace modpub::dirhash
