#include "data/prepare.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/thread_pool.h"
#include "data/atomic_file.h"
#include "data/brown.h"
#include "data/index_permutation.h"
#include "data/jsonl_record.h"
#include "data/manifest.h"
#include "data/shard.h"
#include "tokenizer/tokenizer.h"

namespace nova::data {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxSkippedExamples = 10;

bool goes_to_val(const PrepareOptions& o, uint64_t ordinal) {
  if (o.val_every > 0) return ordinal % o.val_every == o.seed % o.val_every;
  if (o.val_fraction <= 0) return false;
  const double u = static_cast<double>(splitmix64(o.seed ^ splitmix64(ordinal)) >> 11) * 0x1.0p-53;
  return u < o.val_fraction;
}

std::string shard_name(const char* split, size_t index) {
  std::string n = std::to_string(index);
  if (n.size() < 5) n.insert(0, 5 - n.size(), '0');
  return std::string(split) + "-" + n + ".bin";
}

// Accumulates one split's token stream and cuts it into shards of exactly max_tokens (the last shorter).
class ShardSink {
 public:
  ShardSink(const char* split, const PrepareOptions& o, uint32_t vocab_size, ManifestSplit& manifest)
      : split_(split), options_(o), vocab_size_(vocab_size), manifest_(manifest) {}

  void add_document(const std::vector<int32_t>& ids, const std::vector<uint8_t>& mask) {
    size_t done = 0;
    while (done < ids.size()) {
      const size_t room = static_cast<size_t>(options_.max_shard_tokens - tokens_.size());
      const size_t take = std::min(room, ids.size() - done);
      tokens_.insert(tokens_.end(), ids.begin() + static_cast<ptrdiff_t>(done),
                     ids.begin() + static_cast<ptrdiff_t>(done + take));
      if (options_.loss_mask)
        mask_.insert(mask_.end(), mask.begin() + static_cast<ptrdiff_t>(done),
                     mask.begin() + static_cast<ptrdiff_t>(done + take));
      done += take;
      if (done == ids.size()) ++documents_;
      if (tokens_.size() == options_.max_shard_tokens) flush();
    }
    ++manifest_.documents;
    manifest_.tokens += ids.size();
  }

  void flush() {
    if (tokens_.empty()) return;
    const std::string name = shard_name(split_, manifest_.shards.size());
    const std::string path = (fs::path(options_.output_dir) / name).string();
    write_shard(path, tokens_, documents_, vocab_size_, mask_);
    manifest_.shards.push_back({name, tokens_.size(), documents_});
    written_.push_back(path);
    tokens_.clear();
    mask_.clear();
    documents_ = 0;
  }

  const std::vector<std::string>& written() const { return written_; }

 private:
  const char* split_;
  const PrepareOptions& options_;
  uint32_t vocab_size_;
  ManifestSplit& manifest_;
  std::vector<int32_t> tokens_;
  std::vector<uint8_t> mask_;
  uint64_t documents_ = 0;
  std::vector<std::string> written_;
};

struct PendingDocument {
  uint64_t ordinal;
  TextRecord record;
};

class Preparer {
 public:
  explicit Preparer(const PrepareOptions& o)
      : o_(o),
        tokenizer_(o.tokenizer ? *o.tokenizer : tokenizer::Tokenizer::from_file(o.tokenizer_path)),
        train_("train", o, static_cast<uint32_t>(tokenizer_.vocab_size()), manifest_.train),
        val_("val", o, static_cast<uint32_t>(tokenizer_.vocab_size()), manifest_.val) {
    separator_ = resolve_separator();
    manifest_.tokenizer = fs::absolute(o.tokenizer_path).lexically_normal().string();
    manifest_.vocab_size = static_cast<uint32_t>(tokenizer_.vocab_size());
    manifest_.separator_id = separator_;
    manifest_.separator_token = tokenizer_.id_to_token(separator_);
    manifest_.token_width = token_width_for_vocab(manifest_.vocab_size);
    manifest_.loss_mask = o.loss_mask;
    manifest_.seed = o.seed;
    manifest_.val_fraction = o.val_fraction;
    manifest_.val_every = o.val_every;
  }

  PrepareStats run() {
    for (const std::string& input : o_.inputs) {
      for (const auto& [path, format] : expand_input(input)) {
        ++stats_.files;
        read_file(path, format);
      }
    }
    flush_pending();
    train_.flush();
    val_.flush();
    manifest_.skipped_invalid_json = stats_.skipped_invalid_json;
    manifest_.skipped_missing_field = stats_.skipped_missing_field;
    manifest_.skipped_wrong_type = stats_.skipped_wrong_type;
    manifest_.skipped_invalid_utf8 = stats_.skipped_invalid_utf8;
    manifest_.empty_documents = stats_.empty_documents;
    stats_.manifest_path = (fs::path(o_.output_dir) / "manifest.json").string();
    write_file_atomically(stats_.manifest_path, {manifest_.to_json().dump(2) + "\n"});
    remove_stale_shards();
    stats_.train_documents = manifest_.train.documents;
    stats_.val_documents = manifest_.val.documents;
    stats_.train_tokens = manifest_.train.tokens;
    stats_.val_tokens = manifest_.val.tokens;
    stats_.train_shards = train_.written();
    stats_.val_shards = val_.written();
    stats_.separator_id = separator_;
    return std::move(stats_);
  }

 private:
  int32_t resolve_separator() const {
    if (!o_.separator_token.empty()) {
      auto id = tokenizer_.token_to_id(o_.separator_token);
      if (!id) fail("separator_token", "\"" + o_.separator_token + "\" is not a token of " + o_.tokenizer_path);
      return *id;
    }
    for (const char* t : {"<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|im_end|>"})
      if (auto id = tokenizer_.token_to_id(t)) return *id;
    fail("separator_token", o_.tokenizer_path + " has none of the usual end-of-text tokens; name one explicitly");
  }

  std::vector<std::pair<std::string, InputFormat>> expand_input(const std::string& input) const {
    std::error_code ec;
    const auto status = fs::status(input, ec);
    if (ec || !fs::exists(status)) fail(input, "input does not exist");
    std::vector<std::string> files;
    if (fs::is_directory(status)) {
      if (o_.format == InputFormat::brown) {
        files = brown_corpus_files(input);
      } else {
        for (fs::recursive_directory_iterator it(input, ec), end; !ec && it != end; it.increment(ec))
          if (it->is_regular_file()) files.push_back(it->path().string());
        if (ec) fail(input, "cannot list directory: " + ec.message());
        std::sort(files.begin(), files.end());
      }
    } else {
      files.push_back(input);
    }
    std::vector<std::pair<std::string, InputFormat>> out;
    for (auto& f : files) {
      InputFormat fmt = o_.format;
      if (fmt == InputFormat::auto_detect) fmt = fs::path(f).extension() == ".jsonl" ? InputFormat::jsonl : InputFormat::text;
      out.emplace_back(std::move(f), fmt);
    }
    return out;
  }

  void read_file(const std::string& path, InputFormat format) {
    if (format == InputFormat::jsonl) return read_jsonl(path);
    std::string text = read_text_file(path);
    if (format == InputFormat::brown) return add_text(brown_to_text(text));
    if (o_.text_split == TextSplit::whole_file) return add_text(std::move(text));
    // Documents separated by blank lines: a line of only whitespace ends the current document.
    std::string doc;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      const size_t next = end == std::string::npos ? text.size() : end + 1;
      const std::string_view line(text.data() + start, next - start);
      if (line.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos) {
        if (!doc.empty()) add_text(std::move(doc));
        doc.clear();
      } else {
        doc.append(line);
      }
      start = next;
    }
    if (!doc.empty()) add_text(std::move(doc));
  }

  void read_jsonl(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open for reading");
    std::string line;
    uint64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;
      ++stats_.jsonl_lines;
      JsonlParse p = parse_jsonl_line(line);
      switch (p.issue) {
        case JsonlIssue::none: add(std::move(p.record)); continue;
        case JsonlIssue::invalid_json: ++stats_.skipped_invalid_json; break;
        case JsonlIssue::missing_field: ++stats_.skipped_missing_field; break;
        case JsonlIssue::wrong_type: ++stats_.skipped_wrong_type; break;
        case JsonlIssue::invalid_utf8: ++stats_.skipped_invalid_utf8; break;
      }
      if (stats_.skipped_examples.size() < kMaxSkippedExamples)
        stats_.skipped_examples.push_back(path + ":" + std::to_string(line_no) + ": " + to_string(p.issue));
    }
    if (in.bad()) fail(path, "read error");
  }

  void add_text(std::string text) {
    TextRecord r;
    r.completion = std::move(text);
    add(std::move(r));
  }

  void add(TextRecord r) {
    pending_bytes_ += r.prompt.size() + r.completion.size();
    pending_.push_back({next_ordinal_++, std::move(r)});
    if (pending_.size() >= 1024 || pending_bytes_ >= (size_t{8} << 20)) flush_pending();
  }

  // Encodes the pending documents in parallel, then appends them in input order.
  void flush_pending() {
    const size_t n = pending_.size();
    std::vector<std::vector<int32_t>> ids(n);
    std::vector<size_t> prompt_len(n, 0);
    ThreadPool::global().parallel_for(
        static_cast<int64_t>(n),
        [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            const TextRecord& r = pending_[static_cast<size_t>(i)].record;
            std::vector<int32_t>& out = ids[static_cast<size_t>(i)];
            bool special = o_.add_special_tokens;
            if (r.is_pair) {
              out = tokenizer_.encode(r.prompt, special);
              prompt_len[static_cast<size_t>(i)] = out.size();
              special = false;  // once per document
            }
            std::vector<int32_t> c = tokenizer_.encode(r.completion, special);
            out.insert(out.end(), c.begin(), c.end());
          }
        },
        1);
    std::vector<uint8_t> mask;
    for (size_t i = 0; i < n; ++i) {
      std::vector<int32_t>& doc = ids[i];
      if (doc.empty()) {
        ++stats_.empty_documents;
        continue;
      }
      doc.push_back(separator_);
      if (o_.loss_mask) {
        mask.assign(doc.size(), 1);
        std::fill(mask.begin(), mask.begin() + static_cast<ptrdiff_t>(prompt_len[i]), uint8_t{0});
      }
      (goes_to_val(o_, pending_[i].ordinal) ? val_ : train_).add_document(doc, mask);
    }
    pending_.clear();
    pending_bytes_ = 0;
  }

  void remove_stale_shards() const {
    static const std::regex shard_re(R"((train|val)-\d{5,}\.bin)");
    std::vector<std::string> keep;
    for (const auto& s : manifest_.train.shards) keep.push_back(s.file);
    for (const auto& s : manifest_.val.shards) keep.push_back(s.file);
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(o_.output_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (std::regex_match(name, shard_re) && std::find(keep.begin(), keep.end(), name) == keep.end())
        fs::remove(entry.path(), ec);
    }
  }

  const PrepareOptions& o_;
  tokenizer::Tokenizer tokenizer_;
  Manifest manifest_;
  ShardSink train_, val_;
  int32_t separator_ = -1;
  PrepareStats stats_;
  std::vector<PendingDocument> pending_;
  size_t pending_bytes_ = 0;
  uint64_t next_ordinal_ = 0;
};

void validate(const PrepareOptions& o) {
  require(!o.inputs.empty(), "inputs", "no input files or directories given");
  require(!o.tokenizer_path.empty(), "tokenizer_path", "no tokenizer.json given");
  require(!o.output_dir.empty(), "output_dir", "no output directory given");
  require(o.max_shard_tokens > 0, "max_shard_tokens", "must be positive");
  require(o.val_fraction >= 0.0 && o.val_fraction < 1.0, "val_fraction",
          "must be in [0, 1), got " + std::to_string(o.val_fraction));
  require(!(o.val_every > 0 && o.val_fraction > 0), "val_every", "set either val_every or val_fraction, not both");
  require(o.val_every != 1, "val_every", "1 would put every document into the validation split");
}

}  // namespace

PrepareStats prepare_dataset(const PrepareOptions& options) {
  validate(options);
  std::error_code ec;
  fs::create_directories(options.output_dir, ec);
  if (ec) fail(options.output_dir, "cannot create output directory: " + ec.message());
  return Preparer(options).run();
}

}  // namespace nova::data
