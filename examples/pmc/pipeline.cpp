// SPDX-License-Identifier: MIT
// `pmc pipeline`: base → knowledge injection → instruction tuning → evaluation, plus the paper's ablation
// (tuning without injection), with a report folder. With no arguments it runs on the embedded default.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <pmc/data/corpus.hpp>
#include <pmc/data/instruction.hpp>
#include <pmc/eval/benchmarks.hpp>
#include <pmc/eval/scoring.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/eval/statistics.hpp>
#include <pmc/eval/subset.hpp>
#include <pmc/tokenizer/bpe_trainer.hpp>

#include "command.hpp"
#include "data_parallel.hpp"
#include "demo_data.hpp"
#include "inference.hpp"
#include "loss_plot.hpp"
#include "report.hpp"
#include "training.hpp"

namespace {

namespace fs = std::filesystem;
using pmc::cli::TrainArgs;

/// Everything the pipeline needs; the defaults are the embedded demo. A JSON config file may set any of
/// these keys (stage blocks "inject" and "tune" take the training keys seq_len, batch, grad_accum, steps,
/// epochs, lr, min_lr, warmup, weight_decay, clip; "tune" also pack (examples several to a window), lora_rank,
/// lora_alpha, lora_dropout,
/// lora_targets and base_quant, which make both tuning stages LoRA: they end as adapter folders, evaluated on
/// the model they were tuned from).
struct PipelineConfig {
  std::string out = "pmc-pipeline";
  std::string model = "demo";
  std::uint64_t seed = 1;
  int vocab_size = 768;
  std::vector<std::string> corpus, instruct, eval_data;  // empty: the embedded demo data
  std::string eval_benchmark = "mcq";
  std::int64_t eval_limit = 0;
  std::string eval_precision = "fp32";  // the weights' type when evaluating: fp32, or bf16 (half the memory)
  std::string device = "cpu";  // training stages and evaluation: cpu, or cuda
  TrainArgs inject, tune;

  PipelineConfig() {
    inject.seq_len = 64;
    inject.batch = 16;
    inject.epochs = 24;
    inject.lr = 3e-3;
    inject.min_lr = 3e-4;
    inject.eval_fraction = 0;
    tune.seq_len = 128;
    tune.batch = 16;
    tune.epochs = 12;
    tune.lr = 5e-4;
    tune.min_lr = 5e-5;
    tune.eval_fraction = 0;
  }
};

void read_training_block(const nlohmann::json& j, TrainArgs& a, const std::string& where, bool lora_allowed) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& k = it.key();
    const auto& v = it.value();
    if (k == "seq_len") a.seq_len = v.get<std::int64_t>();
    else if (k == "batch") a.batch = v.get<std::int64_t>();
    else if (k == "grad_accum") a.grad_accum = v.get<std::int64_t>();
    else if (k == "steps") a.steps = v.get<std::int64_t>(), a.epochs = 0;
    else if (k == "epochs") a.epochs = v.get<double>(), a.steps = 0;
    else if (k == "lr") a.lr = v.get<double>();
    else if (k == "min_lr") a.min_lr = v.get<double>();
    else if (k == "warmup") a.warmup = v.get<std::int64_t>();
    else if (k == "weight_decay") a.weight_decay = v.get<double>();
    else if (k == "clip") a.clip = v.get<double>();
    else if (k == "recompute") {
      PMC_CHECK(v.is_boolean(), where, ": recompute must be true or false");
      a.recompute = v.get<bool>();
    } else if (k == "pack") {
      PMC_CHECK(lora_allowed, where, ": 'pack' packs instruction examples: it is for the tuning stages (the \"tune\" ",
                "block)");
      PMC_CHECK(v.is_boolean(), where, ": pack must be true or false");
      a.pack = v.get<bool>();
    } else if (k == "precision") {
      PMC_CHECK(v.is_string(), where, ": precision must be \"fp32\" or \"bf16\"");
      a.precision = v.get<std::string>();
      PMC_CHECK(a.precision == "fp32" || a.precision == "bf16", where, ": precision must be \"fp32\" or \"bf16\", got \"",
                a.precision, "\"");
    } else if (k == "lora_rank" || k == "lora_alpha" || k == "lora_dropout" || k == "lora_targets" ||
               k == "base_quant") {
      PMC_CHECK(lora_allowed, where, ": '", k, "': LoRA is for the tuning stages (the \"tune\" block); injection ",
                "trains the whole model, which the tuning stages start from");
      if (k == "lora_rank") {
        PMC_CHECK(v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= 65536, where,
                  ": lora_rank must be an integer in [0, 65536] (0: full tuning), got ", v.dump());
        a.lora_rank = v.get<int>();
      } else if (k == "lora_alpha") {
        PMC_CHECK(v.is_number() && v.get<double>() > 0, where, ": lora_alpha must be a positive number, got ", v.dump());
        a.lora_alpha = v.get<double>();
      } else if (k == "lora_dropout") {
        PMC_CHECK(v.is_number() && v.get<double>() >= 0 && v.get<double>() < 1, where,
                  ": lora_dropout must be in [0, 1), got ", v.dump());
        a.lora_dropout = v.get<double>();
      } else if (k == "lora_targets") {
        PMC_CHECK(v.is_string(), where, ": lora_targets must be a string such as \"q,v\" or \"all\", got ", v.dump());
        a.lora_targets = v.get<std::string>();
        (void)pmc::llama::parse_lora_targets(a.lora_targets, where + ": lora_targets");
      } else {
        PMC_CHECK(v.is_string(), where, ": base_quant must be \"none\", \"int8\" or \"nf4\", got ", v.dump());
        a.base_quant = v.get<std::string>();
        (void)pmc::llama::parse_base_quant(a.base_quant, where + ": base_quant");
      }
    } else pmc::fail(where, ": unknown training key '", k, "'");
  }
}

PipelineConfig read_config(const fs::path& path) {
  PipelineConfig c;
  std::ifstream in(path);
  PMC_CHECK(in.good(), path.string(), ": cannot open the pipeline config");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    pmc::fail(path.string(), ": malformed JSON: ", e.what());
  }
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const auto& k = it.key();
      const auto& v = it.value();
      if (k == "out") c.out = v.get<std::string>();
      else if (k == "model") c.model = v.get<std::string>();
      else if (k == "seed") c.seed = v.get<std::uint64_t>();
      else if (k == "vocab_size") c.vocab_size = v.get<int>();
      else if (k == "corpus") c.corpus = v.get<std::vector<std::string>>();
      else if (k == "instruct") c.instruct = v.get<std::vector<std::string>>();
      else if (k == "eval_data") c.eval_data = v.get<std::vector<std::string>>();
      else if (k == "eval_benchmark") c.eval_benchmark = v.get<std::string>();
      else if (k == "eval_limit") c.eval_limit = v.get<std::int64_t>();
      else if (k == "eval_precision") {
        c.eval_precision = v.get<std::string>();
        PMC_CHECK(c.eval_precision == "fp32" || c.eval_precision == "bf16", path.string(),
                  ": eval_precision must be \"fp32\" or \"bf16\", got \"", c.eval_precision, "\"");
      }
      else if (k == "device") {
        c.device = v.get<std::string>();
        PMC_CHECK(c.device == "cpu" || c.device == "cuda", path.string(), ": device must be \"cpu\" or \"cuda\", got \"",
                  c.device, "\"");
      }
      else if (k == "inject") read_training_block(v, c.inject, path.string() + ": inject", false);
      else if (k == "tune") read_training_block(v, c.tune, path.string() + ": tune", true);
      else pmc::fail(path.string(), ": unknown key '", k, "'");
    }
  } catch (const nlohmann::json::exception& e) {
    pmc::fail(path.string(), ": a value has the wrong type: ", e.what());
  }
  return c;
}

bool stage_done(const fs::path& dir) { return fs::exists(dir / "stage.done"); }
void mark_done(const fs::path& dir) { pmc::io::write_file_atomic(dir / "stage.done", "done\n"); }

int run_pipeline(PipelineConfig cfg) {
  const pmc::llama::Config C = pmc::llama::architecture_of(cfg.model);
  const auto t_start = std::chrono::steady_clock::now();
  const fs::path out = cfg.out;
  pmc::io::ensure_directory(out);
  // LoRA tuning (tune.lora_rank > 0): checked before any work; the adapters' size for the report
  const auto tune_lora = pmc::cli::lora_config_of(cfg.tune);
  const std::int64_t tune_trainable = tune_lora ? pmc::llama::lora_parameter_count(C, *tune_lora) : C.parameters();
  std::string tuning = "full (all " + std::to_string(C.parameters()) + " parameters)";
  if (tune_lora) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "LoRA rank %d, alpha %g, dropout %g, targets %s, base %s (%lld trainable parameters, %.2f%%)",
                  tune_lora->rank, tune_lora->alpha, tune_lora->dropout, cfg.tune.lora_targets.c_str(),
                  cfg.tune.base_quant.c_str(), static_cast<long long>(tune_trainable),
                  100.0 * static_cast<double>(tune_trainable) / static_cast<double>(C.parameters()));
    tuning = buf;
  }
  std::printf("pmc pipeline: model %s on %s, output in %s\n", cfg.model.c_str(), cfg.device.c_str(), out.string().c_str());
  const bool on_gpu = pmc::cli::wants_cuda(cfg.device);
#if !defined(PMC_CLI_WITH_CUDA)
  if (on_gpu) pmc::cli::fail_without_cuda();  // before any work
#endif

  // 1. data
  if (cfg.corpus.empty() || cfg.instruct.empty() || cfg.eval_data.empty()) {
    const auto files = pmc::cli::demo_data::write(out / "data", cfg.seed + 1233);
    if (cfg.corpus.empty()) cfg.corpus = {files.corpus.string()};
    if (cfg.instruct.empty()) cfg.instruct = {files.instruct.string()};
    if (cfg.eval_data.empty()) cfg.eval_data = {files.heldout.string()}, cfg.eval_benchmark = "mcq";
    std::printf("[1/7] data: embedded demo (%zu facts) written to %s\n", pmc::cli::demo_data::facts().size(),
                (out / "data").string().c_str());
  }

  // 2. tokenizer, trained by pmc on the corpus and the instruction and question texts
  const fs::path tok_path = out / "tokenizer.model";
  if (!fs::exists(tok_path)) {
    std::vector<std::string> lines;
    for (const auto& f : cfg.corpus)
      for (auto& d : pmc::data::read_documents(f)) lines.push_back(std::move(d));
    for (const auto& f : cfg.instruct)
      for (const auto& r : pmc::data::read_instruction_jsonl(f)) {
        lines.push_back(pmc::eval::format_pmc_prompt(r.instruction, r.input));
        lines.push_back(r.output);
      }
    pmc::tokenizer::BpeTrainerOptions to;
    to.vocab_size = cfg.vocab_size;
    pmc::tokenizer::save_bpe_model(pmc::tokenizer::train_bpe(lines, to), tok_path);
  }
  const auto tok = pmc::cli::load_tokenizer(tok_path);
  std::printf("[2/7] tokenizer: %d pieces (%s)\n", tok.vocab_size(), tok_path.string().c_str());

  // 3. base model
  const fs::path base = out / "base";
  if (!stage_done(base)) {
    pmc::llama::Model<pmc::llama::dynamic, float> m(C, false);
    m.init_random(cfg.seed, 0.02f);
    pmc::llama::save_hf(m, base);
    mark_done(base);
  }
  std::printf("[3/7] base: random %s weights (%lld parameters)\n", cfg.model.c_str(),
              static_cast<long long>(C.parameters()));
  std::printf("      instruction tuning: %s\n", tuning.c_str());

  // 4-6. training stages
  auto corpus_docs = [&](const pmc::tokenizer::Tokenizer& t) {
    std::vector<fs::path> files(cfg.corpus.begin(), cfg.corpus.end());
    return pmc::cli::PreparedData{pmc::data::tokenize_documents(files, t), {}};
  };
  auto instruct_docs = [&](const pmc::tokenizer::Tokenizer& t) {
    pmc::cli::PreparedData d;
    for (const auto& f : cfg.instruct)
      for (const auto& r : pmc::data::read_instruction_jsonl(f)) {
        auto ex = pmc::data::tokenize_example(r, t);
        d.docs.push_back(std::move(ex.ids));
        d.masks.push_back(std::move(ex.predict));
      }
    return d;
  };
  struct Stage {
    const char* name;
    const char* init;
    bool instruct;
  };
  const Stage stages[] = {{"inject", "base", false}, {"inject_tune", "inject", true}, {"tune_only", "base", true}};
  int k = 4;
  for (const auto& s : stages) {
    const fs::path dir = out / s.name;
    if (!stage_done(dir)) {
      TrainArgs a = s.instruct ? cfg.tune : cfg.inject;
      a.init = (out / s.init).string();
      a.tokenizer = tok_path.string();
      a.out = dir.string();
      a.seed = cfg.seed;
      a.device = cfg.device;
      std::printf("[%d/7] %s: training from %s\n", k, s.name, s.init);
      std::fflush(stdout);
      const auto packing = s.instruct ? pmc::data::Packing::doc_start : pmc::data::Packing::plain;
      const pmc::cli::PrepareFn prepare =
          s.instruct ? pmc::cli::PrepareFn(instruct_docs) : pmc::cli::PrepareFn(corpus_docs);
      const int rc = on_gpu ? pmc::cli::run_training_on_gpu(a, packing, prepare)
                            : pmc::cli::run_training_on_cpu(a, packing, prepare);
      if (rc != 0) {
        std::printf("pmc pipeline: stage %s was interrupted; run the same command again to resume it\n", s.name);
        return rc;
      }
      mark_done(dir);
    } else {
      std::printf("[%d/7] %s: already done\n", k, s.name);
    }
    ++k;  // each of the three training stages is one step: inject 4, inject_tune 5, tune_only 6
  }

  // 7. evaluation of the four models on the held-out questions
  const auto bench = pmc::eval::parse_benchmark(cfg.eval_benchmark);
  std::vector<fs::path> eval_files(cfg.eval_data.begin(), cfg.eval_data.end());
  auto loaded = pmc::eval::load_benchmark(bench, eval_files);
  // eval_limit: a seeded sample stratified by answer label (and subject), as `pmc eval --limit`
  const auto subset =
      pmc::eval::keep_stratified_sample(loaded, static_cast<std::size_t>(std::max<std::int64_t>(0, cfg.eval_limit)), cfg.seed);
  if (subset.taken < subset.total) std::printf("[7/7] evaluation on %s\n", subset.describe().c_str());
  struct Row {
    std::string name, what;
    pmc::eval::EvalReport report;
  };
  std::vector<Row> rows;
  struct Evaluated {
    const char* name;
    const char* what;
    const char* lora_base;  // with LoRA tuning, the model the stage's adapter was tuned on (the stage's init)
  };
  const Evaluated models[] = {{"base", "random initialization", nullptr},
                              {"inject", "knowledge injection", nullptr},
                              {"inject_tune", tune_lora ? "injection + instruction tuning (LoRA)" : "injection + instruction tuning", "inject"},
                              {"tune_only", tune_lora ? "instruction tuning only (ablation, LoRA)" : "instruction tuning only (ablation)", "base"}};
  std::printf("[7/7] evaluation: %zu held-out %s items, likelihood scorer (mean log-probability per token)\n", loaded.items.size(),
              cfg.eval_benchmark.c_str());
  for (const auto& [name, what, lora_base] : models) {
    pmc::eval::EvalOptions eo;
    eo.benchmark = bench;
    eo.choice = pmc::eval::ScoreChoice::mean;  // length-normalized: answers differ widely in token count
    // a LoRA-tuned stage's folder is an adapter: evaluated on the model it was tuned from, not merged
    const bool adapter = lora_base && pmc::llama::is_adapter_folder(out / name);
    const pmc::cli::ModelTarget target{(out / (adapter ? lora_base : name)).string(), cfg.device, cfg.eval_precision,
                                       tok_path.string(), adapter ? (out / name).string() : std::string()};
    const auto scorer = pmc::eval::Scorer::likelihood;
    auto rep = on_gpu ? pmc::cli::evaluate_on_gpu(target, scorer, tok, loaded.items, eo)
                      : pmc::cli::evaluate_on_cpu(target, scorer, tok, loaded.items, eo);
    rep.skipped.insert(rep.skipped.end(), loaded.skipped.begin(), loaded.skipped.end());
    rows.push_back({name, what, std::move(rep)});
  }

  // report
  const fs::path rdir = out / "report";
  pmc::io::ensure_directory(rdir);
  nlohmann::json metrics;
  std::vector<std::vector<std::string>> table;
  std::printf("\n%-12s %-38s %9s %17s %6s\n", "model", "stages", "accuracy", "95% interval", "n");
  for (const auto& r : rows) {
    const auto& t = r.report.overall;
    const auto iv = t.interval();
    char acc[32], ci[48];
    std::snprintf(acc, sizeof acc, "%.1f%%", 100 * t.accuracy());
    std::snprintf(ci, sizeof ci, "[%.1f%%, %.1f%%]", 100 * iv.low, 100 * iv.high);
    std::printf("%-12s %-38s %9s %17s %6lld\n", r.name.c_str(), r.what.c_str(), acc, ci, static_cast<long long>(t.n));
    table.push_back({r.name, r.what, acc, ci, std::to_string(t.correct) + "/" + std::to_string(t.n)});
    metrics["eval"][r.name] = pmc::eval::to_json(r.report, false);
  }
  // paired tests on the same items: McNemar's exact test for each pair of models
  std::vector<std::vector<std::string>> paired;
  std::printf("\n%-26s %9s %9s %10s\n", "paired test (McNemar)", "only A", "only B", "p");
  const auto correct_of = [](const pmc::eval::EvalReport& rep) {
    std::vector<bool> c;
    for (const auto& it : rep.items) c.push_back(it.correct);
    return c;
  };
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t k = i + 1; k < rows.size(); ++k) {
      const auto& ra = rows[k].name == "inject_tune" ? rows[k] : rows[i];  // inject_tune first when it is in the pair
      const auto& rb = rows[k].name == "inject_tune" ? rows[i] : rows[k];
      const auto t = pmc::eval::paired_test(correct_of(ra.report), correct_of(rb.report));
      char p[32];
      std::snprintf(p, sizeof p, "%.3g", t.p_value);
      const std::string pair = ra.name + " vs " + rb.name;
      std::printf("%-26s %9lld %9lld %10s\n", pair.c_str(), static_cast<long long>(t.only_a),
                  static_cast<long long>(t.only_b), p);
      paired.push_back({pair, std::to_string(t.only_a), std::to_string(t.only_b), p});
      metrics["paired_tests"].push_back({{"a", ra.name}, {"b", rb.name}, {"n", t.n}, {"only_a", t.only_a},
                                         {"only_b", t.only_b}, {"p_value", t.p_value}, {"test", "mcnemar_exact"}});
    }
  metrics["eval_items"] = {{"items", subset.taken}, {"of", subset.total}, {"description", subset.describe()}};
  metrics["eval_precision"] = cfg.eval_precision;
  const double chance = loaded.items.empty() ? 0 : 1.0 / static_cast<double>(loaded.items[0].options.size());
  std::vector<pmc::cli::PlotRun> stage_runs;
  for (const auto& s : stages)
    if (fs::exists(out / s.name / "metrics.jsonl")) stage_runs.push_back({s.name, out / s.name / "metrics.jsonl"});
  const auto loss = pmc::cli::metric_series(stage_runs, "loss", 1, false);
  for (const auto& series : loss) metrics["train"][series.name]["loss"] = series.y;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  metrics["seconds"] = secs;
  metrics["model"] = cfg.model;
  metrics["parameters"] = C.parameters();
  metrics["chance_accuracy"] = chance;
  metrics["tuning"] = {{"method", tune_lora ? "lora" : "full"},
                       {"trainable_parameters", tune_trainable},
                       {"description", tuning}};
  if (tune_lora)
    metrics["tuning"]["lora"] = {{"rank", tune_lora->rank},
                                 {"alpha", tune_lora->alpha},
                                 {"dropout", tune_lora->dropout},
                                 {"targets", pmc::llama::lora_target_modules(*tune_lora)},
                                 {"base_quant", cfg.tune.base_quant}};
  pmc::io::write_file_atomic(rdir / "metrics.json", metrics.dump(2));
  const std::string plot = pmc::cli::svg_line_plot(loss, "Training loss", "step", pmc::cli::metric_label("loss"));
  pmc::io::write_file_atomic(rdir / "loss.svg", plot);
  char intro[1536];
  std::snprintf(intro, sizeof intro,
                "<p>Model <b>%s</b> (%lld parameters). Instruction tuning: %s%s. Held-out questions: %s (%s), scored by option likelihood (mean log-probability per token); "
                "chance is %.0f%%. Intervals are Wilson 95%%. Run time %.0f s.</p>",
                pmc::cli::html_escape(cfg.model).c_str(), static_cast<long long>(C.parameters()),
                pmc::cli::html_escape(tuning).c_str(),
                tune_lora ? "; each tuning stage is a PEFT adapter folder, evaluated on the model it was tuned from" : "",
                pmc::cli::html_escape(subset.describe()).c_str(), pmc::cli::html_escape(cfg.eval_benchmark).c_str(),
                100 * chance, secs);
  const std::string page = pmc::cli::html_page(
      "pmc pipeline report",
      {intro, "<h2>Accuracy on held-out questions</h2>",
       pmc::cli::html_table({"model", "stages", "accuracy", "95% interval", "correct"}, table),
       "<h2>Paired tests on the same items</h2><p>McNemar's exact test: <i>only A</i> counts the items A answers "
       "correctly and B does not; p is two-sided.</p>",
       pmc::cli::html_table({"A vs B", "only A", "only B", "p"}, paired),
       "<h2>Loss curves</h2>", plot,
       "<p>Files: <a href=\"metrics.json\">metrics.json</a>, <a href=\"loss.svg\">loss.svg</a>; per-step metrics "
       "in each stage's metrics.jsonl.</p>"});
  pmc::io::write_file_atomic(rdir / "index.html", page);
  std::printf("\ninstruction tuning: %s\n", tuning.c_str());
  std::printf("report: %s (%.0f s in all)\n", (rdir / "index.html").string().c_str(), secs);
  return 0;
}

const pmc::cli::Command pipeline_command{
    "pipeline", "base → injection → instruction tuning → evaluation, with a report (no arguments: the embedded demo)",
    [](CLI::App& app) {
      struct Opts {
        std::string config, out, model, device;
        std::uint64_t seed = 0;
        bool seed_set = false;
      };
      auto o = std::make_shared<Opts>();
      app.add_option("--config", o->config, "a JSON pipeline config (see docs/pipeline.md)")->check(CLI::ExistingFile);
      app.add_option("--out", o->out, "output folder (default pmc-pipeline)");
      app.add_option("--model", o->model, "model config: a name (" + pmc::llama::supported_config_names() + ") or a config.json (default demo)");
      app.add_option("--seed", o->seed, "seed")
          ->check(CLI::NonNegativeNumber)
          ->each([o](const std::string&) { o->seed_set = true; });
      pmc::cli::add_device_flag(app, o->device, "train and evaluate on cpu (default) or cuda (a pmc built with CUDA)");
      return [o]() {
        PMC_CHECK(pmc::cli::launched_ranks() == 1, "pmc pipeline runs as one process; start pmc pretrain or pmc instruct "
                  "with mpirun for data-parallel training");
        PipelineConfig cfg = o->config.empty() ? PipelineConfig{} : read_config(o->config);
        if (!o->out.empty()) cfg.out = o->out;
        if (!o->model.empty()) cfg.model = o->model;
        if (!o->device.empty()) cfg.device = o->device;
        if (o->seed_set) cfg.seed = o->seed;
        return run_pipeline(cfg);
      };
    }};

}  // namespace
