// POST /v1/embeddings on the demo model: mean-pooled final hidden states, L2-normalised. The
// reference is computed independently of the server's Embedder: the model's ordinary forward
// with a probe on its "final_norm" intermediate (the same states lm_head multiplies).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "app_test_support.h"
#include "model/kv_cache.h"

namespace nova::serve::app::test {
namespace {

using nlohmann::json;

class AppEmbeddings : public ServeAppTest {};

std::vector<float> reference_embedding(const ModelBundle& m, const std::vector<int32_t>& ids) {
  const auto& c = m.model->config();
  auto cache = model::KvCache::allocate(m.model->backend(), c.num_layers, static_cast<int64_t>(ids.size()),
                                        c.num_kv_heads, c.head_dim);
  std::vector<float> normed, logits;
  const model::Probe probe = [&](std::string_view name, const Tensor& t) {
    if (name != "final_norm") return;
    normed.resize(static_cast<size_t>(t.numel()));
    m.model->backend().download(t, normed.data());
  };
  m.model->forward(ids, 0, cache, logits, /*all_logits=*/true, &probe);
  const size_t H = static_cast<size_t>(c.hidden_size);
  std::vector<double> mean(H, 0.0);
  for (size_t r = 0; r < ids.size(); ++r)
    for (size_t h = 0; h < H; ++h) mean[h] += normed[r * H + h] / static_cast<double>(ids.size());
  double norm = 0;
  for (double v : mean) norm += v * v;
  std::vector<float> out(H);
  for (size_t h = 0; h < H; ++h) out[h] = static_cast<float>(mean[h] / std::sqrt(norm));
  return out;
}

// RFC 4648 base64 -> bytes -> little-endian float32 values.
std::vector<float> decode_base64_floats(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    if (ch == '=') break;
    acc = (acc << 6) | static_cast<uint32_t>(alphabet.find(ch));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  std::vector<float> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t u = 0;
    for (int b = 3; b >= 0; --b) u = (u << 8) | static_cast<unsigned char>(bytes[i * 4 + static_cast<size_t>(b)]);
    std::memcpy(&out[i], &u, 4);
  }
  return out;
}

double max_diff(const json& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) m = std::max(m, std::abs(got[i].get<double>() - want[i]));
  return m;
}

TEST_F(AppEmbeddings, StringsAndTokenArraysMatchPooledHiddenStates) {
  const auto& m = app_->model();
  const auto hello = m.tokenizer->encode("Hello there", true), other = m.tokenizer->encode("a different text", true);
  const auto r = call(port(), "POST", "/v1/embeddings", R"({"input":["Hello there","a different text"],"model":"demo"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "demo");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][1]["index"], 1);
  EXPECT_EQ(j["data"][0]["object"], "embedding");
  EXPECT_EQ(j["usage"]["prompt_tokens"], hello.size() + other.size());
  EXPECT_EQ(j["usage"]["total_tokens"], hello.size() + other.size());
  EXPECT_LE(max_diff(j["data"][0]["embedding"], reference_embedding(m, hello)), 1e-5);
  EXPECT_LE(max_diff(j["data"][1]["embedding"], reference_embedding(m, other)), 1e-5);
  double norm = 0;
  for (const auto& v : j["data"][0]["embedding"]) norm += v.get<double>() * v.get<double>();
  EXPECT_NEAR(norm, 1.0, 1e-5);
  // Token ids give the same vector as the text they encode.
  const auto t = call(port(), "POST", "/v1/embeddings", json({{"input", hello}}).dump());
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_LE(max_diff(json::parse(t.body)["data"][0]["embedding"], reference_embedding(m, hello)), 1e-6);
}

TEST_F(AppEmbeddings, Base64IsLittleEndianFloat32AndDimensionsTruncate) {
  const json f = json::parse(call(port(), "POST", "/v1/embeddings", R"({"input":"abc"})").body);
  const json b = json::parse(call(port(), "POST", "/v1/embeddings", R"({"input":"abc","encoding_format":"base64"})").body);
  const std::string b64 = b["data"][0]["embedding"];
  const std::vector<float> decoded = decode_base64_floats(b64);
  ASSERT_EQ(decoded.size(), f["data"][0]["embedding"].size());
  for (size_t i = 0; i < decoded.size(); ++i) EXPECT_EQ(decoded[i], f["data"][0]["embedding"][i].get<float>()) << i;
  const json d = json::parse(call(port(), "POST", "/v1/embeddings", R"({"input":"abc","dimensions":8})").body);
  ASSERT_EQ(d["data"][0]["embedding"].size(), 8u);
  double norm = 0;
  for (const auto& v : d["data"][0]["embedding"]) norm += v.get<double>() * v.get<double>();
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST_F(AppEmbeddings, BadInputsAreOpenAIErrors) {
  struct Case {
    const char* body;
    int status;
  };
  for (const Case& c : {Case{R"({})", 400}, Case{R"({"input":""})", 400}, Case{R"({"input":[]})", 400},
                        Case{R"({"input":[1,2,99999]})", 400}, Case{R"({"input":"x","encoding_format":"hex"})", 400},
                        Case{R"({"input":"x","dimensions":100000})", 400}, Case{R"({"input":"x","model":"gpt-4"})", 404},
                        Case{R"({"input":[[1],"x"]})", 400}}) {
    const auto r = call(port(), "POST", "/v1/embeddings", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_TRUE(is_openai_error(r.body)) << r.body;
  }
}

}  // namespace
}  // namespace nova::serve::app::test
