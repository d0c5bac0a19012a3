// SPDX-License-Identifier: MIT
// Packing instruction examples several to a window: the loss and every parameter gradient of the examples
// packed (block-diagonal causal mask, positions restarting per example, data/pack.hpp) equal those of each
// example alone in its own padded window, weighted as the trainer weights micro-batches (by target tokens), to
// fp32 rounding and in double to ~1e-12; with activation recompute too. The trainer runs on packed windows.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <vector>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/data/pack.hpp>
#include <pmc/train/trainer.hpp>
#include <support/compare.hpp>
#include <support/paths.hpp>

namespace fs = std::filesystem;
using namespace pmc;

namespace {

constexpr llama::Config kModel{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 64,
                               .vocab_size = 64, .max_seq_len = 64, .norm_eps = 1e-5f, .rope_theta = 1e4f};
constexpr std::int64_t kT = 24;  // windows of T + 1 = 25 tokens

/// Instruction-like examples: BOS (1), a prompt (not predicted), a response and EOS (2) (predicted).
struct Examples {
  std::vector<std::vector<std::int32_t>> docs;
  std::vector<std::vector<std::uint8_t>> masks;
};
Examples make_examples() {
  Examples x;
  std::mt19937_64 rng(11);
  const std::vector<std::pair<int, int>> lengths{{4, 3}, {9, 5}, {2, 2}, {6, 10}, {3, 4}, {12, 6}, {1, 1}};  // prompt, response
  for (const auto& [p, r] : lengths) {
    std::vector<std::int32_t> ids{1};
    std::vector<std::uint8_t> m{0};
    for (int i = 0; i < p; ++i) ids.push_back(static_cast<std::int32_t>(3 + rng() % 61)), m.push_back(0);
    for (int i = 0; i < r; ++i) ids.push_back(static_cast<std::int32_t>(3 + rng() % 61)), m.push_back(1);
    ids.push_back(2), m.push_back(1);
    x.docs.push_back(ids);
    x.masks.push_back(m);
  }
  return x;
}

/// The windows of `file` through Trainer::accumulate_gradients: each window a micro-batch of one row (weighted,
/// as the trainer weights micro-batches, by its share of the target tokens), or all in one micro-batch (B rows:
/// the mean over all target tokens). The loss and the gradients (as double).
/// (Micro-batches scale each loss by its share as a float: exact in fp32, but 6e-8 relative in fp64, where the
/// one-micro-batch form is the exact comparison.)
template <class T>
std::pair<double, std::vector<std::vector<double>>> loss_and_grads(const fs::path& file_path, const std::string& run,
                                                                   bool recompute, bool one_batch) {
  const auto file = data::TokenFile::open(file_path);
  llama::Model<kModel, T> model;
  model.init_random(5, 0.2f);
  train::TrainOptions o;
  o.seq_len = kT;
  o.batch = 1;
  o.steps = 1;
  o.packing = data::Packing::doc_start;
  o.recompute = recompute;
  o.progress = false;
  o.out_dir = test::tmp_dir() / ("packing_" + run);
  fs::remove_all(o.out_dir);
  train::Trainer<kModel, T> trainer(model, file, nullptr, o);
  std::vector<data::Window> windows;
  for (std::uint64_t d = 0; d < file.n_docs(); ++d) windows.push_back({file.doc_start(d), file.doc_size(d)});
  std::vector<data::Batch> batches;
  if (one_batch) batches.push_back(data::make_batch(file, windows, kT));
  else
    for (const auto& w : windows) batches.push_back(data::make_batch(file, {w}, kT));
  const double loss = trainer.accumulate_gradients(batches);
  std::vector<std::vector<double>> grads;
  for (const auto& p : trainer.parameters()) {
    const auto g = p.grad.contiguous();
    std::vector<double> v(static_cast<std::size_t>(g.numel()));
    for (std::int64_t i = 0; i < g.numel(); ++i) v[static_cast<std::size_t>(i)] = static_cast<double>(g.data()[i]);
    grads.push_back(std::move(v));
  }
  return {loss, grads};
}

/// max |a − b| / max |b| over one gradient (1 where b is all zero).
double relative(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i])), s = std::max(s, std::abs(b[i]));
  return d / (s > 0 ? s : 1);
}

struct Files {
  fs::path packed, unpacked;
  std::int64_t windows = 0;
};
Files write_files() {
  const auto x = make_examples();
  Files f{test::tmp_dir() / "packing_packed.tokens", test::tmp_dir() / "packing_unpacked.tokens"};
  data::write_token_file(f.unpacked, x.docs, kModel.vocab_size, &x.masks);
  const auto p = data::pack_examples(x.docs, x.masks, kT + 1, 3);
  data::write_token_file(f.packed, p.docs, kModel.vocab_size, &p.masks, &p.segments);
  f.windows = p.windows();
  return f;
}

template <class T>
void check_packed_equals_unpacked(double tol, bool recompute, bool one_batch) {
  const Files f = write_files();
  CHECK(f.windows == 4);  // 7 examples (82 tokens) in 4 windows of 25 (at least 4: 82 > 3·25)
  const auto [lu, gu] = loss_and_grads<T>(f.unpacked, "unpacked", false, one_batch);
  const auto [lp, gp] = loss_and_grads<T>(f.packed, "packed", recompute, one_batch);
  CHECK(std::abs(lp - lu) <= tol * std::abs(lu));
  REQUIRE(gu.size() == gp.size());
  double worst = 0;
  for (std::size_t i = 0; i < gu.size(); ++i) {
    INFO("parameter ", i);
    CHECK(relative(gp[i], gu[i]) <= tol);
    worst = std::max(worst, relative(gp[i], gu[i]));
  }
  MESSAGE("packed vs unpacked: loss ", lp, " vs ", lu, ", largest relative gradient difference ", worst);
}

}  // namespace

TEST_CASE("packing: the packed loss and gradients equal the unpacked ones, fp32 within 1e-5 relative") {
  check_packed_equals_unpacked<float>(1e-5, false, false);  // a micro-batch per window, weighted by target tokens
  check_packed_equals_unpacked<float>(1e-5, false, true);   // one micro-batch of all windows
}

TEST_CASE("packing: the packed loss and gradients equal the unpacked ones, fp64 within 1e-12 relative") {
  check_packed_equals_unpacked<double>(1e-12, false, true);
  check_packed_equals_unpacked<double>(1e-7, false, false);  // (the float shares: see loss_and_grads)
}

TEST_CASE("packing: with activation recompute, the same (fp64 within 1e-12 relative, fp32 within 1e-5)") {
  check_packed_equals_unpacked<double>(1e-12, true, true);
  check_packed_equals_unpacked<float>(1e-5, true, false);
}

TEST_CASE("packing: the trainer trains on packed windows, and a KV cache with segments is refused") {
  const Files f = write_files();
  const auto file = data::TokenFile::open(f.packed);
  llama::Model<kModel, float> model;
  model.init_random(5);
  train::TrainOptions o;
  o.seq_len = kT;
  o.batch = 3;
  o.steps = 6;
  o.lr = 1e-2;
  o.warmup = 0;
  o.packing = data::Packing::doc_start;
  o.progress = false;
  o.out_dir = test::tmp_dir() / "packing_train";
  fs::remove_all(o.out_dir);
  {
    train::Trainer<kModel, float> trainer(model, file, nullptr, o);
    CHECK(trainer.run());
    CHECK(trainer.history().back().loss < trainer.history().front().loss);
  }
  o.packing = data::Packing::plain;  // packed windows are read one per document
  CHECK_THROWS_WITH((train::Trainer<kModel, float>(model, file, nullptr, o)), doctest::Contains("Packing::doc_start"));
  const auto seg = std::make_shared<const ops::Segments>(ops::Segments::whole(1, 4));
  llama::KvCache<float, Cpu> cache(kModel.n_layers, 1, 8, kModel.n_kv_heads, kModel.head_dim());
  autograd::NoGrad no_grad;
  CHECK_THROWS_WITH(model.forward(Tensor<std::int32_t>({1, 4}), 0, &cache, seg), doctest::Contains("no KV cache"));
}
