// SPDX-License-Identifier: MIT
// `pmc pipeline`: base → knowledge injection → instruction tuning → evaluation, plus the paper's ablation
// (tuning without injection), with a report folder. With no arguments it runs on the embedded default.
#include <chrono>
#include <ctime>
#include <optional>
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <pmc/data/corpus.hpp>
#include <pmc/data/instruction.hpp>
#include <pmc/data/token_file.hpp>
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
#include "pipeline_report.hpp"
#include "png.hpp"
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
/// the model they were tuned from; both blocks also take eval_fraction and eval_every, the held-out share of
/// their data and how often its loss is measured). "evals" lists evaluation sets ({"benchmark", "data", "limit",
/// "name", "continuation"}; "from": "tune_split" evaluates the split's held-out part); "tune_split" builds tuning
/// records and held-out questions from one MedMCQA file; "corpus_limit" keeps the first N documents of each corpus
/// file; "demo_facts_per_answer" sizes the embedded demo; "init" and "tokenizer" start from an existing model and
/// its tokenizer instead of random weights and a
/// tokenizer trained here. docs/pipeline.md describes every key.
struct EvalSet {
  std::string name, benchmark = "mcq", continuation = "option_text", from;
  std::vector<std::string> data;
  std::int64_t limit = 0;
};

struct TuneSplit {
  std::string benchmark = "medmcqa";
  std::vector<std::string> data;
  std::int64_t tune = 0, heldout = 0;
  std::uint64_t seed = 0;
  bool seed_set = false;
};

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
  std::vector<EvalSet> evals;            // empty: one set of eval_data / eval_benchmark / eval_limit
  std::optional<TuneSplit> tune_split;   // tuning records and held-out questions from one benchmark file
  std::int64_t corpus_limit = 0;         // the first N documents of each corpus file (0: all)
  int demo_facts_per_answer = pmc::cli::demo_data::kDefaultPerAnswer;  // the embedded demo's size
  std::string init, tokenizer;           // an existing model (HF folder) and its tokenizer.model

  PipelineConfig() {
    inject.seq_len = 64;
    inject.batch = 16;
    inject.epochs = 24;
    inject.lr = 3e-3;
    inject.min_lr = 3e-4;
    inject.eval_fraction = 0;
    tune.seq_len = 128;
    tune.batch = 16;
    tune.epochs = 4;
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
    else if (k == "eval_fraction") {
      PMC_CHECK(v.is_number() && v.get<double>() >= 0 && v.get<double>() < 1, where,
                ": eval_fraction must be in [0, 1), got ", v.dump());
      a.eval_fraction = v.get<double>();
    } else if (k == "eval_every") {
      PMC_CHECK(v.is_number_integer() && v.get<std::int64_t>() >= 0, where, ": eval_every must be a step count ≥ 0, got ",
                v.dump());
      a.eval_every = v.get<std::int64_t>();
    }
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

/// A string or a list of strings.
std::vector<std::string> string_list(const nlohmann::json& v) {
  if (v.is_string()) return {v.get<std::string>()};
  return v.get<std::vector<std::string>>();
}

EvalSet read_eval_set(const nlohmann::json& j, const fs::path& path, std::size_t index) {
  const std::string where = path.string() + ": evals[" + std::to_string(index) + "]";
  PMC_CHECK(j.is_object(), where, ": expected an object such as {\"benchmark\": \"medqa\", \"data\": \"test.jsonl\"}");
  EvalSet e;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& k = it.key();
    const auto& v = it.value();
    if (k == "name") e.name = v.get<std::string>();
    else if (k == "benchmark") e.benchmark = v.get<std::string>(), (void)pmc::eval::parse_benchmark(e.benchmark);
    else if (k == "data") {
      e.data = string_list(v);
    } else if (k == "limit") e.limit = v.get<std::int64_t>();
    else if (k == "continuation") {
      e.continuation = v.get<std::string>();
      PMC_CHECK(e.continuation == "option_text" || e.continuation == "pmc_answer", where,
                ": continuation must be \"option_text\" or \"pmc_answer\", got \"", e.continuation, "\"");
    } else if (k == "from") {
      e.from = v.get<std::string>();
      PMC_CHECK(e.from == "tune_split", where, ": \"from\" can only be \"tune_split\" (its held-out part), got \"", e.from,
                "\"");
    } else pmc::fail(where, ": unknown key '", k, "'");
  }
  PMC_CHECK(e.data.empty() != e.from.empty(), where, ": give either \"data\" or \"from\": \"tune_split\"");
  if (!e.from.empty()) e.benchmark = "medmcqa";
  if (e.name.empty()) e.name = e.from.empty() ? e.benchmark : "medmcqa_heldout";
  return e;
}

TuneSplit read_tune_split(const nlohmann::json& j, const fs::path& path) {
  const std::string where = path.string() + ": tune_split";
  PMC_CHECK(j.is_object(), where, ": expected {\"benchmark\": \"medmcqa\", \"data\": ..., \"tune\": N, \"heldout\": M}");
  TuneSplit t;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& k = it.key();
    const auto& v = it.value();
    if (k == "benchmark") {
      t.benchmark = v.get<std::string>();
      PMC_CHECK(t.benchmark == "medmcqa", where, ": only \"medmcqa\" can be split for now, got \"", t.benchmark, "\"");
    } else if (k == "data") {
      t.data = string_list(v);
    } else if (k == "tune") t.tune = v.get<std::int64_t>();
    else if (k == "heldout") t.heldout = v.get<std::int64_t>();
    else if (k == "seed") t.seed = v.get<std::uint64_t>(), t.seed_set = true;
    else pmc::fail(where, ": unknown key '", k, "'");
  }
  PMC_CHECK(!t.data.empty(), where, ": \"data\" names no file");
  return t;
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
      else if (k == "evals") {
        PMC_CHECK(v.is_array(), path.string(), ": evals must be a list of evaluation sets");
        for (std::size_t i = 0; i < v.size(); ++i) c.evals.push_back(read_eval_set(v[i], path, i));
      } else if (k == "tune_split") c.tune_split = read_tune_split(v, path);
      else if (k == "corpus_limit") c.corpus_limit = v.get<std::int64_t>();
      else if (k == "demo_facts_per_answer") {
        PMC_CHECK(v.is_number_integer() && v.get<std::int64_t>() >= 2 && v.get<std::int64_t>() <= 64, path.string(),
                  ": demo_facts_per_answer must be an integer in [2, 64], got ", v.dump());
        c.demo_facts_per_answer = v.get<int>();
      }
      else if (k == "init") c.init = v.get<std::string>();
      else if (k == "tokenizer") c.tokenizer = v.get<std::string>();
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
  for (const auto& e : c.evals)
    PMC_CHECK(e.from.empty() || c.tune_split, path.string(), ": evaluation set '", e.name,
              "' is \"from\": \"tune_split\" but the config has no tune_split");
  return c;
}

bool stage_done(const fs::path& dir) { return fs::exists(dir / "stage.done"); }
void mark_done(const fs::path& dir) { pmc::io::write_file_atomic(dir / "stage.done", "done\n"); }

/// The training keys of a stage block, as the run used them (the report's config section).
nlohmann::json training_json(const TrainArgs& a, bool tune) {
  nlohmann::json j{{"seq_len", a.seq_len},       {"batch", a.batch},           {"grad_accum", a.grad_accum},
                   {"lr", a.lr},                 {"min_lr", a.min_lr},         {"warmup", a.warmup},
                   {"weight_decay", a.weight_decay}, {"clip", a.clip},         {"precision", a.precision},
                   {"recompute", a.recompute},   {"eval_fraction", a.eval_fraction}, {"eval_every", a.eval_every}};
  if (a.steps > 0) j["steps"] = a.steps;
  else j["epochs"] = a.epochs;
  if (tune)
    j.update({{"lora_rank", a.lora_rank}, {"lora_alpha", a.lora_alpha}, {"lora_dropout", a.lora_dropout},
              {"lora_targets", a.lora_targets}, {"base_quant", a.base_quant}});
  return j;
}

/// The effective configuration: every key with the value the run used (defaults and command-line flags applied).
nlohmann::json config_json(const PipelineConfig& c, const std::vector<EvalSet>& evals) {
  nlohmann::json j{{"out", c.out},         {"model", c.model},           {"seed", c.seed},
                   {"vocab_size", c.vocab_size}, {"corpus", c.corpus},   {"instruct", c.instruct},
                   {"eval_precision", c.eval_precision}, {"device", c.device}, {"corpus_limit", c.corpus_limit},
                   {"demo_facts_per_answer", c.demo_facts_per_answer},
                   {"inject", training_json(c.inject, false)}, {"tune", training_json(c.tune, true)}};
  if (!c.init.empty()) j["init"] = c.init;
  if (!c.tokenizer.empty()) j["tokenizer"] = c.tokenizer;
  if (c.tune_split)
    j["tune_split"] = {{"benchmark", c.tune_split->benchmark}, {"data", c.tune_split->data}, {"tune", c.tune_split->tune},
                       {"heldout", c.tune_split->heldout},
                       {"seed", c.tune_split->seed_set ? c.tune_split->seed : c.seed}};
  for (const auto& e : evals) {
    nlohmann::json s{{"name", e.name}, {"benchmark", e.benchmark}, {"data", e.data}, {"limit", e.limit},
                     {"continuation", e.continuation}};
    if (!e.from.empty()) s["from"] = e.from;
    j["evals"].push_back(s);
  }
  return j;
}

int run_pipeline(PipelineConfig cfg) {
  namespace report = pmc::cli::pipeline_report;
  using pmc::cli::html_escape;
  PMC_CHECK(cfg.init.empty() || !cfg.tokenizer.empty(), "pipeline: \"init\" (", cfg.init,
            ") needs \"tokenizer\": the model's own tokenizer.model");
  const pmc::llama::Config C =
      cfg.init.empty() ? pmc::llama::architecture_of(cfg.model) : pmc::llama::read_architecture(cfg.init);
  if (!cfg.init.empty()) cfg.model = cfg.init;
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

  // 1. data. The report's data section: one row per input file (path, role, counts) and notes on how the
  // held-out items were built.
  std::vector<std::vector<std::string>> data_rows;
  std::vector<std::string> data_notes;
  const bool demo = cfg.corpus.empty() || (cfg.instruct.empty() && !cfg.tune_split) ||
                    (cfg.eval_data.empty() && cfg.evals.empty());
  if (demo) {
    namespace demo_data = pmc::cli::demo_data;
    const int per_answer = cfg.demo_facts_per_answer;
    const auto files = demo_data::write(out / "data", cfg.seed + 1233, per_answer);
    if (cfg.corpus.empty()) cfg.corpus = {files.corpus.string()};
    if (cfg.instruct.empty() && !cfg.tune_split) cfg.instruct = {files.instruct.string()};
    if (cfg.eval_data.empty() && cfg.evals.empty()) cfg.eval_data = {files.heldout.string()}, cfg.eval_benchmark = "mcq";
    std::printf("[1/7] data: embedded demo (%zu facts: %zu taught, %zu held out) written to %s\n", files.facts,
                files.taught, files.held_out, (out / "data").string().c_str());
    const auto n = [](auto v) { return std::to_string(v); };
    data_notes.push_back(
        "The embedded demo (examples/pmc/demo_data.hpp, seed " + n(cfg.seed + 1233) + "): a generated table of " +
        n(files.facts) + " facts about fictional diseases and drugs (names made of random syllables, so that no model "
        "knows them beforehand) in 4 categories (first-line treatment, causative organism, deficiency, drug class), "
        "each with 16 real answers (drugs, organisms, nutrients, drug classes); every answer is the answer of " +
        n(per_answer) + " facts (demo_facts_per_answer). Every fact is stated " + n(demo_data::kStatementsPerFact) +
        " times in the injection passages (4 phrasings, shuffled into passages of 3 sentences). Of each answer's " +
        n(per_answer) + " facts, " + n(demo_data::tuned_per_answer(per_answer)) + " are taught by instruction items (" +
        n(files.taught) + " facts, " + n(demo_data::kOptionOrders) + " option orders each: " + n(files.instruction_items) +
        " items) and the others are held out (" + n(files.held_out) +
        " multiple-choice questions, one a fact, whose answers appear only in the passages). Options are the answer and "
        "3 other answers of the category. Every answer is correct equally often in the instruction data and in the "
        "held-out questions, so a model that learned only the question format and which answers are frequent scores "
        "25%; only what injection stored about each fictional name can lift a model above that.");
  }
  std::optional<report::SplitResult> split;
  if (cfg.tune_split) {
    const auto& ts = *cfg.tune_split;
    split = report::split_medmcqa(ts.data, ts.tune, ts.heldout, ts.seed_set ? ts.seed : cfg.seed, out / "data");
    cfg.instruct.push_back(split->tune_file.string());
    std::printf("[1/7] data: MedMCQA split: %zu tuning records (%s), %zu held-out items (%s)\n", split->tune,
                split->tune_file.string().c_str(), split->heldout, split->heldout_file.string().c_str());
    std::string files;
    for (const auto& f : ts.data) files += (files.empty() ? "" : ", ") + f;
    data_rows.push_back({files, "split into tuning and held-out items",
                         std::to_string(split->loaded) + " items" +
                             (split->skipped ? " (" + std::to_string(split->skipped) + " skipped)" : std::string())});
    data_notes.push_back("Tuning split (" + files + "): " + split->description + ".");
  }
  // corpus_limit: the first N documents of each file, written to data/ (so the run's inputs stay on disk)
  std::vector<std::string> corpus_files;
  for (std::size_t i = 0; i < cfg.corpus.size(); ++i) {
    const auto& f = cfg.corpus[i];
    auto docs = pmc::data::read_documents(f);
    const std::size_t total = docs.size();
    std::string counts = std::to_string(total) + " documents";
    if (cfg.corpus_limit > 0 && total > static_cast<std::size_t>(cfg.corpus_limit)) {
      docs.resize(static_cast<std::size_t>(cfg.corpus_limit));
      const fs::path limited = out / "data" / ("corpus" + std::to_string(i) + "_first" + std::to_string(docs.size()) + ".jsonl");
      std::string text;
      for (const auto& d : docs) text += nlohmann::json{{"text", d}}.dump() + "\n";
      pmc::io::ensure_directory(out / "data");
      pmc::io::write_file_atomic(limited, text);
      corpus_files.push_back(limited.string());
      counts = "the first " + std::to_string(docs.size()) + " of " + std::to_string(total) + " documents (corpus_limit)";
    } else {
      corpus_files.push_back(f);
    }
    std::size_t chars = 0;
    for (const auto& d : docs) chars += d.size();
    data_rows.push_back({f, "knowledge injection (language modelling)", counts + ", " + std::to_string(chars) + " bytes used"});
  }
  for (const auto& f : cfg.instruct)
    data_rows.push_back({f, "instruction tuning (response-only loss)",
                         std::to_string(pmc::data::read_instruction_jsonl(f).size()) + " records"});
  // evaluation sets: "evals", or the one of eval_data / eval_benchmark / eval_limit
  std::vector<EvalSet> evals = cfg.evals;
  if (evals.empty()) {
    EvalSet e;
    e.name = cfg.eval_benchmark, e.benchmark = cfg.eval_benchmark, e.data = cfg.eval_data, e.limit = cfg.eval_limit;
    evals.push_back(e);
  }
  for (auto& e : evals)
    if (e.from == "tune_split") e.data = {split->heldout_file.string()};

  // 2. tokenizer: the given one, or one trained by pmc on the corpus and the instruction and question texts
  const fs::path tok_path = cfg.tokenizer.empty() ? out / "tokenizer.model" : fs::path(cfg.tokenizer);
  if (!fs::exists(tok_path)) {
    std::vector<std::string> lines;
    for (const auto& f : corpus_files)
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

  // 3. base model: random weights, or the given model
  const fs::path base = cfg.init.empty() ? out / "base" : fs::path(cfg.init);
  if (cfg.init.empty() && !stage_done(base)) {
    pmc::llama::Model<pmc::llama::dynamic, float> m(C, false);
    m.init_random(cfg.seed, 0.02f);
    pmc::llama::save_hf(m, base);
    mark_done(base);
  }
  if (cfg.init.empty())
    std::printf("[3/7] base: random %s weights (%lld parameters)\n", cfg.model.c_str(),
                static_cast<long long>(C.parameters()));
  else
    std::printf("[3/7] base: %s (%lld parameters)\n", cfg.init.c_str(), static_cast<long long>(C.parameters()));
  std::printf("      instruction tuning: %s\n", tuning.c_str());
  const auto model_dir = [&](const std::string& name) { return name == "base" ? base : out / name; };

  // 4-6. training stages
  auto corpus_docs = [&](const pmc::tokenizer::Tokenizer& t) {
    std::vector<fs::path> files(corpus_files.begin(), corpus_files.end());
    return pmc::cli::PreparedData{pmc::data::tokenize_documents(files, t), {}};
  };
  std::string fit_note;  // set when a tuning stage's examples were cut to its window (for the report)
  auto instruct_docs = [&](const pmc::tokenizer::Tokenizer& t) {
    pmc::cli::PreparedData d;
    pmc::data::FitCounts fit;  // an example longer than a window loses prompt tokens after BOS, as pmc instruct
    for (const auto& f : cfg.instruct)
      for (const auto& r : pmc::data::read_instruction_jsonl(f)) {
        auto ex = pmc::data::tokenize_example(r, t);
        if (!pmc::data::fit_to_window(ex, cfg.tune.seq_len + 1, pmc::data::Overflow::truncate_prompt, fit)) continue;
        d.docs.push_back(std::move(ex.ids));
        d.masks.push_back(std::move(ex.predict));
      }
    if (fit.overflowing() > 0) {
      fit_note = "Instruction examples longer than the tuning window of " + std::to_string(cfg.tune.seq_len + 1) +
                 " tokens lose prompt tokens after BOS (the response stays whole), as pmc instruct does: " +
                 std::to_string(fit.truncated) + " of " + std::to_string(fit.total()) + " cut, " +
                 std::to_string(fit.skipped) + " skipped (the response alone too long).";
      std::printf("      %lld of %lld instruction examples exceed %lld tokens: %lld cut from the prompt side, %lld skipped\n",
                  static_cast<long long>(fit.overflowing()), static_cast<long long>(fit.total()),
                  static_cast<long long>(cfg.tune.seq_len + 1), static_cast<long long>(fit.truncated),
                  static_cast<long long>(fit.skipped));
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
      a.init = model_dir(s.init).string();
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

  // 7. evaluation of the four models on each evaluation set
  struct Row {
    std::string name, what;
    pmc::eval::EvalReport report;
  };
  struct SetResult {
    EvalSet set;
    pmc::eval::LoadResult loaded;
    pmc::eval::SubsetInfo subset;
    std::vector<Row> rows;
  };
  struct Evaluated {
    const char* name;
    const char* what;
    const char* lora_base;  // with LoRA tuning, the model the stage's adapter was tuned on (the stage's init)
  };
  const Evaluated models[] = {{"base", cfg.init.empty() ? "random initialization" : "the given model", nullptr},
                              {"inject", "knowledge injection", nullptr},
                              {"inject_tune", tune_lora ? "injection + instruction tuning (LoRA)" : "injection + instruction tuning", "inject"},
                              {"tune_only", tune_lora ? "instruction tuning only (ablation, LoRA)" : "instruction tuning only (ablation)", "base"}};
  std::vector<SetResult> results;
  for (const auto& set : evals) {
    SetResult sr{set, {}, {}, {}};
    const auto bench = pmc::eval::parse_benchmark(set.benchmark);
    std::vector<fs::path> eval_files(set.data.begin(), set.data.end());
    sr.loaded = pmc::eval::load_benchmark(bench, eval_files);
    // limit: a seeded sample stratified by answer label (and subject), as `pmc eval --limit`
    sr.subset = pmc::eval::keep_stratified_sample(sr.loaded, static_cast<std::size_t>(std::max<std::int64_t>(0, set.limit)),
                                                  cfg.seed);
    if (sr.subset.taken < sr.subset.total) std::printf("[7/7] evaluation on %s\n", sr.subset.describe().c_str());
    std::printf("[7/7] evaluation%s%s: %zu held-out %s items, likelihood scorer (mean log-probability per token)\n",
                evals.size() > 1 ? " of " : "", evals.size() > 1 ? set.name.c_str() : "", sr.loaded.items.size(),
                set.benchmark.c_str());
    std::fflush(stdout);
    std::string files;
    for (const auto& f : set.data) files += (files.empty() ? "" : ", ") + f;
    data_rows.push_back({files, "evaluation set '" + set.name + "' (" + set.benchmark + ")",
                         std::to_string(sr.subset.total) + " items" +
                             (sr.loaded.skipped.empty() ? std::string()
                                                        : " (" + std::to_string(sr.loaded.skipped.size()) + " skipped)") +
                             "; evaluated on " + sr.subset.describe()});
    for (const auto& [name, what, lora_base] : models) {
      pmc::eval::EvalOptions eo;
      eo.benchmark = bench;
      eo.choice = pmc::eval::ScoreChoice::mean;  // length-normalized: answers differ widely in token count
      eo.continuation = set.continuation == "pmc_answer" ? pmc::eval::Continuation::pmc_answer
                                                         : pmc::eval::Continuation::option_text;
      // a LoRA-tuned stage's folder is an adapter: evaluated on the model it was tuned from, not merged
      const bool adapter = lora_base && pmc::llama::is_adapter_folder(out / name);
      const pmc::cli::ModelTarget target{model_dir(adapter ? lora_base : name).string(), cfg.device, cfg.eval_precision,
                                         tok_path.string(), adapter ? (out / name).string() : std::string()};
      const auto scorer = pmc::eval::Scorer::likelihood;
      auto rep = on_gpu ? pmc::cli::evaluate_on_gpu(target, scorer, tok, sr.loaded.items, eo)
                        : pmc::cli::evaluate_on_cpu(target, scorer, tok, sr.loaded.items, eo);
      rep.skipped.insert(rep.skipped.end(), sr.loaded.skipped.begin(), sr.loaded.skipped.end());
      sr.rows.push_back({name, what, std::move(rep)});
    }
    results.push_back(std::move(sr));
  }

  // report
  const fs::path rdir = out / "report";
  pmc::io::ensure_directory(rdir);
  nlohmann::json metrics;
  const auto correct_of = [](const pmc::eval::EvalReport& rep) {
    std::vector<bool> c;
    for (const auto& it : rep.items) c.push_back(it.correct);
    return c;
  };
  std::string accuracy_html, paired_html, examples_html;
  for (std::size_t si = 0; si < results.size(); ++si) {
    const auto& sr = results[si];
    const bool first = si == 0;
    const double chance =
        sr.loaded.items.empty() ? 0 : 1.0 / static_cast<double>(sr.loaded.items[0].options.size());
    std::vector<std::vector<std::string>> table;
    if (results.size() > 1) std::printf("\nevaluation set %s (%s)", sr.set.name.c_str(), sr.set.benchmark.c_str());
    std::printf("\n%-12s %-38s %9s %17s %6s\n", "model", "stages", "accuracy", "95% interval", "n");
    nlohmann::json set_json{{"name", sr.set.name},          {"benchmark", sr.set.benchmark},
                            {"data", sr.set.data},          {"items", sr.subset.taken},
                            {"of", sr.subset.total},        {"description", sr.subset.describe()},
                            {"continuation", sr.set.continuation}, {"chance_accuracy", chance}};
    for (const auto& r : sr.rows) {
      const auto& t = r.report.overall;
      const auto iv = t.interval();
      char acc[32], ci[48];
      std::snprintf(acc, sizeof acc, "%.1f%%", 100 * t.accuracy());
      std::snprintf(ci, sizeof ci, "[%.1f%%, %.1f%%]", 100 * iv.low, 100 * iv.high);
      std::printf("%-12s %-38s %9s %17s %6lld\n", r.name.c_str(), r.what.c_str(), acc, ci, static_cast<long long>(t.n));
      table.push_back({r.name, r.what, acc, ci, std::to_string(t.correct) + "/" + std::to_string(t.n)});
      if (first) metrics["eval"][r.name] = pmc::eval::to_json(r.report, false);
      set_json["models"][r.name] = pmc::eval::to_json(r.report, false);
    }
    // paired tests on the same items: McNemar's exact test for each pair of models
    std::vector<std::vector<std::string>> paired;
    std::printf("\n%-26s %9s %9s %10s\n", "paired test (McNemar)", "only A", "only B", "p");
    for (std::size_t i = 0; i < sr.rows.size(); ++i)
      for (std::size_t k = i + 1; k < sr.rows.size(); ++k) {
        const auto& ra = sr.rows[k].name == "inject_tune" ? sr.rows[k] : sr.rows[i];  // inject_tune first when in the pair
        const auto& rb = sr.rows[k].name == "inject_tune" ? sr.rows[i] : sr.rows[k];
        const auto t = pmc::eval::paired_test(correct_of(ra.report), correct_of(rb.report));
        char p[32];
        std::snprintf(p, sizeof p, "%.3g", t.p_value);
        const std::string pair = ra.name + " vs " + rb.name;
        std::printf("%-26s %9lld %9lld %10s\n", pair.c_str(), static_cast<long long>(t.only_a),
                    static_cast<long long>(t.only_b), p);
        paired.push_back({pair, std::to_string(t.only_a), std::to_string(t.only_b), p});
        const nlohmann::json pj{{"a", ra.name},         {"b", rb.name},         {"n", t.n}, {"only_a", t.only_a},
                                {"only_b", t.only_b}, {"p_value", t.p_value}, {"test", "mcnemar_exact"}};
        if (first) metrics["paired_tests"].push_back(pj);
        set_json["paired_tests"].push_back(pj);
      }
    if (first) {
      metrics["eval_items"] = {{"items", sr.subset.taken}, {"of", sr.subset.total}, {"description", sr.subset.describe()}};
      metrics["chance_accuracy"] = chance;
    }
    metrics["eval_sets"].push_back(set_json);
    char head[512];
    std::snprintf(head, sizeof head, "<h3>%s (%s)</h3>\n<p>%s; scored by option likelihood (%s continuation, mean "
                  "log-probability per token); chance is %.0f%%.</p>\n",
                  html_escape(sr.set.name).c_str(), html_escape(sr.set.benchmark).c_str(),
                  html_escape(sr.subset.describe()).c_str(), html_escape(sr.set.continuation).c_str(), 100 * chance);
    accuracy_html += head + pmc::cli::html_table({"model", "stages", "accuracy", "95% interval", "correct"}, table);
    paired_html += "<h3>" + html_escape(sr.set.name) + "</h3>\n" +
                   pmc::cli::html_table({"A vs B", "only A", "only B", "p"}, paired);
    // examples: up to 5 items, those on which the models disagree first (seeded), with each model's answer
    std::vector<const pmc::eval::EvalReport*> reps;
    bool aligned = true;
    for (const auto& r : sr.rows) {
      reps.push_back(&r.report);
      aligned = aligned && r.report.items.size() == sr.loaded.items.size();
    }
    examples_html += "<h3>" + html_escape(sr.set.name) + "</h3>\n";
    if (!aligned) {
      examples_html += "<p>(some items could not be scored: no examples shown)</p>\n";
      continue;
    }
    for (const auto i : report::pick_examples(reps, 5, cfg.seed)) {
      const auto& item = sr.loaded.items[i];
      std::string h = "<div class=\"example\"><p><b>" + html_escape(item.id) + "</b>" +
                      (item.subject.empty() ? "" : " (" + html_escape(item.subject) + ")") + ": " +
                      html_escape(report::shorten(item.question, 600)) + "</p>\n";
      if (!item.context.empty())
        h += "<p class=\"context\">Context (" + std::to_string(item.context.size()) + " characters): " +
             html_escape(report::shorten(item.context, 300)) + "</p>\n";
      h += "<ol type=\"A\">";
      for (std::size_t o = 0; o < item.options.size(); ++o)
        h += std::string(static_cast<int>(o) == item.answer ? "<li><b>" : "<li>") + html_escape(report::shorten(item.options[o], 200)) +
             (static_cast<int>(o) == item.answer ? " (gold)</b>" : "") + "</li>";
      h += "</ol>\n";
      std::vector<std::vector<std::string>> answers;
      for (const auto& r : sr.rows) {
        const auto& it = r.report.items[i];
        const auto choice = static_cast<std::size_t>(it.predicted);
        answers.push_back({r.name,
                           it.predicted >= 0 && choice < item.options.size()
                               ? pmc::eval::option_label(choice) + ". " + report::shorten(item.options[choice], 80)
                               : "-",
                           it.correct ? "correct" : "wrong"});
      }
      examples_html += h + pmc::cli::html_table({"model", "answer", ""}, answers) + "</div>\n";
      nlohmann::json ej{{"set", sr.set.name}, {"id", item.id}, {"question", item.question}, {"options", item.options},
                        {"gold", pmc::eval::option_label(static_cast<std::size_t>(item.answer))}};
      for (const auto& r : sr.rows)
        ej["answers"][r.name] = r.report.items[i].predicted >= 0
                                    ? pmc::eval::option_label(static_cast<std::size_t>(r.report.items[i].predicted))
                                    : std::string("-");
      metrics["examples"].push_back(ej);
    }
  }
  metrics["eval_precision"] = cfg.eval_precision;

  // losses: one panel per objective (injection's language-modelling loss; the tuning stages' response-only loss)
  std::vector<pmc::cli::PlotRun> stage_runs, inject_runs, tune_runs;
  for (const auto& s : stages)
    if (fs::exists(out / s.name / "metrics.jsonl")) {
      stage_runs.push_back({s.name, out / s.name / "metrics.jsonl"});
      (s.instruct ? tune_runs : inject_runs).push_back(stage_runs.back());
    }
  const auto loss = pmc::cli::metric_series(stage_runs, "loss", 1, false);
  for (const auto& series : loss) metrics["train"][series.name]["loss"] = series.y;
  std::vector<std::vector<std::string>> loss_rows;
  for (const auto& s : stages) {
    const fs::path m = out / s.name / "metrics.jsonl";
    if (!fs::exists(m)) continue;
    const auto train_curve = pmc::train::read_metric(m, "loss");
    const auto eval_curve = pmc::train::read_metric(m, "eval_loss");
    char tl[64] = "-", el[96] = "not measured (eval_fraction or eval_every 0)";
    if (!train_curve.values.empty()) std::snprintf(tl, sizeof tl, "%.4f", train_curve.values.back());
    std::string held = "-";
    if (fs::exists(out / s.name / "data/eval.tokens"))
      held = std::to_string(pmc::data::TokenFile::open(out / s.name / "data/eval.tokens").n_docs()) + " documents";
    if (!eval_curve.values.empty()) {
      std::snprintf(el, sizeof el, "%.4f (step %.0f)", eval_curve.values.back(), eval_curve.steps.back());
      metrics["heldout_loss"][s.name] = {{"loss", eval_curve.values.back()}, {"step", eval_curve.steps.back()}};
    }
    loss_rows.push_back({s.name, s.instruct ? "response-only cross-entropy" : "language modelling (every token)",
                         std::to_string(train_curve.steps.size()), tl, held, el});
  }
  const std::string ylabel = pmc::cli::metric_label("loss");
  struct Figure {
    std::string file, title;
    std::vector<pmc::cli::Series> series;
  };
  std::vector<Figure> figures;
  if (!inject_runs.empty())
    figures.push_back({"loss_injection", "Knowledge injection: language-modelling loss",
                       pmc::cli::metric_series(inject_runs, "loss", 1, true)});
  if (!tune_runs.empty())
    figures.push_back({"loss_tuning", "Instruction tuning: response-only loss",
                       pmc::cli::metric_series(tune_runs, "loss", 1, true)});
  figures.push_back({"loss", "Training loss (all stages)", loss});
  std::string panels;
  for (const auto& f : figures) {
    const std::string svg = pmc::cli::svg_line_plot(f.series, f.title, "step", ylabel);
    pmc::io::write_file_atomic(rdir / (f.file + ".svg"), svg);
    pmc::io::write_file_atomic(rdir / (f.file + ".png"),
                               pmc::cli::png::encode(pmc::cli::png::line_plot(f.series, f.title, "step", ylabel)));
    if (f.file != "loss")
      panels += "<figure id=\"" + f.file + "\">" + svg + "<figcaption><a href=\"" + f.file + ".svg\">" + f.file +
                ".svg</a>, <a href=\"" + f.file + ".png\">" + f.file + ".png</a></figcaption></figure>\n";
  }

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  metrics["seconds"] = secs;
  metrics["model"] = cfg.model;
  metrics["parameters"] = C.parameters();
  metrics["tuning"] = {{"method", tune_lora ? "lora" : "full"},
                       {"trainable_parameters", tune_trainable},
                       {"description", tuning}};
  if (tune_lora)
    metrics["tuning"]["lora"] = {{"rank", tune_lora->rank},
                                 {"alpha", tune_lora->alpha},
                                 {"dropout", tune_lora->dropout},
                                 {"targets", pmc::llama::lora_target_modules(*tune_lora)},
                                 {"base_quant", cfg.tune.base_quant}};
  const nlohmann::json config = config_json(cfg, evals);
  const nlohmann::json machine = report::machine();
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  metrics["config"] = config;
  metrics["provenance"] = {{"commit", pmc::cli::git_commit()}, {"seed", cfg.seed}, {"machine", machine},
                           {"device", cfg.device}, {"finished", when}};
  pmc::io::write_file_atomic(rdir / "metrics.json", metrics.dump(2));
  pmc::io::write_file_atomic(rdir / "config.json", config.dump(2) + "\n");

  char intro[1536];
  std::snprintf(intro, sizeof intro,
                "<p>Model <b>%s</b> (%lld parameters). Instruction tuning: %s%s. Evaluated on %zu set%s by option "
                "likelihood; intervals are Wilson 95%%. Run time %.0f s.</p>",
                html_escape(cfg.model).c_str(), static_cast<long long>(C.parameters()), html_escape(tuning).c_str(),
                tune_lora ? "; each tuning stage is a PEFT adapter folder, evaluated on the model it was tuned from" : "",
                results.size(), results.size() == 1 ? "" : "s", secs);
  std::string data_html = "<section id=\"data\"><h2>Data</h2>\n" +
                          pmc::cli::html_table({"file", "used for", "contents"}, data_rows);
  if (!fit_note.empty()) data_notes.push_back(fit_note);
  for (const auto& n : data_notes) data_html += "<p>" + html_escape(n) + "</p>\n";
  data_html += "<p>Evaluation subsets are seeded samples stratified by answer label (and subject where items have "
               "one), seed " + std::to_string(cfg.seed) + ", as <code>pmc eval --limit</code> draws them.</p></section>";
  const std::string config_html = "<section id=\"config\"><h2>Configuration</h2>\n<p>The effective configuration (defaults "
                                  "and flags applied; also <a href=\"config.json\">config.json</a>):</p>\n<pre>" +
                                  html_escape(config.dump(2)) + "</pre></section>";
  std::vector<std::vector<std::string>> prov{{"seed", std::to_string(cfg.seed)},
                                             {"commit", pmc::cli::git_commit()},
                                             {"finished", when},
                                             {"run time", std::to_string(static_cast<long long>(secs)) + " s"},
                                             {"device", cfg.device},
                                             {"CPU", machine.value("cpu", "")},
                                             {"cores", std::to_string(machine.value("cores", 0))},
                                             {"threads", std::to_string(machine.value("threads", 0))},
                                             {"CPU GEMM kernel", machine.value("cpu_gemm", "")},
                                             {"OS", machine.value("os", "")},
                                             {"compiler", machine.value("compiler", "")}};
  const std::string prov_html = "<section id=\"provenance\"><h2>Provenance</h2>\n" +
                                pmc::cli::html_table({"", ""}, prov) +
                                "<p>The commit is the one the program was configured from (CMake, at configure "
                                "time).</p></section>";
  const std::string losses_html =
      "<section id=\"losses\"><h2>Losses</h2>\n<p>Held-out loss per stage: the last evaluation loss on the "
      "documents the stage held out of its own data (eval_fraction), measured every eval_every steps. Injection's "
      "loss is over every token; the tuning stages' only over response tokens, so the two are drawn in separate "
      "panels.</p>\n" +
      pmc::cli::html_table({"stage", "objective", "steps", "final train loss", "held out", "held-out loss"}, loss_rows) +
      panels + "</section>";
  const std::string page = pmc::cli::html_page(
      "pmc pipeline report",
      {intro, data_html, config_html, prov_html, losses_html,
       "<section id=\"accuracy\"><h2>Accuracy on held-out questions</h2>\n" + accuracy_html + "</section>",
       "<section id=\"paired-tests\"><h2>Paired tests on the same items</h2><p>McNemar's exact test: <i>only A</i> "
       "counts the items A answers correctly and B does not; p is two-sided.</p>\n" +
           paired_html + "</section>",
       "<section id=\"examples\"><h2>Examples</h2><p>Up to 5 items per set, those on which the models disagree first "
       "(a seeded draw), with the gold answer and each model's choice.</p>\n" +
           examples_html + "</section>",
       "<p>Files: <a href=\"metrics.json\">metrics.json</a>, <a href=\"config.json\">config.json</a>, "
       "<a href=\"loss.svg\">loss.svg</a> / <a href=\"loss.png\">loss.png</a> (all stages on one axis); per-step "
       "metrics in each stage's metrics.jsonl.</p>"});
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
