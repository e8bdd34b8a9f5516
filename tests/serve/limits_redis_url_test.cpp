// parse_redis_url: the --redis URL forms we accept, the ones we refuse, and that the password
// never appears in a redacted URL or an error message.
#include "serve/limits/redis_url.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace nova::serve::limits {
namespace {

TEST(RedisUrl, AcceptedForms) {
  auto o = parse_redis_url("redis://127.0.0.1:6380");
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.password, "");
  o = parse_redis_url("redis://cache.internal");
  EXPECT_EQ(o.host, "cache.internal");
  EXPECT_EQ(o.port, 6379);
  o = parse_redis_url("redis://:s3cret@h:7000/0");
  EXPECT_EQ(o.password, "s3cret");
  EXPECT_EQ(o.host, "h");
  EXPECT_EQ(o.port, 7000);
  o = parse_redis_url("redis://default:pw@h");
  EXPECT_EQ(o.password, "pw");
  o = parse_redis_url("redis://[::1]:6390");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 6390);
}

TEST(RedisUrl, RefusedFormsNeverEchoThePassword) {
  for (const char* url : {"http://h:1", "redis://", "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/3",
                          "redis://nopass@h", "redis://:topsecret@h:99999", "redis://[::1"}) {
    try {
      parse_redis_url(url);
      ADD_FAILURE() << url << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find("topsecret"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(redact_redis_url("redis://:topsecret@h:1"), "redis://:***@h:1");
  EXPECT_EQ(redact_redis_url("redis://user:topsecret@h"), "redis://user:***@h");
  EXPECT_EQ(redact_redis_url("redis://h:1"), "redis://h:1");
}

}  // namespace
}  // namespace nova::serve::limits
