// SPDX-License-Identifier: MIT
// `pmc eval`: accuracy of a model on MedQA, MedMCQA, PubMedQA, MMLU or a generic MCQ file, by option
// likelihood or by PMC-LLaMA-style generation, on the CPU or the GPU; a table on stdout, JSON to --out,
// progress on stderr.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <pmc/eval/subset.hpp>
#include <pmc/io/atomic_file.hpp>

#include "command.hpp"
#include "inference.hpp"

namespace {

struct EvalArgs {
  std::string model, adapter, tokenizer, benchmark, scorer = "likelihood", choice = "sum", continuation = "option_text";
  std::string instruction, out, split = "test", device = "cpu", precision = "fp32", prompt_format = "pmc_llama";
  std::string weights;  // --weights: "" (as --precision), fp32, bf16, q8_0, q4_0
  std::string weight_memory = "auto";  // --weight-memory: auto, mapped, copied
  std::vector<std::string> data, fewshot_data;
  std::size_t limit = 0, first = 0;
  std::uint64_t sample_seed = 0;
  int num_fewshot = 0;                                                   // --prompt-format lm_eval: k-shot
  std::uint64_t fewshot_seed = pmc::eval::kLmEvalDefaultFewshotSeed;  // the harness's fewshot_random_seed
  int max_new_tokens = 32, option_batch = 8;
  bool no_bos = false, no_items = false;
};

/// Progress on stderr: on a terminal one line rewritten in place; otherwise (logs, CI) a plain line every
/// 5% of the items or every 10 seconds, whichever comes first, so logs stay short.
class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)), tty_(isatty(fileno(stderr)) != 0) {}
  void operator()(std::size_t done, std::size_t total) {
    const auto now = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(now - t0_).count();
    const bool last = done == total;
    if (!tty_) {
      const std::size_t step = std::max<std::size_t>(1, total / 20);
      if (!last && done % step != 0 && std::chrono::duration<double>(now - printed_).count() < 10) return;
      printed_ = now;
    }
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
    std::fprintf(stderr, "%s%s: %zu/%zu items, %.2f items/s, ETA %.0f s%s", tty_ ? "\r" : "", what_.c_str(), done,
                 total, rate, eta, tty_ ? (last ? "\n" : "   ") : "\n");
    std::fflush(stderr);
  }

 private:
  std::string what_;
  bool tty_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now(), printed_ = t0_;
};

/// The table on stdout, skips and truncations on stderr, JSON to --out.
int report_eval(const EvalArgs& a, pmc::eval::EvalReport report, const pmc::eval::LoadResult& data,
                const pmc::eval::SubsetInfo& subset) {
  namespace ev = pmc::eval;
  // the loader's skips come first: they happened before scoring
  report.skipped.insert(report.skipped.begin(), data.skipped.begin(), data.skipped.end());
  const auto bench = ev::parse_benchmark(a.benchmark);
  const bool lm = a.prompt_format == "lm_eval";
  std::printf("%s", lm ? ev::format_lm_eval_table(report, bench).c_str() : ev::format_table(report).c_str());
  for (const auto& s : report.skipped) std::fprintf(stderr, "pmc eval: skipped %s\n", s.c_str());
  if (report.truncated > 0)
    std::fprintf(stderr,
                 "pmc eval: %lld prompts exceeded the model's %lld-token context and lost tokens from the middle "
                 "(the instruction and the end of the question with its options are kept)\n",
                 static_cast<long long>(report.truncated), static_cast<long long>(report.context));
  if (!a.out.empty() && lm) {
    auto j = ev::to_lm_eval_json(report, bench, !a.no_items);
    j["config"] = {{"model", "pmc"},
                   {"model_args", "pretrained=" + a.model + (a.adapter.empty() ? "" : ",peft=" + a.adapter)},
                   {"adapter", a.adapter.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(a.adapter)},
                   {"tokenizer", a.tokenizer},
                   {"add_bos_token", !a.no_bos},
                   {"device", a.device},
                   {"precision", a.precision},
                   {"weights", a.weights.empty() ? a.precision : a.weights},
                   {"limit", a.first ? nlohmann::ordered_json(a.first) : nlohmann::ordered_json(nullptr)},
                   {"num_fewshot", a.num_fewshot},
                   {"fewshot_seed", a.fewshot_seed},
                   {"data", a.data},
                   {"fewshot_data", a.fewshot_data},
                   {"subset", subset.describe()}};
    j["skipped"] = report.skipped;
    pmc::io::write_file_atomic(a.out, j.dump(1) + "\n");
    std::fprintf(stderr, "pmc eval: wrote %s\n", a.out.c_str());
  } else if (!a.out.empty()) {
    auto j = ev::to_json(report, !a.no_items);
    j["model"] = a.model;
    j["adapter"] = a.adapter.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(a.adapter);
    j["tokenizer"] = a.tokenizer;
    j["data"] = a.data;
    j["limit"] = a.limit;
    j["subset"] = {{"items", subset.taken}, {"of", subset.total}, {"seed", subset.seed},
                   {"method", subset.taken == subset.total ? "all" : "stratified by answer label (and subject)"},
                   {"description", subset.describe()}};
    j["device"] = a.device;
    j["precision"] = a.precision;
    j["weights"] = a.weights.empty() ? a.precision : a.weights;
    pmc::io::write_file_atomic(a.out, j.dump(1) + "\n");
    std::fprintf(stderr, "pmc eval: wrote %s\n", a.out.c_str());
  }
  return 0;
}

/// --num-fewshot: each item's k examples, drawn as the harness draws them, before any subset is taken (the
/// default sampler's draws for item i follow those of items 0..i-1 of the whole task).
void add_fewshot(const EvalArgs& a, pmc::eval::Benchmark bench, pmc::eval::LoadResult& data,
                 const std::vector<std::filesystem::path>& files, pmc::eval::PubmedqaSplit split) {
  namespace ev = pmc::eval;
  namespace fs = std::filesystem;
  std::vector<fs::path> shot_files(a.fewshot_data.begin(), a.fewshot_data.end());
  // the same files as --data, in any order: the few-shot split is the test split
  bool same = shot_files.size() == files.size();
  for (const auto& s : shot_files)
    same = same && std::any_of(files.begin(), files.end(), [&](const fs::path& f) {
             std::error_code ec;
             return fs::equivalent(f, s, ec) && !ec;
           });
  // PubMedQA's test split is a list of PMIDs of ori_pqal.json: the same file gives its other items (below)
  const bool same_split = same && !(bench == ev::Benchmark::pubmedqa && split == ev::PubmedqaSplit::test);
  std::vector<ev::McqItem> pool;
  std::string what;
  if (same_split) {
    pool = data.items;
    what = "the test split itself (each item left out of its own examples)";
  } else if (bench == ev::Benchmark::pubmedqa) {
    // every PQA-L item of the file(s) but the evaluated PMIDs: ori_pqal.json gives the 500 train/dev items
    auto loaded = ev::load_benchmark(bench, shot_files, ev::PubmedqaSplit::all);
    std::set<std::string> evaluated;
    for (const auto& it : data.items) evaluated.insert(it.id);
    for (auto& it : loaded.items)
      if (!evaluated.contains(it.id)) pool.push_back(std::move(it));
    what = std::to_string(pool.size()) + " items of --fewshot-data outside the evaluated PMIDs";
  } else {
    auto loaded = ev::load_benchmark(bench, shot_files, split);
    for (const auto& s : loaded.skipped) std::fprintf(stderr, "pmc eval: few-shot data: skipped %s\n", s.c_str());
    pool = std::move(loaded.items);
    what = std::to_string(pool.size()) + " items of --fewshot-data";
  }
  ev::add_lm_eval_fewshot(bench, data.items, pool, a.num_fewshot, a.fewshot_seed, same_split);
  std::fprintf(stderr, "pmc eval: %d-shot (sampler %s, seed %llu) from %s\n", a.num_fewshot,
               std::string(ev::lm_eval_fewshot_sampler(bench)).c_str(), static_cast<unsigned long long>(a.fewshot_seed),
               what.c_str());
}

const pmc::cli::Command eval_command{
    "eval", "Evaluate a model on a multiple-choice benchmark (option likelihood or generation)", [](CLI::App& app) {
      auto a = std::make_shared<EvalArgs>();
      app.add_option("--model", a->model, "HF folder, .safetensors file, llama2.c .bin or llama.cpp .gguf")->required();
      app.add_option("--adapter", a->adapter,
                     "a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors: pmc's or PEFT's) "
                     "run on --model, not merged");
      app.add_option("--tokenizer", a->tokenizer,
                     "tokenizer.model (SentencePiece), tokenizer.json, or a folder holding one (default: --model's folder)")
          ->check(CLI::ExistingPath);
      app.add_option("--benchmark", a->benchmark, "medqa, medmcqa, pubmedqa, mmlu or mcq")
          ->required()
          ->check(CLI::IsMember({"medqa", "medmcqa", "pubmedqa", "mmlu", "mcq"}));
      app.add_option("--data", a->data,
                     "data files (pubmedqa: ori_pqal.json [test_ground_truth.json]; mmlu: one or more CSVs)")
          ->required();
      app.add_option("--scorer", a->scorer, "likelihood (default) or generate")
          ->check(CLI::IsMember({"likelihood", "generate"}));
      app.add_option("--choice", a->choice, "likelihood: pick by the sum (default) or mean per-token log-prob")
          ->check(CLI::IsMember({"sum", "mean"}));
      app.add_option("--continuation", a->continuation,
                     "likelihood: score the option text (default) or PMC-LLaMA's 'OPTION X IS CORRECT' answer")
          ->check(CLI::IsMember({"option_text", "pmc_answer"}));
      app.add_option("--split", a->split, "pubmedqa: test (the 500 of test_ground_truth.json, default) or all")
          ->check(CLI::IsMember({"test", "all"}));
      app.add_option("--limit", a->limit,
                     "evaluate a seeded sample of N items, stratified by answer label and subject (0 = all)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--first", a->first,
                     "evaluate the first N items in file order, per task (MMLU: per subject file), as "
                     "lm-evaluation-harness's --limit (0 = all)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--prompt-format", a->prompt_format,
                     "pmc_llama (PMC-LLaMA's prompt, default) or lm_eval (lm-evaluation-harness's task prompts, "
                     "choices, acc and acc_norm; likelihood only)")
          ->check(CLI::IsMember({"pmc_llama", "lm_eval"}));
      app.add_option("--num-fewshot", a->num_fewshot,
                     "lm_eval: solved examples before each item, as the harness's --num_fewshot (MMLU: the first K "
                     "of --fewshot-data per subject; the others: Python's random.sample with --fewshot-seed)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      app.add_option("--fewshot-seed", a->fewshot_seed,
                     "lm_eval: the seed of the few-shot draws (the harness's --fewshot_random_seed)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      app.add_option("--fewshot-data", a->fewshot_data,
                     "lm_eval with --num-fewshot: files in --data's format to draw examples from (the harness's "
                     "train split; MMLU: dev CSVs; PubMedQA: an ori_pqal.json, without the evaluated PMIDs); the "
                     "same files as --data draw from the test split without the item itself")
          ->check(CLI::ExistingFile);
      app.add_option("--sample-seed", a->sample_seed, "the seed of --limit's sample")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      app.add_option("--max-new-tokens", a->max_new_tokens, "generate: tokens per answer")->check(CLI::PositiveNumber);
      app.add_option("--option-batch", a->option_batch, "likelihood: options per batched forward")
          ->check(CLI::PositiveNumber);
      app.add_option("--instruction", a->instruction, "override the benchmark's PMC-LLaMA instruction");
      app.add_option("--out", a->out, "write the results as JSON");
      app.add_flag("--no-items", a->no_items, "leave per-item results out of the JSON");
      app.add_flag("--no-bos", a->no_bos, "do not start prompts with BOS");
      pmc::cli::add_device_flag(app, a->device);
      pmc::cli::add_model_precision_flag(app, a->precision);
      pmc::cli::add_weights_flag(app, a->weights);
      pmc::cli::add_weight_memory_flag(app, a->weight_memory);
      return [a]() {
        namespace ev = pmc::eval;
        const auto bench = ev::parse_benchmark(a->benchmark);
        if (!a->adapter.empty()) (void)pmc::llama::read_peft_config(a->adapter);  // a bad adapter fails before any work
        PMC_CHECK(a->limit == 0 || a->first == 0, "--limit and --first cannot be combined");
        PMC_CHECK(a->prompt_format != "lm_eval" || a->scorer == "likelihood",
                  "--prompt-format lm_eval scores options by likelihood; it cannot be combined with --scorer generate");
        PMC_CHECK(a->prompt_format != "lm_eval" || bench != ev::Benchmark::mcq,
                  "--prompt-format lm_eval: the harness has no task for a generic mcq file (use medqa, medmcqa, "
                  "pubmedqa or mmlu)");
        PMC_CHECK(a->prompt_format == "lm_eval" || (a->num_fewshot == 0 && a->fewshot_data.empty()),
                  "--num-fewshot and --fewshot-data apply to --prompt-format lm_eval");
        PMC_CHECK(a->num_fewshot == 0 || !a->fewshot_data.empty(),
                  "--num-fewshot ", a->num_fewshot, " needs --fewshot-data: the harness draws ", bench == ev::Benchmark::mmlu
                      ? "MMLU's examples from its dev split (e.g. <subject>_dev.csv)"
                      : "this task's examples from its training split",
                  ", which the benchmark files do not hold; pass a file in --data's format (the same files as --data "
                  "draw from the test split, without the item itself, as the harness does when fewshot_split is the "
                  "test split)");
        PMC_CHECK(a->num_fewshot > 0 || a->fewshot_data.empty(), "--fewshot-data is given but --num-fewshot is 0");
        std::vector<std::filesystem::path> files(a->data.begin(), a->data.end());
        const auto pubmedqa_split = a->split == "all" ? ev::PubmedqaSplit::all : ev::PubmedqaSplit::test;
        auto data = ev::load_benchmark(bench, files, pubmedqa_split);
        std::fprintf(stderr, "pmc eval: %s: %zu items loaded, %zu skipped\n", a->benchmark.c_str(), data.items.size(),
                     data.skipped.size());
        if (a->num_fewshot > 0) add_fewshot(*a, bench, data, files, pubmedqa_split);
        if (a->first > 0) ev::keep_first_per_subject(data, a->first, bench == ev::Benchmark::mmlu);
        const auto subset = ev::keep_stratified_sample(data, a->limit, a->sample_seed);
        if (subset.taken < subset.total) std::fprintf(stderr, "pmc eval: %s\n", subset.describe().c_str());
        PMC_CHECK(!data.items.empty(), a->benchmark, ": no items to evaluate");
        ev::EvalOptions opt;
        opt.benchmark = bench;
        opt.instruction = a->instruction;
        opt.choice = a->choice == "mean" ? ev::ScoreChoice::mean : ev::ScoreChoice::sum;
        opt.continuation = a->continuation == "pmc_answer" ? ev::Continuation::pmc_answer : ev::Continuation::option_text;
        opt.option_batch = a->option_batch;
        opt.max_new_tokens = a->max_new_tokens;
        opt.bos = !a->no_bos;
        opt.format = ev::parse_prompt_format(a->prompt_format);
        opt.num_fewshot = a->num_fewshot;
        opt.fewshot_seed = a->fewshot_seed;
        Progress progress("pmc eval " + a->benchmark);
        opt.on_item = [&](std::size_t done, std::size_t total) { progress(done, total); };
        a->tokenizer = pmc::cli::tokenizer_or_model_folder(a->tokenizer, a->model);
        auto tok = pmc::cli::load_tokenizer(a->tokenizer);
        const pmc::cli::ModelTarget target{a->model,   a->device,  a->precision,
                                           a->tokenizer, a->adapter, a->weights, a->weight_memory};
        if (!a->adapter.empty()) std::fprintf(stderr, "pmc eval: LoRA adapter %s on %s\n", a->adapter.c_str(), a->model.c_str());
        const auto scorer = a->scorer == "generate" ? ev::Scorer::generate : ev::Scorer::likelihood;
        return report_eval(*a, pmc::cli::evaluate_on_device(target, scorer, tok, data.items, opt), data, subset);
      };
    }};

}  // namespace
