#pragma once
// Large allocations on 2 MiB pages: a fit of 1e6 groups touches ~250 MB of fresh memory (the
// group table, its sorted copy, the result columns), and at 4 KiB a page that is ~60,000 page
// faults, about a fifth of the CPU time of a 1e7-row fit (measured: benchmarks/RESULTS.md).

#include <cstddef>

namespace shrink::io {

/// Bytes from which an allocation is put on huge pages.
constexpr std::size_t huge_page_threshold = std::size_t{4} << 20;

/// Asks for transparent huge pages under [p, p + bytes) when it is at least huge_page_threshold
/// long (where the system has them in "madvise" mode, as Debian does, the kernel then maps 2 MiB
/// at a fault instead of 4 KiB). Only a hint: nothing changes where huge pages are off.
void advise_huge_pages(void* p, std::size_t bytes);

}  // namespace shrink::io
