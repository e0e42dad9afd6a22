// Outputs never clobber, never half-write, never get lost: the same file given twice (or an output
// that is an input) is refused, /dev/stdout and links are written where they lead, the outputs of
// a run are committed all or none with the replaced files' permissions, signals and truncated
// inputs leave no temporary files, and a failed write to stdout is exit 1.

#include "io/npy.hpp"
#include "io/output.hpp"
#include "io/text_source.hpp"
#include "test_support.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using shrink::test::read_file;
using shrink::test::run_shrink;
using shrink::test::temp_dir;
using shrink::test::write_file;

/// Names in `dir` of temporary files (and commit backups) left behind.
std::vector<std::string> leftovers(const fs::path& dir)
{
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path().filename().string());
  return out;
}

/// Contents, inode and mode of a file, to check it was not touched.
struct snapshot {
  std::string text;
  ino_t inode = 0;
  mode_t mode = 0;
  explicit snapshot(const fs::path& p) : text(read_file(p))
  {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      inode = st.st_ino;
      mode = st.st_mode & 07777;
    }
  }
  bool operator==(const snapshot& o) const { return text == o.text && inode == o.inode && mode == o.mode; }
};

/// Runs `shrink ARGS` through the shell with the redirections given (stdout is not captured).
shrink::test::run_result run_redirected(const std::string& args, const std::string& redirections, const temp_dir& dir)
{
  const auto err = dir / "stderr.txt";
  const std::string cmd = std::string("'") + SHRINK_BINARY + "' " + args + " " + redirections + " 2>" + shrink::test::quoted(err);
  const int raw = std::system(cmd.c_str());
  shrink::test::run_result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.err = read_file(err);
  return r;
}

TEST(Outputs, AnOutputThatIsAnInputOrAnotherOutputIsRefused)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  write_file(d / "old.csv", "old\n");
  fs::create_symlink(d / "in.csv", d / "link-to-in.csv");
  const snapshot input(d / "in.csv"), old(d / "old.csv");
  const std::string in = shrink::test::quoted(d / "in.csv");

  shrink::test::expect_error(run_shrink("fit " + in + " -o " + in, d), "name the same file");
  shrink::test::expect_error(run_shrink("fit " + in + " -o " + shrink::test::quoted(d / "link-to-in.csv"), d), "name the same file");
  shrink::test::expect_error(run_shrink("fit " + in + " --summary " + shrink::test::quoted(d / "." / "in.csv"), d), "name the same file");
  // Read from stdin: the file behind it is the input all the same.
  shrink::test::expect_error(run_shrink("fit - -o " + in, d, (d / "in.csv").string()), "name the same file");
  // Outputs compared by identity, not by spelling: an existing file, a new one, a link.
  shrink::test::expect_error(run_shrink("fit " + in + " -o " + shrink::test::quoted(d / "old.csv") + " --summary " + shrink::test::quoted(d / "." / "old.csv"), d),
               "name the same file");
  shrink::test::expect_error(run_shrink("fit " + in + " -o " + shrink::test::quoted(d / "new.csv") + " --summary " + shrink::test::quoted(d / "sub" / ".." / "new.csv"), d),
               "name the same file");
  EXPECT_TRUE(input == snapshot(d / "in.csv"));
  EXPECT_TRUE(old == snapshot(d / "old.csv"));
  EXPECT_FALSE(fs::exists(d / "new.csv"));

  // Binary input.
  ASSERT_EQ(run_shrink("generate --groups 4 --obs 3 --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " + shrink::test::quoted(d / "y.npy"), d).status, 0);
  const snapshot g(d / "g.npy");
  shrink::test::expect_error(run_shrink("fit --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " + shrink::test::quoted(d / "y.npy") + " -o " + shrink::test::quoted(d / "g.npy"), d),
               "name the same file");
  shrink::test::expect_error(run_shrink("fit --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " + shrink::test::quoted(d / "y.npy") + " -q --summary " +
                            shrink::test::quoted(d / "y.npy"),
                          d),
               "name the same file");
  EXPECT_TRUE(g == snapshot(d / "g.npy"));

  // generate and simulate: every pair of outputs.
  shrink::test::expect_error(run_shrink("generate --groups 3 -o - --truth -", d), "name the same file");
  shrink::test::expect_error(run_shrink("generate --groups 3 -o " + shrink::test::quoted(d / "old.csv") + " --truth " + shrink::test::quoted(d / "old.csv"), d), "name the same file");
  shrink::test::expect_error(run_shrink("generate --groups 3 --group-npy " + shrink::test::quoted(d / "same.npy") + " --value-npy " + shrink::test::quoted(d / "same.npy"), d),
               "name the same file");
  shrink::test::expect_error(run_shrink("generate --groups 3 --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " + shrink::test::quoted(d / "y.npy") +
                            " --truth " + shrink::test::quoted(d / "y.npy"),
                          d),
               "name the same file");
  const std::string sim = "simulate --groups 4 --replicates 3 -q ";
  shrink::test::expect_error(run_shrink(sim + "-o " + shrink::test::quoted(d / "old.csv") + " --json " + shrink::test::quoted(d / "old.csv"), d), "name the same file");
  shrink::test::expect_error(run_shrink(sim + "--json " + shrink::test::quoted(d / "s.out") + " --plot " + shrink::test::quoted(d / "s.out"), d), "name the same file");
  shrink::test::expect_error(run_shrink(sim + "--plot " + shrink::test::quoted(d / "s.out") + " --html " + shrink::test::quoted(d / "./s.out"), d), "name the same file");
  shrink::test::expect_error(run_shrink(sim + "-o " + shrink::test::quoted(d / "s.out") + " --html " + shrink::test::quoted(d / "s.out"), d), "name the same file");
  EXPECT_TRUE(old == snapshot(d / "old.csv"));
  EXPECT_TRUE(g == snapshot(d / "g.npy"));
  EXPECT_FALSE(fs::exists(d / "same.npy"));
  EXPECT_FALSE(fs::exists(d / "s.out"));
  EXPECT_TRUE(leftovers(d.path()).empty());

  // Two outputs may share /dev/null.
  EXPECT_EQ(run_shrink(sim + "-o /dev/null --json /dev/null", d).status, 0);
}

TEST(Outputs, DevStdoutAndFdLinksAreWrittenInPlaceEvenWhenStdoutIsAFile)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  const std::string in = shrink::test::quoted(d / "in.csv");
  const auto expected = run_shrink("fit " + in + " -q", d);
  ASSERT_EQ(expected.status, 0) << expected.err;
  // /dev/stdout is a link to /proc/self/fd/1. A link of the same kind in the test's directory
  // stands in for it: a shrink that renamed over the link would, as root, replace the
  // machine's /dev/stdout (as it once did), so the test never risks the real one.
  const fs::path link = d / "stdout";
  fs::create_symlink("/proc/self/fd/1", link);

  // run_shrink sends stdout to a regular file: the output must land there, the links stay.
  for (const std::string& path : {link.string(), std::string("/proc/self/fd/1"), std::string("/dev/fd/1")}) {
    const auto r = run_shrink("fit " + in + " -q -o " + shrink::test::quoted(path), d);
    EXPECT_EQ(r.status, 0) << path << ": " << r.err;
    EXPECT_EQ(r.out, expected.out) << path;
    EXPECT_TRUE(fs::is_symlink(link)) << path;
    EXPECT_TRUE(leftovers(d.path()).empty()) << path;
  }
  // Appending redirection is honoured: the descriptor itself is written.
  write_file(d / "log.txt", "first line\n");
  const auto r = run_redirected("fit " + in + " -q -o " + shrink::test::quoted(link), ">>" + shrink::test::quoted(d / "log.txt"), d);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(d / "log.txt"), "first line\n" + expected.out);
  EXPECT_TRUE(fs::is_symlink(link));
  // A link to a device is written through, the device kept.
  fs::create_symlink("/dev/null", d / "null-link");
  EXPECT_EQ(run_shrink("fit " + in + " -q -o " + shrink::test::quoted(d / "null-link"), d).status, 0);
  EXPECT_TRUE(fs::is_symlink(d / "null-link"));
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}

TEST(Outputs, ALinkIsNeverReplacedAndTheReplacedFileKeepsItsMode)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  const std::string in = shrink::test::quoted(d / "in.csv");
  fs::create_directory(d / "real");
  write_file(d / "real" / "out.csv", "old\n");
  ASSERT_EQ(::chmod((d / "real" / "out.csv").c_str(), 0600), 0);
  fs::create_symlink("real/out.csv", d / "out-link.csv");
  fs::create_symlink("real/new.csv", d / "dangling.csv");

  const auto r = run_shrink("fit " + in + " -q -o " + shrink::test::quoted(d / "out-link.csv") + " --summary " + shrink::test::quoted(d / "dangling.csv"), d);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(d / "out-link.csv"));
  EXPECT_TRUE(fs::is_symlink(d / "dangling.csv"));
  EXPECT_EQ(read_file(d / "real" / "out.csv").rfind("group,n,mean", 0), 0u);
  EXPECT_NE(read_file(d / "real" / "new.csv").find("\"groups\""), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((d / "real" / "out.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_TRUE(leftovers(d.path()).empty());
  EXPECT_TRUE(leftovers(d / "real").empty());

  // generate and simulate keep modes too.
  write_file(d / "g.csv", "old\n");
  ASSERT_EQ(::chmod((d / "g.csv").c_str(), 0640), 0);
  ASSERT_EQ(run_shrink("generate --groups 3 -o " + shrink::test::quoted(d / "g.csv"), d).status, 0);
  ASSERT_EQ(::stat((d / "g.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(Outputs, ASetIsCommittedAllOrNone)
{
  temp_dir d;
  const fs::path a = d / "a.csv", b = d / "b.json", c = d / "c.svg";
  write_file(a, "old a\n");
  write_file(c, "old c\n");
  ASSERT_EQ(::chmod(a.c_str(), 0640), 0);
  const snapshot a0(a), c0(c);
  {
    shrink::io::output_set set({{"-o", a.string()}, {"--json", b.string()}, {"--plot", c.string()}});
    set.get("-o")->write("new a\n");
    set.get("--json")->write("new b\n");
    set.get("--plot")->write("new c\n");
    EXPECT_EQ(set.get("--html"), nullptr);
    // Something takes b's place before the commit: renaming over a directory fails, after a
    // was renamed into place. a must come back (the old file, same inode), c stay as it was.
    fs::create_directory(b);
    EXPECT_THROW(set.commit(), shrink::error);
  }
  EXPECT_TRUE(a0 == snapshot(a));
  EXPECT_TRUE(c0 == snapshot(c));
  EXPECT_TRUE(fs::is_directory(b));
  EXPECT_TRUE(leftovers(d.path()).empty());
  fs::remove(b);

  {
    shrink::io::output_set set({{"-o", a.string()}, {"--json", b.string()}, {"--plot", c.string()}});
    set.get("-o")->write("new a\n");
    set.get("--json")->write("new b\n");
    set.get("--plot")->write("new c\n");
    set.commit();
  }
  EXPECT_EQ(read_file(a), "new a\n");
  EXPECT_EQ(read_file(b), "new b\n");
  EXPECT_EQ(read_file(c), "new c\n");
  EXPECT_EQ(snapshot(a).mode, 0640u);
  EXPECT_TRUE(leftovers(d.path()).empty());

  // Abandoned (an error during the work): nothing changes, nothing is left.
  {
    shrink::io::output_set set({{"-o", a.string()}, {"--json", (d / "never.json").string()}});
    set.get("-o")->write("abandoned\n");
  }
  EXPECT_EQ(read_file(a), "new a\n");
  EXPECT_FALSE(fs::exists(d / "never.json"));
  EXPECT_TRUE(leftovers(d.path()).empty());
}

TEST(Outputs, AFailedSecondOutputLeavesTheFirstUntouched)
{
  temp_dir d;
  write_file(d / "g.npy", "old g\n");
  write_file(d / "out.csv", "old csv\n");
  const snapshot g(d / "g.npy"), csv(d / "out.csv");
  // The values go to a full device (written in place): the run fails, and the key column, the
  // CSV and the truth file, complete by then, must not appear.
  shrink::test::expect_error(run_shrink("generate --groups 50 --obs 3 --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy /dev/full -o " +
                            shrink::test::quoted(d / "out.csv") + " --truth " + shrink::test::quoted(d / "t.csv"),
                          d),
               "No space left on device");
  EXPECT_TRUE(g == snapshot(d / "g.npy"));
  EXPECT_TRUE(csv == snapshot(d / "out.csv"));
  EXPECT_FALSE(fs::exists(d / "t.csv"));
  shrink::test::expect_error(run_shrink("generate --groups 50 --obs 3 -o " + shrink::test::quoted(d / "out.csv") + " --truth /dev/full", d),
               "cannot write '/dev/full'");
  EXPECT_TRUE(csv == snapshot(d / "out.csv"));
  write_file(d / "in.csv", shrink::test::small_csv);
  shrink::test::expect_error(run_shrink("fit " + shrink::test::quoted(d / "in.csv") + " -q -o " + shrink::test::quoted(d / "out.csv") + " --summary /dev/full", d),
               "No space left on device");
  EXPECT_TRUE(csv == snapshot(d / "out.csv"));
  shrink::test::expect_error(run_shrink("simulate --groups 4 --replicates 3 -q -o " + shrink::test::quoted(d / "out.csv") + " --json /dev/full", d),
               "No space left on device");
  EXPECT_TRUE(csv == snapshot(d / "out.csv"));
  EXPECT_TRUE(leftovers(d.path()).empty());
  // A directory is not an output.
  fs::create_directory(d / "dir");
  shrink::test::expect_error(run_shrink("fit " + shrink::test::quoted(d / "in.csv") + " -q -o " + shrink::test::quoted(d / "dir"), d), "is a directory");
}

TEST(Outputs, FailedWritesToStdoutAreErrors)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  shrink::test::expect_error(run_redirected("fit " + shrink::test::quoted(d / "in.csv") + " -q", ">/dev/full", d), "cannot write to stdout: No space left");
  shrink::test::expect_error(run_redirected("bench --rows 2000 --groups 100 --repeat 1 --cpu-only", ">/dev/full", d),
               "cannot write to stdout: No space left");
  shrink::test::expect_error(run_redirected("simulate --groups 4 --replicates 3 -q", ">/dev/full", d), "cannot write to stdout");
  shrink::test::expect_error(run_redirected("generate --groups 3", ">/dev/full", d), "cannot write to stdout");
  fs::create_symlink("/proc/self/fd/1", d / "stdout");  // as /dev/stdout
  shrink::test::expect_error(run_redirected("fit " + shrink::test::quoted(d / "in.csv") + " -q -o " + shrink::test::quoted(d / "stdout"), ">/dev/full", d),
               "stdout': No space left");
}

/// Starts shrink with default signal dispositions (a shell would ignore SIGINT in a background
/// job), stdout to `out_fd`, stderr to a file.
pid_t spawn_shrink(const std::vector<std::string>& args, int out_fd, const fs::path& err)
{
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::dup2(out_fd, STDOUT_FILENO);
  const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(e, STDERR_FILENO);
  std::vector<char*> argv{const_cast<char*>(SHRINK_BINARY)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(SHRINK_BINARY, argv.data());
  ::_exit(127);
}

TEST(Outputs, SignalsRemoveTemporaryFiles)
{
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    temp_dir d;
    write_file(d / "big.csv", "old\n");
    const snapshot old(d / "big.csv");
    const int devnull = ::open("/dev/null", O_WRONLY);
    // About 10^8 rows: far longer than the wait for its temporary files to appear.
    const pid_t pid = spawn_shrink({"generate", "--groups", "2000000", "--obs", "50", "-o", (d / "big.csv").string(),
                                    "--truth", (d / "truth.csv").string()},
                                   devnull, d / "err.txt");
    ::close(devnull);
    ASSERT_GT(pid, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (leftovers(d.path()).size() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(leftovers(d.path()).size(), 2u) << "temporary files did not appear";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // writing rows by now
    ::kill(pid, sig);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    // Ended by the signal itself, as without the handler.
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "signal " << sig << ", status " << status;
    EXPECT_TRUE(leftovers(d.path()).empty()) << "signal " << sig;
    EXPECT_TRUE(old == snapshot(d / "big.csv"));
    EXPECT_FALSE(fs::exists(d / "truth.csv"));
  }

  // SIGPIPE: stdout is a pipe nobody reads; the truth file's temporary must go too.
  temp_dir d;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  const pid_t pid = spawn_shrink({"generate", "--groups", "200000", "--obs", "20", "--truth", (d / "truth.csv").string()},
                                 fds[1], d / "err.txt");
  ::close(fds[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE) << "status " << status;
  EXPECT_TRUE(leftovers(d.path()).empty());
  EXPECT_FALSE(fs::exists(d / "truth.csv"));
}

// A mapped input truncated by another process while shrink reads it raises SIGBUS. Timing a
// truncation against a running shrink is not reliable, so these tests map the input here, then
// truncate it and read it in a child process (gtest's death test): the real handler runs.
TEST(OutputsDeathTest, ATruncatedCsvInputIsAnErrorAndRemovesTemporaries)
{
  temp_dir d;
  const fs::path in = d / "in.csv", out = d / "out.csv";
  write_file(in, std::string(1 << 16, 'x'));
  write_file(out, "old\n");
  EXPECT_EXIT(
    {
      shrink::io::output_set outputs({{"-o", out.string()}});
      outputs.get("-o")->write("partial\n");
      const shrink::io::text_source source(in.string());
      if (::truncate(in.c_str(), 0) != 0) std::_Exit(3);
      volatile char c = source.text()[40000];  // beyond the new end: SIGBUS
      (void)c;
      std::_Exit(4);
    },
    ::testing::ExitedWithCode(1), "shrink: error: input '.*in.csv' was truncated while being read");
  EXPECT_EQ(read_file(out), "old\n");
  EXPECT_TRUE(leftovers(d.path()).empty());
}

TEST(OutputsDeathTest, ATruncatedNpyInputIsAnErrorAndRemovesTemporaries)
{
  temp_dir d;
  const fs::path in = d / "y.npy", out = d / "out.csv";
  const std::vector<double> y(1 << 14, 1.5);
  shrink::io::write_npy(in.string(), y.data(), y.size());
  EXPECT_EXIT(
    {
      shrink::io::output_set outputs({{"-o", out.string()}});
      outputs.get("-o")->write("partial\n");
      const shrink::io::npy_column column(in.string());
      if (::truncate(in.c_str(), 0) != 0) std::_Exit(3);
      volatile double v = static_cast<const double*>(column.data())[y.size() - 1];
      (void)v;
      std::_Exit(4);
    },
    ::testing::ExitedWithCode(1), "input '.*y.npy' was truncated while being read");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(leftovers(d.path()).empty());
}

}  // namespace
