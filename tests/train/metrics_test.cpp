// SPDX-License-Identifier: MIT
// Reading metrics.jsonl back (train/metrics.hpp): fields present on some lines only, NaN losses, a run killed
// mid-line, malformed files named in the error, and the moving average of `pmc plot --smooth`.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <pmc/train/metrics.hpp>
#include <support/paths.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace metrics_test {

namespace fs = std::filesystem;

namespace {

fs::path write_metrics(const std::string& name, const std::string& text) {
  const auto path = pmc::test::tmp_dir() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST_CASE("read_metric takes a field from the lines that have it, null is NaN, a torn last line is left out") {
  const auto path = write_metrics("metrics_read.jsonl",
                                  "{\"step\": 1, \"loss\": 4.5, \"lr\": 0.001}\n"
                                  "\n"
                                  "{\"step\": 2, \"loss\": 4.0, \"lr\": 0.002, \"eval_loss\": 4.25}\n"
                                  "{\"step\": 3, \"loss\": null, \"lr\": 0.002}\n"
                                  "{\"step\": 4, \"loss\": 3.5, \"lr\": 0.001, \"eval_loss\": 3.75}\n"
                                  "{\"step\": 5, \"lo");
  const auto loss = pmc::train::read_metric(path, "loss");
  REQUIRE(loss.steps == std::vector<double>{1, 2, 3, 4});
  CHECK(loss.values[0] == 4.5);
  CHECK(loss.values[1] == 4.0);
  CHECK(std::isnan(loss.values[2]));
  CHECK(loss.values[3] == 3.5);
  const auto eval = pmc::train::read_metric(path, "eval_loss");
  CHECK(eval.steps == std::vector<double>{2, 4});
  CHECK(eval.values == std::vector<double>{4.25, 3.75});
  CHECK(pmc::train::read_metric(path, "grad_norm").steps.empty());
}

TEST_CASE("read_metric errors name the file and line") {
  const auto bad_middle = write_metrics("metrics_bad_middle.jsonl", "{\"step\": 1, \"loss\": 4.5}\n{\"step\": 2, \"lo\n"
                                                                    "{\"step\": 3, \"loss\": 4.0}\n");
  CHECK_THROWS_WITH_AS(pmc::train::read_metric(bad_middle, "loss"),
                       doctest::Contains("metrics_bad_middle.jsonl:2: not a JSON object"), pmc::Error);
  const auto no_step = write_metrics("metrics_no_step.jsonl", "{\"loss\": 4.5}\n");
  CHECK_THROWS_WITH_AS(pmc::train::read_metric(no_step, "loss"),
                       doctest::Contains("metrics_no_step.jsonl:1: no numeric \"step\""), pmc::Error);
  const auto text_value = write_metrics("metrics_text_value.jsonl", "{\"step\": 1, \"loss\": \"high\"}\n");
  CHECK_THROWS_WITH_AS(pmc::train::read_metric(text_value, "loss"),
                       doctest::Contains("metrics_text_value.jsonl:1: \"loss\" is string, not a number"), pmc::Error);
  CHECK_THROWS_WITH_AS(pmc::train::read_metric(pmc::test::tmp_dir() / "metrics_absent.jsonl", "loss"),
                       doctest::Contains("metrics_absent.jsonl"), pmc::Error);
  CHECK_THROWS_WITH_AS(pmc::train::metrics_file(pmc::test::tmp_dir() / "no_such_run"),
                       doctest::Contains("no_such_run: no such metrics file"), pmc::Error);
}

TEST_CASE("moving_average averages the finite values of the last `window` points") {
  const pmc::train::MetricCurve curve{{1, 2, 3, 4, 5}, {4, 2, NAN, 6, 8}};
  const auto same = pmc::train::moving_average(curve, 1);
  CHECK(same.values[0] == 4);
  CHECK(std::isnan(same.values[2]));
  const auto smooth = pmc::train::moving_average(curve, 3);
  CHECK(smooth.steps == curve.steps);
  CHECK(smooth.values == std::vector<double>{4, 3, 3, 4, 7});  // (4), (4+2)/2, (4+2)/2, (2+6)/2, (6+8)/2
  CHECK_THROWS_AS(pmc::train::moving_average(curve, 0), pmc::Error);
}

}  // namespace metrics_test
