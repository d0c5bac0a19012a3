// SPDX-License-Identifier: MIT
// LLaMA from GGUF files (tools/make_golden_gguf.py: a random transformers LlamaForCausalLM written as
// convert_hf_to_gguf.py writes it, q/k permuted to Meta's layout) against the transformers logits.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>
#include <cstring>
#include <filesystem>
#include <optional>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include <pmc/io/safetensors.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/gguf.hpp>
#include <pmc/models/llama/gguf_save.hpp>
#include <pmc/pmc.hpp>
#include <support/compare.hpp>
#include <support/float_activations.hpp>
#include <support/errors.hpp>
#include <support/paths.hpp>
#include <support/test_configs.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace gguf_model_test {

namespace fs = std::filesystem;
using namespace pmc;
using namespace pmc::llama;

namespace {

fs::path golden(const std::string& name) { return test::source_dir() / "tests/golden/gguf" / name; }

const io::SafetensorsFile& expected() {
  static const auto f = io::SafetensorsFile::open(golden("expected.safetensors"));
  return f;
}

template <class M>
double logits_error(const M& model, const std::string& want_key) {
  autograd::NoGrad no_grad;
  const auto ids = expected().get<std::int32_t>("input_ids");
  const auto logits = model.forward(ids).value();
  const auto want = expected().get<double>(want_key);
  return test::max_rel_diff(logits, want.reshape({logits.size(0), logits.size(1)}));
}

std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A copy of golden `name` with the first occurrence of `from` replaced by `to` (same length).
fs::path edited(const std::string& name, const std::string& from, const std::string& to) {
  REQUIRE(from.size() == to.size());
  auto b = read_bytes(golden(name));
  auto it = std::search(b.begin(), b.end(), from.begin(), from.end());
  REQUIRE(it != b.end());
  std::copy(to.begin(), to.end(), it);
  const auto dir = test::tmp_dir() / "gguf_model";
  fs::create_directories(dir);
  const auto path = dir / ("edited_" + name);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(b.data(), static_cast<std::streamsize>(b.size()));
  return path;
}

}  // namespace

TEST_CASE("gguf model: config from the metadata, interleaved RoPE, special tokens") {
  const auto model = load_gguf<float>(golden("gqa32_f32.gguf"));
  const auto& c = model.config();
  CHECK(c.dim == 32);
  CHECK(c.n_layers == 2);
  CHECK(c.n_heads == 4);
  CHECK(c.n_kv_heads == 2);
  CHECK(c.ffn_dim == 64);
  CHECK(c.vocab_size == 64);
  CHECK(c.max_seq_len == 64);
  CHECK(c.head_dim() == 8);
  CHECK(c.norm_eps == 1e-5f);
  CHECK(c.rope_theta == 10000.f);
  CHECK(!c.tied_embeddings);
  CHECK(model.rope_layout() == ops::RopeLayout::interleaved);
}

TEST_CASE("gguf model: logits equal transformers' (F32 exactly up to float rounding, F16/BF16 their rounding)") {
  const double f32 = logits_error(load_gguf<float>(golden("gqa32_f32.gguf")), "logits");
  const double f64 = logits_error(load_gguf<double>(golden("gqa32_f32.gguf")), "logits");
  const double f16 = logits_error(load_gguf<float>(golden("gqa32_f16.gguf")), "logits");
  const double bf = logits_error(load_gguf<float>(golden("gqa32_bf16.gguf")), "logits");
  const double bf_bf = logits_error(load_gguf<bf16>(golden("gqa32_bf16.gguf")), "logits");
  MESSAGE("logits relative error against transformers: F32 file in float ", f32, ", in double ", f64,
          "; F16 file ", f16, "; BF16 file ", bf, " (in bf16: ", bf_bf, ")");
  CHECK(f32 < 1e-5);
  CHECK(f64 < 1e-6);  // transformers' stock RMSNorm runs in float even for a float64 model
  CHECK(f16 < 2e-3);
  CHECK(bf < 2e-2);
  CHECK(bf_bf < 5e-2);
}

namespace {
/// Loads `file` into a model of T and checks that its weights are the file's bytes in place (nothing allocated).
template <class T>
void check_borrowed(const char* file) {
  CAPTURE(file);
  const auto f = io::GgufFile::open(golden(file));
  const auto live0 = Allocator<Cpu>::live_bytes();
  auto model = Model<dynamic, T>::unallocated(gguf_architecture(f), false);
  load_gguf_weights(model, f);
  CHECK(Allocator<Cpu>::live_bytes() - live0 < 4096);
  const auto raw = f.raw("blk.0.attn_q.weight");
  CHECK(static_cast<const void*>(model.blocks()[0].wq.value().data()) == static_cast<const void*>(raw.data()));
}
}  // namespace

TEST_CASE("gguf model: a BF16 file loaded in bf16 (and an F32 one in float) borrows its weights from the mapping") {
  check_borrowed<bf16>("gqa32_bf16.gguf");
  check_borrowed<float>("gqa32_f32.gguf");
}

namespace {
/// Loads `path` into a model of T with WeightMemory::copied: every weight in memory of its own (allocated: the
/// allocator's count grows by the weights' bytes; none at the file's address) and the same bits as a mapped load.
template <class T, class Load>
void check_copied(const std::string& what, Load&& load) {
  CAPTURE(what);
  auto mapped = load(WeightMemory::mapped);
  const auto live0 = Allocator<Cpu>::live_bytes();
  auto copied = load(WeightMemory::copied);
  std::int64_t bytes = 0;
  const auto a = mapped.named_parameters(), b = copied.named_parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].name);
    const auto& x = a[i].var.value();
    const auto& y = b[i].var.value();
    bytes += x.numel() * static_cast<std::int64_t>(sizeof(T));
    CHECK(static_cast<const void*>(x.data()) != static_cast<const void*>(y.data()));
    CHECK(std::memcmp(x.data(), y.data(), static_cast<std::size_t>(x.numel()) * sizeof(T)) == 0);
  }
  CHECK(Allocator<Cpu>::live_bytes() - live0 >= bytes);
}
}  // namespace

TEST_CASE("gguf model: WeightMemory::copied copies a BF16 (F32) file's weights into memory with the same bits") {
  for (const char* file : {"gqa32_bf16.gguf", "gqa32_f32.gguf"}) {
    const auto f = io::GgufFile::open(golden(file));
    auto load = [&]<class T>(WeightMemory memory) {
      auto model = Model<dynamic, T>::unallocated(gguf_architecture(f), false);
      load_gguf_weights(model, f, BaseQuant::none, memory);
      return model;
    };
    if (std::string(file).find("bf16") != std::string::npos)
      check_copied<bf16>(file, [&](WeightMemory m) { return load.template operator()<bf16>(m); });
    else
      check_copied<float>(file, [&](WeightMemory m) { return load.template operator()<float>(m); });
  }
  // a Hugging Face folder written by save_hf, in bf16
  const auto dir = test::tmp_dir() / "copied_weights_bf16";
  save_hf(load_gguf<bf16>(golden("gqa32_bf16.gguf")), dir);
  check_copied<bf16>(dir.string(), [&](WeightMemory m) { return load_model<bf16>(dir, false, m); });
}

TEST_CASE("gguf model: Q8_0 and Q4_0 logits equal transformers' with gguf's dequantized weights") {
  for (const std::string kind : {"q8_0", "q4_0"}) {
    INFO(kind);
    const double same_weights = logits_error(load_gguf<double>(golden("gqa32_" + kind + ".gguf")), "logits_" + kind);
    const double in_float = logits_error(load_gguf<float>(golden("gqa32_" + kind + ".gguf")), "logits_" + kind);
    const double vs_f32 = logits_error(load_gguf<float>(golden("gqa32_" + kind + ".gguf")), "logits");
    MESSAGE(kind, ": logits relative error against transformers with the dequantized weights ", same_weights,
            " (double), ", in_float, " (float); against the unquantized model's logits ", vs_f32);
    CHECK(same_weights < 1e-6);
    CHECK(in_float < 1e-5);
    // the quantization error itself, on this random model (weights N(0, 0.2)): measured 0.032 (Q8_0), 0.32 (Q4_0)
    CHECK(vs_f32 < (kind == "q8_0" ? 0.05 : 0.5));
  }
}

TEST_CASE("gguf model: vocabulary from token_embd, tied embeddings, refused files") {
  // without llama.vocab_size the vocabulary is token_embd's rows
  const auto no_vocab = load_gguf<float>(edited("gqa32_q8_0.gguf", "llama.vocab_size", "llama.vocab_sizx"));
  CHECK(no_vocab.config().vocab_size == 64);
  // without output.weight the embeddings are tied; the renamed tensor is then one nobody expected
  const auto renamed = edited("gqa32_f32.gguf", std::string("\x0d\0\0\0\0\0\0\0output.weight", 21),
                              std::string("\x0d\0\0\0\0\0\0\0output.weighx", 21));
  auto msg = test::error_of([&] { (void)load_gguf<float>(renamed); });
  CHECK(msg.find(renamed.string()) != std::string::npos);
  CHECK(msg.find("1 unexpected ('output.weighx')") != std::string::npos);
  const auto f = io::GgufFile::open(renamed);
  CHECK(gguf_architecture(f).tied_embeddings);
  // another architecture
  msg = test::error_of([&] { (void)load_gguf<float>(edited("gqa32_f32.gguf", std::string("\x05\0\0\0\0\0\0\0llama", 13),
                                                           std::string("\x05\0\0\0\0\0\0\0gemma", 13))); });
  CHECK(msg.find("general.architecture is 'gemma'") != std::string::npos);
  // a metadata value that does not match the tensors
  msg = test::error_of([&] {
    (void)load_gguf<float>(edited("gqa32_f32.gguf", "llama.feed_forward_length", "llama.feed_forward_lengtx"));
  });
  CHECK(msg.find("no metadata key 'llama.feed_forward_length'") != std::string::npos);
}

TEST_CASE("gguf model: load_model, read_architecture and load_weights take a .gguf as any other checkpoint") {
  const auto path = golden("gqa32_q8_0.gguf");
  CHECK(detect_format(path) == CheckpointFormat::gguf_file);
  const auto direct = load_gguf<float>(path);
  CHECK(read_architecture(path) == direct.config());
  CHECK(architecture_of(path.string()) == direct.config());
  const auto model = load_model<float>(path);
  CHECK(model.rope_layout() == ops::RopeLayout::interleaved);
  CHECK(model.special_tokens() == direct.special_tokens());
  const auto a = direct.named_parameters(), b = model.named_parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(test::max_abs_diff(a[i].var.value(), b[i].var.value()) == 0);
  // a model of another architecture is refused, naming both
  Model<dynamic, float> other(test::hf_test_gqa);
  CHECK(test::error_of([&] { load_weights(other, path); }).find("does not match") != std::string::npos);
}

TEST_CASE("gguf model: a Q8_0 / Q4_0 file loaded and quantized again (--weights) runs the file's own blocks") {
  for (auto [file, format] : {std::pair{"gqa32_q8_0.gguf", BaseQuant::q8_0}, std::pair{"gqa32_q4_0.gguf", BaseQuant::q4_0}}) {
    CAPTURE(file);
    const auto f = io::GgufFile::open(golden(file));
    auto model = load_model<float>(golden(file));
    model.freeze_base();
    model.quantize_base(format);
    std::size_t checked = 0;
    for (std::size_t l = 0; l < model.blocks().size(); ++l)
      for (auto p : kAllProjections) {
        const auto& q = model.blocks()[l].quantized[static_cast<std::size_t>(p)];
        REQUIRE(q.has_value());
        const std::string name = "blk." + std::to_string(l) + "." +
                                 std::array{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
                                            "ffn_down"}[static_cast<std::size_t>(p)] + ".weight";
        const auto raw = f.raw(name);
        const auto codes = ops::row_major_blocks(*q);  // in either layout (Quantize<Cpu>::for_matmul)
        REQUIRE(codes.size() == raw.size());
        CHECK(std::memcmp(codes.data(), raw.data(), raw.size()) == 0);
        ++checked;
      }
    CHECK(checked == 7 * model.blocks().size());
  }
}

TEST_CASE("gguf model: load_model_quantized runs a Q8_0 / Q4_0 file's blocks in place, other files quantized") {
  const auto tokens = [] {
    Tensor<std::int32_t> t({1, 7});
    for (std::int64_t i = 0; i < 7; ++i) t.data()[i] = static_cast<std::int32_t>((i * 5 + 3) % 64);
    return t;
  }();
  autograd::NoGrad ng;
  for (auto [file, format] : {std::pair{"gqa32_q8_0.gguf", BaseQuant::q8_0}, std::pair{"gqa32_q4_0.gguf", BaseQuant::q4_0}}) {
    CAPTURE(file);
    const auto f = io::GgufFile::open(golden(file));
    const auto live0 = Allocator<Cpu>::live_bytes();
    auto direct = load_model_quantized<float>(golden(file), format);
    const auto live_direct = Allocator<Cpu>::live_bytes() - live0;
    CHECK(direct.base_quant() == format);
    CHECK_FALSE(direct.blocks()[0].wq.requires_grad());
    const auto& q = *direct.blocks()[0].quantized[static_cast<std::size_t>(Projection::q)];
    const auto raw = f.raw("blk.0.attn_q.weight");
    REQUIRE(static_cast<std::size_t>(q.codes.numel()) == raw.size());
    CHECK(ops::row_major_blocks(q) == std::vector<std::uint8_t>(reinterpret_cast<const std::uint8_t*>(raw.data()),
                                                                reinterpret_cast<const std::uint8_t*>(raw.data()) + raw.size()));
    // borrowed from the mapping, or regrouped to rows16 where the AVX512-VNNI kernel runs (Quantize<Cpu>::for_matmul);
    // which of the two the allocator's count below tells (the model maps the file itself: its pointers are not raw's)
    const bool rows16 = backends::cpu::qmm::rows16_pays();
    CHECK(q.layout == (rows16 ? ops::QuantLayout::rows16 : ops::QuantLayout::blocks));
    const auto live1 = Allocator<Cpu>::live_bytes();
    auto requantized = load_model<float>(golden(file));
    requantized.freeze_base();
    requantized.quantize_base(format);
    const auto live_requantized = Allocator<Cpu>::live_bytes() - live1;
    // the head too is the file's own blocks (output.weight, q8_0 or q4_0), where quantize_base makes q8_0
    REQUIRE(direct.quantized_head().has_value());
    REQUIRE(requantized.quantized_head().has_value());
    const auto head_raw = f.raw("output.weight");
    const auto head_blocks = ops::row_major_blocks(*direct.quantized_head());
    REQUIRE(head_blocks.size() == head_raw.size());
    CHECK(std::memcmp(head_blocks.data(), head_raw.data(), head_raw.size()) == 0);
    CHECK(requantized.quantized_head()->format == ops::QuantFormat::q8_0);
    // the file's blocks are borrowed, not copied (the requantized model holds its own in allocated memory
    // besides), or, in rows16, regrouped into memory of their own size
    const auto layers = static_cast<std::int64_t>(direct.blocks().size());
    const auto own = requantized.quantized_bytes();
    const auto direct_own = rows16 ? direct.quantized_bytes() : 0;
    CHECK(live_requantized - live_direct + direct_own >= own);
    CHECK(live_requantized - live_direct + direct_own <= own + 64 * 8 * layers);
    const auto a = direct.forward(tokens).value(), b = requantized.forward(tokens).value();
    if (format == BaseQuant::q8_0) CHECK(test::max_abs_diff(a, b) == 0.0);  // the same blocks everywhere
    else CHECK(test::max_rel_diff(a, b) < 0.1);  // the head in q4_0 (the file's) against q8_0 of its values
  }
  // an F32 file asked for q8_0: each projection dequantized (here: read) and quantized, as quantize_base does
  auto from_f32 = load_model_quantized<float>(golden("gqa32_f32.gguf"), BaseQuant::q8_0);
  auto whole = load_model<float>(golden("gqa32_f32.gguf"));
  whole.freeze_base();
  whole.quantize_base(BaseQuant::q8_0);
  CHECK(test::max_abs_diff(from_f32.forward(tokens).value(), whole.forward(tokens).value()) == 0.0);
  // a Q4_0 file asked for q8_0: its blocks are not q8_0, so they are dequantized and quantized again
  auto cross = load_model_quantized<float>(golden("gqa32_q4_0.gguf"), BaseQuant::q8_0);
  CHECK(cross.base_quant() == BaseQuant::q8_0);
  CHECK(cross.blocks()[0].quantized[0]->format == ops::QuantFormat::q8_0);
}

TEST_CASE("gguf model: save_gguf writes what load_gguf reads: F32 exactly, F16 / BF16 rounded, Q8_0 / Q4_0 blocks") {
  // A model in HF's rotate-half layout (q and k rows permuted on the way out), untied head, GQA; the file read back
  // by pmc's reader (checked against the gguf package's files above) runs in Meta's interleaved layout.
  Model<dynamic, float> ref(test::hf_test_train);
  ref.init_random(9, 0.1f);
  GgufVocab vocab;
  for (int i = 0; i < test::hf_test_train.vocab_size; ++i) {
    vocab.tokens.push_back(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "t" + std::to_string(i));
    vocab.scores.push_back(-static_cast<float>(i));
    vocab.types.push_back(i == 0 ? 2 : i <= 2 ? 3 : 1);
  }
  const auto tokens = [] {
    Tensor<std::int32_t> t({2, 9});
    for (std::int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<std::int32_t>((i * 7 + 5) % 64);
    return t;
  }();
  autograd::NoGrad ng;
  const auto expected = ref.forward(tokens).value();
  const auto dir = test::tmp_dir() / "gguf_save";
  fs::create_directories(dir);
  // relative Frobenius error of the logits: F16 / BF16 round every matrix; Q8_0 / Q4_0 quantize every matrix, the
  // embeddings and head included (measured 2.0e-7, 0.00044, 0.0036, 0.012 and 0.18)
  const std::vector<std::tuple<std::string, GgufWeights, double>> cases = {
      {"f32", GgufWeights::f32, 1e-6}, {"f16", GgufWeights::f16, 0.003}, {"bf16", GgufWeights::bf16, 0.02},
      {"q8_0", GgufWeights::q8_0, 0.03}, {"q4_0", GgufWeights::q4_0, 0.3}};
  for (const auto& [label, weights, bound] : cases) {
    CAPTURE(label);
    const auto path = dir / ("model_" + label + ".gguf");
    save_gguf(ref, vocab, path, weights);
    const auto f = io::GgufFile::open(path);
    CHECK(f.get_string("general.architecture") == "llama");
    CHECK(f.get_uint("llama.attention.head_count_kv") == 2);
    CHECK(f.metadata("tokenizer.ggml.tokens").as_strings("tokens") == vocab.tokens);
    CHECK(f.get_uint("tokenizer.ggml.eos_token_id") == 2);
    CHECK(gguf_architecture(f) == ref.config());
    auto back = load_gguf<float>(path);
    CHECK(back.rope_layout() == ops::RopeLayout::interleaved);
    const auto logits = back.forward(tokens).value();
    double d = 0, n = 0;
    for (std::int64_t i = 0; i < logits.numel(); ++i) {
      d += std::pow(static_cast<double>(logits.data()[i]) - expected.data()[i], 2);
      n += std::pow(static_cast<double>(expected.data()[i]), 2);
    }
    MESSAGE(label, ": logits relative error ", std::sqrt(d / n));
    CHECK(std::sqrt(d / n) <= bound);
    if (weights == GgufWeights::q8_0 || weights == GgufWeights::q4_0) {
      // the stored blocks are Quantize<Cpu>'s of the (permuted) weight: llama.cpp's layout, bit for bit
      const auto format = weights == GgufWeights::q8_0 ? ops::QuantFormat::q8_0 : ops::QuantFormat::q4_0;
      const auto permuted = io::permute_rotary_from_hf(ref.blocks()[1].wk.value(), 2);
      const auto q = ops::Quantize<Cpu>::quantize(permuted, format);
      const auto raw = f.raw("blk.1.attn_k.weight");
      REQUIRE(static_cast<std::size_t>(q.codes.numel()) == raw.size());
      CHECK(std::memcmp(q.codes.data(), raw.data(), raw.size()) == 0);
      // and a q8_0 / q4_0 file loaded quantized runs them in place (x kept in float: the same products to rounding)
      const test::FloatActivations float_x;
      auto direct = load_model_quantized<float>(path, weights == GgufWeights::q8_0 ? BaseQuant::q8_0 : BaseQuant::q4_0);
      CHECK(test::max_rel_diff(direct.forward(tokens).value(), logits) < 1e-4);
    }
  }
  // what GGUF's LLaMA cannot hold is refused, naming the file
  vocab.tokens.pop_back();
  CHECK(test::error_of([&] { save_gguf(ref, vocab, dir / "short.gguf", GgufWeights::f32); }).find("63 pieces") !=
        std::string::npos);
  vocab.tokens.push_back("t63");
  Config with_bias = test::hf_test_train;
  with_bias.mlp_bias = true;
  Model<dynamic, float> biased(with_bias);
  CHECK(test::error_of([&] { save_gguf(biased, vocab, dir / "bias.gguf", GgufWeights::f32); }).find("biases") !=
        std::string::npos);
}

}  // namespace gguf_model_test
