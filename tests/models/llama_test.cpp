// SPDX-License-Identifier: MIT
// The LLaMA model against independent references: Hugging Face transformers (golden files made by
// tools/make_golden_hf.py) and the real stories260K model of llama2.c; configs, KV cache, checkpoint errors.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/generate.hpp>
#include <pmc/pmc.hpp>
#include <pmc/tokenizer/tokenizer.hpp>
#include <support/compare.hpp>
#include <support/errors.hpp>
#include <support/paths.hpp>
#include <support/test_configs.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace llama_test {

namespace fs = std::filesystem;
using namespace pmc;
using namespace pmc::llama;
using test::hf_test_gqa;
using test::hf_test_mqa;

namespace {

fs::path golden_dir(const std::string& name) { return test::source_dir() / "tests/golden/hf" / name; }

/// logits, loss and every parameter gradient of `model` (loaded from `dir`, trainable) against dir's golden file.
template <class M>
void check_against_hf(const M& model, const fs::path& dir, double tol) {
  using T = typename M::value_type;
  const auto golden = io::SafetensorsFile::open(dir / "golden.safetensors");
  const auto ids = golden.get<std::int32_t>("input_ids");
  const auto targets = golden.get<std::int32_t>("targets");
  const auto want_logits = golden.get<double>("logits");
  const std::string kind = M::kStaticConfig ? "static config" : "run-time config";
  {
    autograd::NoGrad no_grad;
    const auto logits = model.forward(ids).value();
    const double err = test::max_rel_diff(logits, want_logits.reshape({logits.size(0), logits.size(1)}));
    INFO(dir.filename().string(), " (", kind, ") logits relative error ", err);
    CHECK(err < tol);
  }
  const auto loss = model.loss(ids, targets);
  const double want_loss = golden.get<double>("loss")[0];
  CHECK(std::abs(static_cast<double>(loss.value()[0]) - want_loss) / want_loss < tol);
  autograd::backward(loss);
  double worst = 0;
  for (const auto& p : model.named_parameters()) {
    const double err = test::max_rel_diff(p.var.grad(), golden.get<double>("grad." + p.name));
    INFO(dir.filename().string(), " (", kind, ") gradient of ", p.name, ": relative error ", err);
    CHECK(err < tol);
    worst = std::max(worst, err);
  }
  MESSAGE(dir.filename().string(), " (", sizeof(T) == 8 ? "float64" : "float32", ", ", kind,
          "): worst gradient relative error ", worst);
}

/// The golden case `name` through a Model of its static test config and through Model<dynamic> (load_model).
template <class T>
void check_case(const std::string& name, double tol) {
  const auto dir = golden_dir(name);
  REQUIRE(fs::exists(dir / "golden.safetensors"));
  test::with_test_config_of(dir, [&]<Config C>() {
    auto model = Model<C, T>::unallocated(true);
    load_weights(model, dir);
    check_against_hf(model, dir, tol);
  });
  check_against_hf(load_model<T>(dir, /*trainable=*/true), dir, tol);
}

const char* kCases[] = {"gqa", "mha_tied", "odd", "mqa"};  // each has a static test config as well
const char* kRuntimeOnlyCases[] = {"head_dim",   "rope_linear", "rope_llama3", "rope_yarn",     "rope_dynamic",
                                   "llama_bias", "qwen2",       "mistral_window"};  // read only as run-time configs

}  // namespace

TEST_CASE("configs: exact parameter counts and the name table") {
  static_assert(llama_7b.parameters() == 6'738'415'616);
  static_assert(llama_13b.parameters() == 13'015'864'320);
  static_assert(is_valid(tiny) && is_valid(stories260k));
  static_assert(!is_valid(Config{.dim = 30, .n_layers = 1, .n_heads = 4, .n_kv_heads = 4, .ffn_dim = 8,
                                 .vocab_size = 8, .max_seq_len = 8}));  // heads do not divide dim
  static_assert(!is_valid(Config{.dim = 32, .n_layers = 1, .n_heads = 4, .n_kv_heads = 3, .ffn_dim = 8,
                                 .vocab_size = 8, .max_seq_len = 8}));  // kv heads do not divide heads
  Model<tiny, float> m(false);
  CHECK(m.parameter_count() == tiny.parameters());
  CHECK(config_by_name("llama_13b") == llama_13b);
  try {
    (void)config_by_name("llama_65b");
    FAIL("no error for an unknown config");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("llama_65b") != std::string::npos);
    CHECK(std::string(e.what()).find("llama_7b") != std::string::npos);  // lists what is supported
  }
}

TEST_CASE("hf parity: logits, loss and gradients in float64") {
  for (auto name : kCases) check_case<double>(name, 1e-9);
  for (auto name : kRuntimeOnlyCases) check_against_hf(load_model<double>(golden_dir(name), true), golden_dir(name), 1e-9);
}

TEST_CASE("hf parity: logits, loss and gradients in float32") {
  for (auto name : kCases) check_case<float>(name, 1e-4);
  for (auto name : kRuntimeOnlyCases) check_against_hf(load_model<float>(golden_dir(name), true), golden_dir(name), 1e-4);
}

TEST_CASE("run-time config: Model<dynamic> computes the same bits as the static Model, forward and backward") {
  for (auto name : kCases) {
    const auto dir = golden_dir(name);
    test::with_test_config_of(dir, [&]<Config C>() {
      auto fixed = Model<C, float>::unallocated(true);
      load_weights(fixed, dir);
      auto any = load_model<float>(dir, /*trainable=*/true);
      static_assert(!decltype(any)::kStaticConfig && decltype(fixed)::kStaticConfig);
      CHECK(any.config() == C);
      const auto golden = io::SafetensorsFile::open(dir / "golden.safetensors");
      const auto ids = golden.get<std::int32_t>("input_ids");
      const auto targets = golden.get<std::int32_t>("targets");
      autograd::backward(fixed.loss(ids, targets));
      autograd::backward(any.loss(ids, targets));
      {
        autograd::NoGrad no_grad;
        CHECK(test::max_abs_diff(fixed.forward(ids).value(), any.forward(ids).value()) == 0);
      }
      const auto a = fixed.named_parameters(), b = any.named_parameters();
      REQUIRE(a.size() == b.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        INFO(name, ": ", a[i].name);
        CHECK(a[i].name == b[i].name);
        CHECK(test::max_abs_diff(a[i].var.grad(), b[i].var.grad()) == 0);
      }
    });
  }
}

TEST_CASE("run-time config: an invalid architecture is refused when the model is made, naming the rule") {
  Config c = test::hf_test_gqa;
  c.n_kv_heads = 4;  // 6 query heads
  const std::string e = test::error_of([&] { (void)Model<dynamic, float>(c, false); });
  CHECK(e.find("key/value heads must divide the query heads") != std::string::npos);
  CHECK(e.find("heads 6, kv heads 4") != std::string::npos);
  c = test::hf_test_gqa;
  c.dim = 0;
  CHECK(test::error_of([&] { (void)Model<dynamic, float>::unallocated(c); }).find("positive") != std::string::npos);
  // a static model made from another architecture
  CHECK(test::error_of([&] { (void)Model<test::hf_test_gqa, float>(test::hf_test_mqa, false); })
            .find("not the model's compiled one") != std::string::npos);
  // load_weights into a run-time model of another architecture names both
  auto other = Model<dynamic, float>::unallocated(test::hf_test_mqa);
  CHECK(test::error_of([&] { load_weights(other, golden_dir("gqa")); }).find("does not match") != std::string::npos);
}

TEST_CASE("kv cache: a batch of 3 decoded over 61 positions equals the full forward, in every golden shape") {
  // The cache holds 64 positions, so at B = 3 the prefix attention reads, [0, pos0 + T), is a view that is not
  // contiguous (batch stride 64·Hkv·Dh): the CPU attention reads it in place.
  for (auto name : kCases) {
    const auto dir = golden_dir(name);
    test::with_test_config_of(dir, [&]<Config C>() {
      auto model = Model<C, double>::unallocated(false);
      load_weights(model, dir);
      constexpr std::int64_t B = 3, T = 61;
      std::mt19937 rng(11);
      std::uniform_int_distribution<std::int32_t> id(0, C.vocab_size - 1);
      Tensor<std::int32_t> ids({B, T});
      for (auto& x : ids.span()) x = id(rng);
      autograd::NoGrad no_grad;
      const auto full = model.forward(ids).value();  // (B·T, V)
      KvCache<double, Cpu> cache(C.n_layers, B, C.max_seq_len, C.n_kv_heads, C.head_dim());
      REQUIRE(cache.capacity() > T);
      std::int64_t steps = 0;
      for (std::int64_t t = 0, n = 4; t < T; t += n, n = 1 + (steps % 3 == 2)) {  // 4 tokens, then 1 or 2
        n = std::min(n, T - t);
        const auto got = model.forward(ids.slice(1, t, t + n), t, &cache).value();  // (B·n, V)
        ++steps;
        CHECK(cache.length == t + n);
        for (std::int64_t b = 0; b < B; ++b) {
          INFO(name, ": batch row ", b, ", positions ", t, "..", t + n - 1);
          CHECK(test::max_rel_diff(got.slice(0, b * n, (b + 1) * n), full.slice(0, b * T + t, b * T + t + n)) < 1e-12);
        }
      }
      CHECK(steps > 40);
    });
  }
}

TEST_CASE("run-time config: RoPE scaling read from config.json, saved back, and its YaRN factor resolved") {
  CHECK(load_model<float>(golden_dir("rope_linear")).config().rope_scaling.type == ops::RopeScalingType::linear);
  const auto llama3 = load_model<float>(golden_dir("rope_llama3"));
  CHECK(llama3.config().rope_scaling.original_max_position == 64);
  CHECK(llama3.config().rope_scaling.factor == 8.f);
  const auto yarn = load_model<float>(golden_dir("rope_yarn"));
  CHECK(yarn.config().rope_scaling.attention_factor == doctest::Approx(0.1 * std::log(4.0) + 1.0));
  CHECK(describe(yarn.config()).find("rope scaling yarn x4 (original 64)") != std::string::npos);
  // dynamic NTK: scales beyond max_position_embeddings (6), which transformers takes as its original length; pmc
  // reads the context as factor times it
  const auto dyn = load_model<float>(golden_dir("rope_dynamic"));
  CHECK(dyn.config().rope_scaling.type == ops::RopeScalingType::dynamic);
  CHECK(dyn.config().rope_scaling.factor == 4.0);
  CHECK(dyn.config().rope_scaling.original_max_position == 6);
  CHECK(dyn.config().max_seq_len == 24);
  CHECK(describe(dyn.config()).find("rope scaling dynamic x4 (original 6)") != std::string::npos);
  for (const char* name : {"rope_linear", "rope_llama3", "rope_yarn", "rope_dynamic"}) {
    const auto model = load_model<float>(golden_dir(name));
    const auto out = test::tmp_dir() / (std::string("saved_") + name);
    fs::remove_all(out);
    save_hf(model, out);
    CHECK(read_architecture(out) == model.config());
  }
  {  // written back as transformers wrote it: rope_type dynamic with its factor, max_position_embeddings 6
    const auto saved = test::tmp_dir() / "saved_rope_dynamic";
    CHECK(io::read_hf_config(saved).rope_scaling == io::read_hf_config(golden_dir("rope_dynamic")).rope_scaling);
    const auto j = nlohmann::json::parse(std::ifstream(saved / "config.json"));
    CHECK(j["rope_parameters"]["rope_type"] == "dynamic");
    CHECK(j["rope_parameters"]["factor"] == 4.0);
    CHECK(!j["rope_parameters"].contains("original_max_position_embeddings"));
    CHECK(j["max_position_embeddings"] == 6);
  }
  // the frequencies: llama3 keeps pair 0 (wavelength 6.3 < 64/4), divides pairs 2 and 3 (> 64) by the factor
  const ops::RopeParams r = llama3.config().rope();
  CHECK(ops::rope_inv_freq(r, 0, 8, 1) == 1.0);
  CHECK(ops::rope_inv_freq(r, 2, 8, 1) == doctest::Approx(0.01 / 8));
  CHECK(ops::rope_amplitude(r) == 1.0);
  // dynamic: a call ending at or below the original 6 positions has the unscaled frequencies; at S = 9 the base
  // is 10000·(4·9/6 − 3)^(8/6)
  const ops::RopeParams d = dyn.config().rope();
  for (std::int64_t i = 0; i < 4; ++i) {
    CHECK(ops::rope_inv_freq(d, i, 8, 6) == ops::rope_inv_freq(ops::RopeParams(1e4f), i, 8, 6));
    CHECK(ops::rope_inv_freq(d, i, 8, 9) ==
          doctest::Approx(std::pow(1e4 * std::pow(3.0, 8.0 / 6), -2.0 * static_cast<double>(i) / 8)).epsilon(1e-14));
  }
  CHECK(ops::rope_inv_freq(d, 2, 8, 9) < ops::rope_inv_freq(d, 2, 8, 6));
  CHECK(ops::rope_amplitude(d) == 1.0);
}

TEST_CASE("dynamic rope: a call no longer than max_position_embeddings computes unscaled RoPE's bits") {
  // the golden's weights under a config.json without scaling (and the same context of 24)
  const auto plain_dir = test::tmp_dir() / "rope_dynamic_unscaled";
  fs::remove_all(plain_dir);
  fs::create_directories(plain_dir);
  auto h = io::read_hf_config(golden_dir("rope_dynamic"));
  h.rope_scaling = {};
  h.max_position_embeddings = 24;
  io::write_hf_config(plain_dir / "config.json", h);
  fs::copy_file(golden_dir("rope_dynamic") / "model.safetensors", plain_dir / "model.safetensors");
  const auto dyn = load_model<double>(golden_dir("rope_dynamic")), plain = load_model<double>(plain_dir);
  REQUIRE(plain.config().rope_scaling.type == ops::RopeScalingType::none);
  const auto golden = io::SafetensorsFile::open(golden_dir("rope_dynamic") / "golden.safetensors");
  const auto ids = golden.get<std::int32_t>("input_ids");
  autograd::NoGrad no_grad;
  for (std::int64_t n : {1, 4, 6}) {  // positions 0..n-1
    INFO("a call of ", n, " tokens");
    const auto part = ids.slice(1, 0, n).contiguous();
    CHECK(test::max_abs_diff(dyn.forward(part).value(), plain.forward(part).value()) == 0);
  }
  const auto part = ids.slice(1, 0, 7).contiguous();  // one more: scaled
  CHECK(test::max_rel_diff(dyn.forward(part).value(), plain.forward(part).value()) > 1e-3);
}

TEST_CASE("families: Qwen2 and LLaMA biases and Mistral's window saved back as the same family, EOS ids kept") {
  for (const char* name : {"llama_bias", "qwen2", "mistral_window"}) {
    INFO(name);
    const auto model = load_model<float>(golden_dir(name));
    const auto out = test::tmp_dir() / (std::string("saved_") + name);
    fs::remove_all(out);
    save_hf(model, out);
    CHECK(read_architecture(out) == model.config());
    CHECK(io::read_hf_config(out).model_type == io::read_hf_config(golden_dir(name)).model_type);
    const auto again = load_model<float>(out);
    const auto a = model.named_parameters(), b = again.named_parameters();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(test::max_abs_diff(a[i].var.value(), b[i].var.value()) == 0);
  }
  CHECK(load_model<float>(golden_dir("qwen2")).blocks()[0].bq.shape() == Shape{32});
  CHECK(!load_model<float>(golden_dir("qwen2")).blocks()[0].bo.defined());
  // EOS ids: none in the golden (null); a Llama-3-style list read from config.json
  CHECK(checkpoint_eos_ids(golden_dir("qwen2")).empty());
  const auto dir = test::tmp_dir() / "eos_list";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto h = io::read_hf_config(golden_dir("gqa"));
  h.eos_token_ids = {128001, 128009};
  io::write_hf_config(dir / "config.json", h);
  fs::copy_file(golden_dir("gqa") / "model.safetensors", dir / "model.safetensors");
  CHECK(checkpoint_eos_ids(dir) == std::vector<std::int32_t>{128001, 128009});
  // the ids travel with the model: loaded from the folder, written back by save_hf (and so by pmc convert)
  const auto model = load_model<float>(dir);
  CHECK(model.special_tokens().eos == std::vector<int>{128001, 128009});
  const auto saved = test::tmp_dir() / "eos_list_saved";
  fs::remove_all(saved);
  save_hf(model, saved);
  CHECK(io::read_hf_config(saved).eos_token_ids == std::vector<int>{128001, 128009});
  CHECK(io::read_hf_config(saved).bos_token_id == h.bos_token_id);
}

TEST_CASE("kv cache: a decoding step reads the cache in place, allocating far less than one copy of its keys") {
  using M = Model<test::hf_test_mha_tied, double>;  // Dh = 8: K and V outweigh the step's attention probabilities
  M model(false);
  model.init_random(3);
  constexpr std::int64_t B = 3, P = 60;
  constexpr Config C = test::hf_test_mha_tied;
  KvCache<double, Cpu> cache(C.n_layers, B, C.max_seq_len, C.n_kv_heads, C.head_dim());
  Tensor<std::int32_t> prompt({B, P}), next({B, 1});
  for (std::int64_t i = 0; i < B * P; ++i) prompt[i] = static_cast<std::int32_t>(i % C.vocab_size);
  autograd::NoGrad no_grad;
  (void)model.forward(prompt, 0, &cache);
  Allocator<Cpu>::reset_peak_bytes();
  const std::int64_t base = Allocator<Cpu>::live_bytes();
  (void)model.forward(next, P, &cache);
  const std::int64_t step_peak = Allocator<Cpu>::peak_bytes() - base;
  const std::int64_t keys_and_values = 2 * B * (P + 1) * C.kv_dim() * static_cast<std::int64_t>(sizeof(double));
  INFO("peak of the step ", step_peak, " bytes; one layer's keys and values ", keys_and_values, " bytes");
  CHECK(step_peak < keys_and_values / 2);
}

TEST_CASE("kv cache: attention reads K and V through views of a larger tensor as it reads them contiguous") {
  // q (2, 3, 6, 4) at positions 5..7 against the first 8 of 20 positions of a (2, 20, 2, 4) cache.
  std::mt19937 rng(5);
  std::normal_distribution<double> dist;
  auto random = [&](Shape s) {
    Tensor<double> t(s);
    for (auto& x : t.span()) x = dist(rng);
    return t;
  };
  const auto q = random({2, 3, 6, 4});
  const auto ck = random({2, 20, 2, 4}), cv = random({2, 20, 2, 4});
  const auto kview = ck.slice(1, 0, 8), vview = cv.slice(1, 0, 8);
  REQUIRE(!kview.is_contiguous());
  autograd::NoGrad no_grad;
  const autograd::Var<double> qv(q);
  const auto strided = autograd::attention(qv, autograd::Var<double>(kview), autograd::Var<double>(vview), 5);
  const auto packed = autograd::attention(qv, autograd::Var<double>(kview.clone()), autograd::Var<double>(vview.clone()), 5);
  CHECK(test::max_abs_diff(strided.value(), packed.value()) == 0);
}

TEST_CASE("kv cache: incremental decoding equals the full forward, and greedy matches transformers") {
  std::vector<std::string> names(std::begin(kCases), std::end(kCases));
  names.insert(names.end(), std::begin(kRuntimeOnlyCases), std::end(kRuntimeOnlyCases));
  for (const auto& name : names) {
    INFO(name);
    const auto dir = golden_dir(name);
    const auto model = load_model<double>(dir);
    const Config C = model.config();
    const auto golden = io::SafetensorsFile::open(dir / "golden.safetensors");
    const auto ids = golden.get<std::int32_t>("input_ids").select(0, 0).contiguous();  // (T)
    const std::int64_t T = ids.numel();
    autograd::NoGrad no_grad;
    const auto full = model.forward(ids.reshape({1, T})).value();  // (T, V)
    // dynamic RoPE: a call's frequencies depend on its length (positions up to t: S = t + 1), so a decoding step
    // equals the full forward of its prefix only while S stays within the original length (as in transformers)
    const bool dynamic = C.rope_scaling.type == ops::RopeScalingType::dynamic;
    auto reference = [&](std::int64_t t0, std::int64_t t1) {  // the no-cache logits of positions [t0, t1)
      if (!dynamic) return full.slice(0, t0, t1);
      return model.forward(ids.slice(0, 0, t1).contiguous().reshape({1, t1})).value().slice(0, t0, t1);
    };
    KvCache<double, Cpu> cache(C.n_layers, 1, T, C.n_kv_heads, C.head_dim());
    const auto prefill = model.forward(ids.slice(0, 0, 3).contiguous().reshape({1, 3}), 0, &cache).value();
    CHECK(test::max_rel_diff(prefill, reference(0, 3)) < 1e-12);
    for (std::int64_t t = 3; t < T; ++t) {
      const auto step = model.forward(ids.slice(0, t, t + 1).contiguous().reshape({1, 1}), t, &cache).value();
      if (!dynamic || t + 1 <= C.rope_scaling.original_max_position)
        CHECK(test::max_rel_diff(step, reference(t, t + 1)) < 1e-12);
      else  // the cached keys were rotated with the frequencies of their own, shorter calls
        CHECK(test::max_rel_diff(step, reference(t, t + 1)) > 1e-6);
    }
    const auto want = golden.get<std::int32_t>("greedy_ids").to_vector();
    const auto prompt = golden.get<std::int32_t>("greedy_prompt").to_vector();
    GenerateOptions go;
    go.max_new_tokens = static_cast<int>(want.size());
    go.stop_tokens = {};
    const auto got = generate(model, std::span<const std::int32_t>(prompt), go);
    CHECK(got == want);
    // the logits of each greedy step, decoded as generate does (prompt, then one token per call with the cache)
    // against transformers' (rope_dynamic's decoded with a cache too; the others' from full forwards)
    const auto want_logits = golden.get<double>("greedy_logits");  // (N, V)
    KvCache<double, Cpu> gcache(C.n_layers, 1, static_cast<std::int64_t>(prompt.size() + want.size()), C.n_kv_heads,
                                C.head_dim());
    auto feed = Tensor<std::int32_t>::from(Shape{1, static_cast<std::int64_t>(prompt.size())},
                                          std::span<const std::int32_t>(prompt));
    std::int64_t pos = 0;
    double worst = 0;
    for (std::size_t n = 0; n < want.size(); ++n) {
      const auto logits = model.forward(feed, pos, &gcache).value();
      pos += feed.size(1);
      worst = std::max(worst, test::max_rel_diff(logits.slice(0, logits.size(0) - 1, logits.size(0)),
                                                  want_logits.slice(0, static_cast<std::int64_t>(n),
                                                                    static_cast<std::int64_t>(n) + 1)));
      feed = Tensor<std::int32_t>::from(Shape{1, 1}, {want[n]});
    }
    CHECK(worst < 1e-9);
  }
}

TEST_CASE("run-time config: head_dim independent of hidden / heads is read, run and saved as transformers has it") {
  const auto dir = golden_dir("head_dim");
  const auto model = load_model<float>(dir);
  CHECK(model.config().head_dim() == 10);
  CHECK(model.config().q_dim() == 40);
  CHECK(model.blocks()[0].wq.shape() == Shape{40, 24});
  CHECK(model.blocks()[0].wo.shape() == Shape{24, 40});
  const auto out = test::tmp_dir() / "saved_head_dim";
  fs::remove_all(out);
  save_hf(model, out);
  CHECK(io::read_hf_config(out).head_dim() == 10);
  CHECK(read_architecture(out) == model.config());
  const auto again = load_model<float>(out);
  const auto a = model.named_parameters(), b = again.named_parameters();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(test::max_abs_diff(a[i].var.value(), b[i].var.value()) == 0);
}

TEST_CASE("checkpoints: a model saved by pmc reloads with the same logits") {
  const auto dir = golden_dir("gqa");
  auto model = Model<hf_test_gqa, float>::unallocated(false);
  load_weights(model, dir);
  const auto out = test::tmp_dir() / "saved_gqa";
  fs::remove_all(out);
  save_hf(model, out);
  CHECK(fs::exists(out / "config.json"));
  CHECK(read_architecture(out) == hf_test_gqa);
  auto again = Model<hf_test_gqa, float>::unallocated(false);
  load_weights(again, out);
  const auto golden = io::SafetensorsFile::open(dir / "golden.safetensors");
  const auto ids = golden.get<std::int32_t>("input_ids");
  autograd::NoGrad no_grad;
  CHECK(test::max_abs_diff(model.forward(ids).value(), again.forward(ids).value()) == 0);
}

TEST_CASE("checkpoints: bad input is a clear error naming the file and tensor") {
  const auto src = golden_dir("gqa");
  const auto bad = test::tmp_dir() / "bad_gqa";
  auto expect_error = [&](const std::string& needle) {
    auto model = Model<hf_test_gqa, float>::unallocated(false);
    try {
      load_weights(model, bad);
      FAIL("no error; expected one mentioning ", needle);
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  auto fresh = [&] {
    fs::remove_all(bad);
    fs::create_directories(bad);
    fs::copy_file(src / "config.json", bad / "config.json");
    fs::copy_file(src / "model.safetensors", bad / "model.safetensors");
  };
  // truncated weights
  fresh();
  fs::resize_file(bad / "model.safetensors", fs::file_size(bad / "model.safetensors") - 100);
  expect_error("model.safetensors");
  // a config whose architecture does not match the weights beside it
  fresh();
  {
    std::ifstream in(bad / "config.json");
    auto j = nlohmann::json::parse(in);
    j["num_hidden_layers"] = 7;
    std::ofstream(bad / "config.json") << j.dump();
  }
  {
    const std::string e = test::error_of([&] { (void)load_model<float>(bad); });
    INFO(e);
    CHECK(e.find(bad.string()) != std::string::npos);
    CHECK(e.find("missing") != std::string::npos);
    CHECK(e.find("model.layers.3.") != std::string::npos);
  }
  // the right architecture for a different model: shapes do not match
  fresh();
  {
    std::ifstream in(bad / "config.json");
    auto j = nlohmann::json::parse(in);
    std::ofstream(bad / "config.json") << j.dump();
  }
  auto wrong = Model<hf_test_mqa, float>::unallocated(false);
  try {
    load_weights(wrong, bad);
    FAIL("no error for an architecture mismatch");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("does not match") != std::string::npos);
  }
  // a missing tensor
  fresh();
  {
    auto f = io::SafetensorsFile::open(src / "model.safetensors");
    std::vector<io::SafetensorsEntry> entries;
    for (const auto& n : f.names())
      if (n != "model.layers.1.mlp.up_proj.weight") entries.push_back(io::tensor_entry(n, f.get<float>(n)));
    io::write_safetensors(bad / "model.safetensors", entries);
  }
  expect_error("model.layers.1.mlp.up_proj.weight");
}

TEST_CASE("stories260K: greedy decoding from BOS reproduces llama2.c's published output") {
  const auto bin = test::shared_file("data/models/stories260K/stories260K.bin");
  const auto ref_path = test::shared_file("data/models/stories260K/stories260K_reference.json");
  if (bin.empty() || ref_path.empty()) PMC_SKIP("../shared/data/models/stories260K is absent");
  std::ifstream in(ref_path);
  const auto ref = nlohmann::json::parse(in);
  const auto want = ref["greedy_ids_200_steps"].get<std::vector<std::int32_t>>();
  CHECK(config_name_of(read_architecture(bin)) == "stories260k");
  auto model = Model<stories260k, float>::unallocated(false);
  load_weights(model, bin);
  {
    autograd::NoGrad no_grad;
    const auto logits = model.forward(Tensor<std::int32_t>::from({1, 1}, {1})).value();
    const auto first16 = ref["pos0_logits_first16"].get<std::vector<float>>();
    for (int i = 0; i < 16; ++i) CHECK(logits.at({0, i}) == doctest::Approx(first16[static_cast<std::size_t>(i)]).epsilon(1e-4));
  }
  GenerateOptions go;
  go.max_new_tokens = static_cast<int>(want.size()) - 1;
  go.stop_tokens = {};
  const std::vector<std::int32_t> bos{1};
  auto got = generate(model, std::span<const std::int32_t>(bos), go);
  got.insert(got.begin(), 1);
  CHECK(got == want);
  const auto tok_path = test::shared_file("data/models/stories260K/tok512.model");
  if (tok_path.empty()) PMC_SKIP("../shared/data/models/stories260K/tok512.model is absent");
  const auto tok = tokenizer::Tokenizer::load(tok_path);
  CHECK(tok.decode(got) == ref["greedy_text"].get<std::string>());
}

TEST_CASE("generation: sampling is reproducible from a seed, top-k 1 is greedy, batches match single prompts") {
  const auto dir = golden_dir("gqa");
  auto model = Model<hf_test_gqa, float>::unallocated(false);
  load_weights(model, dir);
  const std::vector<std::vector<std::int32_t>> prompts{{1, 5, 9}, {3}, {7, 7, 7, 7, 2, 11}};
  GenerateOptions go;
  go.max_new_tokens = 10;
  go.stop_tokens = {};
  go.sampler = {.temperature = 0.9f, .top_k = 20, .top_p = 0.9f, .seed = 42};
  const auto a = generate_batch(model, prompts, go);
  const auto b = generate_batch(model, prompts, go);
  CHECK(a == b);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    auto single = go;
    single.sampler.seed = 42 + i;
    CHECK(generate(model, std::span<const std::int32_t>(prompts[i]), single) == a[i]);
    CHECK(a[i].size() == 10);
  }
  auto greedy = go;
  greedy.sampler = {.temperature = 0.f};
  auto top1 = go;
  top1.sampler = {.temperature = 1.5f, .top_k = 1, .seed = 7};
  CHECK(generate(model, std::span<const std::int32_t>(prompts[0]), greedy) ==
        generate(model, std::span<const std::int32_t>(prompts[0]), top1));
  go.sampler.seed = 43;
  CHECK(generate_batch(model, prompts, go) != a);  // another seed, another sample
  // stop tokens end generation and are not returned
  auto stop = greedy;
  const auto free_run = generate(model, std::span<const std::int32_t>(prompts[0]), greedy);
  stop.stop_tokens = {free_run[3]};
  const auto stopped = generate(model, std::span<const std::int32_t>(prompts[0]), stop);
  CHECK(stopped.size() <= 3);
}

}  // namespace llama_test
