// deepkb::Status and deepkb::Result<T>: the one error type of the code base.
//
// Contract:
//  - A Status is either OK or carries a canonical code plus a human message that says what was
//    wrong and what to do about it. Messages never contain secrets or document text.
//  - Result<T> holds either a T or a non-OK Status. Accessing value() on an error aborts in debug
//    builds (assert) — callers check ok() first.
//  - Both are [[nodiscard]]; no exceptions cross module boundaries. Code that calls throwing
//    libraries catches at the edge and converts to Status.
//  - Mapping to HTTP lives in server/, mapping to CLI exit codes in ExitCodeFor() below.
// Thread safety: value types, no shared state.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace deepkb {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kResourceExhausted,
  kFailedPrecondition,
  kUnavailable,
  kDataLoss,
  kInternal,
  kUnimplemented,
  kDeadlineExceeded,
  kAborted,
  kTooLarge,            // input over a size limit (HTTP 413)
  kUnsupportedMedia,     // file/content type not supported (HTTP 415)
  kInsufficientStorage,  // the data directory's disk is (nearly) full (HTTP 507)
  // Keep kInsufficientStorage (or whatever is added after it) last: code that maps names back to
  // codes iterates up to the last value (cli::StatusFromHttpResponse).
};

// "invalid_argument", "not_found", ... (the canonical snake_case names used on the wire).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "not_found: collection 'x' does not exist; create it with `deepkb collections create x`"
  std::string ToString() const;

  // Returns a copy with `context` prepended to the message ("ingest a.pdf: ...").
  Status WithContext(std::string_view context) const;

  bool operator==(const Status& o) const { return code_ == o.code_ && message_ == o.message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Convenience constructors.
Status InvalidArgumentError(std::string msg);
Status NotFoundError(std::string msg);
Status AlreadyExistsError(std::string msg);
Status PermissionDeniedError(std::string msg);
Status UnauthenticatedError(std::string msg);
Status ResourceExhaustedError(std::string msg);
Status FailedPreconditionError(std::string msg);
Status UnavailableError(std::string msg);
Status DataLossError(std::string msg);
Status InternalError(std::string msg);
Status UnimplementedError(std::string msg);
Status TooLargeError(std::string msg);
Status UnsupportedMediaError(std::string msg);
Status InsufficientStorageError(std::string msg);

// CLI exit codes fixed by CONTRACT.md: 0 success, 1 runtime failure, 2 usage error, 3 not found,
// 4 permission denied, 5 unavailable, 6 data corruption.
int ExitCodeFor(const Status& s);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                 // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) {           // NOLINT(implicit)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK status when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace deepkb

#define DEEPKB_CONCAT_INNER(a, b) a##b
#define DEEPKB_CONCAT(a, b) DEEPKB_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::deepkb::Status _st = (expr);                    \
    if (!_st.ok()) return _st;                        \
  } while (0)

// ASSIGN_OR_RETURN(auto x, FunctionReturningResult());
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL(DEEPKB_CONCAT(_res_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                          \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
