// SPDX-License-Identifier: MIT
// A model too big for this host in bf16 evaluated with q8_0 / q4_0 projections (issue 21): a llama_13b-shaped model
// (random weights) is built straight into llama.cpp's blocks, one projection at a time
// (Model::quantize_base_from: at most one projection in bf16 at once, never the whole model), or loaded so from a
// bf16 checkpoint on disk (llama::load_model_quantized: each projection read, quantized and its file pages
// released), then scores the options of a few multiple-choice items as pmc eval does (eval::score_continuations:
// the context once with a KV cache, the options as one batch). Prints the seconds, the process's peak resident
// memory, the allocator's peak and `pmc plan --inference --weights FORMAT` for the scoring batch
// (options × (context + option) positions). Not a Google Benchmark: one run, its figures on stdout.
//   OMP_NUM_THREADS=2 build/release/bench/quant_eval_memory_bench [config] [q8_0|q4_0] [items] [context tokens]
//   OMP_NUM_THREADS=2 build/release/bench/quant_eval_memory_bench llama_13b q8_0 3 128
// A checkpoint: write a random bf16 one of a config's shape (a Hugging Face folder, one shard a block: 26 GB for
// llama_13b, written one block at a time), then load it quantized instead of building the model in memory:
//   build/release/bench/quant_eval_memory_bench --write-checkpoint DIR llama_13b
//   OMP_NUM_THREADS=2 build/release/bench/quant_eval_memory_bench --checkpoint DIR q8_0 3 128
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/eval/scoring.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/memory_plan.hpp>
#include <pmc/pmc.hpp>

#include "fill_weights.hpp"

namespace {

using T = pmc::bf16;

double gib(double bytes) { return bytes / (1ull << 30); }
double max_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

/// Writes a random bf16 checkpoint of architecture `c` to `dir`: config.json, one shard a block and a last one for
/// the embeddings, the final norm and the head, and model.safetensors.index.json; one shard in memory at a time.
void write_checkpoint(const std::filesystem::path& dir, const pmc::llama::Config& c) {
  namespace io = pmc::io;
  std::filesystem::create_directories(dir);
  auto shape_model = pmc::llama::Model<pmc::llama::dynamic, T>::unallocated(c, false);
  const auto params = shape_model.named_parameters();
  const int shards = c.n_layers + 1;
  nlohmann::json weight_map = nlohmann::json::object();
  std::uint64_t total = 0, seed = 0x9e3779b97f4a7c15ull;
  for (int s = 0; s < shards; ++s) {
    const std::string prefix = "model.layers." + std::to_string(s) + ".";
    std::vector<pmc::Tensor<T, pmc::Cpu>> keep;
    std::vector<io::SafetensorsEntry> entries;
    for (const auto& p : params) {
      const bool in_block = p.name.rfind("model.layers.", 0) == 0;
      if (s < c.n_layers ? p.name.rfind(prefix, 0) != 0 : in_block) continue;
      auto t = pmc::Tensor<T, pmc::Cpu>::empty(p.var.shape());
      pmc::bench::fill_tensor(t, 0.02f, seed += 0x632be59bd9b4e019ull);
      entries.push_back(io::tensor_entry(p.name, t));
      keep.push_back(std::move(t));
      total += static_cast<std::uint64_t>(keep.back().numel()) * sizeof(T);
      weight_map[p.name] = io::shard_file_name(s + 1, shards);
    }
    io::write_safetensors(dir / io::shard_file_name(s + 1, shards), entries);
    std::printf("\rwrote shard %d of %d", s + 1, shards);
    std::fflush(stdout);
  }
  const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  io::write_file_atomic(dir / io::kSafetensorsIndexFile, index.dump(2) + "\n");
  io::write_hf_config(dir / "config.json", pmc::llama::hf_from_config(c, "bfloat16"));
  std::printf("\n%s: %s in bf16, %.2f GiB in %d shards\n", dir.string().c_str(), pmc::llama::describe(c).c_str(),
              gib(static_cast<double>(total)), shards);
}

}  // namespace

int main(int argc, char** argv) try {
  using clock = std::chrono::steady_clock;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--write-checkpoint") {
    PMC_CHECK(args.size() >= 2, "--write-checkpoint needs a folder");
    write_checkpoint(args[1], pmc::llama::architecture_of(args.size() > 2 ? args[2] : "llama_13b"));
    return 0;
  }
  std::string checkpoint;
  if (!args.empty() && args[0] == "--checkpoint") {
    PMC_CHECK(args.size() >= 2, "--checkpoint needs a folder");
    checkpoint = args[1];
    args.erase(args.begin(), args.begin() + 2);
  } else if (!args.empty()) {
    args.erase(args.begin());  // the config name, read below
  }
  const std::string name = checkpoint.empty() ? (argc > 1 ? argv[1] : "llama_13b") : checkpoint;
  const std::string format = args.size() > 0 ? args[0] : "q8_0";
  const int items = args.size() > 1 ? std::stoi(args[1]) : 3;
  const std::int64_t context = args.size() > 2 ? std::stoll(args[2]) : 128;
  PMC_CHECK(format == "q8_0" || format == "q4_0", "format must be q8_0 or q4_0, got '", format, "'");
  PMC_CHECK(items >= 1 && context >= 1, "items and context tokens must be positive");
  const pmc::llama::Config c = pmc::llama::architecture_of(name);
  const auto quant = pmc::llama::parse_base_quant(format, "format");

  const auto t0 = clock::now();
  auto model = pmc::llama::Model<pmc::llama::dynamic, T>::unallocated(c, /*trainable=*/false);
  if (!checkpoint.empty()) {
    model = pmc::llama::load_model_quantized<T>(checkpoint, quant);
  } else {
    std::uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (const auto& p : model.named_parameters()) {  // everything but the projections, in bf16
      if (p.name.find("_proj.") != std::string::npos) continue;
      auto t = pmc::Tensor<T, pmc::Cpu>::empty(p.var.shape());
      pmc::bench::fill_tensor(t, 0.02f, seed += 0x632be59bd9b4e019ull);
      p.var.set_value(t);
    }
    model.quantize_base_from(quant, [&](int layer, pmc::llama::Projection pr, const pmc::Tensor<T, pmc::Cpu>& w) {
      pmc::bench::fill_tensor(w, 0.02f, 0x12345ull + static_cast<std::uint64_t>(layer * 7 + static_cast<int>(pr)) * 0x632be59bd9b4e019ull);
    });
  }
  const double build_s = std::chrono::duration<double>(clock::now() - t0).count();
  const double weights = static_cast<double>(pmc::Allocator<pmc::Cpu>::live_bytes());
  std::printf("%s (%s): %lld parameters, projections in %s; %s in %.1f s; weights %.2f GiB (quantized %.2f GiB); "
              "peak RSS so far %.2f GiB\n",
              name.c_str(), pmc::llama::describe(c).c_str(), static_cast<long long>(c.parameters()), format.c_str(),
              checkpoint.empty() ? "built" : "loaded", build_s, gib(weights),
              gib(static_cast<double>(model.quantized_bytes())), gib(max_rss_bytes()));

  // items: a context of `context` tokens and four options of 4 to 7 tokens each
  const int options = 4;
  std::int64_t longest = 0;
  double score_s = 0;
  pmc::Allocator<pmc::Cpu>::reset_peak_bytes();
  for (int i = 0; i < items; ++i) {
    std::vector<std::int32_t> ctx(static_cast<std::size_t>(context));
    for (std::int64_t j = 0; j < context; ++j) ctx[static_cast<std::size_t>(j)] = static_cast<std::int32_t>((j * 7919 + i * 104729) % (c.vocab_size - 3) + 3);
    ctx[0] = 1;
    std::vector<std::vector<std::int32_t>> conts;
    for (int o = 0; o < options; ++o) {
      std::vector<std::int32_t> cont;
      for (int j = 0; j < 4 + o; ++j) cont.push_back(static_cast<std::int32_t>((o * 31 + j * 17 + i) % (c.vocab_size - 3) + 3));
      longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(cont.size()));
      conts.push_back(std::move(cont));
    }
    const auto s0 = clock::now();
    const auto scores = pmc::eval::score_continuations(model, std::span<const std::int32_t>(ctx), conts, options);
    const double s = std::chrono::duration<double>(clock::now() - s0).count();
    score_s += s;
    int best = 0;
    for (int o = 1; o < options; ++o)
      if (scores[static_cast<std::size_t>(o)].mean > scores[static_cast<std::size_t>(best)].mean) best = o;
    std::printf("item %d: %lld context tokens, %d options scored in %.1f s (best %d, mean log-prob %.3f)\n", i,
                static_cast<long long>(context), options, s, best, scores[static_cast<std::size_t>(best)].mean);
  }
  // the plan of the scoring batch: options × (context + longest option − 1) positions
  pmc::llama::PlanOptions po;
  po.training = false;
  po.dtype = pmc::llama::PlanDtype::bf16;
  po.base_quant = quant;
  po.batch = options;
  po.seq = context + longest - 1;
  const auto plan = pmc::llama::plan_memory(c, po);
  const double peak = static_cast<double>(pmc::Allocator<pmc::Cpu>::peak_bytes());
  std::printf("scoring: %.1f s an item (%d items)\n", score_s / items, items);
  std::printf("allocator peak %.3f GiB; pmc plan --inference --dtype bf16 --weights %s --batch %d --seq %lld: %.3f GiB "
              "(weights %.3f, activations %.3f); peak / plan %.4f\n",
              gib(peak), format.c_str(), options, static_cast<long long>(po.seq), gib(static_cast<double>(plan.total_bytes())),
              gib(static_cast<double>(plan.weight_bytes)), gib(static_cast<double>(plan.activation_bytes)),
              peak / static_cast<double>(plan.total_bytes()));
  std::printf("peak resident memory (RSS) %.3f GiB; RSS / plan %.4f\n", gib(max_rss_bytes()),
              max_rss_bytes() / static_cast<double>(plan.total_bytes()));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "quant_eval_memory_bench: %s\n", e.what());
  return 1;
}
