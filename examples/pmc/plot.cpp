// SPDX-License-Identifier: MIT
// `pmc plot`: a metric of one or more training runs (their metrics.jsonl) as an SVG line plot that any browser
// opens, and a one-line summary per curve:
//   pmc plot runs/inject runs/tune_only                 # train and eval loss of both runs -> loss.svg
//   pmc plot runs/inject --metric lr -o lr.svg
//   pmc plot runs/inject --smooth 20                    # moving average over 20 steps
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "loss_plot.hpp"

namespace {

namespace fs = std::filesystem;

/// "name: N points, steps a-b, first y0, last y1, min ymin at step s" (finite values only).
void print_summary(const pmc::cli::Series& s) {
  double first = NAN, last = NAN, lowest = INFINITY, lowest_step = NAN;
  std::size_t finite = 0;
  for (std::size_t i = 0; i < s.y.size(); ++i) {
    if (!std::isfinite(s.y[i])) continue;
    if (finite++ == 0) first = s.y[i];
    last = s.y[i];
    if (s.y[i] < lowest) lowest = s.y[i], lowest_step = s.x[i];
  }
  std::printf("  %-28s %6zu points, steps %g-%g, first %.4g, last %.4g, min %.4g at step %g%s\n", s.name.c_str(),
              s.y.size(), s.x.front(), s.x.back(), first, last, lowest, lowest_step,
              finite < s.y.size() ? " (some values are NaN)" : "");
}

const pmc::cli::Command plot_command{
    "plot", "Plot a metric of training runs (their metrics.jsonl) as an SVG", [](CLI::App& app) {
      struct Opts {
        std::vector<std::string> runs;
        std::string metric = "loss", out, title;
        std::size_t smooth = 1;
        bool no_eval = false;
      };
      auto o = std::make_shared<Opts>();
      app.add_option("runs", o->runs, "run folders (pmc pretrain/instruct --out) or metrics.jsonl files")->required();
      app.add_option("--metric", o->metric, "loss, eval_loss, lr, grad_norm or tokens_per_s")
          ->check(CLI::IsMember({"loss", "eval_loss", "lr", "grad_norm", "tokens_per_s"}));
      app.add_option("--smooth", o->smooth, "moving average over N steps (eval loss is plotted as measured)")
          ->check(CLI::PositiveNumber);
      app.add_flag("--no-eval", o->no_eval, "with --metric loss, leave out the eval loss");
      app.add_option("-o,--out", o->out, "the SVG to write (default: RUN/<metric>.svg for one run folder, else "
                                         "<metric>.svg here)");
      app.add_option("--title", o->title, "the plot's title");
      return [o]() {
        std::vector<pmc::cli::PlotRun> runs;
        for (const auto& r : o->runs) runs.push_back({pmc::cli::run_name(r), pmc::train::metrics_file(r)});
        const auto series = pmc::cli::metric_series(runs, o->metric, o->smooth, !o->no_eval);
        fs::path out = o->out;
        if (out.empty()) {
          const bool one_folder = o->runs.size() == 1 && fs::is_directory(o->runs[0]);
          out = (one_folder ? fs::path(o->runs[0]) : fs::path(".")) / (o->metric + ".svg");
        }
        const std::string title = o->title.empty() ? o->metric : o->title;
        pmc::io::write_file_atomic(out, pmc::cli::svg_line_plot(series, title, "step", pmc::cli::metric_label(o->metric)));
        std::printf("%s of %zu run%s:\n", o->metric.c_str(), runs.size(), runs.size() == 1 ? "" : "s");
        for (const auto& s : series) print_summary(s);
        std::printf("wrote %s\n", out.string().c_str());
        return 0;
      };
    }};

}  // namespace
