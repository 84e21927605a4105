#include "embed/embedder.h"

#include <gtest/gtest.h>

#include <string>

namespace deepkb::embed {
namespace {

TEST(MakeEmbedderTest, NgramHash_DefaultAndExplicitDim) {
  auto e = MakeEmbedder("ngram-hash");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->dim(), 256u);
  EXPECT_EQ((*e)->spec(), "ngram-hash");
  auto p = Probe(**e);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, 256u);

  auto e384 = MakeEmbedder("ngram-hash:384");
  ASSERT_TRUE(e384.ok());
  EXPECT_EQ((*e384)->dim(), 384u);
  EXPECT_EQ((*e384)->spec(), "ngram-hash:384");
  auto v = (*e384)->Embed({"a", "b"});
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[0].size(), 384u);
}

TEST(MakeEmbedderTest, OpenAi_CreatedWithoutContactingTheServer) {
  auto e = MakeEmbedder("openai:bge-m3@http://127.0.0.1:1");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->spec(), "openai:bge-m3@http://127.0.0.1:1");
  EXPECT_EQ((*e)->dim(), 0u);
}

TEST(MakeEmbedderTest, BadSpecs_AreInvalidArgumentListingValidForms) {
  for (const char* bad : {"", "ngram", "ngram-hash:", "ngram-hash:31", "ngram-hash:4097",
                          "ngram-hash:12x", "ngram-hash:-5", "ngram-hash:99999999999", "NGRAM-HASH",
                          "bge-m3", "openai:", "openai:bge-m3", "openai:m@localhost:8000"}) {
    auto e = MakeEmbedder(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << bad;
    const std::string msg = e.status().message();
    const bool lists_forms = msg.find("ngram-hash:DIM") != std::string::npos ||
                             msg.find("MODEL@URL") != std::string::npos;
    EXPECT_TRUE(lists_forms) << bad << ": " << msg;
  }
}

TEST(MakeEmbedderTest, BadOptions_AreInvalidArgument) {
  EmbedderOptions o;
  o.max_batch = 0;
  EXPECT_FALSE(MakeEmbedder("openai:m@http://h:1", o).ok());
  o = {};
  o.timeout_seconds = 0;
  EXPECT_FALSE(MakeEmbedder("openai:m@http://h:1", o).ok());
  o = {};
  o.max_retries = -1;
  EXPECT_FALSE(MakeEmbedder("openai:m@http://h:1", o).ok());
}

}  // namespace
}  // namespace deepkb::embed
