// SPDX-License-Identifier: MIT
// The embedded default of `pmc pipeline`: a table of textbook medical facts, written for this project,
// turned into (1) knowledge-injection passages that state every fact in several phrasings, (2) instruction
// items (PMC-LLaMA prompt) for half of the facts, and (3) held-out multiple-choice questions on the other
// half, whose answers appear only in the passages. A model can answer (3) only by combining what injection
// put in its weights with the question format that tuning taught it: the PMC-LLaMA paper's ablation, small.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/eval/prompt.hpp>
#include <pmc/io/atomic_file.hpp>

namespace pmc::cli::demo_data {

struct Category {
  const char* name;
  const char* question;                 // "{}" is the subject
  std::vector<const char*> statements;  // "{s}" subject, "{a}" answer
};

struct Fact {
  int category;
  const char* subject;
  const char* answer;
};

inline const std::vector<Category>& categories() {
  static const std::vector<Category> c{
      {"treatment", "Which drug is the first-line treatment for {s}?",
       {"{s} is treated first with {a}.", "The first-line drug for {s} is {a}.",
        "Patients with {s} usually receive {a} as initial therapy.", "For {s}, clinicians start {a}."}},
      {"organism", "Which organism causes {s}?",
       {"{s} is caused by {a}.", "The organism responsible for {s} is {a}.",
        "Infection with {a} produces {s}.", "{a} is the cause of {s}."}},
      {"deficiency", "Deficiency of which nutrient causes {s}?",
       {"{s} results from a lack of {a}.", "A deficiency of {a} causes {s}.",
        "Low {a} leads to {s}.", "{s} is the classic sign of missing {a}."}},
      {"class", "To which drug class does {s} belong?",
       {"{s} belongs to the {a} class.", "{s} is one of the {a}.", "The drug {s} is classed among the {a}.",
        "Pharmacologists list {s} with the {a}."}},
  };
  return c;
}

inline const std::vector<Fact>& facts() {
  static const std::vector<Fact> f{
      {0, "type 2 diabetes", "metformin"},        {0, "anaphylaxis", "epinephrine"},
      {0, "absence seizures", "ethosuximide"},    {0, "hypothyroidism", "levothyroxine"},
      {0, "gout flares", "colchicine"},           {0, "syphilis", "penicillin"},
      {0, "trigeminal neuralgia", "carbamazepine"}, {0, "bipolar disorder", "lithium"},
      {0, "malaria prophylaxis", "mefloquine"},   {0, "opioid overdose", "naloxone"},
      {0, "Parkinson disease", "levodopa"},       {0, "pneumocystis pneumonia", "cotrimoxazole"},
      {0, "heparin overdose", "protamine"},       {0, "acetaminophen overdose", "acetylcysteine"},
      {1, "tuberculosis", "Mycobacterium tuberculosis"}, {1, "Lyme disease", "Borrelia burgdorferi"},
      {1, "cholera", "Vibrio cholerae"},          {1, "tetanus", "Clostridium tetani"},
      {1, "typhoid fever", "Salmonella typhi"},   {1, "whooping cough", "Bordetella pertussis"},
      {1, "leprosy", "Mycobacterium leprae"},     {1, "diphtheria", "Corynebacterium diphtheriae"},
      {1, "gonorrhea", "Neisseria gonorrhoeae"},  {1, "plague", "Yersinia pestis"},
      {1, "anthrax", "Bacillus anthracis"},       {1, "botulism", "Clostridium botulinum"},
      {2, "scurvy", "vitamin C"},                 {2, "rickets", "vitamin D"},
      {2, "beriberi", "thiamine"},                {2, "pellagra", "niacin"},
      {2, "night blindness", "vitamin A"},        {2, "pernicious anemia", "vitamin B12"},
      {2, "goiter", "iodine"},                    {2, "neural tube defects", "folate"},
      {2, "Wilson disease", "copper"},            {2, "keshan disease", "selenium"},
      {3, "atorvastatin", "statins"},             {3, "lisinopril", "ACE inhibitors"},
      {3, "metoprolol", "beta blockers"},         {3, "omeprazole", "proton pump inhibitors"},
      {3, "losartan", "angiotensin receptor blockers"}, {3, "amlodipine", "calcium channel blockers"},
      {3, "furosemide", "loop diuretics"},        {3, "sertraline", "serotonin reuptake inhibitors"},
      {3, "warfarin", "vitamin K antagonists"},   {3, "ciprofloxacin", "fluoroquinolones"},
      {3, "diazepam", "benzodiazepines"},         {3, "gentamicin", "aminoglycosides"},
  };
  return f;
}

inline std::string fill(std::string t, const std::string& s, const std::string& a) {
  for (auto [key, value] : {std::pair<std::string, std::string>{"{s}", s}, {"{a}", a}}) {
    for (std::size_t at; (at = t.find(key)) != std::string::npos;) t.replace(at, key.size(), value);
  }
  if (!t.empty()) t[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
  return t;
}

/// Facts with an even index are taught by instruction items; odd ones are held out for evaluation.
inline bool held_out(std::size_t fact_index) { return fact_index % 2 == 1; }

struct Files {
  std::filesystem::path corpus, instruct, heldout;
};

/// Writes corpus.txt, instruct.jsonl and heldout_mcq.jsonl into `dir` (deterministic for a seed).
inline Files write(const std::filesystem::path& dir, std::uint64_t seed = 1234, int passages_per_fact = 6) {
  namespace fs = std::filesystem;
  pmc::io::ensure_directory(dir);
  std::mt19937_64 rng(seed);
  const auto& cats = categories();
  const auto& fs_ = facts();
  // passages: groups of 3 statements about different facts, each fact stated passages_per_fact times
  std::vector<std::string> sentences;
  for (const auto& f : fs_) {
    const auto& st = cats[static_cast<std::size_t>(f.category)].statements;
    for (int k = 0; k < passages_per_fact; ++k)
      sentences.push_back(fill(st[static_cast<std::size_t>(k) % st.size()], f.subject, f.answer));
  }
  std::shuffle(sentences.begin(), sentences.end(), rng);
  std::string corpus;
  for (std::size_t i = 0; i < sentences.size(); ++i) corpus += sentences[i] + (i % 3 == 2 ? "\n\n" : " ");
  corpus += "\n";
  Files out{dir / "corpus.txt", dir / "instruct.jsonl", dir / "heldout_mcq.jsonl"};
  io::write_file_atomic(out.corpus, corpus);

  auto options_for = [&](std::size_t i) {
    std::vector<std::string> opts{fs_[i].answer};
    std::vector<std::size_t> same;
    // distractors from the same category and the same split, so that no held-out answer ever appears in
    // the instruction data (not even as a wrong option) and tuning cannot teach which answers to avoid
    for (std::size_t j = 0; j < fs_.size(); ++j)
      if (j != i && fs_[j].category == fs_[i].category && held_out(j) == held_out(i)) same.push_back(j);
    std::shuffle(same.begin(), same.end(), rng);
    for (std::size_t k = 0; k < 3 && k < same.size(); ++k) opts.push_back(fs_[same[k]].answer);
    std::shuffle(opts.begin(), opts.end(), rng);
    const auto answer = std::find(opts.begin(), opts.end(), std::string(fs_[i].answer)) - opts.begin();
    return std::pair{opts, static_cast<int>(answer)};
  };
  std::string instruct, heldout;
  // the same instruction and input format as `pmc eval` uses for generic multiple-choice items
  const std::string instruction = eval::default_instruction(eval::Benchmark::mcq);
  for (std::size_t i = 0; i < fs_.size(); ++i) {
    const auto& cat = cats[static_cast<std::size_t>(fs_[i].category)];
    const std::string q = fill(cat.question, fs_[i].subject, fs_[i].answer);
    if (held_out(i)) {
      auto [opts, ans] = options_for(i);
      heldout += nlohmann::json{{"id", "demo-" + std::to_string(i)}, {"question", q}, {"options", opts},
                                {"answer", std::string(1, static_cast<char>('A' + ans))}, {"subject", cat.name}}
                     .dump() +
                 "\n";
      continue;
    }
    for (int variant = 0; variant < 3; ++variant) {  // three option orders of each taught fact
      auto [opts, ans] = options_for(i);
      eval::McqItem item;
      item.question = q;
      item.options = opts;
      item.answer = ans;
      const std::string input = eval::format_mcq_input(item);
      instruct += nlohmann::json{{"instruction", instruction}, {"input", input}, {"output", opts[static_cast<std::size_t>(ans)]},
                                 {"source", std::string("demo_") + cat.name}}
                      .dump() +
                  "\n";
    }
  }
  io::write_file_atomic(out.instruct, instruct);
  io::write_file_atomic(out.heldout, heldout);
  return out;
}

}  // namespace pmc::cli::demo_data
