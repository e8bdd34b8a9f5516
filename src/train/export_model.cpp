#include "train/export_model.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "train/checkpoint.h"
#include "train/model_params.h"
#include "train/staging_dir.h"

namespace nova::train {

namespace fs = std::filesystem;

namespace {
const char* hf_dtype_name(DType d) {
  switch (d) {
    case DType::BF16: return "bfloat16";
    case DType::F16: return "float16";
    default: return "float32";
  }
}

Tensor convert(const Tensor& f32, DType dtype) {
  if (dtype == DType::F32) return f32;
  Tensor out = Tensor::zeros(dtype, f32.shape());
  const float* src = f32.data_as<float>();
  uint16_t* dst = out.data_as<uint16_t>();
  for (int64_t i = 0; i < f32.numel(); ++i) dst[i] = dtype == DType::BF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
  return out;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  require(static_cast<bool>(out), path, "cannot write");
}
}  // namespace

ExportSummary export_model(const std::string& checkpoint_dir, const std::string& out_dir, DType dtype) {
  require(dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F16, out_dir,
          "export dtype must be F32, BF16 or F16, not " + std::string(dtype_name(dtype)));
  const std::string config_path = checkpoint_dir + "/config.json";
  require(fs::is_regular_file(config_path), checkpoint_dir, "not a model directory (no config.json)");
  const formats::ModelConfig config = formats::load_hf_config(config_path);
  // Through the training parameter set: every tensor the model needs, by its HF name, checked.
  const ParamStore params = load_params(config, formats::Checkpoint::open_dir(checkpoint_dir));

  ExportSummary summary;
  std::map<std::string, Tensor> tensors;
  for (const Param& p : params.params()) {
    tensors[p.name] = convert(p.value, dtype);
    ++summary.tensors;
    summary.parameters += p.numel();
  }
  const fs::path parent = fs::path(out_dir).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  StagingDir staging(out_dir);
  const std::string tmp = staging.path();
  nlohmann::json cfg = checkpoint_config_json(config);
  cfg["torch_dtype"] = hf_dtype_name(dtype);
  cfg["dtype"] = hf_dtype_name(dtype);
  write_text(tmp + "/config.json", cfg.dump(2) + "\n");
  formats::save_safetensors(tmp + "/model.safetensors", tensors, {{"format", "pt"}});
  for (const char* name : {"generation_config.json", "tokenizer.json", "tokenizer_config.json"}) {
    const fs::path src = fs::path(checkpoint_dir) / name;
    if (fs::is_regular_file(src)) write_text(tmp + "/" + name, read_text_file(src.string()));
  }
  summary.bytes = static_cast<int64_t>(fs::file_size(tmp + "/model.safetensors"));
  staging.commit();
  // mkdtemp made the staging directory private; a release model is meant to be read by anyone.
  fs::permissions(out_dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  return summary;
}

}  // namespace nova::train
