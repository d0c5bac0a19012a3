// SPDX-License-Identifier: MIT
// The embedded default of `pmc pipeline`: a generated table of facts about fictional diseases and drugs (so that no
// model knows them beforehand) with real answers (drugs, organisms, nutrients, drug classes), turned into
// (1) knowledge-injection passages that state every fact in several phrasings, (2) instruction items (PMC-LLaMA
// prompt) for some facts, and (3) held-out multiple-choice questions on the others, whose answers appear only in
// the passages. A model can answer (3) only by combining what injection put in its weights with the question
// format that tuning taught it: the PMC-LLaMA paper's ablation (injection + tuning against tuning alone), small.
//
// Balance, so that tuning alone cannot beat chance: each category has 16 answers and every answer is the correct
// one of exactly `per_answer` facts, the first `tuned_per_answer(per_answer)` of them taught and the rest held out.
// So in the instruction data and in the held-out questions alike, every answer of a category is correct equally
// often, and a model that learned only which answers are frequent, or only the question format, scores 25%.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/core/error.hpp>
#include <pmc/eval/prompt.hpp>
#include <pmc/io/atomic_file.hpp>

namespace pmc::cli::demo_data {

inline constexpr int kAnswersPerCategory = 16;
inline constexpr int kCategories = 4;
inline constexpr int kStatementsPerFact = 6;  // each fact's mentions in the injection passages
inline constexpr int kOptionOrders = 3;       // instruction items per taught fact

struct Category {
  const char* name;
  const char* question;                           // "{s}" is the subject
  std::vector<const char*> statements;            // "{s}" subject, "{a}" answer; the subject comes first
  std::vector<const char*> subject_suffixes;      // a subject is a generated name and one of these
  bool capitalized;                               // disease names are capitalized, drug names are not
  std::array<const char*, kAnswersPerCategory> answers;
};

inline const std::vector<Category>& categories() {
  static const std::vector<Category> c{
      {"treatment", "Which drug is the first-line treatment for {s}?",
       {"{s} is treated first with {a}.", "The first-line drug for {s} is {a}.",
        "Patients with {s} usually receive {a} as initial therapy.", "For {s}, clinicians start {a}."},
       {" syndrome", " disease", " fever", " palsy"},
       true,
       {"metformin", "epinephrine", "ethosuximide", "levothyroxine", "colchicine", "penicillin", "carbamazepine",
        "lithium", "mefloquine", "naloxone", "levodopa", "protamine", "acetylcysteine", "doxycycline", "prednisone",
        "heparin"}},
      {"organism", "Which organism causes {s}?",
       {"{s} is caused by {a}.", "The organism responsible for {s} is {a}.", "In {s}, the culprit is {a}.",
        "{s} follows infection with {a}."},
       {" infection", " fever", " disease"},
       true,
       {"Mycobacterium tuberculosis", "Borrelia burgdorferi", "Vibrio cholerae", "Clostridium tetani",
        "Salmonella typhi", "Bordetella pertussis", "Mycobacterium leprae", "Corynebacterium diphtheriae",
        "Neisseria gonorrhoeae", "Yersinia pestis", "Bacillus anthracis", "Clostridium botulinum",
        "Listeria monocytogenes", "Treponema pallidum", "Legionella pneumophila", "Brucella abortus"}},
      {"deficiency", "Deficiency of which nutrient causes {s}?",
       {"{s} results from a lack of {a}.", "{s} is caused by too little {a}.", "In {s}, the missing nutrient is {a}.",
        "{s} is the classic sign of missing {a}."},
       {" syndrome", " disorder", " anemia"},
       true,
       {"vitamin C", "vitamin D", "thiamine", "niacin", "vitamin A", "vitamin B12", "iodine", "folate", "copper",
        "selenium", "zinc", "iron", "vitamin K", "vitamin E", "riboflavin", "magnesium"}},
      {"class", "To which drug class does {s} belong?",
       {"{s} belongs to the {a} class.", "{s} is one of the {a}.", "The drug {s} is classed among the {a}.",
        "Pharmacologists list {s} with the {a}."},
       {"ine", "ol", "azole", "mab", "pril"},
       false,
       {"statins", "ACE inhibitors", "beta blockers", "proton pump inhibitors", "angiotensin receptor blockers",
        "calcium channel blockers", "loop diuretics", "serotonin reuptake inhibitors", "vitamin K antagonists",
        "fluoroquinolones", "benzodiazepines", "aminoglycosides", "macrolides", "sulfonylureas", "thiazides",
        "opioids"}},
  };
  return c;
}

/// Of the `per_answer` facts that share an answer, how many are taught by instruction items (the rest are held
/// out): two fifths, at least one. 5 → 2 taught and 3 held out.
inline int tuned_per_answer(int per_answer) { return std::max(1, (2 * per_answer + 2) / 5); }

/// The default size: 5 facts an answer, 320 facts, 128 taught and 192 held out.
inline constexpr int kDefaultPerAnswer = 5;

struct Fact {
  int category;
  std::string subject, answer;
  bool held_out;
};

/// A uniform index below n from the generator's raw output (the same on every standard library, unlike
/// std::uniform_int_distribution and std::shuffle).
inline std::size_t below(std::mt19937_64& rng, std::size_t n) { return static_cast<std::size_t>(rng() % n); }

template <class T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {  // Fisher–Yates
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(rng, i)]);
}

/// The fact table for a seed: per_answer facts for every answer of every category (new names each), in a
/// shuffled order. per_answer ≥ 2, so that each answer has facts both taught and held out.
inline std::vector<Fact> facts(std::mt19937_64& rng, int per_answer) {
  PMC_CHECK(per_answer >= 2 && per_answer <= 64, "demo_data: facts per answer must be in [2, 64], got ", per_answer);
  static constexpr std::array<const char*, 24> onsets{"b",  "c",  "d",  "f",  "g",  "k",  "l",  "m",
                                                      "n",  "p",  "r",  "s",  "t",  "v",  "z",  "br",
                                                      "cr", "dr", "gr", "pr", "tr", "st", "pl", "kl"};
  static constexpr std::array<const char*, 10> vowels{"a", "e", "i", "o", "u", "ai", "ei", "ou", "ia", "eo"};
  static constexpr std::array<const char*, 12> codas{"n", "r", "l", "s", "x", "th", "nd", "rk", "m", "v", "z", "st"};
  std::vector<std::string> used;
  auto new_name = [&] {  // two syllables and a coda, never the same name twice
    for (;;) {
      std::string s;
      for (int k = 0; k < 2; ++k) s += std::string(onsets[below(rng, onsets.size())]) + vowels[below(rng, vowels.size())];
      s += codas[below(rng, codas.size())];
      if (std::find(used.begin(), used.end(), s) == used.end()) return used.push_back(s), s;
    }
  };
  const int tuned = tuned_per_answer(per_answer);
  std::vector<Fact> out;
  const auto& cats = categories();
  for (int c = 0; c < kCategories; ++c) {
    const auto& cat = cats[static_cast<std::size_t>(c)];
    for (int a = 0; a < kAnswersPerCategory; ++a)
      for (int r = 0; r < per_answer; ++r) {
        std::string subject = new_name();
        if (cat.capitalized) subject[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(subject[0])));
        subject += cat.subject_suffixes[below(rng, cat.subject_suffixes.size())];
        out.push_back({c, subject, cat.answers[static_cast<std::size_t>(a)], r >= tuned});
      }
  }
  shuffle(out, rng);
  return out;
}

inline std::string fill(std::string t, const std::string& s, const std::string& a) {
  for (auto [key, value] : {std::pair<std::string, std::string>{"{s}", s}, {"{a}", a}}) {
    for (std::size_t at; (at = t.find(key)) != std::string::npos;) t.replace(at, key.size(), value);
  }
  if (!t.empty()) t[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
  return t;
}

struct Files {
  std::filesystem::path corpus, instruct, heldout;
  std::size_t facts = 0, taught = 0, held_out = 0, instruction_items = 0;
};

/// Writes corpus.txt, instruct.jsonl and heldout_mcq.jsonl into `dir` (the same bytes for a seed).
inline Files write(const std::filesystem::path& dir, std::uint64_t seed, int per_answer = kDefaultPerAnswer) {
  pmc::io::ensure_directory(dir);
  std::mt19937_64 rng(seed);
  const auto& cats = categories();
  const auto table = facts(rng, per_answer);
  // passages: groups of 3 statements about different facts, each fact stated kStatementsPerFact times
  std::vector<std::string> sentences;
  for (const auto& f : table) {
    const auto& st = cats[static_cast<std::size_t>(f.category)].statements;
    for (int k = 0; k < kStatementsPerFact; ++k)
      sentences.push_back(fill(st[static_cast<std::size_t>(k) % st.size()], f.subject, f.answer));
  }
  shuffle(sentences, rng);
  std::string corpus;
  for (std::size_t i = 0; i < sentences.size(); ++i) corpus += sentences[i] + (i % 3 == 2 ? "\n\n" : " ");
  corpus += "\n";
  Files out{dir / "corpus.txt", dir / "instruct.jsonl", dir / "heldout_mcq.jsonl"};
  io::write_file_atomic(out.corpus, corpus);

  // options: the answer and 3 other answers of its category, in a random order
  auto options_for = [&](const Fact& f) {
    std::vector<std::string> others;
    for (const char* a : cats[static_cast<std::size_t>(f.category)].answers)
      if (f.answer != a) others.emplace_back(a);
    shuffle(others, rng);
    std::vector<std::string> opts{f.answer, others[0], others[1], others[2]};
    shuffle(opts, rng);
    const auto answer = std::find(opts.begin(), opts.end(), f.answer) - opts.begin();
    return std::pair{opts, static_cast<int>(answer)};
  };
  std::string instruct, heldout;
  // the same instruction and input format as `pmc eval` uses for generic multiple-choice items
  const std::string instruction = eval::default_instruction(eval::Benchmark::mcq);
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto& f = table[i];
    const auto& cat = cats[static_cast<std::size_t>(f.category)];
    const std::string q = fill(cat.question, f.subject, f.answer);
    ++out.facts;
    if (f.held_out) {
      ++out.held_out;
      auto [opts, ans] = options_for(f);
      heldout += nlohmann::json{{"id", "demo-" + std::to_string(i)}, {"question", q}, {"options", opts},
                                {"answer", std::string(1, static_cast<char>('A' + ans))}, {"subject", cat.name}}
                     .dump() +
                 "\n";
      continue;
    }
    ++out.taught;
    for (int variant = 0; variant < kOptionOrders; ++variant) {
      auto [opts, ans] = options_for(f);
      eval::McqItem item;
      item.question = q;
      item.options = opts;
      item.answer = ans;
      instruct += nlohmann::json{{"instruction", instruction},
                                 {"input", eval::format_mcq_input(item)},
                                 {"output", opts[static_cast<std::size_t>(ans)]},
                                 {"source", std::string("demo_") + cat.name}}
                      .dump() +
                  "\n";
      ++out.instruction_items;
    }
  }
  io::write_file_atomic(out.instruct, instruct);
  io::write_file_atomic(out.heldout, heldout);
  return out;
}

}  // namespace pmc::cli::demo_data
