// SPDX-License-Identifier: MIT
// pmc::tokenizer::Tokenizer: a SentencePiece `tokenizer.model` (BpeTokenizer) or a Hugging Face `tokenizer.json`
// (HfTokenizer) behind one interface, which is what the data pipeline, evaluation and the pmc program take.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/core/error.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/io/jsonl.hpp>
#include <pmc/tokenizer/bpe.hpp>
#include <pmc/tokenizer/hf_tokenizer.hpp>

namespace pmc::tokenizer {

class Tokenizer {
  std::variant<BpeTokenizer, HfTokenizer> impl_;
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), impl_);
  }

 public:
  // Made from a tokenizer moved in; from an lvalue the copy would be silent (a function taking a Tokenizer
  // given a BpeTokenizer would copy the whole model at each call), so it is refused: hold a Tokenizer instead.
  Tokenizer(BpeTokenizer&& t) : impl_(std::move(t)) {}  // NOLINT: implicit
  Tokenizer(HfTokenizer&& t) : impl_(std::move(t)) {}   // NOLINT: implicit
  Tokenizer(const BpeTokenizer&) = delete;
  Tokenizer(const HfTokenizer&) = delete;

  /// Loads `path`: a SentencePiece .model file, a tokenizer.json, or a folder holding tokenizer.json (used
  /// first, as transformers does) or tokenizer.model. In a folder, tokenizer_config.json's bos_token,
  /// eos_token and pad_token name a tokenizer.json's special tokens.
  static Tokenizer load(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      if (fs::exists(path / "tokenizer.json", ec)) {
        HfTokenizer t = HfTokenizer::load(path / "tokenizer.json");
        apply_tokenizer_config(t, path / "tokenizer_config.json");
        return t;
      }
      if (fs::exists(path / "tokenizer.model", ec)) return BpeTokenizer::load(path / "tokenizer.model");
      fail(path.string(), ": a folder without tokenizer.json or tokenizer.model");
    }
    if (path.extension() == ".json") return HfTokenizer::load(path);
    return BpeTokenizer::load(path);
  }

  /// "sentencepiece" or "tokenizer.json".
  std::string_view format() const { return sentencepiece() ? "sentencepiece" : "tokenizer.json"; }
  const BpeTokenizer* sentencepiece() const { return std::get_if<BpeTokenizer>(&impl_); }
  const HfTokenizer* hf() const { return std::get_if<HfTokenizer>(&impl_); }

  int32_t vocab_size() const { return visit([](const auto& t) { return t.vocab_size(); }); }
  int32_t bos_id() const { return visit([](const auto& t) { return t.bos_id(); }); }
  int32_t eos_id() const { return visit([](const auto& t) { return t.eos_id(); }); }
  int32_t pad_id() const { return visit([](const auto& t) { return t.pad_id(); }); }
  int32_t unk_id() const { return visit([](const auto& t) { return t.unk_id(); }); }
  const std::string& id_to_piece(int32_t id) const {
    return visit([id](const auto& t) -> const std::string& { return t.id_to_piece(id); });
  }
  int32_t piece_to_id(std::string_view piece) const { return visit([piece](const auto& t) { return t.piece_to_id(piece); }); }

  /// The text's ids (no special tokens but the BOS / EOS asked for; in a tokenizer.json, added tokens written
  /// in the text are still recognized, as the `tokenizers` library does).
  std::vector<int32_t> encode(std::string_view text, bool bos = false, bool eos = false) const {
    return visit([&](const auto& t) { return t.encode(text, bos, eos); });
  }
  void encode_append(std::string_view text, std::vector<int32_t>& out, bool bos = false, bool eos = false) const {
    visit([&](const auto& t) { t.encode_append(text, out, bos, eos); });
  }
  /// The text of `ids`; special tokens (BOS, EOS, control pieces) vanish.
  std::string decode(std::span<const int32_t> ids) const {
    return visit([ids](const auto& t) { return t.decode(ids); });
  }
  std::string decode(const std::vector<int32_t>& ids) const { return decode(std::span<const int32_t>(ids)); }

 private:
  // tokenizer_config.json names its special tokens as strings or as {"content": ...}; an absent file is fine.
  static void apply_tokenizer_config(HfTokenizer& t, const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(io::read_text_file(file));
    } catch (const nlohmann::json::exception& e) {
      fail(file.string(), ": malformed JSON: ", e.what());
    }
    PMC_CHECK(j.is_object(), file.string(), ": not a JSON object");
    auto id_of = [&](const char* key) -> std::optional<int32_t> {
      const auto it = j.find(key);
      if (it == j.end() || it->is_null()) return std::nullopt;
      std::string name;
      if (it->is_string()) name = it->get<std::string>();
      else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) name = (*it)["content"].get<std::string>();
      else fail(file.string(), ": ", key, ": expected a string or {\"content\": ...}, got ", it->dump());
      const int32_t id = t.piece_to_id(name);
      PMC_CHECK(id >= 0 && t.id_to_piece(id) == name, file.string(), ": ", key, ": '", name,
                "' is not a token of the tokenizer.json beside it");
      return id;
    };
    t.set_special_ids(id_of("bos_token"), id_of("eos_token"), id_of("pad_token"));
  }
};

/// Where Tokenizer::load(path) reads from: path itself, or the file it picks in a folder.
inline std::filesystem::path tokenizer_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path;
  return std::filesystem::exists(path / "tokenizer.json", ec) ? path / "tokenizer.json" : path / "tokenizer.model";
}

/// Writes the tokenizer files of a Hugging Face folder into `dir` for the tokenizer at `source` (as
/// Tokenizer::load takes it): tokenizer.json (a SentencePiece model converted as transformers 5 converts it, see
/// tokenizer_json_from_sentencepiece, or the file itself), tokenizer.model for a SentencePiece model, and
/// tokenizer_config.json naming BOS and EOS. Returns the files written.
inline std::vector<std::string> save_hf_tokenizer(const std::filesystem::path& source, const std::filesystem::path& dir) {
  const Tokenizer tok = Tokenizer::load(source);
  const auto file = tokenizer_file(source);
  io::ensure_directory(dir);
  std::vector<std::string> written;
  auto write = [&](const char* name, std::string_view bytes) {
    io::write_file_atomic(dir / name, bytes);
    written.emplace_back(name);
  };
  const std::string bytes = io::read_text_file(file);
  if (const BpeTokenizer* sp = tok.sentencepiece()) {
    write("tokenizer.model", bytes);
    write("tokenizer.json", tokenizer_json_from_sentencepiece(*sp).dump(2));
  } else {
    write("tokenizer.json", bytes);
  }
  nlohmann::ordered_json cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"}};
  cfg["bos_token"] = tok.bos_id() >= 0 ? nlohmann::ordered_json(tok.id_to_piece(tok.bos_id())) : nlohmann::ordered_json(nullptr);
  cfg["eos_token"] = tok.eos_id() >= 0 ? nlohmann::ordered_json(tok.id_to_piece(tok.eos_id())) : nlohmann::ordered_json(nullptr);
  if (tok.pad_id() >= 0) cfg["pad_token"] = tok.id_to_piece(tok.pad_id());
  write("tokenizer_config.json", cfg.dump(2) + "\n");
  return written;
}

}  // namespace pmc::tokenizer
