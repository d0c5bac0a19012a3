// SPDX-License-Identifier: MIT
// metrics.jsonl, a training run's log: one JSON object a line (StepRecord: step, loss, lr, grad_norm,
// tokens_per_s, epoch, and eval_loss on the steps that evaluated). The schema, its writer (the trainer's), its
// readers (records for a resumed trainer, one field as a curve for plots), and the cut back to a checkpoint.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/core/error.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/io/jsonl.hpp>

namespace pmc::train {

/// One line of metrics.jsonl. A non-finite value is written as null and read back as NaN.
struct StepRecord {
  std::int64_t step = 0;  // 1-based: the number of updates done
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0;
  std::int64_t epoch = 0;           // the data epoch after the step
  std::optional<double> eval_loss;  // on the steps that evaluated
};

/// The line of `r`: {"step", "loss", "lr", "grad_norm", "tokens_per_s", "epoch"[, "eval_loss"]}.
inline nlohmann::json to_json(const StepRecord& r) {
  nlohmann::json j{{"step", r.step}, {"loss", r.loss}, {"lr", r.lr}, {"grad_norm", r.grad_norm},
                   {"tokens_per_s", r.tokens_per_s}, {"epoch", r.epoch}};
  if (r.eval_loss) j["eval_loss"] = *r.eval_loss;
  return j;
}

namespace detail {
/// The value `v` of `field` as a number (null: NaN); an error naming `where` when it is another type.
inline double metric_value(const nlohmann::json& v, std::string_view field, const std::string& where) {
  PMC_CHECK(v.is_number() || v.is_null(), where, ": \"", field, "\" is ", v.type_name(), ", not a number");
  return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
}
}  // namespace detail

/// The record of a line; a missing field or one that is not a number is an error naming `where` and the field.
inline StepRecord record_from_json(const nlohmann::json& j, const std::string& where) {
  auto number = [&](std::string_view field) {
    const auto it = j.find(field);
    PMC_CHECK(it != j.end(), where, ": no \"", field, "\"");
    return detail::metric_value(*it, field, where);
  };
  StepRecord r;
  r.step = static_cast<std::int64_t>(number("step"));
  r.loss = number("loss");
  r.lr = number("lr");
  r.grad_norm = number("grad_norm");
  r.tokens_per_s = number("tokens_per_s");
  r.epoch = static_cast<std::int64_t>(number("epoch"));
  if (const auto it = j.find("eval_loss"); it != j.end()) r.eval_loss = detail::metric_value(*it, "eval_loss", where);
  return r;
}

/// The metrics file of a run: `run` itself when it is a file, else run/metrics.jsonl. A missing one is an error
/// naming the path.
inline std::filesystem::path metrics_file(const std::filesystem::path& run) {
  const auto file = std::filesystem::is_directory(run) ? run / "metrics.jsonl" : run;
  PMC_CHECK(std::filesystem::is_regular_file(file), file.string(), ": no such metrics file (a run folder holds ",
            "metrics.jsonl)");
  return file;
}

/// Calls f(line, "file:line") for each line of a metrics file: a JSON object with a numeric "step". Errors name
/// the file and line: a line that is not a JSON object, one without a numeric "step". An unterminated last line,
/// what a run killed while writing leaves, is left out.
inline void for_each_metrics_line(const std::filesystem::path& file,
                                  const std::function<void(const nlohmann::json&, const std::string&)>& f) {
  const std::string text = io::read_text_file(file);
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    const bool terminated = end != std::string::npos;
    if (!terminated) end = text.size();
    ++line_no;
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!terminated && (j.is_discarded() || !j.is_object())) break;  // torn last line
    const std::string where = file.string() + ":" + std::to_string(line_no);
    PMC_CHECK(!j.is_discarded() && j.is_object(), where, ": not a JSON object");
    PMC_CHECK(j.contains("step") && j["step"].is_number(), where, ": no numeric \"step\"");
    f(j, where);
  }
}

/// Every record of a metrics file (see for_each_metrics_line and record_from_json for the errors).
inline std::vector<StepRecord> read_metrics(const std::filesystem::path& file) {
  std::vector<StepRecord> records;
  for_each_metrics_line(file, [&](const nlohmann::json& j, const std::string& where) {
    records.push_back(record_from_json(j, where));
  });
  return records;
}

/// One metric of a run: its value at each step that recorded it.
struct MetricCurve {
  std::vector<double> steps, values;
};

/// `field` at every line of a metrics.jsonl that has it (eval_loss is only on some); null reads as NaN. A value
/// that is neither a number nor null is an error naming the file and line.
inline MetricCurve read_metric(const std::filesystem::path& file, std::string_view field) {
  MetricCurve curve;
  for_each_metrics_line(file, [&](const nlohmann::json& j, const std::string& where) {
    const auto it = j.find(field);
    if (it == j.end()) return;
    curve.steps.push_back(j["step"].get<double>());
    curve.values.push_back(detail::metric_value(*it, field, where));
  });
  return curve;
}

/// Appends records to a metrics file, a line each, flushed at once (a crash loses at most a torn last line,
/// which the readers leave out).
class MetricsWriter {
 public:
  explicit MetricsWriter(const std::filesystem::path& file) : file_(file), out_(file, std::ios::app) {
    PMC_CHECK(out_.good(), file.string(), ": cannot open for writing");
  }
  void write(const StepRecord& r) {
    out_ << to_json(r).dump() << "\n" << std::flush;
    PMC_CHECK(out_.good(), file_.string(), ": write failed");
  }

 private:
  std::filesystem::path file_;
  std::ofstream out_;
};

/// The records of `file` up to step `last_step` (none if there is no file), read without touching it: what a
/// run resumed from its checkpoint of that step writes back (write_metrics) once the checkpoint is restored.
inline std::vector<StepRecord> metrics_until(const std::filesystem::path& file, std::int64_t last_step) {
  std::vector<StepRecord> kept;
  if (!std::filesystem::exists(file)) return kept;
  for_each_metrics_line(file, [&](const nlohmann::json& j, const std::string& where) {
    if (j["step"].get<double>() <= static_cast<double>(last_step)) kept.push_back(record_from_json(j, where));
  });
  return kept;
}

/// Rewrites `file` atomically as `records`, a line each.
inline void write_metrics(const std::filesystem::path& file, const std::vector<StepRecord>& records) {
  std::string text;
  for (const auto& r : records) text += to_json(r).dump() + "\n";
  io::write_file_atomic(file, text);
}

/// The trailing moving average over `window` points (window 1: the curve itself): point i averages the finite
/// values among points max(0, i - window + 1) .. i, NaN where there are none.
inline MetricCurve moving_average(const MetricCurve& curve, std::size_t window) {
  PMC_CHECK(window >= 1, "moving_average: window must be at least 1");
  MetricCurve out{curve.steps, std::vector<double>(curve.values.size())};
  for (std::size_t i = 0; i < curve.values.size(); ++i) {
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t k = i + 1 > window ? i + 1 - window : 0; k <= i; ++k)
      if (std::isfinite(curve.values[k])) sum += curve.values[k], ++n;
    out.values[i] = n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

}  // namespace pmc::train
