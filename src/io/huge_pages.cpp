#include "huge_pages.hpp"

#include <cstdint>
#include <cstdlib>
#include <new>

#include <sys/mman.h>

namespace shrink::io {

void advise_huge_pages(void* p, std::size_t bytes)
{
  if (bytes < huge_page_threshold) return;
  constexpr std::uintptr_t page = 4096;
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(page - 1);
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace shrink::io

// Every large C++ allocation (std::vector and std::string buffers) gets the hint: the global
// allocation functions are replaced (as the standard allows) by malloc and free, as libstdc++'s
// own are, plus advise_huge_pages. No new_handler is installed anywhere in shrink, so a failed
// malloc is bad_alloc at once.
void* operator new(std::size_t bytes)
{
  void* p = std::malloc(bytes == 0 ? 1 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  shrink::io::advise_huge_pages(p, bytes);
  return p;
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
