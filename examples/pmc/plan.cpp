// SPDX-License-Identifier: MIT
// `pmc plan`: the memory a configuration needs for training or inference, before anything is allocated; per rank
// of data-parallel training (--ranks, --shard), and whether it fits a device (--device-memory).
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>
#include <pmc/models/llama/memory_plan.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/lora_config.hpp>

#include "command.hpp"

namespace {

std::string human(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  return buf;
}

/// "80GiB", "80 GB", "1.5TiB", "512MiB" or a plain number of bytes; binary (KiB, MiB, GiB, TiB) and decimal (kB, MB,
/// GB, TB) units, any case.
std::int64_t parse_bytes(const std::string& text, const std::string& flag) {
  const auto bad = [&](const std::string& why) {
    pmc::fail(flag, ": '", text, "' ", why, " (a number of bytes, or with a unit: 80GiB, 80GB, 512MiB)");
  };
  const char* begin = text.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin) bad("is not a size");
  std::string given(end);
  given.erase(0, given.find_first_not_of(' '));
  std::string unit = given;
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  double scale = 0;
  const std::pair<const char*, double> units[] = {
      {"", 1},          {"b", 1},          {"kib", 1024.0},   {"mib", 1048576.0}, {"gib", 1073741824.0},
      {"tib", 1099511627776.0}, {"kb", 1e3}, {"mb", 1e6},     {"gb", 1e9},        {"tb", 1e12}};
  for (const auto& [name, s] : units)
    if (unit == name) scale = s;
  if (scale == 0) bad("has an unknown unit '" + given + "'");
  const double bytes = v * scale;
  if (!(bytes > 0) || bytes > 9.0e18) bad("is not a positive size");
  return static_cast<std::int64_t>(bytes);
}

const pmc::cli::Command plan_command{
    "plan",
    "Bytes for weights, gradients, optimizer state and activations of a config; every figure is one device's (one "
    "rank's: with --ranks N and --shard, rank 0's, which holds the largest shares)",
    [](CLI::App& app) {
      struct Opts {
        std::string model, dtype = "fp32", optimizer = "adamw", recompute = "none";
        std::string lora_targets = "q,v", base_quant = "none", shard = "none", device_memory, weights;
        std::int64_t batch = 1, seq = 512, ranks = 1;
        int lora_rank = 0;
        double lora_alpha = 16, lora_dropout = 0;
        bool json = false, inference = false;
      };
      auto o = std::make_shared<Opts>();
      app.add_option("--model", o->model, "a config name (" + pmc::llama::supported_config_names() + "), a config.json or a model folder")->required();
      app.add_option("--dtype", o->dtype, "fp32 or bf16 (bf16 weights with fp32 master weights)")
          ->check(CLI::IsMember({"fp32", "bf16"}));
      app.add_option("--batch", o->batch, "sequences per step (per rank with --ranks)")->check(CLI::PositiveNumber);
      app.add_option("--seq", o->seq, "tokens per sequence")->check(CLI::PositiveNumber);
      app.add_option("--optimizer", o->optimizer, "adamw, sgd or none")->check(CLI::IsMember({"adamw", "sgd", "none"}));
      app.add_option("--recompute", o->recompute,
                     "activation recompute: none, or full (every block keeps only its input; pretrain --recompute)")
          ->check(CLI::IsMember({"none", "full"}));
      app.add_option("--lora-rank", o->lora_rank,
                     "plan LoRA training of adapters of this rank on a frozen base (0: full training)")
          ->check(CLI::Range(0, 65536));
      app.add_option("--lora-alpha", o->lora_alpha, "LoRA's alpha (does not change the plan)")
          ->check(pmc::cli::positive_number());
      app.add_option("--lora-dropout", o->lora_dropout,
                     "dropout on the adapters' input (its masks and dropped inputs are activations)")
          ->check(pmc::cli::finite_number(0, 0.99));
      app.add_option("--lora-targets", o->lora_targets,
                     "projections given adapters: a list of q, k, v, o, gate, up, down, or all, attention, mlp");
      app.add_option("--base-quant", o->base_quant,
                     "the frozen base's projections under LoRA: none (the compute dtype), int8 or nf4 (QLoRA)")
          ->check(CLI::IsMember({"none", "int8", "nf4"}));
      app.add_option("--ranks", o->ranks,
                     "data-parallel ranks (devices) training together; the figures are one rank's")
          ->check(CLI::Range(std::int64_t{1}, pmc::llama::kMaxPlanRanks));
      app.add_option("--shard", o->shard,
                     "what the ranks shard (per parameter tensor, rank 0 holding the largest share): none (every "
                     "rank holds everything), optimizer (ZeRO-1: fp32 masters and optimizer state), gradients "
                     "(ZeRO-2: also the fp32 gradient accumulator) or full (ZeRO-3: also the weights, gathered "
                     "block by block; needs --recompute full); adds the communication buffers")
          ->check(CLI::IsMember({"none", "optimizer", "gradients", "full"}));
      app.add_option("--device-memory", o->device_memory,
                     "one device's memory, to say whether a rank's total fits: bytes, or 80GiB, 80GB, 512MiB");
      app.add_flag("--inference", o->inference, "plan a forward with a KV cache instead of a training step");
      app.add_option("--weights", o->weights,
                     "with --inference: the weights as pmc eval|generate --weights holds them: fp32, bf16, or q8_0 / "
                     "q4_0 (llama.cpp's blocks for the seven projections of every block; embeddings, norms and head in "
                     "--dtype)")
          ->check(CLI::IsMember({"fp32", "bf16", "q8_0", "q4_0"}));
      app.add_flag("--json", o->json, "print JSON");
      return [o]() {
        using namespace pmc::llama;
        const Config c = pmc::llama::architecture_of(o->model);
        PMC_CHECK(o->weights.empty() || o->inference, "--weights ", o->weights,
                  " plans inference (pmc eval|generate --weights); add --inference (a quantized frozen base for LoRA ",
                  "training is --base-quant)");
        if (o->weights == "bf16") o->dtype = "bf16";
        PMC_CHECK(o->weights != "fp32" || o->dtype == "fp32", "--weights fp32 contradicts --dtype bf16");
        PlanOptions po;
        po.dtype = o->dtype == "bf16" ? PlanDtype::bf16 : PlanDtype::fp32;
        po.batch = o->batch;
        po.seq = o->seq;
        po.optimizer = o->optimizer == "adamw" ? PlanOptimizer::adamw
                       : o->optimizer == "sgd" ? PlanOptimizer::sgd
                                               : PlanOptimizer::none;
        po.training = !o->inference;
        po.recompute = o->recompute == "full";
        po.ranks = o->ranks;
        po.shard = o->shard == "optimizer"   ? PlanShard::optimizer
                   : o->shard == "gradients" ? PlanShard::gradients
                   : o->shard == "full"      ? PlanShard::full
                                             : PlanShard::none;
        PMC_CHECK(po.shard == PlanShard::none || po.training, "--shard ", o->shard,
                  " shards training state; --inference has none (each rank holds the whole model)");
        const std::int64_t device_memory =
            o->device_memory.empty() ? 0 : parse_bytes(o->device_memory, "--device-memory");
        PMC_CHECK(o->base_quant == "none" || o->lora_rank > 0, "--base-quant ", o->base_quant,
                  " quantizes LoRA's frozen base: give --lora-rank");
        if (o->lora_rank > 0) {
          PMC_CHECK(po.training, "--lora-rank plans LoRA training; --inference runs a model (a loaded adapter adds ",
                    "only its own weights)");
          LoraConfig lora;
          lora.rank = o->lora_rank;
          lora.alpha = o->lora_alpha;
          lora.dropout = o->lora_dropout;
          lora.targets = parse_lora_targets(o->lora_targets, "--lora-targets");
          po.lora = lora;
          po.base_quant = parse_base_quant(o->base_quant);
        }
        if (o->weights == "q8_0" || o->weights == "q4_0") po.base_quant = parse_base_quant(o->weights, "--weights");
        const MemoryPlan p = plan_memory(c, po);
        if (o->json) {
          nlohmann::json j{{"model", o->model},           {"dtype", o->dtype},
                           {"batch", o->batch},           {"seq", o->seq},
                           {"optimizer", o->optimizer},   {"training", po.training},
                           {"recompute", o->recompute},
                           {"weights", o->weights.empty() ? o->dtype : o->weights},
                           {"parameters", p.parameters},  {"trainable_parameters", p.trainable},
                           {"weight_bytes", p.weight_bytes},
                           {"master_bytes", p.master_bytes}, {"gradient_bytes", p.gradient_bytes},
                           {"optimizer_bytes", p.optimizer_bytes}, {"activation_bytes", p.activation_bytes},
                           {"ranks", po.ranks},           {"shard", o->shard},
                           {"shard_trainable_parameters", p.shard_trainable},
                           {"communication_bytes", p.communication_bytes},
                           {"total_bytes", p.total_bytes()}};
          if (device_memory > 0) {
            j["device_memory_bytes"] = device_memory;
            j["fits"] = p.total_bytes() <= device_memory;
            j["headroom_bytes"] = device_memory - p.total_bytes();
          }
          if (po.lora)
            j["lora"] = {{"rank", po.lora->rank}, {"alpha", po.lora->alpha}, {"dropout", po.lora->dropout},
                         {"targets", lora_target_modules(*po.lora)}, {"base_quant", o->base_quant}};
          std::printf("%s\n", j.dump(2).c_str());
          return 0;
        }
        std::string what = po.training ? "training with " + o->optimizer +
                                             (po.recompute ? ", activation recompute" : "")
                                       : "inference" + (po.base_quant != BaseQuant::none
                                                            ? ", projections in " + o->weights
                                                            : std::string());
        if (po.lora) {
          std::string targets;
          for (const auto& m : lora_target_modules(*po.lora)) targets += (targets.empty() ? "" : ",") + m;
          what += ", LoRA rank " + std::to_string(po.lora->rank) + " on " + targets + ", base " +
                  (po.base_quant == BaseQuant::none ? o->dtype : o->base_quant);
        }
        if (po.ranks > 1 || po.shard != PlanShard::none)
          what += ", " + std::to_string(po.ranks) + (po.ranks == 1 ? " rank" : " ranks") +
                  (po.shard == PlanShard::none ? std::string(" (replicated)") : ", sharding " + o->shard) +
                  "; per rank";
        std::printf("model %s (%s), %s, batch %lld x seq %lld, %s\n", o->model.c_str(), describe(c).c_str(),
                    o->dtype.c_str(), static_cast<long long>(o->batch), static_cast<long long>(o->seq), what.c_str());
        std::printf("  parameters  %15lld\n", static_cast<long long>(p.parameters));
        if (po.training)
          std::printf("  trainable   %15lld  (%.3g%%)\n", static_cast<long long>(p.trainable),
                      100.0 * static_cast<double>(p.trainable) / static_cast<double>(p.parameters));
        if (po.shard != PlanShard::none)
          std::printf("  shard       %15lld  (rank 0's share of the trainable)\n",
                      static_cast<long long>(p.shard_trainable));
        std::printf("  weights     %15s\n", human(p.weight_bytes).c_str());
        if (po.training) {
          std::printf("  master      %15s\n", human(p.master_bytes).c_str());
          std::printf("  gradients   %15s\n", human(p.gradient_bytes).c_str());
          std::printf("  optimizer   %15s\n", human(p.optimizer_bytes).c_str());
        }
        std::printf("  activations %15s\n", human(p.activation_bytes).c_str());
        if (po.shard != PlanShard::none) std::printf("  communication %13s\n", human(p.communication_bytes).c_str());
        std::printf("  total       %15s\n", human(p.total_bytes()).c_str());
        if (device_memory > 0) {
          const std::int64_t left = device_memory - p.total_bytes();
          std::printf("  device      %15s  %s: %s %s\n", human(device_memory).c_str(),
                      left >= 0 ? "fits" : "does not fit", human(left >= 0 ? left : -left).c_str(),
                      left >= 0 ? "to spare" : "short");
        }
        return 0;
      };
    }};

}  // namespace
