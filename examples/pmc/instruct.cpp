// SPDX-License-Identifier: MIT
// `pmc instruct`: medical instruction tuning on Alpaca/PMC-LLaMA JSONL (and chat) records; the loss is on
// the responses and their EOS only.
#include <cstdio>
#include <map>

#include <pmc/data/instruction.hpp>

#include "data_parallel.hpp"
#include "training_flags.hpp"

namespace {

const pmc::cli::Command instruct_command{
    "instruct", "Instruction tuning on {instruction, input, output} or chat JSONL records", [](CLI::App& app) {
      struct Args : pmc::cli::TrainArgs {
        std::vector<std::string> data;
        std::map<std::string, double> mix;
        std::string overflow = "truncate";
        std::string chat_format = "pmc_llama";
      };
      auto a = std::make_shared<Args>();
      pmc::cli::add_training_flags(app, *a);
      a->eval_fraction = 0.05;
      app.add_option("--data", a->data, "JSONL files of instruction or chat records")->required()->check(CLI::ExistingFile);
      app.add_option("--mix", a->mix, "mixing weight per source, e.g. --mix medqa=2 --mix chat=0.5");
      app.add_option("--overflow", a->overflow,
                     "an example longer than the window (--seq-len + 1 tokens): truncate its prompt from the left "
                     "(keeping the response whole) or skip it; both are counted and reported")
          ->check(CLI::IsMember({"truncate", "skip"}))
          ->capture_default_str();
      app.add_flag("--pack", a->pack,
                   "pack the training examples several to a window (best fit, whole examples), each attending "
                   "only to itself with positions restarting at its start; the loss stays on responses only. "
                   "CPU only for now")
          ->capture_default_str();
      app.add_option("--chat-format", a->chat_format,
                     "how records become tokens: pmc_llama (PMC-LLaMA's prompt), llama3, chatml (Qwen2) or mistral "
                     "([INST]); the last three need their special tokens in the tokenizer")
          ->check(CLI::IsMember({"pmc_llama", "llama3", "chatml", "mistral"}))
          ->capture_default_str();
      return [a]() {
        auto prepare = [a](const pmc::tokenizer::Tokenizer& tok) {
          std::vector<pmc::data::InstructionRecord> records;
          for (const auto& f : a->data) {
            auto r = pmc::data::read_instruction_jsonl(f);
            records.insert(records.end(), r.begin(), r.end());
          }
          records = pmc::data::mix_sources(records, a->mix, a->seed);
          pmc::cli::PreparedData d;
          pmc::data::FitCounts fit;
          const auto overflow = a->overflow == "skip" ? pmc::data::Overflow::skip : pmc::data::Overflow::truncate_prompt;
          const auto format = pmc::data::chat_format_from_name(a->chat_format);
          for (const auto& r : records) {
            auto ex = pmc::data::tokenize_example(r, tok, format);
            if (!pmc::data::fit_to_window(ex, a->seq_len + 1, overflow, fit)) continue;
            d.docs.push_back(std::move(ex.ids));
            d.masks.push_back(std::move(ex.predict));
          }
          if (fit.overflowing() > 0)
            std::fprintf(stderr,
                         "pmc instruct: %lld of %lld examples are longer than the %lld-token window: %lld had their "
                         "prompt truncated from the left, %lld were skipped (--overflow %s)\n",
                         static_cast<long long>(fit.overflowing()), static_cast<long long>(fit.total()),
                         static_cast<long long>(a->seq_len + 1), static_cast<long long>(fit.truncated),
                         static_cast<long long>(fit.skipped), a->overflow.c_str());
          PMC_CHECK(!d.docs.empty(), "pmc instruct: none of the ", fit.total(), " examples fits a window of ",
                    a->seq_len + 1, " tokens with its response whole; raise --seq-len");
          return d;
        };
        a->comm = pmc::cli::launched_group();  // mpirun -np N: data parallel over N processes
        return pmc::cli::run_training_on_device(*a, pmc::data::Packing::doc_start, prepare);
      };
    }};

}  // namespace
