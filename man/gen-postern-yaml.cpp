// Build-time generator of postern.yaml(5): prints the scdoc source that lib/config
// derives from its schema table, so the reference page can never drift from the code.
// Not installed; CMake runs it and pipes the output through scdoc.
#include <iostream>

#include "config/config.h"

int main() {
  std::cout << postern::config::schema_scdoc();
  return std::cout.good() ? 0 : 70;
}
