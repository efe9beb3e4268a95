// Result types for expected failures.
//
// modpub distinguishes two kinds of failure:
//  * expected failures (bad input, a tag go could never fetch, a missing file, an I/O
//    error) are returned as values: `Result<T>` holds either a T or an `Error`, and
//    `Status` (= Result<void>) holds nothing or an `Error`. The message in an Error is
//    written for the user: it names the thing concerned and the rule it broke.
//  * programming errors (a broken invariant) throw std::logic_error; they are bugs.
//
// Accessing value() of a failed Result, or error() of a successful one, is a
// programming error and throws std::logic_error.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace modpub {

struct Error {
  std::string message;
};

// Builds an Error; `return Fail("x: y");` converts into any Result<T>.
inline Error Fail(std::string message) { return Error{std::move(message)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    Require(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    Require(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    Require(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    Require(!ok());
    return std::get<1>(v_);
  }
  const std::string& message() const { return error().message; }

 private:
  static void Require(bool cond) {
    if (!cond) throw std::logic_error("modpub::Result accessed in the wrong state");
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    if (!failed_) throw std::logic_error("modpub::Status has no error");
    return error_;
  }
  const std::string& message() const { return error().message; }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

inline Status Ok() { return Status(); }

}  // namespace modpub
