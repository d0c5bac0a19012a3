// SPDX-License-Identifier: MIT
// LLaMA to a GGUF file (llama.cpp's format), as convert_hf_to_gguf.py and llama-quantize --pure write one: the
// `llama.*` metadata, a SentencePiece vocabulary as `tokenizer.ggml.*`, the q and k projections permuted to Meta's
// interleaved RoPE layout, norms in F32 and every matrix (embeddings, projections, head) in one ggml type: F32, F16,
// BF16, or llama.cpp's Q8_0 / Q4_0 blocks (bit for bit what the gguf package's quantizer writes; a matrix whose rows
// are not a multiple of 32 stays F32). The reader is gguf.hpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pmc/io/gguf_writer.hpp>
#include <pmc/io/llama2c.hpp>
#include <pmc/models/llama/gguf.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/ops/quantize.hpp>

namespace pmc::llama {

namespace detail {
/// Quantize<Cpu>::quantize, named through a template parameter so that the CPU backend's specialization is looked
/// up where save_gguf is instantiated (pmc.hpp includes it), not where this header is read.
template <Device Host = Cpu>
ops::QuantizedMatrix<Host> quantize_on_host(const Tensor<float, Host>& w, ops::QuantFormat format) {
  return ops::Quantize<Host>::quantize(w, format);
}
}  // namespace detail

/// The ggml type save_gguf stores the matrices in.
enum class GgufWeights { f32, f16, bf16, q8_0, q4_0 };

inline GgufWeights parse_gguf_weights(std::string_view s, std::string_view what = "weights") {
  if (s == "f32" || s == "fp32") return GgufWeights::f32;
  if (s == "f16" || s == "fp16") return GgufWeights::f16;
  if (s == "bf16") return GgufWeights::bf16;
  if (s == "q8_0") return GgufWeights::q8_0;
  if (s == "q4_0") return GgufWeights::q4_0;
  fail(what, ": '", s, "' is not a GGUF weight type (f32, f16, bf16, q8_0 or q4_0)");
}

/// A SentencePiece vocabulary as GGUF stores it (tokenizer.ggml.model "llama"): the pieces, their scores and types
/// (sentencepiece's: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte) and the special ids.
struct GgufVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t> types;
  std::int32_t bos = 1, eos = 2, unk = 0;
};

/// Saves `model` as a GGUF file at `path` (atomically) with `vocab`, the matrices in `weights`' type. Refuses what
/// llama.cpp's LLaMA cannot say (biases, RoPE scaling, a sliding window, a head size other than dim / heads) and a
/// vocabulary whose size is not the model's. convert_hf_to_gguf's general.file_type: 0 F32, 1 F16, 32 BF16, 7 Q8_0,
/// 2 Q4_0.
template <Config C, class T>
void save_gguf(const Model<C, T, Cpu>& model, const GgufVocab& vocab, const std::filesystem::path& path,
               GgufWeights weights) {
  const Config c = model.config();
  const std::string where = path.string();
  PMC_CHECK(!c.qkv_bias && !c.o_bias && !c.mlp_bias, where, ": llama.cpp's LLaMA has no projection biases");
  PMC_CHECK(c.rope_scaling.type == ops::RopeScalingType::none, where, ": RoPE scaling is not written to GGUF by pmc");
  PMC_CHECK(c.sliding_window == 0, where, ": a sliding window (Mistral) is not written to GGUF by pmc");
  PMC_CHECK(c.head_dim() * c.n_heads == c.dim, where, ": a head size other than dim / heads is not written by pmc");
  PMC_CHECK(model.base_quant() == BaseQuant::none, where, ": the model's base is quantized (",
            base_quant_name(model.base_quant()), "); save the model loaded unquantized");
  const auto n = static_cast<std::size_t>(c.vocab_size);
  PMC_CHECK(vocab.tokens.size() == n && vocab.scores.size() == n && vocab.types.size() == n, where,
            ": the vocabulary has ", vocab.tokens.size(), " pieces (", vocab.scores.size(), " scores, ",
            vocab.types.size(), " types) but the model ", c.vocab_size, " embeddings");

  const auto type_of = [&](const Shape& s) {
    if (s.rank() == 1) return io::GgmlType::f32;
    switch (weights) {
      case GgufWeights::f32: return io::GgmlType::f32;
      case GgufWeights::f16: return io::GgmlType::f16;
      case GgufWeights::bf16: return io::GgmlType::bf16;
      case GgufWeights::q8_0: return s[1] % ops::quant::kGgmlBlock == 0 ? io::GgmlType::q8_0 : io::GgmlType::f32;
      case GgufWeights::q4_0: return s[1] % ops::quant::kGgmlBlock == 0 ? io::GgmlType::q4_0 : io::GgmlType::f32;
    }
    return io::GgmlType::f32;
  };
  const std::uint32_t file_type = weights == GgufWeights::f32    ? 0
                                  : weights == GgufWeights::f16  ? 1
                                  : weights == GgufWeights::bf16 ? 32
                                  : weights == GgufWeights::q8_0 ? 7
                                                                 : 2;
  std::vector<std::pair<std::string, io::GgufWriteValue>> meta = {
      {"general.architecture", std::string("llama")},
      {"general.name", path.stem().string()},
      {"general.file_type", file_type},
      {"general.quantization_version", std::uint32_t{2}},
      {"llama.vocab_size", static_cast<std::uint32_t>(c.vocab_size)},
      {"llama.context_length", static_cast<std::uint32_t>(c.max_seq_len)},
      {"llama.embedding_length", static_cast<std::uint32_t>(c.dim)},
      {"llama.block_count", static_cast<std::uint32_t>(c.n_layers)},
      {"llama.feed_forward_length", static_cast<std::uint32_t>(c.ffn_dim)},
      {"llama.rope.dimension_count", static_cast<std::uint32_t>(c.head_dim())},
      {"llama.attention.head_count", static_cast<std::uint32_t>(c.n_heads)},
      {"llama.attention.head_count_kv", static_cast<std::uint32_t>(c.n_kv_heads)},
      {"llama.attention.layer_norm_rms_epsilon", c.norm_eps},
      {"llama.rope.freq_base", c.rope_theta},
      {"tokenizer.ggml.model", std::string("llama")},
      {"tokenizer.ggml.tokens", vocab.tokens},
      {"tokenizer.ggml.scores", vocab.scores},
      {"tokenizer.ggml.token_type", vocab.types},
      {"tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(vocab.bos)},
      {"tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(vocab.eos)},
      {"tokenizer.ggml.unknown_token_id", static_cast<std::uint32_t>(vocab.unk)},
  };

  // The tensors holding each tensor's stored bytes, kept alive until the file is written (no second copy).
  std::vector<std::shared_ptr<void>> keep;
  std::vector<io::GgufWriteTensor> tensors;
  const bool interleaved = model.rope_layout() == ops::RopeLayout::interleaved;
  for (const auto& p : model.named_parameters()) {
    const std::string name = detail::gguf_tensor_name(p.name);
    PMC_CHECK(!name.empty(), where, ": pmc's parameter '", p.name, "' has no GGUF name");
    Tensor<float> w = p.var.value().template to<float>();
    if (!interleaved && (p.name.ends_with("q_proj.weight") || p.name.ends_with("k_proj.weight"))) {
      const int heads = p.name.ends_with("q_proj.weight") ? c.n_heads : c.n_kv_heads;
      w = io::permute_rotary_from_hf(w, heads);  // HF's rotate-half rows to Meta's interleaved ones
    }
    const io::GgmlType type = type_of(w.shape());
    auto stored = [&](const auto& t, std::size_t bytes) {
      keep.push_back(t.storage().owner());
      return std::span<const std::byte>(reinterpret_cast<const std::byte*>(t.data()), bytes);
    };
    std::span<const std::byte> bytes;
    switch (type) {
      case io::GgmlType::f32: bytes = stored(w, static_cast<std::size_t>(w.numel()) * 4); break;
      case io::GgmlType::f16: {
        const auto h = w.template to<f16>();
        bytes = stored(h, static_cast<std::size_t>(h.numel()) * 2);
        break;
      }
      case io::GgmlType::bf16: {
        const auto h = w.template to<bf16>();
        bytes = stored(h, static_cast<std::size_t>(h.numel()) * 2);
        break;
      }
      default: {  // q8_0, q4_0: the blocks Quantize<Cpu> makes are llama.cpp's
        const auto q = detail::quantize_on_host(
            w, type == io::GgmlType::q8_0 ? ops::QuantFormat::q8_0 : ops::QuantFormat::q4_0);
        bytes = stored(q.codes, static_cast<std::size_t>(q.codes.numel()));
      }
    }
    tensors.push_back({name, w.shape(), type, bytes});
  }
  io::write_gguf(path, meta, tensors);
}

}  // namespace pmc::llama
