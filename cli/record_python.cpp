// record_python.cpp: `heaplay record --python` (record_python.hpp).
//
// The recorder is its own executable, heaplay-python (pyrecord/): it links
// libpython, which heaplay itself should not, and it must install its
// allocator hooks before the interpreter starts, so it is a process of its
// own. heaplay finds it in its own directory (/proc/self/exe: in the build
// tree and where both are installed) and execs it, so the script's exit
// status is heaplay's.
#include "cli/record_python.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay::cli {

int run_record_python(const Options& o) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(fmt::format("cannot find heaplay's own executable: {}", ec.message()), kExitFailure);
  const std::string launcher = (self.parent_path() / "heaplay-python").string();
  if (access(launcher.c_str(), X_OK) != 0)
    throw Error(fmt::format("{}: {}: record --python needs heaplay-python beside heaplay, which is built only "
                            "where the Python development files are found (python3-dev)",
                            launcher, std::strerror(errno)),
                kExitFailure);
  std::vector<std::string> args = {"heaplay-python"};
  if (!o.output.empty()) args.insert(args.end(), {"-o", o.output});
  if (o.verbosity < 0) args.push_back("-q");
  args.push_back("--");
  args.insert(args.end(), o.program.begin(), o.program.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execv(launcher.c_str(), argv.data());
  throw Error(fmt::format("{}: cannot run: {}", launcher, std::strerror(errno)), kExitFailure);
}

}  // namespace heaplay::cli
