// Paths to ../shared/fixtures and small helpers shared by tests.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace nova::test {

// The environment variable NOVA_FIXTURES_DIR overrides the configured path (e.g. on the GPU
// machine, where the fixtures travel inside the repository: scripts/test_gpu.sh).
inline std::string fixtures_dir() {
  const char* env = std::getenv("NOVA_FIXTURES_DIR");
  return env && *env ? env : NOVA_FIXTURES_DIR;
}
inline std::string fixture(const std::string& rel) { return fixtures_dir() + "/" + rel; }
inline std::string source_dir() { return NOVA_SOURCE_DIR; }
inline std::string binary_dir() { return NOVA_BINARY_DIR; }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<float> read_f32(const std::string& path) {
  std::string b = read_file(path);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

// A fresh, empty scratch directory under the build tree for one test.
inline std::string scratch_dir(const std::string& name) {
  const std::string dir = binary_dir() + "/scratch/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Deterministic mutation fuzzing: `count` variants of `seed_input` (bit flips, byte
// overwrites with interesting values, truncations, insertions, duplicated chunks), each
// passed to `fn`. The parser under test must return or throw nova::Error — nothing else.
template <class Fn>
void mutate_each(const std::string& seed_input, int count, uint32_t seed, Fn&& fn) {
  std::mt19937 rng(seed);
  const unsigned char interesting[] = {0x00, 0xff, 0x7f, 0x80, '"', '{', '}', '[', ']', ',', ':', '\\', '0', '9', '-', 'e'};
  for (int i = 0; i < count; ++i) {
    std::string s = seed_input;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 6) {
        case 0: s[pos] = static_cast<char>(s[pos] ^ (1u << (rng() % 8))); break;
        case 1: s[pos] = static_cast<char>(interesting[rng() % sizeof(interesting)]); break;
        case 2: s.resize(pos); break;
        case 3: s.insert(pos, 1, static_cast<char>(rng() % 256)); break;
        case 4: s.erase(pos, 1 + rng() % 16); break;
        case 5: s.insert(pos, s.substr(pos, 1 + rng() % 32)); break;
      }
    }
    fn(s);
  }
}

}  // namespace nova::test
