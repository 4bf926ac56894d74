// What a fuzz target holds the code to beyond "no crash": a property that fails
// aborts, and libFuzzer saves the input that broke it.
#ifndef GEOSTORM_TESTS_FUZZ_REQUIRE_H_
#define GEOSTORM_TESTS_FUZZ_REQUIRE_H_

#include <cstdio>
#include <cstdlib>
#include <string>

namespace geostorm::fuzz {

inline void Require(bool holds, const std::string& property) {
  if (holds) return;
  std::fprintf(stderr, "property broken: %s\n", property.c_str());
  std::abort();
}

}  // namespace geostorm::fuzz

#endif  // GEOSTORM_TESTS_FUZZ_REQUIRE_H_
