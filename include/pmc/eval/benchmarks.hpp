// SPDX-License-Identifier: MIT
// Benchmark loaders: MedQA, MedMCQA, PubMedQA, MMLU CSV and a generic MCQ JSONL, all read into McqItem.
// Malformed input (bad JSON, missing fields) is a pmc::Error naming the file and line; an item whose answer
// key names no option is not an error: it is skipped and reported as "file:line: reason".
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/core/error.hpp>
#include <pmc/io/csv.hpp>
#include <pmc/io/jsonl.hpp>

namespace pmc::eval {

/// One multiple-choice item. `answer` indexes `options` (labels A, B, ... in order); `subject` is the
/// breakdown key (MedQA's exam step, MedMCQA's subject, MMLU's file subject).
struct McqItem {
  std::string id, question, context;
  std::vector<std::string> options;
  int answer = -1;
  std::string subject;
  std::vector<std::string> passages;  // PubMedQA's CONTEXTS as listed (`context` joins them with spaces)
  /// --prompt-format lm_eval with k shots: the harness's few-shot block (k solved examples, each followed
  /// by the fewshot_delimiter) that goes between the task's description and this item (lm_eval.hpp,
  /// add_lm_eval_fewshot); empty for zero-shot.
  std::string lm_eval_fewshot;
};

struct LoadResult {
  std::vector<McqItem> items;
  std::vector<std::string> skipped;  // "file:line: reason"

  void append(LoadResult&& other) {
    for (auto& i : other.items) items.push_back(std::move(i));
    for (auto& s : other.skipped) skipped.push_back(std::move(s));
  }
};

enum class Benchmark { medqa, medmcqa, pubmedqa, mmlu, mcq };

inline std::string_view benchmark_name(Benchmark b) {
  switch (b) {
    case Benchmark::medqa: return "medqa";
    case Benchmark::medmcqa: return "medmcqa";
    case Benchmark::pubmedqa: return "pubmedqa";
    case Benchmark::mmlu: return "mmlu";
    case Benchmark::mcq: return "mcq";
  }
  return "?";
}

inline Benchmark parse_benchmark(std::string_view name) {
  for (Benchmark b : {Benchmark::medqa, Benchmark::medmcqa, Benchmark::pubmedqa, Benchmark::mmlu, Benchmark::mcq})
    if (benchmark_name(b) == name) return b;
  fail("unknown benchmark '", name, "'; expected medqa, medmcqa, pubmedqa, mmlu or mcq");
}

/// The label of option i: A, B, C, ...
inline std::string option_label(std::size_t i) { return std::string(1, static_cast<char>('A' + i)); }

/// The index of label `label` ("B", "b", " B ") among n options, or -1 when it names none of them.
inline int label_index(std::string_view label, std::size_t n) {
  while (!label.empty() && (label.front() == ' ' || label.front() == '\t')) label.remove_prefix(1);
  while (!label.empty() && (label.back() == ' ' || label.back() == '\t' || label.back() == '\r')) label.remove_suffix(1);
  if (label.size() != 1) return -1;
  char c = label[0];
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (c < 'A' || c > 'Z') return -1;
  const int i = c - 'A';
  return static_cast<std::size_t>(i) < n ? i : -1;
}

namespace detail {

using io::for_each_jsonl;
using io::read_text_file;

inline std::string where(const std::filesystem::path& path, std::size_t line) {
  return path.string() + ":" + std::to_string(line);
}

/// A required string field (numbers are accepted and printed, as some dumps store ids as numbers).
inline std::string get_string(const nlohmann::json& j, const char* key, const std::string& at) {
  auto it = j.find(key);
  PMC_CHECK(it != j.end() && !it->is_null(), at, ": missing field \"", key, "\"");
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return it->dump();
  fail(at, ": field \"", key, "\" must be a string, got ", it->type_name());
}

inline std::string get_string_or(const nlohmann::json& j, const char* key, std::string fallback = {}) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

/// Options as a list, or as an object keyed by labels A, B, ... (in label order; any other key is an error).
inline std::vector<std::string> get_options(const nlohmann::json& j, const char* key, const std::string& at) {
  auto it = j.find(key);
  PMC_CHECK(it != j.end(), at, ": missing field \"", key, "\"");
  std::vector<std::string> out;
  auto text = [&](const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    PMC_CHECK(v.is_number() || v.is_boolean(), at, ": option values must be strings, got ", v.type_name());
    return v.dump();
  };
  if (it->is_array()) {
    for (const auto& v : *it) out.push_back(text(v));
  } else if (it->is_object()) {
    out.resize(it->size());
    for (const auto& [k, v] : it->items()) {
      const int i = label_index(k, it->size());
      PMC_CHECK(i >= 0 && k.size() == 1, at, ": option key \"", k, "\" is not one of A..",
                option_label(it->size() - 1));
      out[static_cast<std::size_t>(i)] = text(v);
    }
  } else {
    fail(at, ": field \"", key, "\" must be a list or an object of options, got ", it->type_name());
  }
  PMC_CHECK(out.size() >= 2 && out.size() <= 26, at, ": expected 2 to 26 options, got ", out.size());
  return out;
}

}  // namespace detail

/// MedQA (USMLE) JSONL: {question, answer, options{A..}, meta_info, answer_idx}. The subject is meta_info
/// ("step1", "step2&3"); the id is the line number. If `answer` (the text) is present it must be the keyed
/// option's text, else the item is skipped: a disagreeing key is an unknown answer, not a silent mislabel.
inline LoadResult load_medqa(const std::filesystem::path& path) {
  LoadResult r;
  detail::for_each_jsonl(path, [&](const nlohmann::json& j, std::size_t line) {
    const std::string at = detail::where(path, line);
    McqItem item;
    item.id = std::to_string(line);
    item.question = detail::get_string(j, "question", at);
    item.options = detail::get_options(j, "options", at);
    item.subject = detail::get_string_or(j, "meta_info");
    const std::string key = detail::get_string(j, "answer_idx", at);
    item.answer = label_index(key, item.options.size());
    if (item.answer < 0) {
      r.skipped.push_back(at + ": answer_idx \"" + key + "\" names none of the " + std::to_string(item.options.size()) +
                          " options");
      return;
    }
    const std::string text = detail::get_string_or(j, "answer");
    if (!text.empty() && text != item.options[static_cast<std::size_t>(item.answer)]) {
      r.skipped.push_back(at + ": answer text \"" + text + "\" is not option " + key);
      return;
    }
    r.items.push_back(std::move(item));
  });
  return r;
}

/// MedMCQA JSONL: {id, question, opa..opd, cop (1..4 = A..D), subject_name}. The subject is subject_name.
inline LoadResult load_medmcqa(const std::filesystem::path& path) {
  LoadResult r;
  detail::for_each_jsonl(path, [&](const nlohmann::json& j, std::size_t line) {
    const std::string at = detail::where(path, line);
    McqItem item;
    item.id = detail::get_string_or(j, "id", std::to_string(line));
    item.question = detail::get_string(j, "question", at);
    for (const char* k : {"opa", "opb", "opc", "opd"}) item.options.push_back(detail::get_string(j, k, at));
    item.subject = detail::get_string_or(j, "subject_name");
    auto cop = j.find("cop");
    PMC_CHECK(cop != j.end(), at, ": missing field \"cop\"");
    int c = 0;
    if (cop->is_number_integer()) {  // 64-bit: a key like 2^32 + 1 must not wrap to a valid 1..4
      const auto v = cop->get<std::int64_t>();
      c = v >= 1 && v <= 4 ? static_cast<int>(v) : 0;
    }
    else if (cop->is_string() && cop->get<std::string>().size() == 1 && std::isdigit(static_cast<unsigned char>(cop->get<std::string>()[0])))
      c = cop->get<std::string>()[0] - '0';
    if (c < 1 || c > 4) {
      r.skipped.push_back(at + ": cop " + cop->dump() + " names none of the 4 options (expected 1..4)");
      return;
    }
    item.answer = c - 1;
    r.items.push_back(std::move(item));
  });
  return r;
}

enum class PubmedqaSplit { test, all };

/// The yes/no/maybe options of PubMedQA, in this order (A = yes, B = no, C = maybe).
inline const std::vector<std::string>& pubmedqa_options() {
  static const std::vector<std::string> o{"yes", "no", "maybe"};
  return o;
}

/// PubMedQA-L: ori_pqal.json {PMID: {QUESTION, CONTEXTS[], final_decision}}. The test split (default) is
/// the PMIDs of test_ground_truth.json (`ground_truth`; empty: the file beside ori_pqal.json), in that file's
/// order and with its answers; `all` is every item of ori_pqal.json with its final_decision. The context is
/// the CONTEXTS joined with spaces, as PubMedQA's own baselines join them. Lines in skip reasons are 1 for
/// these single-document files; the PMID names the item.
inline LoadResult load_pubmedqa(const std::filesystem::path& path, PubmedqaSplit split = PubmedqaSplit::test,
                                std::filesystem::path ground_truth = {}) {
  auto parse = [](const std::filesystem::path& p) {
    try {
      return nlohmann::ordered_json::parse(detail::read_text_file(p));
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
      fail(p.string(), ": malformed JSON: ", e.what());
    }
  };
  const auto data = parse(path);
  PMC_CHECK(data.is_object(), path.string(), ": expected an object keyed by PMID");
  auto answer_of = [](const std::string& d) {
    for (std::size_t i = 0; i < pubmedqa_options().size(); ++i)
      if (pubmedqa_options()[i] == d) return static_cast<int>(i);
    return -1;
  };
  LoadResult r;
  auto add = [&](const std::string& pmid, const std::string& decision, const std::string& source) {
    const std::string at = path.string() + ": PMID " + pmid;
    auto it = data.find(pmid);
    if (it == data.end()) {
      r.skipped.push_back(source + ": PMID " + pmid + " is not in " + path.filename().string());
      return;
    }
    const auto& e = *it;
    PMC_CHECK(e.is_object(), at, ": expected an object");
    McqItem item;
    item.id = pmid;
    auto q = e.find("QUESTION");
    PMC_CHECK(q != e.end() && q->is_string(), at, ": missing string field \"QUESTION\"");
    item.question = q->get<std::string>();
    auto c = e.find("CONTEXTS");
    PMC_CHECK(c != e.end() && c->is_array(), at, ": missing list field \"CONTEXTS\"");
    for (const auto& s : *c) {
      PMC_CHECK(s.is_string(), at, ": CONTEXTS must hold strings");
      if (!item.context.empty()) item.context += ' ';
      item.context += s.get<std::string>();
      item.passages.push_back(s.get<std::string>());
    }
    item.options = pubmedqa_options();
    item.answer = answer_of(decision);
    if (item.answer < 0) {
      r.skipped.push_back(source + ": PMID " + pmid + ": answer \"" + decision + "\" is not yes, no or maybe");
      return;
    }
    r.items.push_back(std::move(item));
  };
  if (split == PubmedqaSplit::all) {
    for (const auto& [pmid, e] : data.items()) {
      const std::string fd = e.is_object() && e.contains("final_decision") && e["final_decision"].is_string()
                                 ? e["final_decision"].get<std::string>()
                                 : std::string();
      add(pmid, fd, path.string() + ":1");
    }
    return r;
  }
  if (ground_truth.empty()) ground_truth = path.parent_path() / "test_ground_truth.json";
  PMC_CHECK(std::filesystem::exists(ground_truth), ground_truth.string(),
            ": no such file (PubMedQA's test split needs test_ground_truth.json; pass it or use the 'all' split)");
  const auto gt = parse(ground_truth);
  PMC_CHECK(gt.is_object(), ground_truth.string(), ": expected an object {PMID: answer}");
  for (const auto& [pmid, v] : gt.items())
    add(pmid, v.is_string() ? v.get<std::string>() : v.dump(), ground_truth.string() + ":1");
  return r;
}

/// The MMLU subject of a file name: "anatomy_test.csv" → "anatomy".
inline std::string mmlu_subject(const std::filesystem::path& path) {
  std::string s = path.stem().string();
  for (std::string_view suffix : {"_test", "_val", "_dev"})
    if (s.size() > suffix.size() && s.ends_with(suffix)) return s.substr(0, s.size() - suffix.size());
  return s;
}

/// MMLU CSV without a header: question, option A, ..., answer letter (4 options in MMLU; any count ≥ 2 works).
inline LoadResult load_mmlu_csv(const std::filesystem::path& path) {
  LoadResult r;
  const std::string subject = mmlu_subject(path);
  const auto records = io::parse_csv(detail::read_text_file(path), path.string());
  std::size_t width = 0;
  for (const auto& rec : records) {
    const std::string at = detail::where(path, rec.line);
    if (width == 0) width = rec.fields.size();
    PMC_CHECK(rec.fields.size() >= 4, at, ": expected question, at least 2 options and an answer, got ",
              rec.fields.size(), " fields");
    PMC_CHECK(rec.fields.size() == width, at, ": ", rec.fields.size(), " fields, but the file's first record has ",
              width);
    McqItem item;
    item.id = subject + ":" + std::to_string(rec.line);
    item.question = rec.fields.front();
    item.options.assign(rec.fields.begin() + 1, rec.fields.end() - 1);
    item.subject = subject;
    item.answer = label_index(rec.fields.back(), item.options.size());
    if (item.answer < 0) {
      r.skipped.push_back(at + ": answer \"" + rec.fields.back() + "\" names none of the " +
                          std::to_string(item.options.size()) + " options");
      continue;
    }
    r.items.push_back(std::move(item));
  }
  return r;
}

/// Generic MCQ JSONL: {"question", "options": [..] or {"A": ..}, "answer": "B" or index, "context"?,
/// "subject"?, "id"?}.
inline LoadResult load_mcq_jsonl(const std::filesystem::path& path) {
  LoadResult r;
  detail::for_each_jsonl(path, [&](const nlohmann::json& j, std::size_t line) {
    const std::string at = detail::where(path, line);
    McqItem item;
    item.id = detail::get_string_or(j, "id", std::to_string(line));
    item.question = detail::get_string(j, "question", at);
    item.options = detail::get_options(j, "options", at);
    item.context = detail::get_string_or(j, "context");
    item.subject = detail::get_string_or(j, "subject");
    auto a = j.find("answer");
    PMC_CHECK(a != j.end() && !a->is_null(), at, ": missing field \"answer\"");
    if (a->is_number_integer()) {
      const auto i = a->get<std::int64_t>();
      item.answer = i >= 0 && static_cast<std::size_t>(i) < item.options.size() ? static_cast<int>(i) : -1;
    } else if (a->is_string()) {
      item.answer = label_index(a->get<std::string>(), item.options.size());
    } else {
      fail(at, ": field \"answer\" must be a label or an index, got ", a->type_name());
    }
    if (item.answer < 0) {
      r.skipped.push_back(at + ": answer " + a->dump() + " names none of the " + std::to_string(item.options.size()) +
                          " options");
      return;
    }
    r.items.push_back(std::move(item));
  });
  return r;
}

/// Loads `files` of one benchmark, in order. PubMedQA takes ori_pqal.json and optionally its
/// test_ground_truth.json (else the one beside it).
inline LoadResult load_benchmark(Benchmark b, const std::vector<std::filesystem::path>& files,
                                 PubmedqaSplit split = PubmedqaSplit::test) {
  PMC_CHECK(!files.empty(), benchmark_name(b), ": no data files given");
  LoadResult r;
  if (b == Benchmark::pubmedqa) {
    PMC_CHECK(files.size() <= 2, "pubmedqa: expected ori_pqal.json and optionally test_ground_truth.json, got ",
              files.size(), " files");
    std::filesystem::path data = files[0], gt;
    if (files.size() == 2) {
      gt = files[1];
      if (data.filename() == "test_ground_truth.json") std::swap(data, gt);
    }
    return load_pubmedqa(data, split, gt);
  }
  for (const auto& f : files) {
    switch (b) {
      case Benchmark::medqa: r.append(load_medqa(f)); break;
      case Benchmark::medmcqa: r.append(load_medmcqa(f)); break;
      case Benchmark::mmlu: r.append(load_mmlu_csv(f)); break;
      case Benchmark::mcq: r.append(load_mcq_jsonl(f)); break;
      case Benchmark::pubmedqa: break;
    }
  }
  return r;
}

}  // namespace pmc::eval
