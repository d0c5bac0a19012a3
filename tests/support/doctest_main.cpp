// SPDX-License-Identifier: MIT
// The one main() of pmc's doctest executables.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
