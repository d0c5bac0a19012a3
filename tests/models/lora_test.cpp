// SPDX-License-Identifier: MIT
// LoRA on the LLaMA model: adapter gradients against finite differences in double, a frozen base, merging,
// dropout masks, PEFT's folder layout (save, load, bad files), and parity with Hugging Face PEFT (golden files
// made by tools/make_golden_lora.py).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <pmc/pmc.hpp>
#include <support/compare.hpp>
#include <support/errors.hpp>
#include <support/gradcheck.hpp>
#include <support/paths.hpp>
#include <support/test_configs.hpp>
#include <support/training_data.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace lora_test {

namespace fs = std::filesystem;
using namespace pmc;
using namespace pmc::llama;

namespace {

constexpr Config kCfg = test::hf_test_gqa;  // dim 24, 3 layers, 6 heads over 2 kv heads, ffn 52

template <class T>
Model<dynamic, T> random_model(std::uint64_t seed, const Config& cfg = kCfg) {
  Model<dynamic, T> m(cfg);
  m.init_random(seed, 0.1f);
  return m;
}

/// Random values in every adapter tensor (PEFT's fresh B = 0 would hide mistakes in B's path).
template <class T>
void randomize_adapters(const Model<dynamic, T>& m, std::uint64_t seed, double scale = 0.2) {
  std::mt19937_64 rng(seed);
  for (const auto& p : m.lora_parameters()) {
    auto t = test::random_tensor<T>(p.var.shape(), rng, -scale, scale);
    pmc::copy(t, p.var.value());
  }
}

/// A shape whose projections hold whole blocks of 64 (quantized bases): dim 32, 2 layers, kv dim 16, ffn 64.
constexpr Config kQuantCfg = test::hf_test_train;

Tensor<std::int32_t> tokens_of(std::int64_t B, std::int64_t T, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tensor<std::int32_t> t({B, T});
  for (auto& x : t.span()) x = static_cast<std::int32_t>(rng() % 64);  // within both test shapes' vocabularies
  return t;
}

LoraConfig all_targets(int rank = 2, double alpha = 3) {
  LoraConfig c;
  c.rank = rank;
  c.alpha = alpha;
  c.targets = parse_lora_targets("all");
  return c;
}

}  // namespace

TEST_CASE("lora: targets and settings parse as PEFT names them, bad ones are refused") {
  CHECK(parse_lora_targets("q,v").size() == 2);
  CHECK(parse_lora_targets("q_proj, k_proj,down").size() == 3);
  CHECK(parse_lora_targets("all").size() == 7);
  CHECK(parse_lora_targets("mlp") == std::vector{Projection::gate, Projection::up, Projection::down});
  CHECK(test::error_of([] { parse_lora_targets("q,lm_head"); }).find("'lm_head' is not a projection") !=
        std::string::npos);
  LoraConfig c;
  c.rank = 0;
  CHECK(c.problem().find("rank") != std::string::npos);
  c = {};
  c.dropout = 1;
  CHECK(c.problem().find("dropout") != std::string::npos);
  c = {};
  c.rslora = true;
  c.rank = 16;
  c.alpha = 8;
  CHECK(c.scaling() == 2.0);
  CHECK(parse_base_quant("nf4") == BaseQuant::nf4);
  CHECK(test::error_of([] { parse_base_quant("q5_0"); }).find("--base-quant: 'q5_0'") != std::string::npos);
}

TEST_CASE("lora: a fresh adapter leaves the logits unchanged, the base is frozen and only adapters get gradients") {
  auto m = random_model<float>(1);
  const auto tokens = tokens_of(2, 7, 2);
  Tensor<float> before;
  {
    autograd::NoGrad ng;
    before = m.forward(tokens).value().clone();
  }
  m.add_lora(all_targets(), 3);
  {
    autograd::NoGrad ng;
    CHECK(test::max_abs_diff(m.forward(tokens).value(), before) == 0);
  }
  CHECK(m.lora_parameters().size() == 2 * 7 * static_cast<std::size_t>(kCfg.n_layers));
  CHECK(m.lora_parameters()[0].name == "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  CHECK(m.lora_parameters()[0].var.shape() == Shape{2, kCfg.dim});
  CHECK(m.lora_parameters()[13].name == "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
  CHECK(m.lora_parameters()[13].var.shape() == Shape{kCfg.dim, 2});
  randomize_adapters(m, 4);
  auto targets = tokens_of(2, 7, 5);
  autograd::backward(m.loss(tokens, targets));
  for (const auto& p : m.named_parameters()) {
    INFO(p.name);
    CHECK_FALSE(p.var.requires_grad());
    CHECK_FALSE(p.var.grad().defined());
  }
  for (const auto& p : m.lora_parameters()) {
    INFO(p.name);
    REQUIRE(p.var.grad().defined());
    CHECK(test::dot(p.var.grad(), p.var.grad()) > 0);
  }
  CHECK(m.parameters_to_train().size() == m.lora_parameters().size());
}

TEST_CASE("lora: adapter gradients match finite differences in double, with bias, rsLoRA and recompute") {
  Config cfg = kCfg;
  cfg.qkv_bias = cfg.o_bias = true;
  for (bool recompute : {false, true}) {
    CAPTURE(recompute);
    Model<dynamic, double> m(cfg);
    m.init_random(7, 0.1f);
    LoraConfig lc = all_targets(2, 5);
    lc.rslora = true;
    m.add_lora(lc, 8);
    randomize_adapters(m, 9);
    m.set_recompute(recompute);
    const auto tokens = tokens_of(2, 5, 10), targets = tokens_of(2, 5, 11);
    m.zero_grad();
    autograd::backward(m.loss(tokens, targets));
    auto loss = [&] {
      autograd::NoGrad ng;
      double v = 0;
      m.loss(tokens, targets, nullptr, &v);
      return v;
    };
    double worst = 0;
    for (const auto& p : m.lora_parameters()) {
      if (p.name.find("layers.1.") == std::string::npos) continue;  // one block is enough for the finite differences
      const double e = test::gradcheck(p.name.c_str(), p.var.value(), p.var.grad().clone(), loss);
      INFO(p.name, ": ", e);
      CHECK(e < 1e-7);
      worst = std::max(worst, e);
    }
    MESSAGE("LoRA adapter gradients vs finite differences (double, recompute ", recompute, "): worst ", worst);
  }
}

TEST_CASE("lora: merging folds scaling·B·A into the base and gives the adapted model's logits") {
  auto m = random_model<double>(12);
  m.add_lora(all_targets(3, 6), 13);
  randomize_adapters(m, 14);
  const auto tokens = tokens_of(2, 6, 15);
  autograd::NoGrad ng;
  const auto adapted = m.forward(tokens).value().clone();
  m.merge_lora();
  CHECK_FALSE(m.lora().has_value());
  CHECK(m.lora_parameters().empty());
  const double e = test::max_rel_diff(m.forward(tokens).value(), adapted);
  MESSAGE("merged vs adapted logits (double): ", e);
  CHECK(e < 1e-13);
}

TEST_CASE("lora: dropout masks follow the key: the same key repeats a step bit for bit, recompute included") {
  auto m = random_model<float>(16);
  LoraConfig lc = all_targets();
  lc.dropout = 0.25;
  m.add_lora(lc, 17);
  randomize_adapters(m, 18);
  const auto tokens = tokens_of(2, 6, 19), targets = tokens_of(2, 6, 20);
  auto grads = [&](std::uint64_t key, bool recompute) {
    m.set_recompute(recompute);
    m.set_dropout_key(key);
    m.zero_grad();
    autograd::backward(m.loss(tokens, targets));
    std::vector<Tensor<float>> g;
    for (const auto& p : m.lora_parameters()) g.push_back(p.var.grad().clone());
    return g;
  };
  const auto a = grads(1, false), b = grads(1, true), c = grads(2, false);
  double same = 0, other = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    same = std::max(same, test::max_abs_diff(a[i], b[i]));
    other = std::max(other, test::max_abs_diff(a[i], c[i]));
  }
  CHECK(same == 0);
  CHECK(other > 0);
  // without a key (evaluation, generation) no dropout: the logits are those of the adapters as they are
  autograd::NoGrad ng;
  m.set_dropout_key(std::nullopt);
  const auto plain = m.forward(tokens).value().clone();
  m.set_dropout_key(1);
  CHECK(test::max_abs_diff(m.forward(tokens).value(), plain) > 0);
  m.set_dropout_key(std::nullopt);
  CHECK(test::max_abs_diff(m.forward(tokens).value(), plain) == 0);
}

TEST_CASE("lora: an adapter saved in PEFT's layout reloads with the same logits") {
  auto m = random_model<float>(21);
  LoraConfig lc = all_targets(4, 8);
  lc.targets = parse_lora_targets("q,v,down");
  m.add_lora(lc, 22);
  randomize_adapters(m, 23);
  const auto dir = test::tmp_dir() / "lora_roundtrip";
  fs::remove_all(dir);
  save_peft_adapter(m, dir, "base");
  CHECK(fs::exists(dir / "adapter_config.json"));
  CHECK(fs::exists(dir / "adapter_model.safetensors"));
  const auto cfg = read_peft_config(dir);
  CHECK(cfg == lc);
  auto again = random_model<float>(21);
  CHECK(load_peft_adapter(again, dir) == lc);
  const auto tokens = tokens_of(1, 9, 24);
  autograd::NoGrad ng;
  CHECK(test::max_abs_diff(again.forward(tokens).value(), m.forward(tokens).value()) == 0);
  // a bf16 model reads the fp32 adapter, converted
  Model<dynamic, bf16> half(kCfg);
  half.copy_weights_from(random_model<float>(21));
  load_peft_adapter(half, dir);
  CHECK(test::max_rel_diff(half.lora_parameters()[1].var.value(), m.lora_parameters()[1].var.value()) < 4e-3);
}

TEST_CASE("lora: bad adapter folders are clear errors naming the file and the key") {
  auto m = random_model<float>(25);
  m.add_lora(all_targets(), 26);
  const auto good = test::tmp_dir() / "lora_good";
  fs::remove_all(good);
  save_peft_adapter(m, good);
  auto with_config = [&](const std::string& name, const std::string& edit_key, const nlohmann::json& value) {
    const auto dir = test::tmp_dir() / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(good / "adapter_model.safetensors", dir / "adapter_model.safetensors");
    std::ifstream in(good / "adapter_config.json");
    auto j = nlohmann::json::parse(in);
    if (value.is_discarded()) j.erase(edit_key);
    else j[edit_key] = value;
    std::ofstream(dir / "adapter_config.json") << j.dump();
    return dir;
  };
  auto fails = [&](const fs::path& dir, const std::string& needle) {
    auto fresh = random_model<float>(25);
    const std::string e = test::error_of([&] { load_peft_adapter(fresh, dir); });
    INFO(e);
    CHECK(e.find(needle) != std::string::npos);
  };
  fails(with_config("lora_bias", "bias", "all"), "'bias'");
  fails(with_config("lora_dora", "use_dora", true), "'use_dora'");
  fails(with_config("lora_rank0", "r", 0), "'r'");
  fails(with_config("lora_norank", "r", nlohmann::json::value_t::discarded), "'r'");
  fails(with_config("lora_head", "target_modules", nlohmann::json::array({"q_proj", "lm_head"})), "lm_head");
  fails(with_config("lora_type", "peft_type", "IA3"), "'peft_type'");
  fails(with_config("lora_pattern", "rank_pattern", nlohmann::json{{"q_proj", 4}}), "'rank_pattern'");
  // the config says rank 3, the tensors are rank 2
  fails(with_config("lora_rank3", "r", 3), "has shape");
  // targets the file does not hold
  fails(with_config("lora_fewer", "target_modules", nlohmann::json::array({"q_proj"})), "adapter_model.safetensors");
  const auto missing = test::tmp_dir() / "lora_missing";
  fs::remove_all(missing);
  fs::create_directories(missing);
  fails(missing, "adapter_config.json: no such file");
  {
    std::ofstream(missing / "adapter_config.json") << "{\"peft_type\": \"LORA\", \"r\": ";
  }
  fails(missing, "malformed JSON");
}

namespace {

/// One case of tests/golden/lora: the base model, PEFT's adapter, and what PEFT computed with them.
void check_against_peft(const std::string& name, double lr, double min_lr, std::int64_t warmup) {
  const auto dir = test::source_dir() / "tests/golden/lora" / name;
  const auto golden = io::SafetensorsFile::open(dir / "golden.safetensors");
  auto model = load_model<float>(dir, true);
  const LoraConfig lc = load_peft_adapter(model, dir / "adapter");
  const auto ids = golden.get<std::int32_t>("input_ids"), targets = golden.get<std::int32_t>("targets");
  const auto tokens0 = ids.select(0, 0).contiguous(), targets0 = targets.select(0, 0).contiguous();
  // logits with the adapter, and of the base alone
  {
    autograd::NoGrad ng;
    const double e = test::max_rel_diff(model.forward(tokens0).value(), golden.get<float>("logits"));
    const auto base = load_model<float>(dir);
    const double eb = test::max_rel_diff(base.forward(tokens0).value(), golden.get<float>("base_logits"));
    MESSAGE(name, ": logits with PEFT's adapter vs PEFT ", e, " (base alone ", eb, ")");
    CHECK(e < 1e-5);
    CHECK(eb < 1e-5);
  }
  // the adapter gradients of step 0
  {
    model.zero_grad();
    autograd::backward(model.loss(tokens0, targets0));
    double worst = 0;
    for (const auto& p : model.lora_parameters()) {
      const double e = test::max_rel_diff(p.var.grad(), golden.get<float>("grad0." + p.name));
      INFO(p.name, ": ", e);
      CHECK(e < 1e-4);
      worst = std::max(worst, e);
    }
    MESSAGE(name, ": adapter gradients vs PEFT, worst relative error ", worst);
  }
  // AdamW steps on the adapters only, with the trainer
  const auto losses = golden.get<double>("loss"), lrs = golden.get<double>("lr"), norms = golden.get<double>("grad_norm");
  const auto corpus = test::write_markov_corpus("lora_unused.tokens", 4, 1, {.vocab = 64});
  const auto tf = data::TokenFile::open(corpus);
  train::TrainOptions o;
  o.seq_len = ids.size(2);
  o.batch = ids.size(1);
  o.steps = ids.size(0);
  o.lr = lr;
  o.min_lr = min_lr;
  o.warmup = warmup;
  o.weight_decay = 0.1;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.clip = 1.0;
  o.out_dir = test::tmp_dir() / ("lora_peft_" + name);
  o.progress = false;
  fs::remove_all(o.out_dir);
  std::vector<Tensor<float>> base_before;
  for (const auto& p : model.named_parameters()) base_before.push_back(p.var.value().clone());
  train::Trainer trainer(model, tf, nullptr, o);
  CHECK(trainer.parameters().size() == model.lora_parameters().size());
  double worst_loss = 0;
  for (std::int64_t s = 0; s < ids.size(0); ++s) {
    data::Batch b{ids.select(0, s).contiguous(), targets.select(0, s).contiguous(), 0};
    for (auto t : b.targets.span()) b.target_count += t != ops::kIgnoreIndex;
    const auto r = trainer.train_step_on({b});
    const double err = std::abs(r.loss - losses[s]) / losses[s];
    worst_loss = std::max(worst_loss, err);
    INFO("step ", s, ": pmc loss ", r.loss, ", PEFT ", losses[s]);
    CHECK(err < 1e-5);
    CHECK(r.lr == doctest::Approx(lrs[s]).epsilon(1e-12));
    CHECK(r.grad_norm == doctest::Approx(norms[s]).epsilon(1e-5));
  }
  double worst = 0;
  for (const auto& p : model.lora_parameters()) {
    const double e = test::max_rel_diff(p.var.value(), golden.get<float>("final." + p.name));
    INFO(p.name, ": ", e);
    CHECK(e < 1e-4);
    worst = std::max(worst, e);
  }
  const auto params = model.named_parameters();
  for (std::size_t i = 0; i < params.size(); ++i) CHECK(test::max_abs_diff(params[i].var.value(), base_before[i]) == 0);
  // the adapter pmc trained, with its logits, for tools/make_golden_lora.py --verify-adapter (PEFT loads it)
  save_peft_adapter(model, o.out_dir / "adapter");
  {
    autograd::NoGrad ng;
    io::write_safetensors(o.out_dir / "logits.safetensors",
                          {io::tensor_entry("input_ids", tokens0), io::tensor_entry("logits", model.forward(tokens0).value())});
  }
  MESSAGE(name, ": ", ids.size(0), " AdamW steps vs PEFT + torch.optim.AdamW: worst loss ", worst_loss,
          ", worst final adapter ", worst);
  // merging PEFT's adapter as merge_and_unload does
  auto merged = load_model<float>(dir, true);
  load_peft_adapter(merged, dir / "adapter");
  merged.merge_lora();
  double worst_merge = 0;
  for (const auto& p : merged.named_parameters()) {
    if (!golden.contains("merged." + p.name)) continue;
    worst_merge = std::max(worst_merge, test::max_rel_diff(p.var.value(), golden.get<float>("merged." + p.name)));
  }
  MESSAGE(name, ": merged weights vs PEFT's merge_and_unload ", worst_merge);
  CHECK(worst_merge < 1e-6);
  CHECK(lc.targets.size() == (name == "all_targets" ? 7u : 2u));
}

}  // namespace

TEST_CASE("lora: PEFT parity on all seven projections: logits, adapter gradients, 5 AdamW steps, merge") {
  check_against_peft("all_targets", 1e-2, 1e-3, 1);
}

TEST_CASE("lora: PEFT parity with rsLoRA on q and v of a tied model") {
  check_against_peft("qv_rslora", 1e-2, 1e-3, 1);
}

TEST_CASE("qlora: a quantized base computes what its dequantized weights compute, forward and backward") {
  for (auto format : {BaseQuant::int8, BaseQuant::nf4}) {
    CAPTURE(base_quant_name(format));
    auto q = random_model<float>(30, kQuantCfg);
    q.add_lora(all_targets(2, 4), 31);
    randomize_adapters(q, 32);
    q.quantize_base(format);
    CHECK(q.base_quant() == format);
    CHECK(q.blocks()[0].wq.value().data() == nullptr);  // the dense weights are freed
    // the same model with the dequantized weights as plain tensors
    auto d = random_model<float>(30, kQuantCfg);
    d.add_lora(all_targets(2, 4), 31);
    randomize_adapters(d, 32);
    for (std::size_t l = 0; l < q.blocks().size(); ++l)
      for (auto p : kAllProjections) {
        Tensor<float> w(d.blocks()[l].weight(p).shape());
        ops::Quantize<Cpu>::dequantize(*q.blocks()[l].quantized[static_cast<std::size_t>(p)], w);
        d.blocks()[l].weight(p).set_value(w);
      }
    const auto tokens = tokens_of(2, 6, 33), targets = tokens_of(2, 6, 34);
    for (auto* m : {&q, &d}) {
      m->zero_grad();
      autograd::backward(m->loss(tokens, targets));
    }
    double worst = 0;
    for (std::size_t i = 0; i < q.lora_parameters().size(); ++i)
      worst = std::max(worst, test::max_rel_diff(q.lora_parameters()[i].var.grad(), d.lora_parameters()[i].var.grad()));
    CHECK(worst == 0);  // the same dequantized values through the same products
    CHECK(test::error_of([&] { q.merge_lora(); }).find("quantized") != std::string::npos);
    CHECK(test::error_of([&] { save_hf(q, test::tmp_dir() / "qlora_save"); }).find("save_peft_adapter") != std::string::npos);
  }
  auto trainable = random_model<float>(35, kQuantCfg);
  CHECK(test::error_of([&] { trainable.quantize_base(BaseQuant::nf4); }).find("freeze") != std::string::npos);
}

TEST_CASE("qlora: the quantized base's logits stay within the format's bound of the bf16 model's") {
  // The bound is on the relative error ‖Δlogits‖ / ‖logits‖ (Frobenius) over a batch, for normal weights: one
  // quantized product is within 1% (int8) and 12% (nf4) of the dense one (tests/ops/quantize_test.cpp), and this
  // model stacks 14 of them in 2 blocks before the (unquantized) head; the errors, independent across products,
  // add in quadrature, not linearly: 2% and 20%.
  const std::map<BaseQuant, double> bound{{BaseQuant::int8, 0.02}, {BaseQuant::nf4, 0.20}};
  auto ref = random_model<float>(36, kQuantCfg);
  Model<dynamic, bf16> half(kQuantCfg);
  half.copy_weights_from(ref);
  const auto tokens = tokens_of(2, 16, 37);
  autograd::NoGrad ng;
  const auto base = half.forward(tokens).value().to<float>();
  for (auto format : {BaseQuant::int8, BaseQuant::nf4}) {
    Model<dynamic, bf16> q(kQuantCfg);
    q.copy_weights_from(ref);
    q.freeze_base();
    q.quantize_base(format);
    const auto logits = q.forward(tokens).value().to<float>();
    const double e = std::sqrt(test::nmse(logits, base));
    MESSAGE("  largest single logit difference relative to the largest logit: ", test::max_rel_diff(logits, base));
    std::int64_t dense = 0;
    for (const auto& b : q.blocks())
      for (auto p : kAllProjections) dense += b.weight(p).shape().numel() * 2;
    MESSAGE(base_quant_name(format), " base vs bf16 base: logits relative error (Frobenius) ", e, " (bound ",
            bound.at(format), "); projections ", q.quantized_bytes(), " bytes vs ", dense, " in bf16");
    CHECK(e < bound.at(format));
    CHECK(e > 0);
  }
}

TEST_CASE("qlora: bf16 adapters on an NF4 base train with the trainer, the loss falls, the adapter reloads") {
  const auto corpus = test::write_markov_corpus("qlora.tokens", 60, 38, {.vocab = kQuantCfg.vocab_size});
  const auto tf = data::TokenFile::open(corpus);
  Model<dynamic, bf16> m(kQuantCfg);
  m.copy_weights_from(random_model<float>(39, kQuantCfg));
  LoraConfig lc = all_targets(4, 8);
  lc.dropout = 0.1;
  m.add_lora(lc, 40);
  m.quantize_base(BaseQuant::nf4);
  train::TrainOptions o;
  o.seq_len = 16;
  o.batch = 4;
  o.steps = 30;
  o.lr = 1e-2;
  o.warmup = 2;
  o.out_dir = test::tmp_dir() / "qlora_run";
  o.progress = false;
  o.recompute = true;
  fs::remove_all(o.out_dir);
  train::Trainer trainer(m, tf, nullptr, o);
  CHECK(trainer.run());
  const auto& h = trainer.history();
  MESSAGE("QLoRA (nf4 base, bf16 adapters, dropout 0.1): loss ", h.front().loss, " -> ", h.back().loss);
  CHECK(h.back().loss < h.front().loss - 0.3);
  CHECK(is_adapter_folder(o.out_dir));
  CHECK_FALSE(fs::exists(o.out_dir / "model.safetensors"));
  Model<dynamic, bf16> again(kQuantCfg);
  again.copy_weights_from(random_model<float>(39, kQuantCfg));
  load_peft_adapter(again, o.out_dir, false);
  for (std::size_t i = 0; i < again.lora_parameters().size(); ++i)
    CHECK(test::max_abs_diff(again.lora_parameters()[i].var.value(), m.lora_parameters()[i].var.value()) == 0);
}

TEST_CASE("lora: a run stopped and resumed from its checkpoint continues bit for bit (dropout, accumulation, bf16)") {
  const auto corpus = test::write_markov_corpus("lora_resume.tokens", 60, 41, {.vocab = kQuantCfg.vocab_size});
  const auto tf = data::TokenFile::open(corpus);
  auto run = [&](const fs::path& out, std::int64_t stop_after) {
    Model<dynamic, bf16> m(kQuantCfg);
    m.copy_weights_from(random_model<float>(42, kQuantCfg));
    LoraConfig lc = all_targets(4, 8);
    lc.dropout = 0.2;
    m.add_lora(lc, 43);
    train::TrainOptions o;
    o.seq_len = 16;
    o.batch = 4;
    o.grad_accum = 2;
    o.steps = 10;
    o.lr = 5e-3;
    o.warmup = 2;
    o.seed = 44;
    o.save_every = 4;
    o.out_dir = out;
    o.progress = false;
    o.stop_after = stop_after;
    train::Trainer trainer(m, tf, nullptr, o);
    trainer.resume_if_present();
    trainer.run();
    return trainer.history();
  };
  const auto a = test::tmp_dir() / "lora_resume_a", b = test::tmp_dir() / "lora_resume_b";
  fs::remove_all(a);
  fs::remove_all(b);
  const auto whole = run(a, -1);
  run(b, 6);  // stops after step 6: the checkpoint holds the adapters' fp32 masters and AdamW state
  CHECK(fs::exists(b / "checkpoints/latest"));
  const auto resumed = run(b, -1);
  REQUIRE(resumed.size() == whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    INFO("step ", i + 1);
    CHECK(resumed[i].loss == whole[i].loss);
    CHECK(resumed[i].grad_norm == whole[i].grad_norm);
  }
  const auto fa = io::SafetensorsFile::open(a / "adapter_model.safetensors");
  const auto fb = io::SafetensorsFile::open(b / "adapter_model.safetensors");
  for (const auto& n : fa.names()) CHECK(test::max_abs_diff(fa.get<bf16>(n), fb.get<bf16>(n)) == 0);
  // a checkpoint of another LoRA setting is refused, naming what differs
  Model<dynamic, bf16> other(kQuantCfg);
  other.copy_weights_from(random_model<float>(42, kQuantCfg));
  LoraConfig lc = all_targets(4, 16);
  lc.dropout = 0.2;
  other.add_lora(lc, 43);
  train::TrainOptions o;
  o.seq_len = 16;
  o.batch = 4;
  o.steps = 10;
  o.out_dir = test::tmp_dir() / "lora_resume_other";
  o.progress = false;
  fs::remove_all(o.out_dir);
  train::Trainer t(other, tf, nullptr, o);
  const std::string e = test::error_of([&] { t.resume_if_present(b); });
  INFO(e);
  CHECK(e.find("alpha") != std::string::npos);
}

TEST_CASE("lora: on a base in Meta's interleaved RoPE layout, q/k adapters are saved in PEFT's rotate-half layout") {
  auto m = random_model<float>(45);
  m.set_rope_layout(ops::RopeLayout::interleaved);  // as a llama2.c checkpoint loads
  LoraConfig lc = all_targets(2, 4);
  m.add_lora(lc, 46);
  randomize_adapters(m, 47);
  const auto base_dir = test::tmp_dir() / "lora_interleaved_base", adapter_dir = test::tmp_dir() / "lora_interleaved_adapter";
  fs::remove_all(base_dir);
  fs::remove_all(adapter_dir);
  save_hf(m, base_dir);  // the base, permuted to rotate-half as transformers reads it
  save_peft_adapter(m, adapter_dir);
  const auto tokens = tokens_of(2, 8, 48);
  autograd::NoGrad ng;
  const auto want = m.forward(tokens).value().clone();
  auto hf = load_model<float>(base_dir);
  load_peft_adapter(hf, adapter_dir, false);
  const double e = test::max_rel_diff(hf.forward(tokens).value(), want);
  MESSAGE("interleaved base + adapter vs its HF conversion + the saved adapter: ", e);
  CHECK(e < 1e-5);
  // loaded back onto the interleaved base, the adapters are the ones trained
  auto again = random_model<float>(45);
  again.set_rope_layout(ops::RopeLayout::interleaved);
  load_peft_adapter(again, adapter_dir);
  for (std::size_t i = 0; i < again.lora_parameters().size(); ++i)
    CHECK(test::max_abs_diff(again.lora_parameters()[i].var.value(), m.lora_parameters()[i].var.value()) == 0);
}

}  // namespace lora_test
