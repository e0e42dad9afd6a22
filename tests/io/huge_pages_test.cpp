// Large allocations carry the kernel's huge-page advice. Truth: the kernel's own record of the
// advice, the "hg" flag (MADV_HUGEPAGE) in /proc/self/smaps of the mapping that holds the memory.

#include "io/huge_pages.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// The VmFlags of the mapping holding `p`, or "" when /proc/self/smaps cannot tell.
std::string flags_of_mapping(const void* p)
{
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> begin >> dash >> end && dash == '-' && line.find(':') > line.find(' ')) {
      inside = at >= begin && at < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

bool huge_pages_available()
{
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  return std::getline(f, mode) && mode.find("[never]") == std::string::npos;
}

TEST(HugePages, LargeVectorsAreAdvised)
{
  if (!huge_pages_available()) GTEST_SKIP() << "transparent huge pages are off here";
  std::vector<double> large(shrink::io::huge_page_threshold / sizeof(double) * 4);  // 16 MiB
  const std::string flags = flags_of_mapping(large.data() + large.size() / 2);
  ASSERT_FALSE(flags.empty()) << "no mapping found in /proc/self/smaps";
  EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;
}

}  // namespace
