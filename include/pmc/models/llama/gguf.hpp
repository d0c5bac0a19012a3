// SPDX-License-Identifier: MIT
// LLaMA from a GGUF file (llama.cpp's format, as convert_hf_to_gguf.py and llama-quantize write it): the config
// from the `llama.*` metadata, every tensor dequantized to T, and Meta's interleaved RoPE layout (convert_hf_to_gguf
// permutes the q and k rows of an HF checkpoint back to it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pmc/io/gguf.hpp>
#include <pmc/models/llama/config.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/models/llama/weight_memory.hpp>

namespace pmc::llama {

namespace detail {

/// GGUF's name of a parameter of pmc's (Hugging Face's) naming: "model.layers.3.self_attn.q_proj.weight" →
/// "blk.3.attn_q.weight". Empty when the name has no GGUF counterpart pmc knows.
inline std::string gguf_tensor_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  const std::string prefix = "model.layers.";
  if (!hf.starts_with(prefix)) return {};
  const auto dot = hf.find('.', prefix.size());
  if (dot == std::string::npos) return {};
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  const std::string rest = hf.substr(dot + 1);
  static const std::map<std::string, std::string> parts = {
      {"input_layernorm", "attn_norm"},   {"self_attn.q_proj", "attn_q"},  {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},     {"self_attn.o_proj", "attn_output"},
      {"post_attention_layernorm", "ffn_norm"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  const auto last = rest.rfind('.');
  if (last == std::string::npos) return {};
  const auto it = parts.find(rest.substr(0, last));
  if (it == parts.end()) return {};
  return "blk." + layer + "." + it->second + rest.substr(last);
}

inline int gguf_int(const io::GgufFile& f, const std::string& key, std::uint64_t max = 1u << 30) {
  const auto v = f.get_uint(key);
  PMC_CHECK(v > 0 && v <= max, f.what_key(key), " = ", v, " is out of range (1 to ", max, ")");
  return static_cast<int>(v);
}

}  // namespace detail

/// The LLaMA architecture of a GGUF file's metadata: general.architecture "llama"; llama.embedding_length,
/// block_count, feed_forward_length, attention.head_count, attention.head_count_kv (default: head_count),
/// context_length, attention.layer_norm_rms_epsilon, rope.freq_base (default 10000), attention.key_length
/// (default: embedding_length / head_count), rope.dimension_count (must be the head size: pmc rotates whole
/// heads); the vocabulary from llama.vocab_size, else token_embd.weight's rows; tied embeddings when there is
/// no output.weight. RoPE scaling (llama.rope.scaling.*, rope_freqs.weight) is refused, naming the key.
inline Config gguf_architecture(const io::GgufFile& f) {
  const std::string file = f.path().string();
  const std::string arch = f.get_string("general.architecture");
  PMC_CHECK(arch == "llama", file, ": general.architecture is '", arch, "'; pmc loads 'llama' GGUF files");
  Config c;
  c.dim = detail::gguf_int(f, "llama.embedding_length");
  c.n_layers = detail::gguf_int(f, "llama.block_count", 1u << 16);
  c.ffn_dim = detail::gguf_int(f, "llama.feed_forward_length");
  c.n_heads = detail::gguf_int(f, "llama.attention.head_count", 1u << 16);
  c.n_kv_heads = f.contains_key("llama.attention.head_count_kv")
                     ? detail::gguf_int(f, "llama.attention.head_count_kv", 1u << 16)
                     : c.n_heads;
  c.max_seq_len = detail::gguf_int(f, "llama.context_length", 1u << 30);
  c.norm_eps = static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon"));
  if (f.contains_key("llama.rope.freq_base")) c.rope_theta = static_cast<float>(f.get_float("llama.rope.freq_base"));
  if (f.contains_key("llama.attention.key_length")) {
    const int k = detail::gguf_int(f, "llama.attention.key_length", 1u << 16);
    if (f.contains_key("llama.attention.value_length"))
      PMC_CHECK(detail::gguf_int(f, "llama.attention.value_length", 1u << 16) == k, f.what_key("llama.attention.value_length"),
                " differs from llama.attention.key_length (", k, "): pmc needs one head size");
    if (c.dim % c.n_heads != 0 || k != c.dim / c.n_heads) c.head_dim_override = k;
  }
  if (f.contains_key("llama.rope.dimension_count")) {
    const int r = detail::gguf_int(f, "llama.rope.dimension_count", 1u << 16);
    PMC_CHECK(c.n_heads > 0 && r == c.head_dim(), f.what_key("llama.rope.dimension_count"), " = ", r,
              " rotates part of each head of ", c.head_dim(), "; pmc rotates whole heads");
  }
  for (const char* key : {"llama.rope.scaling.type", "llama.rope.scaling.factor"}) {
    if (const auto* v = f.find(key)) {
      const bool none = v->type() == io::GgufType::string && v->as_string(key) == "none";
      PMC_CHECK(none, f.what_key(key), ": RoPE scaling in GGUF files is not supported yet");
    }
  }
  PMC_CHECK(!f.contains("rope_freqs.weight"), file,
            ": tensor 'rope_freqs.weight' (Llama 3.1's RoPE frequency factors) is not supported yet");
  PMC_CHECK(f.contains("token_embd.weight"), file, ": no tensor 'token_embd.weight'");
  const auto& emb = f.info("token_embd.weight");
  PMC_CHECK(emb.shape.rank() == 2, file, ": tensor 'token_embd.weight' has shape ", emb.shape.str(),
            ", not (vocab, dim)");
  if (f.contains_key("llama.vocab_size")) {
    c.vocab_size = detail::gguf_int(f, "llama.vocab_size");
  } else {
    PMC_CHECK(emb.shape[0] > 0 && emb.shape[0] <= (1 << 30), file, ": tensor 'token_embd.weight' has ", emb.shape[0],
              " rows");
    c.vocab_size = static_cast<int>(emb.shape[0]);
  }
  c.tied_embeddings = !f.contains("output.weight");
  check_config(c, file);
  return c;
}

/// The end-of-sequence and beginning-of-sequence ids of tokenizer.ggml.{bos,eos}_token_id (LLaMA's 1 and 2 when
/// absent).
inline SpecialTokenIds gguf_special_tokens(const io::GgufFile& f) {
  SpecialTokenIds ids;
  if (f.contains_key("tokenizer.ggml.bos_token_id"))
    ids.bos = detail::gguf_int(f, "tokenizer.ggml.bos_token_id", 1u << 30) ;
  if (f.contains_key("tokenizer.ggml.eos_token_id"))
    ids.eos = {detail::gguf_int(f, "tokenizer.ggml.eos_token_id", 1u << 30)};
  return ids;
}

namespace detail {
/// Quantize<D>::for_matmul, through a template so that the device's backend is needed only where it is called.
template <Device D>
ops::QuantizedMatrix<D> for_matmul(ops::QuantizedMatrix<D> q) {
  return ops::Quantize<D>::for_matmul(std::move(q));
}
}  // namespace detail

/// The LLaMA model of a GGUF file, on the host: config from the metadata (gguf_architecture), every tensor
/// dequantized to T (F32, F16, BF16, Q8_0, Q4_0, Q4_1; float F32 tensors are borrowed from the mapping), the
/// interleaved RoPE layout. Errors name the file and the tensor: a missing tensor, one nobody expected, a shape
/// that does not match the metadata, a type pmc does not dequantize.
///   auto model = pmc::llama::load_gguf<float>("llama-2-7b.Q8_0.gguf");
/// Loads the tensors of the GGUF file `f` into `model`, whose architecture must be the file's (see load_gguf).
/// `quant` q8_0 / q4_0 (Model::quantize_base): the base is frozen and a projection the file stores in that type
/// is run from the file's own blocks, borrowed from the mapping (no dequantized copy: a 13B Q4_0 file takes its
/// 7 GB, not 26 GB in bf16), or, where the CPU's int8 kernel reads the rows16 layout (Quantize<Cpu>::for_matmul),
/// regrouped into memory of the same size while the file's pages are dropped (MappedFile::release); a projection stored otherwise is dequantized to T and quantized, one at a time. The
/// head (output.weight) is held in blocks too: the file's own when they are q8_0 or q4_0, else quantized to q8_0.
/// Other formats (int8, nf4): each projection dequantized to T, then quantized. `memory`: whether the tensors
/// stored in T stay borrowed from the mapping or are copied into memory of their own (WeightMemory).
template <Config C, class T>
void load_gguf_weights(Model<C, T, Cpu>& model, const io::GgufFile& f, BaseQuant quant = BaseQuant::none,
                       WeightMemory memory = WeightMemory::mapped) {
  const std::string file = f.path().string();
  const Config config = gguf_architecture(f);
  PMC_CHECK(config == model.config(), file, ": the file's architecture (", describe(config),
            ") does not match the model's (", describe(model.config()), ")");
  std::set<std::string> expected;
  std::vector<std::string> missing;
  for (const auto& p : model.named_parameters()) {
    const auto name = detail::gguf_tensor_name(p.name);
    PMC_CHECK(!name.empty(), file, ": pmc's parameter '", p.name, "' has no GGUF name");
    expected.insert(name);
    if (!f.contains(name)) missing.push_back(name);
  }
  std::vector<std::string> unexpected;
  for (const auto& n : f.names())
    if (!expected.count(n)) unexpected.push_back(n);
  if (!missing.empty() || !unexpected.empty()) {
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (std::size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", '" : "'") + v[i] + "'";
      if (v.size() > 8) s += ", ... (" + std::to_string(v.size() - 8) + " more)";
      return s;
    };
    std::string msg = file + ": tensors do not match a LLaMA of " + describe(config) + ":";
    if (!missing.empty()) msg += " " + std::to_string(missing.size()) + " missing (" + list(missing) + ")";
    if (!missing.empty() && !unexpected.empty()) msg += ";";
    if (!unexpected.empty()) msg += " " + std::to_string(unexpected.size()) + " unexpected (" + list(unexpected) + ")";
    throw Error(msg);
  }
  const auto projections = quant == BaseQuant::none ? std::set<std::string>{} : projection_weight_names(config.n_layers);
  // the ggml type whose blocks are this format's (int8 / nf4: none)
  const std::optional<io::GgmlType> stored = quant == BaseQuant::q8_0   ? std::optional(io::GgmlType::q8_0)
                                             : quant == BaseQuant::q4_0 ? std::optional(io::GgmlType::q4_0)
                                                                        : std::nullopt;
  // a tensor stored in llama.cpp's q8_0 / q4_0 blocks, borrowed from the mapping (nullopt when stored otherwise)
  auto borrow = [&](const std::string& name) -> std::optional<ops::QuantizedMatrix<Cpu>> {
    const auto& info = f.info(name);
    ops::QuantizedMatrix<Cpu> q;
    if (info.type == static_cast<std::uint32_t>(io::GgmlType::q8_0)) q.format = ops::QuantFormat::q8_0;
    else if (info.type == static_cast<std::uint32_t>(io::GgmlType::q4_0)) q.format = ops::QuantFormat::q4_0;
    else return std::nullopt;
    const auto raw = f.raw(name);
    q.rows = info.shape[0];
    q.cols = info.shape[1];
    q.block = ops::quant::kGgmlBlock;
    auto owner = std::const_pointer_cast<io::MappedFile>(f.mapping());  // private copy-on-write: see MappedFile
    q.codes = Tensor<std::uint8_t>::wrap(reinterpret_cast<std::uint8_t*>(const_cast<std::byte*>(raw.data())),
                                         Shape{static_cast<std::int64_t>(raw.size())}, std::move(owner));
    // regrouped for the CPU's int8 kernel (a copy of the same size): then the file's pages leave this process
    auto laid = detail::for_matmul(q);
    if (laid.codes.data() != q.codes.data()) f.mapping()->release(raw.data(), raw.size());
    return laid;
  };
  // q8_0 / q4_0 bases hold an untied head in blocks (Model::quantize_base): the file's own when it has them
  std::optional<ops::QuantizedMatrix<Cpu>> head;
  if (stored && !config.tied_embeddings) head = borrow("output.weight");
  for (const auto& p : model.named_parameters()) {
    const auto name = detail::gguf_tensor_name(p.name);
    const auto& info = f.info(name);
    PMC_CHECK(info.shape == p.var.value().shape(), file, ": tensor '", name, "' has shape ", info.shape.str(),
              " (ne ", info.ne.size() > 0 ? std::to_string(info.ne[0]) : std::string("-"),
              info.ne.size() > 1 ? ", " + std::to_string(info.ne[1]) : std::string(), ") but the metadata makes it ",
              p.var.value().shape().str());
    if (head && p.name == "lm_head.weight") continue;  // held in the file's blocks
    if (projections.contains(p.name)) continue;
    const auto raw = f.raw(name);
    p.var.set_value(detail::in_memory(f.get<T>(name), raw, memory,
                                      [&] { f.mapping()->release(raw.data(), raw.size()); }));
  }
  model.set_rope_layout(ops::RopeLayout::interleaved);
  model.set_special_tokens(gguf_special_tokens(f));
  if (quant == BaseQuant::none) return;
  model.freeze_base();
  model.quantize_base_from(
      quant,
      [&](int layer, Projection p) -> std::optional<ops::QuantizedMatrix<Cpu>> {
        const auto name = detail::gguf_tensor_name(projection_weight_name(layer, p));
        if (!stored || f.info(name).type != static_cast<std::uint32_t>(*stored)) return std::nullopt;
        return borrow(name);
      },
      [&](int layer, Projection p, const Tensor<T>& w) {
        f.get<T>(detail::gguf_tensor_name(projection_weight_name(layer, p))).copy_to(w);
      },
      std::move(head));
}

template <class T>
Model<dynamic, T> load_gguf(const std::filesystem::path& path, bool trainable = false) {
  const auto f = io::GgufFile::open(path);
  auto model = Model<dynamic, T>::unallocated(gguf_architecture(f), trainable);
  load_gguf_weights(model, f);
  return model;
}

}  // namespace pmc::llama
