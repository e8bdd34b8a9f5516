#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "support/fixtures.h"

namespace nova::formats {
namespace {

using nlohmann::json;
using test::fixture;
using test::scratch_dir;
using test::write_file;

Tensor ramp(std::vector<int64_t> shape, float start) {
  Tensor t = Tensor::zeros(DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = start + static_cast<float>(i);
  return t;
}

// Two shards and an index, as save_pretrained(max_shard_size=...) lays them out.
std::string write_sharded_fresh(const std::string& name) {
  const std::string dir = scratch_dir(name);
  save_safetensors(dir + "/model-00001-of-00002.safetensors",
                   {{"embed", ramp({4, 2}, 0)}, {"layer0", ramp({2, 2}, 100)}});
  save_safetensors(dir + "/model-00002-of-00002.safetensors",
                   {{"layer1", ramp({2, 2}, 200)}, {"norm", ramp({2}, 300)}});
  json index = {{"metadata", {{"total_size", 80}}},
                {"weight_map",
                 {{"embed", "model-00001-of-00002.safetensors"},
                  {"layer0", "model-00001-of-00002.safetensors"},
                  {"layer1", "model-00002-of-00002.safetensors"},
                  {"norm", "model-00002-of-00002.safetensors"}}}};
  write_file(dir + "/model.safetensors.index.json", index.dump(2));
  return dir;
}

// The same, copied from one written checkpoint (saving syncs to disk, which is slow here).
std::string write_sharded(const std::string& name) {
  static const std::string tmpl = write_sharded_fresh("ck_template");
  const std::string dir = scratch_dir(name);
  for (auto& e : std::filesystem::directory_iterator(tmpl))
    std::filesystem::copy_file(e.path(), dir + "/" + e.path().filename().string());
  return dir;
}

std::string open_dir_error(const std::string& dir) {
  try {
    Checkpoint::open_dir(dir);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an error for " << dir;
  return "";
}

void rewrite_index(const std::string& dir, const std::function<void(json&)>& edit) {
  const std::string path = dir + "/model.safetensors.index.json";
  json j = json::parse(test::read_file(path));
  edit(j);
  write_file(path, j.dump());
}

TEST(Checkpoint, OpensSingleFileFixture) {
  const Checkpoint ck = Checkpoint::open_dir(fixture("models/qwen3"));
  const SafetensorsFile f = SafetensorsFile::open(fixture("models/qwen3/model.safetensors"));
  EXPECT_EQ(ck.names(), f.names());
  EXPECT_EQ(ck.dir(), fixture("models/qwen3"));
  for (const std::string& n : f.names()) {
    EXPECT_TRUE(ck.contains(n));
    EXPECT_EQ(ck.get(n).shape(), f.get(n).shape());
    EXPECT_EQ(std::memcmp(ck.get(n).data(), f.get(n).data(), f.get(n).nbytes()), 0);
  }
}

TEST(Checkpoint, OpensShardedCheckpoint) {
  const std::string dir = write_sharded_fresh("ck_sharded_fresh");
  const Checkpoint ck = Checkpoint::open_dir(dir);
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"embed", "layer0", "layer1", "norm"}));
  EXPECT_EQ(ck.get("embed", {4, 2}).data_as<float>()[7], 7.0f);
  EXPECT_EQ(ck.get("layer0").data_as<float>()[3], 103.0f);
  EXPECT_EQ(ck.get("layer1").data_as<float>()[0], 200.0f);
  EXPECT_EQ(ck.get("norm", {2}).data_as<float>()[1], 301.0f);
}

TEST(Checkpoint, SingleFileWinsOverIndex) {
  const std::string dir = write_sharded("ck_both");
  save_safetensors(dir + "/model.safetensors", {{"only", ramp({1}, 5)}});
  EXPECT_EQ(Checkpoint::open_dir(dir).names(), std::vector<std::string>{"only"});
}

TEST(Checkpoint, ShardTensorsMissingFromIndexAreStillLoadable) {
  const std::string dir = write_sharded("ck_extra");
  rewrite_index(dir, [](json& j) { j["weight_map"].erase("norm"); });
  EXPECT_TRUE(Checkpoint::open_dir(dir).contains("norm"));
}

TEST(Checkpoint, BrokenCheckpointsGiveTellingErrors) {
  {
    const std::string dir = scratch_dir("ck_empty");
    const std::string what = open_dir_error(dir);
    EXPECT_NE(what.find(dir), std::string::npos) << what;
    EXPECT_NE(what.find("no model.safetensors or model.safetensors.index.json"), std::string::npos);
    EXPECT_NE(open_dir_error(dir + "/missing").find("no model.safetensors"), std::string::npos);
  }
  struct Case {
    const char* name;
    std::function<void(json&)> edit;
    const char* phrase;
  };
  const std::vector<Case> cases = {
      {"missing_shard", [](json& j) { j["weight_map"]["norm"] = "model-00003-of-00003.safetensors"; },
       "shard \"model-00003-of-00003.safetensors\" listed in weight_map does not exist"},
      {"absent_tensor", [](json& j) { j["weight_map"]["ghost"] = "model-00001-of-00002.safetensors"; },
       "tensor 'ghost' is listed in weight_map but absent from shard \"model-00001-of-00002.safetensors\""},
      {"wrong_shard", [](json& j) { j["weight_map"]["norm"] = "model-00001-of-00002.safetensors"; },
       "tensor 'norm' is listed in weight_map but absent"},
      {"traversal", [](json& j) { j["weight_map"]["norm"] = "../ck_sharded/model-00002-of-00002.safetensors"; },
       "escapes the checkpoint directory"},
      {"traversal_inner", [](json& j) { j["weight_map"]["norm"] = "sub/../../x.safetensors"; },
       "escapes the checkpoint directory"},
      {"absolute", [](json& j) { j["weight_map"]["norm"] = "/etc/passwd"; }, "is an absolute path"},
      {"backslash", [](json& j) { j["weight_map"]["norm"] = "..\\x.safetensors"; }, "forbidden character"},
      {"empty_name", [](json& j) { j["weight_map"]["norm"] = ""; }, "empty shard name"},
      {"no_weight_map", [](json& j) { j.erase("weight_map"); }, "missing \"weight_map\""},
      {"weight_map_type", [](json& j) { j["weight_map"] = json::array(); }, "\"weight_map\" is not an object"},
      {"entry_type", [](json& j) { j["weight_map"]["norm"] = 2; }, "weight_map entry for 'norm' is not a string"},
      {"not_object", [](json& j) { j = json::array(); }, "not a JSON object"},
  };
  // The traversal case must fail even though its target really exists.
  write_sharded("ck_sharded");
  for (const Case& c : cases) {
    const std::string dir = write_sharded(std::string("ck_bad_") + c.name);
    rewrite_index(dir, c.edit);
    const std::string what = open_dir_error(dir);
    EXPECT_NE(what.find(dir + "/model.safetensors.index.json"), std::string::npos) << c.name << ": " << what;
    EXPECT_NE(what.find(c.phrase), std::string::npos) << c.name << ": " << what;
  }
  {
    const std::string dir = write_sharded("ck_bad_json");
    write_file(dir + "/model.safetensors.index.json", "{\"weight_map\": {");
    EXPECT_NE(open_dir_error(dir).find("not valid JSON"), std::string::npos);
  }
  {
    // The same tensor in two shards, where the index does not say which one is meant.
    const std::string dir = write_sharded("ck_bad_dup");
    save_safetensors(dir + "/model-00002-of-00002.safetensors",
                     {{"layer1", ramp({2, 2}, 200)}, {"norm", ramp({2}, 300)}, {"dup", ramp({1}, 0)}});
    save_safetensors(dir + "/model-00001-of-00002.safetensors",
                     {{"embed", ramp({4, 2}, 0)}, {"layer0", ramp({2, 2}, 100)}, {"dup", ramp({1}, 0)}});
    EXPECT_NE(open_dir_error(dir).find("tensor 'dup' appears in more than one shard"), std::string::npos);
  }
  {
    // A corrupt shard: the error names the shard file.
    const std::string dir = write_sharded("ck_bad_shard");
    write_file(dir + "/model-00002-of-00002.safetensors", "garbage!garbage");
    EXPECT_NE(open_dir_error(dir).find(dir + "/model-00002-of-00002.safetensors"), std::string::npos);
  }
}

TEST(Checkpoint, FuzzedIndexLoadsOrThrowsNovaError) {
  const std::string dir = write_sharded("ck_fuzz");
  const std::string seed = test::read_file(dir + "/model.safetensors.index.json");
  int parsed = 0;
  test::mutate_each(seed, 2000, 98u, [&](const std::string& s) {
    try {
      for (const auto& [tensor, shard] : parse_safetensors_index(s, "index")) {
        EXPECT_FALSE(shard.empty());
        EXPECT_NE(shard[0], '/');
      }
      ++parsed;
    } catch (const Error&) {
    }
  });
  EXPECT_GT(parsed, 0);
  int loaded = 0;
  // Whole-directory opens read from disk, which is slow here: fewer cases.
  test::mutate_each(seed, 60, 99u, [&](const std::string& s) {
    write_file(dir + "/model.safetensors.index.json", s);
    try {
      Checkpoint ck = Checkpoint::open_dir(dir);
      for (const std::string& n : ck.names()) (void)ck.get(n).numel();
      ++loaded;
    } catch (const Error&) {
    }
  });
  EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace nova::formats
