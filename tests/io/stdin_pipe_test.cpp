// Rows from a pipe on stdin: the reader widens the pipe to 1 MiB (fewer, larger reads) and reads
// the same group table as from the file. Truth: the kernel's pipe size (F_GETPIPE_SZ) and the
// table read from the same bytes as a file.

#include "io/table_reader.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace {

TEST(StdinPipe, IsWidenedAndReadsAsTheFile)
{
  std::string csv = "group,y\n";
  for (int i = 0; i < 200000; ++i) csv += std::to_string(i % 997) + "," + std::to_string(i % 13) + ".25\n";  // 2.5 MB
  shrink::test::temp_dir d;
  shrink::test::write_file(d / "in.csv", csv);
  const shrink::io::group_table from_file = shrink::io::read_groups((d / "in.csv").string(), {}, 2);

  int ends[2];
  ASSERT_EQ(::pipe(ends), 0);
  ASSERT_EQ(::fcntl(ends[1], F_SETPIPE_SZ, 1 << 16), 1 << 16);  // the Linux default, whatever the system's
  const int saved_stdin = ::dup(STDIN_FILENO);
  ASSERT_GE(::dup2(ends[0], STDIN_FILENO), 0);
  ::close(ends[0]);
  std::thread writer([&] {
    for (std::size_t at = 0; at < csv.size();) {
      const ssize_t n = ::write(ends[1], csv.data() + at, csv.size() - at);
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    ::close(ends[1]);  // the end of input
  });
  shrink::io::group_table from_pipe;
  bool read = false;
  try {
    from_pipe = shrink::io::read_groups("-", {}, 2);
    read = true;
  } catch (...) {
  }
  char rest[1 << 16];
  while (::read(STDIN_FILENO, rest, sizeof rest) > 0) {
  }  // should the reader have failed: the writer finishes, never blocked
  writer.join();
  const int size = ::fcntl(STDIN_FILENO, F_GETPIPE_SZ);  // either end tells the pipe's size
  ::dup2(saved_stdin, STDIN_FILENO);
  ::close(saved_stdin);
  ASSERT_TRUE(read);
  EXPECT_EQ(size, 1 << 20);
  EXPECT_EQ(from_pipe.keys, from_file.keys);
  EXPECT_EQ(from_pipe.n, from_file.n);
  EXPECT_EQ(from_pipe.exact_mean, from_file.exact_mean);
  EXPECT_EQ(from_pipe.m2, from_file.m2);
}

}  // namespace
