// Reading safetensors files: validate the whole header up front, then hand out zero-copy views.
//
// Tensors whose dtype is valid safetensors but not a NovaLM DType (F64, BOOL, U16, F8_*, ...) are
// accepted at open() — their sizes and offsets are still validated — and are listed by names() and
// contains(), but get() of one throws nova::Error naming the tensor and its dtype. A checkpoint
// that carries, say, an F64 buffer the model never reads therefore still loads.
#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace nova::formats {
namespace {

using json = nlohmann::json;

// Headers above this are not produced by any real writer; refusing them bounds the JSON parse.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeInfo {
  std::string_view name;
  uint32_t bits;                // element size in bits (sub-byte float formats exist)
  std::optional<DType> dtype;   // nullopt: valid safetensors, but NovaLM cannot compute with it
};

constexpr DTypeInfo kDTypes[] = {
    {"F32", 32, DType::F32},  {"F16", 16, DType::F16}, {"BF16", 16, DType::BF16},
    {"I32", 32, DType::I32},  {"I64", 64, DType::I64}, {"U8", 8, DType::U8},
    {"I8", 8, DType::I8},     {"F64", 64, std::nullopt}, {"I16", 16, std::nullopt},
    {"U16", 16, std::nullopt}, {"U32", 32, std::nullopt}, {"U64", 64, std::nullopt},
    {"BOOL", 8, std::nullopt}, {"F8_E4M3", 8, std::nullopt}, {"F8_E5M2", 8, std::nullopt},
    {"F8_E8M0", 8, std::nullopt}, {"C64", 64, std::nullopt}, {"F4", 4, std::nullopt},
    {"F6_E2M3", 6, std::nullopt}, {"F6_E3M2", 6, std::nullopt},
};

const DTypeInfo* find_dtype(std::string_view name) {
  for (const DTypeInfo& d : kDTypes)
    if (d.name == name) return &d;
  return nullptr;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A tensor's validated header entry.
struct Entry {
  std::string name;
  const DTypeInfo* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& path, const std::string& name, const json& v) {
  const std::string t = "tensor '" + name + "'";
  require(v.is_object(), path, t + ": header entry is not a JSON object");
  Entry e;
  e.name = name;

  auto dt = v.find("dtype");
  require(dt != v.end(), path, t + ": missing \"dtype\"");
  require(dt->is_string(), path, t + ": \"dtype\" is not a string");
  e.dtype = find_dtype(dt->get_ref<const std::string&>());
  require(e.dtype != nullptr, path,
          t + ": unknown dtype \"" + dt->get_ref<const std::string&>() + "\"");

  auto sh = v.find("shape");
  require(sh != v.end(), path, t + ": missing \"shape\"");
  require(sh->is_array(), path, t + ": \"shape\" is not an array");
  uint64_t numel = 1;
  for (const json& d : *sh) {
    require(d.is_number_integer(), path, t + ": shape has a non-integer dimension");
    require(d.is_number_unsigned() || d.get<int64_t>() >= 0, path,
            t + ": shape has a negative dimension");
    const uint64_t n = d.get<uint64_t>();
    require(n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), path,
            t + ": shape dimension too large");
    require(!__builtin_mul_overflow(numel, n, &numel) &&
                numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
            path, t + ": shape product overflows");
    e.shape.push_back(static_cast<int64_t>(n));
  }

  auto off = v.find("data_offsets");
  require(off != v.end(), path, t + ": missing \"data_offsets\"");
  require(off->is_array() && off->size() == 2, path,
          t + ": \"data_offsets\" is not an array of two integers");
  for (const json& o : *off)
    require(o.is_number_unsigned(), path,
            t + ": \"data_offsets\" must be non-negative integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  require(e.end >= e.begin, path,
          t + ": data_offsets end " + std::to_string(e.end) + " < begin " +
              std::to_string(e.begin));

  uint64_t bits = 0;
  require(!__builtin_mul_overflow(numel, uint64_t{e.dtype->bits}, &bits), path,
          t + ": shape product overflows");
  require(bits % 8 == 0, path,
          t + ": " + std::to_string(numel) + " elements of " + std::string(e.dtype->name) +
              " are not a whole number of bytes");
  require(e.end - e.begin == bits / 8, path,
          t + ": byte size " + std::to_string(e.end - e.begin) + " does not match shape " +
              shape_str(e.shape) + " x " + std::string(e.dtype->name) + " (" +
              std::to_string(bits / 8) + " bytes)");
  return e;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  const unsigned char* base = file->data();
  const uint64_t size = file->size();
  return parse(path, std::move(file), base, size);
}

SafetensorsFile SafetensorsFile::from_bytes(std::shared_ptr<const std::string> bytes,
                                            const std::string& name) {
  require(bytes != nullptr, name, "no bytes");
  const auto* base = reinterpret_cast<const unsigned char*>(bytes->data());
  const uint64_t size = bytes->size();
  return parse(name, std::move(bytes), base, size);
}

SafetensorsFile SafetensorsFile::parse(const std::string& path, std::shared_ptr<const void> owner,
                                       const unsigned char* base, uint64_t size) {
  SafetensorsFile f;
  f.path_ = path;
  f.owner_ = std::move(owner);

  require(size >= 8, path, "file too short for a safetensors header (" + std::to_string(size) +
                               " bytes)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];  // little-endian
  require(header_len <= kMaxHeaderBytes, path,
          "header length " + std::to_string(header_len) + " is absurd (limit 100 MB)");
  require(header_len <= size - 8, path,
          "header length " + std::to_string(header_len) + " exceeds the file size " +
              std::to_string(size));
  const char* hdr = reinterpret_cast<const char*>(base + 8);
  const unsigned char* data = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  json header;
  try {
    header = json::parse(hdr, hdr + header_len);
  } catch (const json::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  require(header.is_object(), path, "header is not a JSON object");

  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      require(it->is_object(), path, "__metadata__ is not an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        require(m->is_string(), path, "__metadata__ value of '" + m.key() + "' is not a string");
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, it.key(), *it));
  }

  // Bounds, then overlap: sorted by begin, each non-empty tensor must start at or after the
  // furthest end seen so far (empty tensors occupy no bytes and overlap nothing).
  for (const Entry& e : entries)
    require(e.end <= data_size, path,
            "tensor '" + e.name + "': data_offsets end " + std::to_string(e.end) +
                " is past the end of the data section (" + std::to_string(data_size) + " bytes)");
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t max_end = 0;
  const Entry* max_owner = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin == e->end) continue;
    if (max_owner)
      require(e->begin >= max_end, path,
              "tensors '" + max_owner->name + "' and '" + e->name + "' overlap");
    if (e->end > max_end) { max_end = e->end; max_owner = e; }
  }

  for (const Entry& e : entries) {
    if (!e.dtype->dtype) {
      f.tensors_.emplace(e.name, Tensor());
      f.unsupported_.emplace(e.name, std::string(e.dtype->name));
      continue;
    }
    const DType dt = *e.dtype->dtype;
    const unsigned char* p = data + e.begin;
    if (reinterpret_cast<uintptr_t>(p) % dtype_size(dt) == 0) {
      f.tensors_.emplace(e.name, Tensor::view(dt, e.shape, p, f.owner_));
    } else {
      // A writer that does not align tensors to their element size: copy, so that readers may
      // dereference typed pointers without undefined behaviour.
      Tensor t = Tensor::zeros(dt, e.shape);
      if (t.nbytes()) std::memcpy(t.data(), p, t.nbytes());
      f.tensors_.emplace(e.name, std::move(t));
    }
  }
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(path_, "no tensor named '" + name + "'");
  auto u = unsupported_.find(name);
  if (u != unsupported_.end())
    fail(path_, "tensor '" + name + "' has dtype " + u->second + ", which NovaLM does not support");
  return it->second;
}

std::optional<std::string> SafetensorsFile::unsupported_dtype(const std::string& name) const {
  auto u = unsupported_.find(name);
  if (u == unsupported_.end()) return std::nullopt;
  return u->second;
}

}  // namespace nova::formats
