// SPDX-License-Identifier: MIT
// PMC-LLaMA prompt formatting, answer extraction and the Wilson interval (no model needed).
#include <doctest/doctest.h>

#include <pmc/eval/prompt.hpp>
#include <pmc/eval/scoring.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace prompt_test {

using namespace pmc::eval;

TEST_CASE("PMC-LLaMA prompt: Alpaca template, ###Question/###Options input, context first") {
  McqItem item{.id = "1", .question = "Which drug?", .options = {"Ampicillin", "Ceftriaxone", "Nitrofurantoin"},
               .answer = 2};
  const std::string p = format_prompt(item, "Answer directly.");
  CHECK(p ==
        "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
        "response that appropriately completes the request.\n\n### Instruction:\nAnswer directly.\n\n### Input:\n"
        "###Question: Which drug?\n###Options:\nA. Ampicillin\nB. Ceftriaxone\nC. Nitrofurantoin\n\n### Response:");
  CHECK(p.starts_with(prompt_head("Answer directly.")));
  item.context = "Some abstract.";
  CHECK(format_mcq_input(item) ==
        "###Context: Some abstract.\n###Question: Which drug?\n###Options:\nA. Ampicillin\nB. Ceftriaxone\nC. "
        "Nitrofurantoin");
  CHECK(pmc_answer(3) == "###Answer: OPTION D IS CORRECT.");
  CHECK(default_instruction(Benchmark::medqa).starts_with("You're a doctor, kindly address the medical queries"));
  CHECK(default_instruction(Benchmark::pubmedqa).find("yes/no decision") != std::string::npos);
}

TEST_CASE("answer extraction: PMC-LLaMA's first OPTION X IS CORRECT, then fallbacks, else unparsed") {
  const std::vector<std::string> abcd{"w", "x", "y", "z"};
  auto ex = [&](const char* s) { return extract_answer(s, abcd); };
  CHECK(ex("###Answer: OPTION D IS CORRECT.").index == 3);
  CHECK(ex("###Answer: OPTION D IS CORRECT.").rule == AnswerRule::option_is_correct);
  CHECK(ex("blah option b is correct, no, OPTION C IS CORRECT").index == 1);  // the first match, any case
  CHECK(ex("I think the answer is C because").index == 2);
  CHECK(ex("I think the answer is C because").rule == AnswerRule::answer_is);
  CHECK(ex("Answer: (A)").index == 0);
  CHECK(ex("  B. because it is").index == 1);
  CHECK(ex("B").rule == AnswerRule::leading_letter);
  CHECK(ex("A lot of patients").rule == AnswerRule::leading_letter);  // a lone capital at the start reads as a label
  CHECK(ex("Also none of these").rule == AnswerRule::unparsed);       // "Also" is a word, not a label
  CHECK(!ex("the patient should rest").parsed());
  CHECK(ex("OPTION E IS CORRECT").index == 4);  // a label beyond the options: parsed, and wrong
  const auto& ynm = pubmedqa_options();
  CHECK(extract_answer("Maybe, though yes in part", ynm).index == 2);
  CHECK(extract_answer("Maybe, though yes in part", ynm).rule == AnswerRule::option_word);
  CHECK(extract_answer("###Answer: no.", ynm).index == 1);
  CHECK(extract_answer("nothing known", ynm).rule == AnswerRule::unparsed);  // "no" inside a word does not count
}

TEST_CASE("Wilson 95% interval") {
  auto near = [](double a, double b) { return std::abs(a - b) < 5e-5; };
  const auto a = wilson_interval(8, 10);
  CHECK(near(a.low, 0.4902));
  CHECK(near(a.high, 0.9433));
  const auto z = wilson_interval(0, 10);
  CHECK(z.low == 0.0);
  CHECK(near(z.high, 0.2775));
  const auto h = wilson_interval(50, 100);
  CHECK(near(h.low, 0.4038));
  CHECK(near(h.high, 0.5962));
  const auto e = wilson_interval(0, 0);
  CHECK(e.low == 0.0);
  CHECK(e.high == 1.0);
}

}  // namespace prompt_test
