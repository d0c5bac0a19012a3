// SPDX-License-Identifier: MIT
// Tests of the llama2.c legacy .bin reader (synthetic files and the real stories260K) and the RoPE permutation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <pmc/io/llama2c.hpp>
#include <pmc/io/safetensors.hpp>

#include "io/io_test_util.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace llama2c_test {

using namespace pmc;
using namespace pmc::io;
using pmc::test::io::error_of;
using pmc::test::io::read_bytes;
using pmc::test::io::scratch;
using pmc::test::io::write_bytes;

namespace {

struct Synth {
  std::int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kv_heads = 1, vocab = 10, seq = 4;
  bool shared = true;
};

/// A llama2.c v0 file whose k-th float (after the header) is k, so every tensor's position can be checked.
/// `extra` adds (or with a negative value removes) floats at the end.
std::filesystem::path write_synth(const std::filesystem::path& path, const Synth& s, long extra = 0) {
  const std::int32_t header[7] = {s.dim, s.hidden, s.layers, s.heads, s.kv_heads, s.shared ? s.vocab : -s.vocab, s.seq};
  const long D = s.dim, F = s.hidden, L = s.layers, V = s.vocab, hs = s.dim / s.heads, KV = s.kv_heads * hs;
  long n = V * D + L * D + L * D * D + 2 * L * KV * D + L * D * D + L * D + 3 * L * F * D + D + s.seq * hs;
  if (!s.shared) n += V * D;
  n = std::max(0L, n + extra);  // invalid headers (negative sizes) get no data
  std::vector<float> data(static_cast<std::size_t>(n));
  for (long k = 0; k < n; ++k) data[static_cast<std::size_t>(k)] = static_cast<float>(k);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(float)));
  return path;
}

// Naive RoPE on one vector of n_heads * hd values at position pos, in both layouts.
std::vector<double> rope_interleaved(std::vector<double> q, int hd, int pos, double theta) {
  for (std::size_t h = 0; h < q.size() / static_cast<std::size_t>(hd); ++h)
    for (int i = 0; i < hd / 2; ++i) {
      const double a = pos * std::pow(theta, -2.0 * i / hd);
      double& x = q[h * hd + 2 * i];
      double& y = q[h * hd + 2 * i + 1];
      const double x0 = x, y0 = y;
      x = x0 * std::cos(a) - y0 * std::sin(a);
      y = x0 * std::sin(a) + y0 * std::cos(a);
    }
  return q;
}
std::vector<double> rope_rotate_half(std::vector<double> q, int hd, int pos, double theta) {
  for (std::size_t h = 0; h < q.size() / static_cast<std::size_t>(hd); ++h)
    for (int i = 0; i < hd / 2; ++i) {
      const double a = pos * std::pow(theta, -2.0 * i / hd);
      double& x = q[h * hd + i];
      double& y = q[h * hd + i + hd / 2];
      const double x0 = x, y0 = y;
      x = x0 * std::cos(a) - y0 * std::sin(a);
      y = x0 * std::sin(a) + y0 * std::cos(a);
    }
  return q;
}
std::vector<double> matvec(const Tensor<float>& w, const std::vector<double>& x) {
  std::vector<double> y(static_cast<std::size_t>(w.size(0)));
  for (std::int64_t r = 0; r < w.size(0); ++r)
    for (std::int64_t c = 0; c < w.size(1); ++c) y[static_cast<std::size_t>(r)] += w.at({r, c}) * x[static_cast<std::size_t>(c)];
  return y;
}

}  // namespace

TEST_CASE("synthetic llama2.c file: names, shapes, positions, zero-copy") {
  const auto dir = scratch("llama2c_synth");
  for (bool shared : {true, false}) {
    CAPTURE(shared);
    Synth s;
    s.shared = shared;
    const auto m = read_llama2c(write_synth(dir / "m.bin", s));
    CHECK(m.header.dim == 8);
    CHECK(m.header.hidden_dim == 12);
    CHECK(m.header.n_layers == 2);
    CHECK(m.header.n_heads == 2);
    CHECK(m.header.n_kv_heads == 1);
    CHECK(m.header.vocab_size == 10);
    CHECK(m.header.seq_len == 4);
    CHECK(m.header.shared_classifier == shared);
    CHECK(m.rope_interleaved);
    CHECK(m.tensors.size() == (shared ? 20u : 21u));
    CHECK(m.tensors.count("lm_head.weight") == (shared ? 0u : 1u));

    const long D = 8, F = 12, L = 2, V = 10, KV = 4, S = 4, hs = 4;
    auto first = [&](const std::string& n) { return m.tensors.at(n)[0]; };
    auto shape = [&](const std::string& n) { return m.tensors.at(n).shape(); };
    long off = 0;
    CHECK(first("model.embed_tokens.weight") == off);
    CHECK(shape("model.embed_tokens.weight") == Shape{V, D});
    off += V * D;
    CHECK(first("model.layers.1.input_layernorm.weight") == off + D);
    off += L * D;
    CHECK(first("model.layers.1.self_attn.q_proj.weight") == off + D * D);
    CHECK(shape("model.layers.0.self_attn.q_proj.weight") == Shape{D, D});
    off += L * D * D;
    CHECK(first("model.layers.1.self_attn.k_proj.weight") == off + KV * D);
    CHECK(shape("model.layers.1.self_attn.k_proj.weight") == Shape{KV, D});
    off += L * KV * D;
    CHECK(first("model.layers.0.self_attn.v_proj.weight") == off);
    off += L * KV * D;
    CHECK(first("model.layers.1.self_attn.o_proj.weight") == off + D * D);
    off += L * D * D;
    CHECK(first("model.layers.1.post_attention_layernorm.weight") == off + D);
    off += L * D;
    CHECK(first("model.layers.1.mlp.gate_proj.weight") == off + F * D);
    CHECK(shape("model.layers.1.mlp.gate_proj.weight") == Shape{F, D});
    off += L * F * D;
    CHECK(first("model.layers.1.mlp.down_proj.weight") == off + D * F);
    CHECK(shape("model.layers.1.mlp.down_proj.weight") == Shape{D, F});
    off += L * D * F;
    CHECK(first("model.layers.0.mlp.up_proj.weight") == off);
    off += L * F * D;
    CHECK(first("model.norm.weight") == off);
    CHECK(m.tensors.at("model.norm.weight")[D - 1] == off + D - 1);
    off += D + S * hs;
    if (!shared) CHECK(first("lm_head.weight") == off);
    for (const auto& [name, t] : m.tensors) {
      CAPTURE(name);
      CHECK(t.is_contiguous());
      CHECK(m.mapping->contains(t.data(), static_cast<std::size_t>(t.numel()) * sizeof(float)));
    }
    const auto cfg = m.header.hf_config();
    CHECK(cfg.hidden_size == 8);
    CHECK(cfg.num_key_value_heads == 1);
    CHECK(cfg.tie_word_embeddings == shared);
    CHECK(llama2c_file_size(m.header) == std::filesystem::file_size(dir / "m.bin"));
  }
}

TEST_CASE("bad llama2.c files are rejected, naming the file") {
  const auto dir = scratch("llama2c_errors");
  Synth s;
  error_of([&] { read_llama2c(dir / "absent.bin"); }, {"absent.bin", "no such file"});
  error_of([&] { read_llama2c(write_synth(dir / "short.bin", s, -1)); }, {"short.bin", "truncated", "implies"});
  error_of([&] { read_llama2c(write_synth(dir / "long.bin", s, 3)); }, {"long.bin", "12 trailing bytes"});
  write_bytes(dir / "tiny.bin", std::vector<char>(10, '\0'));
  error_of([&] { read_llama2c(dir / "tiny.bin"); }, {"tiny.bin", "truncated", "28-byte"});

  auto bad = [&](Synth b, std::initializer_list<std::string> frags) {
    error_of([&] { read_llama2c(write_synth(dir / "bad.bin", b)); }, frags);
  };
  Synth b = s;
  b.heads = 3;
  bad(b, {"bad.bin", "n_heads 3 does not divide dim 8"});
  b = s;
  b.heads = 4;
  b.kv_heads = 3;
  bad(b, {"bad.bin", "n_kv_heads 3 does not divide n_heads 4"});
  b = s;
  b.layers = 0;
  bad(b, {"bad.bin", "n_layers = 0 must be positive"});
  b = s;
  b.dim = -8;
  bad(b, {"bad.bin", "dim = -8"});
  b = s;
  b.heads = 8;  // head dim 1: odd
  b.kv_heads = 8;
  bad(b, {"bad.bin", "odd"});

  // A versioned export (magic "ak42", version 1) is recognised rather than misread.
  std::vector<char> v1(256, '\0');
  const std::uint32_t magic = 0x616b3432u, version = 1;
  std::memcpy(v1.data(), &magic, 4);
  std::memcpy(v1.data() + 4, &version, 4);
  write_bytes(dir / "v1.bin", v1);
  error_of([&] { read_llama2c(dir / "v1.bin"); }, {"v1.bin", "ak42", "legacy v0"});

  // A header whose sizes overflow 64 bits.
  const std::int32_t huge[7] = {1 << 30, 1 << 30, 1 << 30, 1 << 10, 1 << 10, 1 << 30, 1 << 30};
  std::vector<char> hb(sizeof huge);
  std::memcpy(hb.data(), huge, sizeof huge);
  write_bytes(dir / "huge.bin", hb);
  error_of([&] { read_llama2c(dir / "huge.bin"); }, {"huge.bin", "overflow"});

  // 2^62 - 2 floats are 2^64 - 8 bytes: adding the 28-byte header wrapped the size around to 20.
  const std::int32_t wraps[7] = {2, 715827879, 1 << 30, 1, 1, 1073741821, 1};
  const auto h = parse_llama2c_header(wraps, "wraps.bin");
  error_of([&] { (void)llama2c_file_size(h, "wraps.bin"); }, {"wraps.bin", "overflow"});
}

TEST_CASE("permute_rotary_for_hf: inverse, and interleaved RoPE == rotate-half RoPE on permuted weights") {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  const int n_heads = 3, hd = 8, d_in = 5;
  Tensor<float> w({n_heads * hd, d_in});
  for (auto& v : w.span()) v = nd(rng);

  const auto hf = permute_rotary_for_hf(w, n_heads);
  CHECK(permute_rotary_from_hf(hf, n_heads).to_vector() == w.to_vector());
  CHECK(permute_rotary_for_hf(permute_rotary_from_hf(w, n_heads), n_heads).to_vector() == w.to_vector());
  CHECK(hf.to_vector() != w.to_vector());
  // HF's view(H, Dh/2, 2, D).transpose(1, 2): HF row h*Dh + j*Dh/2 + i is Meta row h*Dh + 2i + j.
  CHECK(hf.at({1 * hd + 1 * hd / 2 + 2, 3}) == w.at({1 * hd + 2 * 2 + 1, 3}));
  // Works on a strided input too.
  CHECK(permute_rotary_for_hf(w.clone().transpose(0, 1).contiguous().transpose(0, 1), n_heads).to_vector() ==
        hf.to_vector());

  std::vector<double> x(d_in);
  for (auto& v : x) v = nd(rng);
  for (int pos : {0, 1, 5, 37}) {
    CAPTURE(pos);
    const auto meta = rope_interleaved(matvec(w, x), hd, pos, 10000.0);
    const auto half = rope_rotate_half(matvec(hf, x), hd, pos, 10000.0);
    for (int h = 0; h < n_heads; ++h)
      for (int j = 0; j < 2; ++j)
        for (int i = 0; i < hd / 2; ++i)
          CHECK(half[static_cast<std::size_t>(h * hd + j * hd / 2 + i)] ==
                doctest::Approx(meta[static_cast<std::size_t>(h * hd + 2 * i + j)]).epsilon(1e-12));
  }
  error_of([&] { permute_rotary_for_hf(w, 5); }, {"not divisible by 5 heads"});
  error_of([&] { permute_rotary_for_hf(Tensor<float>({6, 2}), 2); }, {"head dimension 3 is odd"});
}

TEST_CASE("stories260K.bin loads with its published header") {
  const auto path = pmc::test::shared_file("data/models/stories260K/stories260K.bin");
  if (path.empty()) PMC_SKIP("../shared/data/models/stories260K/stories260K.bin is absent");
  const auto m = read_llama2c(path);
  CHECK(m.header.dim == 64);
  CHECK(m.header.hidden_dim == 172);
  CHECK(m.header.n_layers == 5);
  CHECK(m.header.n_heads == 8);
  CHECK(m.header.n_kv_heads == 4);
  CHECK(m.header.vocab_size == 512);
  CHECK(m.header.seq_len == 512);
  CHECK(m.header.shared_classifier);
  CHECK(m.tensors.size() == 1 + 5 * 9 + 1);
  CHECK(m.tensors.at("model.layers.4.self_attn.k_proj.weight").shape() == Shape{32, 64});
  CHECK(m.tensors.at("model.layers.0.mlp.down_proj.weight").shape() == Shape{64, 172});
  for (const auto& [name, t] : m.tensors) {
    CAPTURE(name);
    CHECK(std::all_of(t.span().begin(), t.span().end(), [](float v) { return std::isfinite(v); }));
  }
  // RMSNorm gains of a trained model are O(1) and positive on average.
  double mean = 0;
  for (float v : m.tensors.at("model.norm.weight").span()) mean += v / 64.0;
  CHECK(mean > 0.1);
  CHECK(mean < 10);

  // Converted to an HF folder (q/k permuted to rotate-half) for tools/make_io_golden.py --check-pmc, which
  // runs it with transformers. Reading it back and undoing the permutation gives the original weights.
  const auto out = scratch("stories260K_hf");
  std::vector<SafetensorsEntry> entries;
  for (const auto& [name, t] : m.tensors) {
    Tensor<float> w = t;
    if (name.ends_with("q_proj.weight")) w = permute_rotary_for_hf(t, m.header.n_heads);
    if (name.ends_with("k_proj.weight")) w = permute_rotary_for_hf(t, m.header.n_kv_heads);
    entries.push_back(tensor_entry(name, w));
  }
  write_safetensors_sharded(out, entries, std::uint64_t(1) << 30);
  write_hf_config(out, m.header.hf_config());
  const auto back = SafetensorsCheckpoint::open(out);
  CHECK(back.num_files() == 1);
  const auto k = back.get<float>("model.layers.2.self_attn.k_proj.weight");
  CHECK(permute_rotary_from_hf(k, 4).to_vector() == m.tensors.at("model.layers.2.self_attn.k_proj.weight").to_vector());
  CHECK(read_hf_config(out).num_key_value_heads == 4);
}

TEST_CASE("a truncated copy of stories260K.bin is rejected") {
  const auto path = pmc::test::shared_file("data/models/stories260K/stories260K.bin");
  if (path.empty()) PMC_SKIP("../shared/data/models/stories260K/stories260K.bin is absent");
  const auto dir = scratch("stories260K_truncated");
  const auto full = read_bytes(path);
  REQUIRE(full.size() > 1000);
  write_bytes(dir / "stories260K.bin", std::vector<char>(full.begin(), full.end() - 1000));
  error_of([&] { read_llama2c(dir / "stories260K.bin"); },
           {"stories260K_truncated/stories260K.bin", "truncated", std::to_string(full.size())});
}

}  // namespace llama2c_test
