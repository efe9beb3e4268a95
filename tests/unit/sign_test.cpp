// sign: Ed25519 keys and signed notes in Go's note format.
#include "modpub/sign/sign.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace modpub::sign {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// x/mod note's documented example key (note.go / example_test.go).
constexpr const char* kXmodSkey =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr const char* kXmodVkey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

TEST(Sign, ParsesXmodExampleKeys) {
  auto s = Signer::Parse(kXmodSkey);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->name(), "PeterNeumann");
  EXPECT_EQ(s->key_hash(), 0xc74f20a3u);
  EXPECT_EQ(s->VerifierKey(), kXmodVkey);
  auto v = Verifier::Parse(kXmodVkey);
  ASSERT_TRUE(v.ok()) << v.message();
}

TEST(Sign, SignsLikeXmodExample) {
  // note's example_test.go: ExampleSign's output for this key and text.
  auto s = Signer::Parse(kXmodSkey);
  ASSERT_TRUE(s.ok());
  auto msg = SignNote(
      "If you think cryptography is the answer to your problem,\n"
      "then you don't know what your problem is.\n",
      *s);
  ASSERT_TRUE(msg.ok());
  EXPECT_THAT(
      *msg,
      HasSubstr("\n\n\xE2\x80\x94 PeterNeumann "
                "x08go/ZJkuBS9UG/"
                "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"));
}

TEST(Sign, RoundTripAndTamper) {
  auto kp = GenerateKey("sumdb.corp.example");
  ASSERT_TRUE(kp.ok());
  EXPECT_THAT(kp->signer, StartsWith("PRIVATE+KEY+sumdb.corp.example+"));
  auto s = Signer::Parse(kp->signer);
  auto v = Verifier::Parse(kp->verifier);
  ASSERT_TRUE(s.ok() && v.ok());
  auto note = SignNote("corp.example/a v1.0.0 h1:x\n", *s);
  ASSERT_TRUE(note.ok());
  auto text = OpenNote(*note, *v);
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(*text, "corp.example/a v1.0.0 h1:x\n");

  std::string tampered = *note;
  tampered[14] = 'b';
  auto bad = OpenNote(tampered, *v);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), StartsWith("invalid signature for key sumdb.corp.example+"));

  auto other = GenerateKey("sumdb.corp.example");
  auto ov = Verifier::Parse(other->verifier);
  auto unknown = OpenNote(*note, *ov);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.message(), "note has no verifiable signatures");
}

TEST(Sign, RejectsBadKeysAndNames) {
  EXPECT_EQ(Verifier::Parse("name+12345678+AAAA").message(), "invalid verifier hash");
  EXPECT_EQ(Verifier::Parse("na me+12345678+AAAA").message(), "malformed verifier id");
  EXPECT_EQ(Signer::Parse("PRIVATE+KEY+x").message(), "malformed verifier id");
  EXPECT_FALSE(GenerateKey("a+b").ok());
  EXPECT_FALSE(GenerateKey("").ok());
  EXPECT_FALSE(GenerateKey("a\xe2\x80\x83"
                           "b")
                   .ok());  // U+2003 EM SPACE
  EXPECT_FALSE(SignNote("no newline", *Signer::Parse(kXmodSkey)).ok());
}

TEST(Sign, Base64DecodeIsGoStd) {
  EXPECT_EQ(*Base64Decode("aGk="), "hi");
  EXPECT_EQ(*Base64Decode("aG\nk="), "hi");
  EXPECT_FALSE(Base64Decode("aGk").ok());
  EXPECT_FALSE(Base64Decode("a===").ok());
  EXPECT_FALSE(Base64Decode("aG=k").ok());
}

}  // namespace
}  // namespace modpub::sign
