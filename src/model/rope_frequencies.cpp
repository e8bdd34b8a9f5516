#include "model/rope_frequencies.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numbers>

#include "core/error.h"
#include "core/thread_pool.h"

namespace nova::model {

using formats::ModelConfig;
using formats::RopeType;

namespace {

// torch: base ** (arange(0, dim, 2).float() / dim), all float32.
std::vector<float> pos_freqs(double base, int dim) {
  std::vector<float> out(static_cast<size_t>(dim / 2));
  const float b = static_cast<float>(base);
  for (int i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    out[i] = static_cast<float>(std::pow(static_cast<double>(b), static_cast<double>(exponent)));
  }
  return out;
}

// torch's `1.0 / t` is reciprocal(t) * 1.0: one float32 division.
std::vector<float> reciprocal(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = 1.0f / v[i];
  return out;
}

std::vector<float> llama3_scale(std::vector<float> inv_freq, const formats::RopeConfig& r, int orig_max) {
  const float factor = static_cast<float>(r.factor);
  const float low_factor = static_cast<float>(r.low_freq_factor);
  const double low_freq_wavelen = orig_max / r.low_freq_factor;   // python floats
  const double high_freq_wavelen = orig_max / r.high_freq_factor;
  const float two_pi = static_cast<float>(2.0 * std::numbers::pi);
  for (float& f : inv_freq) {
    const float wavelen = (1.0f / f) * two_pi;
    const bool low = wavelen > static_cast<float>(low_freq_wavelen);
    const bool high = wavelen < static_cast<float>(high_freq_wavelen);
    const float scaled = low ? f / factor : f;
    if (!low && !high) {
      // smooth = (old_context_len / wavelen - low) / (high - low)
      const float smooth = ((1.0f / wavelen) * static_cast<float>(orig_max) - low_factor) /
                           static_cast<float>(r.high_freq_factor - r.low_freq_factor);
      const float a = (1.0f - smooth) * scaled / factor;
      const float b = smooth * scaled;
      f = a + b;
    } else {
      f = scaled;
    }
  }
  return inv_freq;
}

double yarn_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

RopeFrequencies yarn(const ModelConfig& c, int dim) {
  const formats::RopeConfig& r = c.rope;
  const int orig_max = r.original_max_position > 0 ? r.original_max_position : c.max_position_embeddings;
  const double factor = r.factor;
  double attention_factor;
  if (r.attention_factor) {
    attention_factor = *r.attention_factor;
  } else if (r.mscale && r.mscale_all_dim && *r.mscale != 0.0 && *r.mscale_all_dim != 0.0) {
    attention_factor = yarn_mscale(factor, *r.mscale) / yarn_mscale(factor, *r.mscale_all_dim);
  } else {
    attention_factor = yarn_mscale(factor, 1.0);
  }
  const double base = r.theta;
  auto correction_dim = [&](double rotations) {
    return (dim * std::log(orig_max / (rotations * 2.0 * std::numbers::pi))) / (2.0 * std::log(base));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // as transformers: avoid a zero-width ramp

  const std::vector<float> pf = pos_freqs(base, dim);
  RopeFrequencies out;
  out.inv_freq.resize(pf.size());
  const float ffactor = static_cast<float>(factor);
  const float flow = static_cast<float>(low), fspan = static_cast<float>(high - low);
  for (size_t i = 0; i < pf.size(); ++i) {
    const float extrapolation = 1.0f / pf[i];
    const float interpolation = 1.0f / (ffactor * pf[i]);
    const float ramp = std::clamp((static_cast<float>(i) - flow) / fspan, 0.0f, 1.0f);
    const float extrapolation_factor = 1.0f - ramp;
    const float a = interpolation * (1.0f - extrapolation_factor);
    const float b = extrapolation * extrapolation_factor;
    out.inv_freq[i] = a + b;
  }
  out.attention_scaling = static_cast<float>(attention_factor);
  return out;
}

}  // namespace

int rotary_dim(const ModelConfig& c) {
  return static_cast<int>(c.head_dim * c.rope.partial_rotary_factor);
}

RopeFrequencies rope_frequencies(const ModelConfig& c, int64_t seq_len) {
  const int dim = rotary_dim(c);
  require(dim >= 2 && dim <= c.head_dim && dim % 2 == 0, "rope",
          "rotary dim " + std::to_string(dim) + " must be even and within head_dim " + std::to_string(c.head_dim));
  const formats::RopeConfig& r = c.rope;
  const int orig_max = r.original_max_position > 0 ? r.original_max_position : c.max_position_embeddings;
  RopeFrequencies out;
  switch (r.type) {
    case RopeType::Default:
      out.inv_freq = reciprocal(pos_freqs(r.theta, dim));
      break;
    case RopeType::Linear: {
      out.inv_freq = reciprocal(pos_freqs(r.theta, dim));
      const float factor = static_cast<float>(r.factor);
      for (float& f : out.inv_freq) f /= factor;
      break;
    }
    case RopeType::Dynamic: {
      // transformers passes seq_len as a tensor from the forward, so the base update is float32.
      const int64_t max_pos = c.max_position_embeddings;
      double base = r.theta;
      if (seq_len > max_pos) {
        float s = static_cast<float>(r.factor) * static_cast<float>(seq_len);
        s = s / static_cast<float>(max_pos);
        s = s - static_cast<float>(r.factor - 1.0);
        s = static_cast<float>(std::pow(static_cast<double>(s), static_cast<double>(static_cast<float>(
                                                                     static_cast<double>(dim) / (dim - 2)))));
        base = static_cast<double>(static_cast<float>(r.theta) * s);
      }
      out.inv_freq = reciprocal(pos_freqs(base, dim));
      break;
    }
    case RopeType::Llama3:
      out.inv_freq = llama3_scale(reciprocal(pos_freqs(r.theta, dim)), r, orig_max);
      break;
    case RopeType::Yarn:
      out = yarn(c, dim);
      break;
  }
  if (r.type != RopeType::Dynamic) out.cache = std::make_shared<RopeTableCache>();
  return out;
}

struct RopeTableCache {
  std::mutex mu;
  int64_t rows = 0;             // positions 0 .. rows-1 held
  std::vector<float> cos, sin;  // [rows, half]
};

namespace {

void compute_rows(const RopeFrequencies& f, int64_t pos0, int64_t n, float* cos_out, float* sin_out) {
  const size_t half = f.inv_freq.size();
  // Rows in parallel: a prefill's table is n * half double sin/cos pairs (~0.5 ms on one core
  // for 512 tokens of a head_dim-64 model), all before its first kernel can run.
  ThreadPool::global().parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const float pos = static_cast<float>(pos0 + r);
          for (size_t i = 0; i < half; ++i) {
            const float angle = pos * f.inv_freq[i];
            // cos/sin of the float32 angle, correctly rounded (torch's float cos is within an ulp).
            const float c = static_cast<float>(std::cos(static_cast<double>(angle)));
            const float s = static_cast<float>(std::sin(static_cast<double>(angle)));
            cos_out[r * half + i] = c * f.attention_scaling;
            sin_out[r * half + i] = s * f.attention_scaling;
          }
        }
      },
      /*grain=*/64);
}

}  // namespace

void rope_table(const RopeFrequencies& f, int64_t pos0, int64_t n, float* cos_out, float* sin_out) {
  if (n <= 0) return;
  if (!f.cache || pos0 < 0 || pos0 + n > kRopeCacheRows) {
    compute_rows(f, pos0, n, cos_out, sin_out);
    return;
  }
  RopeTableCache& c = *f.cache;
  const auto half = static_cast<int64_t>(f.inv_freq.size());
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.rows < pos0 + n) {  // grow at least twofold: a decode step past the end pays rarely
    const int64_t rows = std::min(kRopeCacheRows, std::max(pos0 + n, 2 * c.rows));
    c.cos.resize(static_cast<size_t>(rows * half));
    c.sin.resize(static_cast<size_t>(rows * half));
    compute_rows(f, c.rows, rows - c.rows, c.cos.data() + c.rows * half, c.sin.data() + c.rows * half);
    c.rows = rows;
  }
  std::memcpy(cos_out, c.cos.data() + pos0 * half, static_cast<size_t>(n * half) * sizeof(float));
  std::memcpy(sin_out, c.sin.data() + pos0 * half, static_cast<size_t>(n * half) * sizeof(float));
}

}  // namespace nova::model
