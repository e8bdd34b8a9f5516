#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "support/fixtures.h"

namespace nova::formats {
namespace {

using nlohmann::json;
using test::fixture;
using test::read_file;
using test::scratch_dir;
using test::write_file;

// A safetensors file from raw parts, so malformed headers can be written on purpose.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

// Runs open() on `bytes` and returns the error text; fails the test if it loads.
std::string open_error(const std::string& path, const std::string& bytes) {
  write_file(path, bytes);
  try {
    SafetensorsFile::open(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), path);
    return e.what();
  }
  ADD_FAILURE() << "expected an error for " << path;
  return "";
}

Tensor filled(DType dt, std::vector<int64_t> shape, uint32_t seed) {
  Tensor t = Tensor::zeros(dt, std::move(shape));
  auto* b = static_cast<unsigned char*>(t.data());
  for (size_t i = 0; i < t.nbytes(); ++i) b[i] = static_cast<unsigned char>((i * 131 + seed) % 251);
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST(Safetensors, RoundTripEveryDtypeAndMetadata) {
  const std::string dir = scratch_dir("st_roundtrip");
  std::map<std::string, Tensor> in;
  in["a.f32"] = filled(DType::F32, {3, 5}, 1);
  in["b.bf16"] = filled(DType::BF16, {7}, 2);  // odd byte count: tests alignment of later ones
  in["c.f16"] = filled(DType::F16, {2, 3, 1}, 3);
  in["d.i64"] = filled(DType::I64, {3}, 4);
  in["e.i32"] = filled(DType::I32, {4}, 5);
  in["f.u8"] = filled(DType::U8, {5}, 6);
  in["g.i8"] = filled(DType::I8, {3}, 7);
  in["h.empty"] = Tensor::zeros(DType::F32, {0, 4});
  in["i.scalar"] = filled(DType::F32, {}, 8);
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"note", "x"}};
  const std::string path = dir + "/m.safetensors";
  save_safetensors(path, in, meta);

  // The header is padded with spaces to a multiple of 8 and the data is exactly the tensors.
  const std::string bytes = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  size_t total = 0;
  for (auto& [k, t] : in) total += t.nbytes();
  EXPECT_EQ(bytes.size(), 8 + n + total);
  EXPECT_TRUE(json::parse(bytes.substr(8, n)).is_object());

  const Tensor* kept = nullptr;
  Tensor copy;
  {
    SafetensorsFile f = SafetensorsFile::open(path);
    EXPECT_EQ(f.metadata(), meta);
    EXPECT_EQ(f.names().size(), in.size());
    for (auto& [name, t] : in) {
      ASSERT_TRUE(f.contains(name)) << name;
      const Tensor& got = f.get(name);
      EXPECT_TRUE(same_bytes(got, t)) << name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(got.data()) % dtype_size(got.dtype()), 0u) << name;
    }
    kept = &f.get("a.f32");
    EXPECT_EQ(kept, &f.get("a.f32"));  // the same view each time, not a copy
    copy = f.get("a.f32");
  }
  // The view keeps the mapping alive after the file object is gone.
  EXPECT_TRUE(same_bytes(copy, in["a.f32"]));
  // No temporary files are left behind.
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
}

TEST(Safetensors, RoundTripConvertsBackToTheSameFloats) {
  const std::string dir = scratch_dir("st_roundtrip_f");
  Tensor f32 = Tensor::zeros(DType::F32, {64});
  Tensor bf = Tensor::zeros(DType::BF16, {64});
  Tensor h = Tensor::zeros(DType::F16, {64});
  for (int i = 0; i < 64; ++i) {
    const float v = (i - 32) * 0.37f;
    f32.data_as<float>()[i] = v;
    bf.data_as<uint16_t>()[i] = f32_to_bf16(v);
    h.data_as<uint16_t>()[i] = f32_to_f16(v);
  }
  save_safetensors(dir + "/x.safetensors", {{"f32", f32}, {"bf16", bf}, {"f16", h}});
  SafetensorsFile f = SafetensorsFile::open(dir + "/x.safetensors");
  const Tensor a = f.get("f32").to_f32(), b = f.get("bf16").to_f32(), c = f.get("f16").to_f32();
  for (int i = 0; i < 64; ++i) {
    const float v = f32.data_as<float>()[i];
    EXPECT_EQ(a.data_as<float>()[i], v);
    EXPECT_NEAR(b.data_as<float>()[i], v, std::abs(v) / 128 + 1e-6);
    EXPECT_NEAR(c.data_as<float>()[i], v, std::abs(v) / 1024 + 1e-6);
  }
}

TEST(Safetensors, SaveOverwritesAtomicallyAndRejectsBadInput) {
  const std::string dir = scratch_dir("st_save_bad");
  const std::string path = dir + "/x.safetensors";
  save_safetensors(path, {{"a", filled(DType::F32, {2}, 1)}});
  save_safetensors(path, {{"b", filled(DType::F32, {3}, 2)}});
  EXPECT_EQ(SafetensorsFile::open(path).names(), std::vector<std::string>{"b"});

  EXPECT_THROW(save_safetensors(path, {{"__metadata__", filled(DType::F32, {2}, 1)}}), Error);
  Tensor strided = filled(DType::F32, {4, 4}, 1);
  EXPECT_THROW(save_safetensors(path, {{"t", Tensor::view(DType::F32, {4}, nullptr)}}), Error);
  EXPECT_THROW(save_safetensors(dir + "/no/such/dir/x.safetensors", {{"a", strided}}), Error);
  EXPECT_THROW(save_safetensors(path, {{std::string("\xff\xfe"), strided}}), Error);
  // A failed save leaves the previous file intact.
  EXPECT_EQ(SafetensorsFile::open(path).names(), std::vector<std::string>{"b"});
}

TEST(Safetensors, ReadsMisalignedTensorsCorrectly) {
  // A 3-byte header puts the data section at offset 11: F32 views would be misaligned.
  const std::string dir = scratch_dir("st_misaligned");
  std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  float v[2] = {1.5f, -2.25f};
  std::string data(reinterpret_cast<const char*>(v), 8);
  ASSERT_NE((8 + header.size()) % 4, 0u);
  write_file(dir + "/m.safetensors", make_file(header, data));
  SafetensorsFile f = SafetensorsFile::open(dir + "/m.safetensors");
  const Tensor& t = f.get("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 4, 0u);
  EXPECT_EQ(t.data_as<float>()[0], 1.5f);
  EXPECT_EQ(t.data_as<float>()[1], -2.25f);
}

TEST(Safetensors, UnsupportedDtypeIsListedButGetThrows) {
  const std::string dir = scratch_dir("st_f64");
  const std::string path = dir + "/m.safetensors";
  write_file(path, make_file(R"({"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                             R"("f":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                             R"("b":{"dtype":"BOOL","shape":[3],"data_offsets":[12,15]},)"
                             R"("q":{"dtype":"F4","shape":[4],"data_offsets":[15,17]}})",
                             std::string(17, '\0')));
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"b", "d", "f", "q"}));
  EXPECT_TRUE(f.contains("d"));
  EXPECT_EQ(f.unsupported_dtype("d"), "F64");
  EXPECT_EQ(f.unsupported_dtype("f"), std::nullopt);
  EXPECT_EQ(f.get("f").numel(), 1);
  try {
    f.get("d");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'d' has dtype F64"), std::string::npos) << e.what();
  }
  try {
    f.get("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor named 'nope'"), std::string::npos);
  }
}

struct Malformed {
  const char* name;
  std::string bytes;
  const char* phrase;
};

TEST(Safetensors, MalformedFilesGiveTellingErrors) {
  const std::string dir = scratch_dir("st_malformed");
  auto entry = [](const std::string& body) { return make_file("{\"w\":" + body + "}", std::string(16, '\0')); };
  std::string huge(8, '\0');
  huge[3] = 0x10;  // 256 MiB header length
  std::string past(8, '\0');
  past[0] = 100;
  const std::vector<Malformed> cases = {
      {"empty", "", "too short"},
      {"short", "abc", "too short"},
      {"absurd_header", huge + "{}", "is absurd"},
      {"header_past_eof", past + "{}", "exceeds the file size"},
      {"invalid_json", make_file("{\"w\":", ""), "not valid JSON"},
      {"invalid_utf8", make_file("{\"w\xff\":{}}", ""), "not valid JSON"},
      {"not_object", make_file("[1,2]", ""), "not a JSON object"},
      {"entry_not_object", entry("3"), "'w': header entry is not a JSON object"},
      {"missing_dtype", entry(R"({"shape":[4],"data_offsets":[0,16]})"), "'w': missing \"dtype\""},
      {"missing_shape", entry(R"({"dtype":"F32","data_offsets":[0,16]})"), "'w': missing \"shape\""},
      {"missing_offsets", entry(R"({"dtype":"F32","shape":[4]})"), "'w': missing \"data_offsets\""},
      {"dtype_type", entry(R"({"dtype":4,"shape":[4],"data_offsets":[0,16]})"), "\"dtype\" is not a string"},
      {"unknown_dtype", entry(R"({"dtype":"Q4_K","shape":[4],"data_offsets":[0,16]})"), "unknown dtype \"Q4_K\""},
      {"shape_type", entry(R"({"dtype":"F32","shape":"4","data_offsets":[0,16]})"), "\"shape\" is not an array"},
      {"shape_float", entry(R"({"dtype":"F32","shape":[4.0],"data_offsets":[0,16]})"), "non-integer dimension"},
      {"negative_dim", entry(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"), "negative dimension"},
      {"overflow", entry(R"({"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]})"), "overflows"},
      {"overflow_bytes", entry(R"({"dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,16]})"), "overflows"},
      {"offsets_type", entry(R"({"dtype":"F32","shape":[4],"data_offsets":[0]})"), "array of two integers"},
      {"offsets_negative", entry(R"({"dtype":"F32","shape":[4],"data_offsets":[-1,16]})"), "non-negative"},
      {"end_before_begin", entry(R"({"dtype":"F32","shape":[0],"data_offsets":[16,0]})"), "end 0 < begin 16"},
      {"past_eof", entry(R"({"dtype":"F32","shape":[8],"data_offsets":[0,32]})"), "past the end of the data section"},
      {"size_mismatch", entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"), "does not match shape [3]"},
      {"overlap", make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", std::string(16, '\0')),
       "tensors 'a' and 'b' overlap"},
      {"overlap_nested", make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                   R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
                                   R"("c":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}})", std::string(16, '\0')),
       "overlap"},
      {"metadata_not_object", make_file(R"({"__metadata__":[1]})", ""), "__metadata__ is not an object"},
      {"metadata_value", make_file(R"({"__metadata__":{"format":1}})", ""), "__metadata__ value of 'format'"},
  };
  for (const Malformed& c : cases) {
    const std::string path = dir + "/" + c.name + ".safetensors";
    const std::string what = open_error(path, c.bytes);
    EXPECT_NE(what.find(path), std::string::npos) << c.name << ": " << what;
    EXPECT_NE(what.find(c.phrase), std::string::npos) << c.name << ": " << what;
  }
  // Not a file at all.
  EXPECT_THROW(SafetensorsFile::open(dir + "/does-not-exist.safetensors"), Error);
  EXPECT_THROW(SafetensorsFile::open(dir), Error);
}

TEST(Safetensors, EmptyTensorsAndHolesAreAccepted) {
  const std::string dir = scratch_dir("st_edge");
  const std::string path = dir + "/m.safetensors";
  // Zero-size tensors at any offset, a gap between tensors, trailing bytes, trailing spaces.
  write_file(path, make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("e":{"dtype":"F32","shape":[0,3],"data_offsets":[2,2]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}   )",
                             std::string(20, '\0')));
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.get("e").shape(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(f.get("b").numel(), 1);
}

// Every reference checkpoint opens, and what we read agrees with an independent reading of the
// header and of the raw bytes.
TEST(Safetensors, OpensEveryFixtureCheckpoint) {
  std::vector<std::string> paths;
  for (auto& d : std::filesystem::directory_iterator(fixture("models")))
    paths.push_back(d.path().string() + "/model.safetensors");
  paths.push_back(fixture("train/llama-train/init/model.safetensors"));
  paths.push_back(fixture("train/llama-train/final/model.safetensors"));
  paths.push_back(fixture("train/llama-train/grads_step0.safetensors"));
  paths.push_back(fixture("lora/llama-lora/base/model.safetensors"));
  paths.push_back(fixture("lora/llama-lora/adapter/adapter_model.safetensors"));
  ASSERT_GE(paths.size(), 9u + 5u);
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const std::string bytes = read_text_file(path);  // fast even in sanitizer builds
    ASSERT_GT(bytes.size(), 8u);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    const json header = json::parse(bytes.substr(8, n));

    SafetensorsFile f = SafetensorsFile::open(path);
    EXPECT_EQ(f.names().size() + (header.contains("__metadata__") ? 1 : 0), header.size());
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      const Tensor& t = f.get(it.key());
      EXPECT_EQ(t.shape(), it->at("shape").get<std::vector<int64_t>>()) << it.key();
      EXPECT_EQ(dtype_name(t.dtype()), it->at("dtype").get<std::string>());
      const uint64_t begin = it->at("data_offsets")[0].get<uint64_t>();
      EXPECT_EQ(std::memcmp(t.data(), bytes.data() + 8 + n + begin, t.nbytes()), 0) << it.key();
      EXPECT_GE(t.ndim(), 1);
      EXPECT_LE(t.ndim(), 2);
      for (int64_t d : t.shape()) EXPECT_GT(d, 0);
    }
  }
}

TEST(Safetensors, FixtureShapesMatchTheirConfigs) {
  for (auto& d : std::filesystem::directory_iterator(fixture("models"))) {
    SCOPED_TRACE(d.path().string());
    const json cfg = json::parse(read_file(d.path().string() + "/config.json"));
    const Checkpoint ck = Checkpoint::open_dir(d.path().string());
    const int64_t vocab = cfg["vocab_size"], hidden = cfg["hidden_size"];
    const int64_t heads = cfg["num_attention_heads"], kv = cfg["num_key_value_heads"];
    const int64_t head_dim =
        cfg.contains("head_dim") && !cfg["head_dim"].is_null() ? cfg["head_dim"].get<int64_t>() : hidden / heads;
    ck.get("model.embed_tokens.weight", {vocab, hidden});
    ck.get("model.norm.weight", {hidden});
    const int layers = cfg["num_hidden_layers"];
    for (int l = 0; l < layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
      ck.get(p + "q_proj.weight", {heads * head_dim, hidden});
      ck.get(p + "k_proj.weight", {kv * head_dim, hidden});
      ck.get(p + "v_proj.weight", {kv * head_dim, hidden});
      ck.get(p + "o_proj.weight", {hidden, heads * head_dim});
    }
    EXPECT_FALSE(ck.contains("model.layers." + std::to_string(layers) + ".input_layernorm.weight"));
    EXPECT_EQ(ck.contains("lm_head.weight"), !cfg.value("tie_word_embeddings", false));
  }
}

TEST(Safetensors, ShapeCheckNamesTensorAndShapes) {
  const Checkpoint ck = Checkpoint::open_dir(fixture("models/llama-gqa"));
  try {
    ck.get("model.norm.weight", {65});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), fixture("models/llama-gqa"));
    EXPECT_EQ(e.problem(), "tensor 'model.norm.weight' has shape [64], expected [65]");
  }
  try {
    ck.get("model.nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor named 'model.nope'"), std::string::npos);
  }
}

TEST(Safetensors, FuzzedFilesLoadOrThrowNovaError) {
  const std::string dir = scratch_dir("st_fuzz");
  std::map<std::string, Tensor> in{{"a", filled(DType::F32, {2, 3}, 1)},
                                   {"b", filled(DType::BF16, {5}, 2)},
                                   {"c", filled(DType::I64, {2}, 3)}};
  save_safetensors(dir + "/seed.safetensors", in, {{"format", "pt"}});
  const std::string seed = read_file(dir + "/seed.safetensors");
  // In memory: the parser is the same as open()'s, and thousands of file writes would be slow.
  int loaded = 0, rejected = 0;
  test::mutate_each(seed, 3000, 20240601u, [&](const std::string& s) {
    try {
      SafetensorsFile f = SafetensorsFile::from_bytes(std::make_shared<const std::string>(s), "fuzz");
      for (const std::string& name : f.names()) {
        if (f.unsupported_dtype(name)) continue;
        const Tensor& t = f.get(name);
        // Touch every byte: the views must lie inside the mapping.
        unsigned sum = 0;
        for (size_t i = 0; i < t.nbytes(); ++i) sum += static_cast<const unsigned char*>(t.data())[i];
        (void)sum;
      }
      ++loaded;
    } catch (const Error&) {
      ++rejected;
    }
  });
  EXPECT_GT(loaded, 0);
  EXPECT_GT(rejected, 1000);
  // The file path goes through the same parser; spot-check a few mutants on disk.
  const std::string path = dir + "/m.safetensors";
  test::mutate_each(seed, 50, 7u, [&](const std::string& s) {
    write_file(path, s);
    try {
      SafetensorsFile::open(path);
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), path);
    }
  });
}

}  // namespace
}  // namespace nova::formats
