#include "server/http_error.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace deepkb::server {
namespace {

TEST(HttpError, MapsCanonicalCodesToContractStatuses) {
  EXPECT_EQ(HttpStatusFor(InvalidArgumentError("x")), 400);
  EXPECT_EQ(HttpStatusFor(UnauthenticatedError("x")), 401);
  EXPECT_EQ(HttpStatusFor(PermissionDeniedError("x")), 403);
  EXPECT_EQ(HttpStatusFor(NotFoundError("x")), 404);
  EXPECT_EQ(HttpStatusFor(AlreadyExistsError("x")), 409);
  EXPECT_EQ(HttpStatusFor(TooLargeError("x")), 413);
  EXPECT_EQ(HttpStatusFor(UnsupportedMediaError("x")), 415);
  EXPECT_EQ(HttpStatusFor(ResourceExhaustedError("x")), 429);
  EXPECT_EQ(HttpStatusFor(UnavailableError("x")), 503);
  EXPECT_EQ(HttpStatusFor(InternalError("x")), 500);
}

TEST(HttpError, BodyHasContractShape) {
  auto j = nlohmann::json::parse(ErrorBody(NotFoundError("collection 'x' does not exist")));
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_EQ(j["error"]["message"], "collection 'x' does not exist");
  EXPECT_EQ(j["error"]["type"], "not_found_error");
}

}  // namespace
}  // namespace deepkb::server
