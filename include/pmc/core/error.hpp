// SPDX-License-Identifier: MIT
// pmc::Error: the one exception type of the library; messages name the file, tensor or shape at fault.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace pmc {

/// Every failure that pmc reports (bad input, shape mismatch, I/O) is a pmc::Error.
/// Messages are meant for the user: they name what was being read or computed and what was wrong.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

/// Throws pmc::Error with the streamed arguments as its message: `fail("model.bin: truncated at ", n)`.
template <class... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(detail::concat(std::forward<Args>(args)...));
}

}  // namespace pmc

/// PMC_CHECK(cond, parts...): throws pmc::Error with the message parts when cond is false.
#define PMC_CHECK(cond, ...)                 \
  do {                                       \
    if (!(cond)) ::pmc::fail(__VA_ARGS__);   \
  } while (0)
