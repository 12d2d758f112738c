#pragma once

// What a test of data at rest looks for: files under a directory whose
// bytes hold a pattern (a plaintext that must not be there).

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace solver_state::testing {

/// Regular files under `dir` (recursively) whose bytes contain `needle`.
inline std::vector<std::string> files_containing(const std::string& dir,
                                                 const std::string& needle) {
  std::vector<std::string> out;
  for (auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file())
      continue;
    std::ifstream in{f.path(), std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>{in}, {}};
    if (bytes.find(needle) != std::string::npos)
      out.push_back(f.path().string());
  }
  return out;
}

} // namespace solver_state::testing
