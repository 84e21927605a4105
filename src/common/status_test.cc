#include "common/status.h"

#include <gtest/gtest.h>

namespace deepkb {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = NotFoundError("collection 'x' does not exist");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "not_found: collection 'x' does not exist");
  EXPECT_EQ(s.WithContext("search").message(), "search: collection 'x' does not exist");
}

TEST(Status, ExitCodesFollowContract) {
  EXPECT_EQ(ExitCodeFor(Status()), 0);
  EXPECT_EQ(ExitCodeFor(InternalError("x")), 1);
  EXPECT_EQ(ExitCodeFor(InvalidArgumentError("x")), 2);
  EXPECT_EQ(ExitCodeFor(NotFoundError("x")), 3);
  EXPECT_EQ(ExitCodeFor(PermissionDeniedError("x")), 4);
  EXPECT_EQ(ExitCodeFor(UnavailableError("x")), 5);
  EXPECT_EQ(ExitCodeFor(DataLossError("x")), 6);
}

TEST(Result, PropagatesErrorsThroughMacros) {
  auto ok = Quarter(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Quarter(6);  // 6/2 = 3 is odd
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Status, CodeNamesAreSnakeCase) {
  EXPECT_EQ(StatusCodeName(StatusCode::kResourceExhausted), "resource_exhausted");
  EXPECT_EQ(StatusCodeName(StatusCode::kDataLoss), "data_loss");
}

}  // namespace
}  // namespace deepkb
