// main.cpp: heaplay-python, the launcher behind `heaplay record --python`.
//
//   heaplay-python [-o OUT.heaplay] [-q] -- SCRIPT.py [ARGS...]
//
// Embeds CPython and runs SCRIPT as `python3 SCRIPT ARGS` would (sys.argv,
// __main__, the exit status, tracebacks, SystemExit), recording what its
// allocator domains see into OUT (docs/record-python.md). The order matters:
//   1. the trace file (an unwritable OUT stops here, before anything runs);
//   2. Py_PreInitialize with pymalloc as the MEM/OBJ allocator (whatever
//      PYTHONMALLOC says: pymalloc is what is recorded);
//   3. the allocator hooks (traces/python/hooks.hpp), before any MEM/OBJ request;
//   4. Py_InitializeFromConfig, the gc and atexit hooks (traces/python/session.hpp);
//   5. Py_RunMain, which runs the script, then finalizes.
// Exit status: the script's (as python3's); 2 for bad usage or a script that
// cannot be opened, 1 when the trace cannot be written.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "traces/python/hooks.hpp"
#include "traces/sanitizer.hpp"
#include "traces/python/session.hpp"
#include "traces/atomic_file.hpp"
#include "traces/error.hpp"
#include "traces/pointer_recorder.hpp"
#include "traces/trace_io.hpp"

#ifndef HEAPLAY_PYTHON_EXECUTABLE
#error "HEAPLAY_PYTHON_EXECUTABLE: the python3 whose libpython this is (set by CMake)"
#endif

namespace {

using namespace heaplay;

constexpr const char* kUsage =
    "usage: heaplay-python [-o OUT.heaplay] [-q] -- SCRIPT.py [ARGS...]\n"
    "Runs SCRIPT like python3 and records its allocator calls (docs/record-python.md).\n";

struct Args {
  std::string output;
  bool quiet = false;
  std::vector<std::string> script;  // SCRIPT ARGS...
};

[[noreturn]] void usage_error(const std::string& why) {
  std::fprintf(stderr, "heaplay: error: %s\n%s", why.c_str(), kUsage);
  std::exit(kExitBadInput);
}

// A bad request that is not about the launcher's syntax: no usage text
// (`heaplay record` is what the user ran).
[[noreturn]] void bad_use(const std::string& why) {
  std::fprintf(stderr, "heaplay: error: %s\n", why.c_str());
  std::exit(kExitBadInput);
}

// python3 exits 2 too when it cannot open its script.
[[noreturn]] void script_error(const std::string& path) {
  bad_use(path + ": cannot open the script: " + std::strerror(errno));
}

Args parse_args(int argc, char** argv) {
  Args a;
  int i = 1;
  for (; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--") {
      ++i;
      break;
    }
    if (s == "-h" || s == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (s == "-q" || s == "--quiet") {
      a.quiet = true;
    } else if (s == "-o" || s == "--output") {
      if (++i == argc) usage_error("-o needs a file name");
      a.output = argv[i];
    } else if (!s.empty() && s[0] == '-') {
      usage_error("unknown option " + s);
    } else {
      break;  // the script, without "--"
    }
  }
  for (; i < argc; ++i) a.script.emplace_back(argv[i]);
  if (a.script.empty()) usage_error("no script to run");
  if (a.output == "-") bad_use("-o -: the script's own output goes to standard output; give a file");
  if (a.output.empty()) {
    // SCRIPT.py -> SCRIPT.heaplay in the current directory.
    std::string base = a.script[0].substr(a.script[0].find_last_of('/') + 1);
    if (base.size() > 3 && base.ends_with(".py")) base.resize(base.size() - 3);
    a.output = (base.empty() ? std::string("python") : base) + ".heaplay";
  }
  return a;
}

// The script must be there and readable; a directory is python3's business
// (it runs its __main__.py).
void check_script(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) script_error(path);
  if (S_ISDIR(st.st_mode)) return;
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) script_error(path);
  close(fd);
}

// "3.11.2 (main, ...) [GCC ...]" -> "3.11.2".
std::string python_version() {
  std::string v = Py_GetVersion();
  return v.substr(0, v.find(' '));
}

// pymalloc's pool size, as obmalloc.c sets it for this version: 16 KiB from
// 3.10 (with the radix tree), 4 KiB before.
constexpr uint64_t kPoolSize = PY_VERSION_HEX >= 0x030A0000 ? 16 << 10 : 4 << 10;

void exit_check(int status, void*) {
  // A trace that could not be written fails a run that would otherwise succeed.
  if (status == 0 && heaplay::pyrecord::recording_failed()) _exit(kExitFailure);
}

void check(PyStatus status) {
  if (PyStatus_Exception(status)) Py_ExitStatusException(status);
}

}  // namespace

#if HEAPLAY_SANITIZER_MALLOC
// Under ASan (the CI's sanitizer tree): no leak report at exit. CPython
// leaves its interned objects, thread locks and the like allocated at exit by
// design, and the Session below is never freed (see 1.); neither is a leak
// of the recorder's, and LeakSanitizer would fail every recording.
extern "C" const char* __lsan_default_options() { return "detect_leaks=0"; }
#endif

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  check_script(args.script[0]);
  if (const char* m = std::getenv("PYTHONMALLOC"); m && std::strcmp(m, "pymalloc") != 0)
    std::fprintf(stderr, "heaplay: warning: PYTHONMALLOC=%s is ignored: the recording runs pymalloc\n", m);

  // 1. The trace: created now, so an unwritable OUT stops before the script runs.
  // Never destroyed: a forked child that exits must not remove the parent's file.
  auto* session = new pyrecord::Session;
  session->output = args.output;
  session->quiet = args.quiet;
  try {
    Metadata header;
    header.set("source", "heaplay record --python");
    header.set("python.version", python_version());
    std::string command;
    for (const std::string& s : args.script) command += (command.empty() ? "" : " ") + s;
    header.set("command", command);
    refuse_same_file(args.script[0], args.output);
    // The format from the name when it is one heaplay knows (x.trace: text), else native.
    OutputFormat format = OutputFormat::Native;
    try {
      format = output_format_for(args.output);
    } catch (const Error&) {
    }
    auto writer = make_writer(args.output, format);
    session->recorder = new PointerRecorder(std::move(writer), args.output, std::move(header));
  } catch (const Error& e) {
    std::fprintf(stderr, "heaplay: error: %s\n", e.what());
    return e.exit_status();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heaplay: error: %s\n", e.what());
    return kExitFailure;
  }

  // 2. pymalloc for MEM and OBJ, whatever the environment asks.
  PyPreConfig pre;
  PyPreConfig_InitPythonConfig(&pre);
  pre.allocator = PYMEM_ALLOCATOR_PYMALLOC;
  check(Py_PreInitialize(&pre));

  // 3. The hooks, before the first MEM/OBJ request.
  pyrecord::install_hooks(session->recorder, kPoolSize);
  on_exit(exit_check, nullptr);

  // 4. The interpreter, configured as `python3 SCRIPT ARGS` is: the
  // environment is read (PYTHONPATH, ...), sys.argv is SCRIPT ARGS, the path
  // configuration is computed from the real python3.
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.parse_argv = 0;
  std::vector<char*> script_argv;
  for (std::string& s : args.script) script_argv.push_back(s.data());
  PyStatus status = PyConfig_SetBytesArgv(&config, static_cast<Py_ssize_t>(script_argv.size()), script_argv.data());
  if (!PyStatus_Exception(status))
    status = PyConfig_SetBytesString(&config, &config.run_filename, args.script[0].c_str());
  if (!PyStatus_Exception(status))
    status = PyConfig_SetBytesString(&config, &config.program_name, HEAPLAY_PYTHON_EXECUTABLE);
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  check(status);
  if (!pyrecord::register_python_hooks(session)) return kExitFailure;

  // 5. The script, then finalization (the atexit hook ends the recording).
  int code = Py_RunMain();
  pyrecord::finish_recording();
  return code;
}
