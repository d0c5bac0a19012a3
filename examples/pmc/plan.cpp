// SPDX-License-Identifier: MIT
// `pmc plan`: the memory a configuration needs for training or inference, before anything is allocated.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>
#include <pmc/models/llama/memory_plan.hpp>
#include <pmc/models/llama/checkpoint.hpp>

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

const pmc::cli::Command plan_command{
    "plan", "Bytes for weights, gradients, optimizer state and activations of a config", [](CLI::App& app) {
      struct Opts {
        std::string model, dtype = "fp32", optimizer = "adamw", recompute = "none";
        std::int64_t batch = 1, seq = 512;
        bool json = false, inference = false;
      };
      auto o = std::make_shared<Opts>();
      app.add_option("--model", o->model, "a config name (" + pmc::llama::supported_config_names() + "), a config.json or a model folder")->required();
      app.add_option("--dtype", o->dtype, "fp32 or bf16 (bf16 weights with fp32 master weights)")
          ->check(CLI::IsMember({"fp32", "bf16"}));
      app.add_option("--batch", o->batch, "sequences per step")->check(CLI::PositiveNumber);
      app.add_option("--seq", o->seq, "tokens per sequence")->check(CLI::PositiveNumber);
      app.add_option("--optimizer", o->optimizer, "adamw, sgd or none")->check(CLI::IsMember({"adamw", "sgd", "none"}));
      app.add_option("--recompute", o->recompute,
                     "activation recompute: none, or full (every block keeps only its input; pretrain --recompute)")
          ->check(CLI::IsMember({"none", "full"}));
      app.add_flag("--inference", o->inference, "plan a forward with a KV cache instead of a training step");
      app.add_flag("--json", o->json, "print JSON");
      return [o]() {
        using namespace pmc::llama;
        const Config c = pmc::llama::architecture_of(o->model);
        PlanOptions po;
        po.dtype = o->dtype == "bf16" ? PlanDtype::bf16 : PlanDtype::fp32;
        po.batch = o->batch;
        po.seq = o->seq;
        po.optimizer = o->optimizer == "adamw" ? PlanOptimizer::adamw
                       : o->optimizer == "sgd" ? PlanOptimizer::sgd
                                               : PlanOptimizer::none;
        po.training = !o->inference;
        po.recompute = o->recompute == "full";
        const MemoryPlan p = plan_memory(c, po);
        if (o->json) {
          nlohmann::json j{{"model", o->model},           {"dtype", o->dtype},
                           {"batch", o->batch},           {"seq", o->seq},
                           {"optimizer", o->optimizer},   {"training", po.training},
                           {"recompute", o->recompute},
                           {"parameters", p.parameters},  {"weight_bytes", p.weight_bytes},
                           {"master_bytes", p.master_bytes}, {"gradient_bytes", p.gradient_bytes},
                           {"optimizer_bytes", p.optimizer_bytes}, {"activation_bytes", p.activation_bytes},
                           {"total_bytes", p.total_bytes()}};
          std::printf("%s\n", j.dump(2).c_str());
          return 0;
        }
        const std::string what = po.training ? "training with " + o->optimizer +
                                                   (po.recompute ? ", activation recompute" : "")
                                             : "inference";
        std::printf("model %s (%s), %s, batch %lld x seq %lld, %s\n", o->model.c_str(), describe(c).c_str(),
                    o->dtype.c_str(), static_cast<long long>(o->batch), static_cast<long long>(o->seq), what.c_str());
        std::printf("  parameters  %15lld\n", static_cast<long long>(p.parameters));
        std::printf("  weights     %15s\n", human(p.weight_bytes).c_str());
        if (po.training) {
          std::printf("  master      %15s\n", human(p.master_bytes).c_str());
          std::printf("  gradients   %15s\n", human(p.gradient_bytes).c_str());
          std::printf("  optimizer   %15s\n", human(p.optimizer_bytes).c_str());
        }
        std::printf("  activations %15s\n", human(p.activation_bytes).c_str());
        std::printf("  total       %15s\n", human(p.total_bytes()).c_str());
        return 0;
      };
    }};

}  // namespace
