// SPDX-License-Identifier: MIT
// llama2.c legacy (v0) `.bin` checkpoints, read zero-copy under HF tensor names; Meta ↔ HF RoPE row permutation.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/io/hf_config.hpp>
#include <pmc/io/mapped_file.hpp>

namespace pmc::io {

/// The 7 int32 of a legacy llama2.c header, decoded (a negative vocab_size means "separate classifier").
struct Llama2cHeader {
  int dim = 0;           ///< D
  int hidden_dim = 0;    ///< F (FFN)
  int n_layers = 0;      ///< L
  int n_heads = 0;       ///< H
  int n_kv_heads = 0;    ///< Hkv
  int vocab_size = 0;    ///< V (always positive here)
  int seq_len = 0;       ///< max positions
  bool shared_classifier = true;  ///< lm_head is tok_embeddings (no wcls in the file)

  int head_dim() const { return dim / n_heads; }

  /// The equivalent HF config. llama2.c stores neither eps nor theta: its run.c uses 1e-5 and 10000.
  HfLlamaConfig hf_config(double rms_norm_eps = 1e-5) const {
    HfLlamaConfig c;
    c.hidden_size = dim;
    c.intermediate_size = hidden_dim;
    c.num_hidden_layers = n_layers;
    c.num_attention_heads = n_heads;
    c.num_key_value_heads = n_kv_heads;
    c.vocab_size = vocab_size;
    c.max_position_embeddings = seq_len;
    c.rms_norm_eps = rms_norm_eps;
    c.rope_theta = 10000.0;
    c.tie_word_embeddings = shared_classifier;
    c.torch_dtype = "float32";
    return c;
  }
};

/// A llama2.c model: its header and float32 weights under Hugging Face names, each borrowing from `mapping`
/// (zero-copy; the mapping is private copy-on-write, so the tensors may be written to).
///
/// Names: model.embed_tokens.weight (V, D); per layer N: model.layers.N.input_layernorm.weight (D),
/// .self_attn.{q,o}_proj.weight (D, D), .self_attn.{k,v}_proj.weight (Hkv*Dh, D),
/// .post_attention_layernorm.weight (D), .mlp.gate_proj.weight (F, D) = w1, .mlp.down_proj.weight (D, F) = w2,
/// .mlp.up_proj.weight (F, D) = w3; model.norm.weight (D); lm_head.weight (V, D) only when not shared.
///
/// q/k rows are left in Meta's layout, which RoPE rotates as interleaved pairs (2i, 2i+1): hence
/// `rope_interleaved`. permute_rotary_for_hf converts them to HF's rotate-half layout where needed.
struct Llama2cModel {
  Llama2cHeader header;
  bool rope_interleaved = true;
  std::map<std::string, Tensor<float>> tensors;
  std::shared_ptr<const MappedFile> mapping;
};

namespace detail {

inline std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const std::string& what) {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) fail(what, ": header sizes overflow (corrupt header?)");
  return r;
}

}  // namespace detail

inline constexpr std::uint64_t kLlama2cHeaderBytes = 7 * sizeof(std::int32_t);

/// Decodes and validates the header of a legacy llama2.c file (`what` names it in errors).
inline Llama2cHeader parse_llama2c_header(const std::int32_t (&h)[7], const std::string& what) {
  // llama2.c's newer export formats (version 1, 2) start with the magic "ak42".
  if (static_cast<std::uint32_t>(h[0]) == 0x616b3432u)
    fail(what, ": this is a versioned llama2.c export (magic \"ak42\", version ", h[1],
         "); only the legacy v0 format is supported (export with --version 0)");
  Llama2cHeader r;
  r.dim = h[0];
  r.hidden_dim = h[1];
  r.n_layers = h[2];
  r.n_heads = h[3];
  r.n_kv_heads = h[4];
  r.shared_classifier = h[5] > 0;
  r.vocab_size = h[5] > 0 ? h[5] : h[5] == std::numeric_limits<std::int32_t>::min() ? 0 : -h[5];
  r.seq_len = h[6];
  auto positive = [&](int v, const char* field) {
    PMC_CHECK(v > 0, what, ": invalid header: ", field, " = ", v, " must be positive (not a llama2.c .bin?)");
  };
  positive(r.dim, "dim");
  positive(r.hidden_dim, "hidden_dim");
  positive(r.n_layers, "n_layers");
  positive(r.n_heads, "n_heads");
  positive(r.n_kv_heads, "n_kv_heads");
  positive(r.vocab_size, "vocab_size");
  positive(r.seq_len, "seq_len");
  PMC_CHECK(r.dim % r.n_heads == 0, what, ": invalid header: n_heads ", r.n_heads, " does not divide dim ", r.dim);
  PMC_CHECK(r.n_heads % r.n_kv_heads == 0, what, ": invalid header: n_kv_heads ", r.n_kv_heads,
            " does not divide n_heads ", r.n_heads);
  PMC_CHECK(r.head_dim() % 2 == 0, what, ": invalid header: head dimension ", r.head_dim(), " is odd");
  return r;
}

/// The exact size in bytes of a legacy llama2.c file with this header.
inline std::uint64_t llama2c_file_size(const Llama2cHeader& h, const std::string& what = "llama2.c header") {
  auto mul = [&](std::uint64_t a, std::uint64_t b) { return detail::checked_mul(a, b, what); };
  const std::uint64_t D = static_cast<std::uint64_t>(h.dim), F = static_cast<std::uint64_t>(h.hidden_dim),
                      L = static_cast<std::uint64_t>(h.n_layers), V = static_cast<std::uint64_t>(h.vocab_size),
                      S = static_cast<std::uint64_t>(h.seq_len), Dh = static_cast<std::uint64_t>(h.head_dim()),
                      KV = static_cast<std::uint64_t>(h.n_kv_heads) * Dh;
  std::uint64_t n = 0;
  auto add = [&](std::uint64_t x) {
    if (__builtin_add_overflow(n, x, &n)) fail(what, ": header sizes overflow (corrupt header?)");
  };
  add(mul(V, D));                       // tok_embeddings
  add(mul(L, D));                       // rms_att
  add(mul(mul(L, D), D));               // wq
  add(mul(mul(mul(L, KV), D), 2));      // wk, wv
  add(mul(mul(L, D), D));               // wo
  add(mul(L, D));                       // rms_ffn
  add(mul(mul(L, F), D));               // w1
  add(mul(mul(L, D), F));               // w2
  add(mul(mul(L, F), D));               // w3
  add(D);                               // rms_final
  add(mul(S, Dh));                      // freq_cis_real + freq_cis_imag: 2 * S * Dh/2
  if (!h.shared_classifier) add(mul(V, D));  // wcls
  n = mul(n, sizeof(float));
  add(kLlama2cHeaderBytes);
  return n;
}

/// Reads a legacy (v0) llama2.c `.bin`. The file's size must be exactly what its header implies: a shorter
/// file is "truncated", a longer one has "trailing bytes" (often a versioned export or the wrong file).
/// Every error names the file.
inline Llama2cModel read_llama2c(const std::filesystem::path& path) {
  const std::string file = path.string();
  Llama2cModel m;
  m.mapping = MappedFile::open(path);
  const std::uint64_t size = m.mapping->size();
  if (size < kLlama2cHeaderBytes)
    fail(file, ": truncated: ", size, " bytes, shorter than the 28-byte llama2.c header");
  std::int32_t raw[7];
  std::memcpy(raw, m.mapping->data(), sizeof raw);
  m.header = parse_llama2c_header(raw, file);
  const auto& h = m.header;
  const std::uint64_t expect = llama2c_file_size(h, file);
  if (size < expect)
    fail(file, ": truncated: the header (dim ", h.dim, ", ", h.n_layers, " layers, vocab ", h.vocab_size,
         ") implies ", expect, " bytes but the file has ", size);
  if (size > expect)
    fail(file, ": ", size - expect, " trailing bytes: the header (dim ", h.dim, ", ", h.n_layers, " layers, vocab ",
         h.vocab_size, ") implies ", expect, " bytes but the file has ", size);

  // Arrays follow the 28-byte header, so every float is 4-byte aligned in the page-aligned mapping.
  auto* cursor = reinterpret_cast<float*>(m.mapping->data() + kLlama2cHeaderBytes);
  const auto owner = std::const_pointer_cast<MappedFile>(m.mapping);
  auto take = [&](const Shape& s) {
    auto t = Tensor<float>::wrap(cursor, s, owner);
    cursor += s.numel();
    return t;
  };
  const std::int64_t D = h.dim, F = h.hidden_dim, L = h.n_layers, V = h.vocab_size, KV = h.n_kv_heads * h.head_dim();
  auto per_layer = [&](const char* suffix, const Tensor<float>& all) {
    for (std::int64_t l = 0; l < L; ++l)
      m.tensors.emplace("model.layers." + std::to_string(l) + "." + suffix, all.select(0, l));
  };
  m.tensors.emplace("model.embed_tokens.weight", take({V, D}));
  per_layer("input_layernorm.weight", take({L, D}));
  per_layer("self_attn.q_proj.weight", take({L, D, D}));
  per_layer("self_attn.k_proj.weight", take({L, KV, D}));
  per_layer("self_attn.v_proj.weight", take({L, KV, D}));
  per_layer("self_attn.o_proj.weight", take({L, D, D}));
  per_layer("post_attention_layernorm.weight", take({L, D}));
  per_layer("mlp.gate_proj.weight", take({L, F, D}));  // w1
  per_layer("mlp.down_proj.weight", take({L, D, F}));  // w2
  per_layer("mlp.up_proj.weight", take({L, F, D}));    // w3
  m.tensors.emplace("model.norm.weight", take({D}));
  cursor += static_cast<std::int64_t>(h.seq_len) * h.head_dim();  // freq_cis_real/imag: recomputed by the model
  if (!h.shared_classifier) m.tensors.emplace("lm_head.weight", take({V, D}));
  return m;
}

namespace detail {

// Row r of a head in HF's layout (rotate-half: pair (i, i + Dh/2)) holds Meta's row (interleaved: pair
// (2i, 2i + 1)) given here: HF row j * Dh/2 + i = Meta row 2i + j, i.e. HF's convert_llama_weights_to_hf.py
// w.view(H, Dh/2, 2, D).transpose(1, 2).reshape(H*Dh, D).
inline Tensor<float> permute_rotary_rows(const Tensor<float>& w, int n_heads, bool to_hf) {
  PMC_CHECK(w.rank() == 2, "permute_rotary: expected a (n_heads * head_dim, D) matrix, got ", w.shape().str());
  PMC_CHECK(n_heads > 0 && w.size(0) % n_heads == 0, "permute_rotary: ", w.size(0), " rows are not divisible by ",
            n_heads, " heads");
  const std::int64_t dh = w.size(0) / n_heads, half = dh / 2, cols = w.size(1);
  PMC_CHECK(dh % 2 == 0, "permute_rotary: head dimension ", dh, " is odd");
  Tensor<float> out(w.shape());
  for (std::int64_t h = 0; h < n_heads; ++h)
    for (std::int64_t j = 0; j < 2; ++j)
      for (std::int64_t i = 0; i < half; ++i) {
        const std::int64_t hf = h * dh + j * half + i, meta = h * dh + 2 * i + j;
        const auto src = w.select(0, to_hf ? meta : hf);
        const auto dst = out.select(0, to_hf ? hf : meta);
        for (std::int64_t c = 0; c < cols; ++c) dst.data()[c] = src.data()[c * src.strides()[0]];
      }
  return out;
}

}  // namespace detail

/// A q or k projection weight (n_heads * head_dim, D) from Meta's interleaved-pair RoPE layout to HF's
/// rotate-half layout (for k, pass the number of KV heads). Returns a new contiguous tensor.
inline Tensor<float> permute_rotary_for_hf(const Tensor<float>& w, int n_heads) {
  return detail::permute_rotary_rows(w, n_heads, true);
}

/// The inverse of permute_rotary_for_hf: HF's rotate-half layout back to Meta's interleaved pairs.
inline Tensor<float> permute_rotary_from_hf(const Tensor<float>& w, int n_heads) {
  return detail::permute_rotary_rows(w, n_heads, false);
}

}  // namespace pmc::io
