// record.cpp: runs a program under the preload library and collects its
// connections (see record.hpp).
//
// One thread, one poll() loop over: a signalfd (SIGCHLD, and the signals
// heaplay forwards), the listening socket, and each connection. Every
// 100 ms, and whenever the loop wakes, the streams write what their merge
// can release and close their frame, so the file on disk is never more than
// about 100 ms behind what the program sent (a killed heaplay leaves a file
// readable up to there).
//
// Signals: SIGINT, SIGQUIT, SIGTERM and SIGHUP sent to heaplay by another
// process are forwarded to the program; the same signals from the terminal
// (si_code SI_KERNEL) reached the whole process group, the program included,
// and are not sent twice. heaplay itself keeps running until the program
// and its connections are done.
#include "traces/record.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "traces/error.hpp"
#include "traces/record_stream.hpp"
#include "traces/recorder/wire.hpp"

#ifndef HEAPLAY_PRELOAD_RELDIR
#define HEAPLAY_PRELOAD_RELDIR "../lib/heaplay"
#endif

namespace heaplay {

namespace w = record_wire;

namespace {

constexpr const char* kLibraryName = "libheaplay_record.so";
constexpr int kFlushMs = 100;
constexpr int kExitCommandNotFound = 127, kExitCannotExecute = 126;

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::string utc_now() {
  time_t t = time(nullptr);
  tm u{};
  gmtime_r(&t, &u);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &u);
  return buf;
}

// A command line as a shell would read it back.
std::string quoted(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                   "_-./=:,+@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

// /proc/PID/cmdline's words (NUL-terminated), quoted.
std::string quoted_cmdline(std::string_view raw) {
  std::vector<std::string> argv;
  for (size_t at = 0; at < raw.size();) {
    size_t end = raw.find('\0', at);
    if (end == std::string::npos) end = raw.size();
    argv.emplace_back(raw.substr(at, end - at));
    at = end + 1;
  }
  return quoted(argv);
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

[[noreturn]] void fail_system(const std::string& what) {
  throw Error(fmt::format("record: {}: {}", what, std::strerror(errno)), kExitFailure);
}

// The listening socket: abstract (no file to clean up), named at random, and
// accepting only this user's processes.
struct Listener {
  Fd fd;
  std::string name;
  Listener() {
    std::random_device rd;
    name = fmt::format("heaplay-record-{}-{:08x}{:08x}", getpid(), rd(), rd());
    fd = Fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) fail_system("socket");
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) fail_system("bind");
    if (listen(fd.get(), 64) != 0) fail_system("listen");
  }
  // A pending connection from this user, or an empty Fd.
  Fd accept_one() const {
    for (;;) {
      Fd c(accept4(fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (c.get() < 0) return c;
      ucred cred{};
      socklen_t n = sizeof cred;
      if (getsockopt(c.get(), SOL_SOCKET, SO_PEERCRED, &cred, &n) == 0 && cred.uid == geteuid()) {
        int size = 4 << 20;
        setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        return c;
      }
    }
  }
};

// The signals heaplay handles through its loop, blocked while it records.
struct SignalBlock {
  sigset_t set{}, old{};
  Fd fd;
  SignalBlock() {
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
    if (sigprocmask(SIG_BLOCK, &set, &old) != 0) fail_system("sigprocmask");
    fd = Fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (fd.get() < 0) fail_system("signalfd");
  }
  ~SignalBlock() {
    fd.reset();
    // Drop what is pending (a forwarded SIGINT must not stop heaplay now), then unblock.
    timespec zero{};
    siginfo_t info;
    while (sigtimedwait(&set, &info, &zero) > 0) {
    }
    sigprocmask(SIG_SETMASK, &old, nullptr);
  }
};

// One process image's connection.
struct Connection {
  Fd fd;
  std::string hello;      // the Hello and the command line after it, as they come
  bool greeted = false;   // hello is complete
  w::Hello h;             // then: the Hello...
  std::string command;    // ...and the command line, quoted
  std::string early;      // bytes after the hello read before its turn came
  bool active = false;    // its stream takes its bytes now (else it waits its turn, mostly unread)
};

// One recorded process: its file, and its images' connections in turn.
struct Process {
  std::unique_ptr<RecordStream> stream;
  Connection* active = nullptr;
  std::vector<Connection*> waiting;  // later images, connected before the earlier one's end was read
  uint64_t images = 0;
};

class Recorder {
 public:
  Recorder(const RecordOptions& o, std::string exe, std::string library)
      : o_(o), exe_(std::move(exe)), library_(std::move(library)) {}
  ~Recorder();

  int run();

 private:
  void launch();
  Metadata header(uint64_t pid, uint64_t ppid, const std::string& kind, const std::string& command) const;
  void on_signals();
  void on_accept();
  void on_readable(Connection& c);
  bool greet(Connection& c, const char*& data, size_t& left);
  void attach(Connection& c);
  void activate(Process& p, Connection& c);
  void closed(Connection& c);
  void reap(bool wait);
  void finish_gone_children();
  void finish_all();
  std::string child_path(uint64_t pid);

  const RecordOptions& o_;
  std::string exe_, library_;
  Listener listener_;
  SignalBlock signals_;
  uint64_t start_ns_ = monotonic_ns();
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::string out_;
  std::map<uint64_t, Process> procs_;  // by pid; the program's own first
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<char> buf_ = std::vector<char>(1 << 20);
};

Recorder::~Recorder() {
  if (pid_ <= 0 || exited_) return;
  // Leaving on an error: the library turns itself off when its connection
  // closes, and the program runs on, unrecorded, to its end.
  conns_.clear();
  spdlog::warn("record: recording stopped; waiting for {} (pid {}) to end", o_.argv[0], pid_);
  reap(true);
}

void Recorder::launch() {
  // Everything the child needs, made before fork.
  std::vector<std::string> env;
  const char* old = getenv("LD_PRELOAD");
  env.push_back("LD_PRELOAD=" + library_ + (old && *old ? ":" + std::string(old) : ""));
  env.push_back(fmt::format("{}={}", w::kSocketEnv, listener_.name));
  std::string flags = std::string(o_.sites ? "sites," : "") + (o_.follow_fork ? "follow," : "");
  env.push_back(fmt::format("{}={}", w::kFlagsEnv, flags));
  char root_env[64];
  std::vector<char*> argv;
  for (const std::string& a : o_.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) fail_system("pipe");
  Fd go_read(go[0]), go_write(go[1]), err_read(err[0]), err_write(err[1]);
  pid_t pid = fork();
  if (pid < 0) fail_system("fork");
  if (pid == 0) {
    close(go[1]);  // else the read below would never see the parent give up
    close(err[0]);
    sigprocmask(SIG_SETMASK, &signals_.old, nullptr);
    for (std::string& e : env) putenv(e.data());
    snprintf(root_env, sizeof root_env, "%s=%d", w::kRootEnv, static_cast<int>(getpid()));
    putenv(root_env);
    char c;
    if (read(go_read.get(), &c, 1) != 1) _exit(kExitCommandNotFound);  // the parent gave up
    execv(exe_.c_str(), argv.data());
    int e = errno;
    (void)!write(err_write.get(), &e, sizeof e);
    _exit(kExitCommandNotFound);
  }
  pid_ = pid;
  go_read.reset();
  err_write.reset();
  // The output, before the program runs: an unwritable one stops everything.
  out_ = o_.output.empty()
             ? fmt::format("heaplay.{}.{}.heaplay", std::filesystem::path(o_.argv[0]).filename().string(), pid)
             : o_.output;
  Process& root = procs_[static_cast<uint64_t>(pid)];
  try {
    root.stream = std::make_unique<RecordStream>(out_, o_.write, header(pid, getpid(), "program", quoted(o_.argv)),
                                                 start_ns_, o_.time_resolution_ns);
  } catch (...) {
    go_write.reset();
    waitpid(pid, nullptr, 0);
    pid_ = -1;
    throw;
  }
  char c = 1;
  if (write(go_write.get(), &c, 1) != 1) fail_system("pipe");
  go_write.reset();
  int e = 0;
  ssize_t n;
  while ((n = read(err_read.get(), &e, sizeof e)) < 0 && errno == EINTR) {
  }
  if (n == sizeof e) {  // execv failed
    waitpid(pid, nullptr, 0);
    pid_ = -1;
    procs_.clear();
    unlink(out_.c_str());
    throw Error(fmt::format("{}: cannot execute: {}", o_.argv[0], std::strerror(e)),
                e == ENOENT ? kExitCommandNotFound : kExitCannotExecute);
  }
}

Metadata Recorder::header(uint64_t pid, uint64_t ppid, const std::string& kind, const std::string& command) const {
  Metadata m;
  m.set("source", "heaplay record");
  m.set("record.command", command);
  m.set("record.kind", kind);
  m.set("record.pid", std::to_string(pid));
  m.set("record.ppid", std::to_string(ppid));
  m.set("record.start", utc_now());
  m.set("record.sites", o_.sites ? "true" : "false");
  m.set("record.follow_fork", o_.follow_fork ? "true" : "false");
  m.set("record.time_resolution_ns", std::to_string(o_.time_resolution_ns));
  return m;
}

void Recorder::on_signals() {
  signalfd_siginfo si;
  while (read(signals_.fd.get(), &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD) continue;  // reap() in the loop
    const int code = si.ssi_code;
    const bool from_a_process = code == SI_USER || code == SI_QUEUE || code == SI_TKILL;
    if (from_a_process && !exited_) kill(pid_, static_cast<int>(si.ssi_signo));
  }
}

void Recorder::reap(bool wait) {
  if (exited_ || pid_ <= 0) return;
  int st = 0;
  pid_t r;
  while ((r = waitpid(pid_, &st, wait ? 0 : WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r == pid_) {
    exited_ = true;
    status_ = st;
  }
}

void Recorder::on_accept() {
  for (Fd c = listener_.accept_one(); c.get() >= 0; c = listener_.accept_one()) {
    auto conn = std::make_unique<Connection>();
    conn->fd = std::move(c);
    conns_.push_back(std::move(conn));
  }
}

std::string Recorder::child_path(uint64_t pid) { return fmt::format("{}.{}", out_, pid); }

void Recorder::attach(Connection& c) {
  const w::Hello& h = c.h;
  if (h.pid != static_cast<uint64_t>(pid_) && !o_.follow_fork) {  // the library was not to connect
    c.fd.reset();
    return;
  }
  Process& p = procs_[h.pid];
  if (!p.stream) {
    const std::string kind = h.kind == w::HelloKind::Fork ? "fork" : "spawn";
    p.stream = std::make_unique<RecordStream>(child_path(h.pid), o_.write, header(h.pid, h.ppid, kind, c.command),
                                              start_ns_, o_.time_resolution_ns);
  }
  if (p.active) p.waiting.push_back(&c);
  else activate(p, c);
}

// c's image writes into p's file from now on; an image after the first one
// replaced the one before it (exec).
void Recorder::activate(Process& p, Connection& c) {
  if (p.images++ > 0) p.stream->new_image("exec " + c.command);
  p.stream->set_clock(c.h.clock, c.h.ticks, c.h.monotonic_ns);
  p.active = &c;
  c.active = true;
  // What it sent while it waited its turn.
  std::string early = std::move(c.early);
  if (!early.empty() && !p.stream->feed(early)) closed(c);
}

// Takes the hello's bytes from the front of data; true once it is complete
// (and checked: a stranger's connection is closed).
bool Recorder::greet(Connection& c, const char*& data, size_t& left) {
  size_t want = sizeof(w::Hello);
  if (c.hello.size() >= sizeof(w::Hello)) want += c.h.cmdline_bytes;
  while (left > 0 && c.hello.size() < want) {
    const size_t k = std::min(left, want - c.hello.size());
    c.hello.append(data, k);
    data += k;
    left -= k;
    if (c.hello.size() == sizeof(w::Hello)) {
      std::memcpy(&c.h, c.hello.data(), sizeof c.h);
      if (c.h.magic != w::kHelloMagic || c.h.version != w::kVersion || c.h.cmdline_bytes > w::kMaxCmdline) {
        spdlog::warn("record: a connection that is not from this heaplay's recorder library; ignored");
        c.fd.reset();
        return false;
      }
      want += c.h.cmdline_bytes;
    }
  }
  if (c.hello.size() < want) return false;
  c.command = quoted_cmdline(std::string_view(c.hello).substr(sizeof(w::Hello)));
  c.greeted = true;
  return true;
}

void Recorder::on_readable(Connection& c) {
  ssize_t n = read(c.fd.get(), buf_.data(), buf_.size());
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    closed(c);
    return;
  }
  const char* p = buf_.data();
  size_t left = static_cast<size_t>(n);
  if (!c.greeted) {
    if (!greet(c, p, left)) return;
    attach(c);
    if (c.fd.get() < 0) return;
  }
  if (!c.active) {  // waits its turn: keep what came with the hello
    c.early.append(p, left);
    return;
  }
  if (left && !procs_[c.h.pid].stream->feed(p, left)) closed(c);  // the library turns itself off when its sends fail
}

void Recorder::closed(Connection& c) {
  c.fd.reset();
  if (!c.greeted) return;
  auto it = procs_.find(c.h.pid);
  if (it == procs_.end()) return;
  Process& p = it->second;
  std::erase(p.waiting, &c);
  if (p.active != &c) return;
  p.active = nullptr;
  p.stream->flush();
  if (p.waiting.empty()) return;
  Connection* next = p.waiting.front();
  p.waiting.erase(p.waiting.begin());
  activate(p, *next);
}

// A followed process whose connection is gone and which no longer runs: its file is complete.
void Recorder::finish_gone_children() {
  for (auto& [pid, p] : procs_) {
    if (pid == static_cast<uint64_t>(pid_) || p.active || !p.waiting.empty() || p.stream->finished()) continue;
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string line;
    std::getline(stat, line);
    size_t paren = line.rfind(')');
    const char state = paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : 'X';
    if (state == 'Z' || state == 'X') {
      Metadata end;
      end.set("record.end", utc_now());
      p.stream->finish(end);
    }
  }
}

void Recorder::finish_all() {
  for (auto& [pid, p] : procs_) {
    if (p.stream->finished()) continue;
    Metadata end;
    end.set("record.end", utc_now());
    if (pid == static_cast<uint64_t>(pid_)) {
      if (WIFEXITED(status_)) end.set("record.exit_code", std::to_string(WEXITSTATUS(status_)));
      if (WIFSIGNALED(status_)) end.set("record.exit_signal", signal_name(WTERMSIG(status_)));
      if (p.images == 0)
        spdlog::warn("{}: the program never loaded the recorder (statically linked, set-user-ID, or it cleared "
                     "LD_PRELOAD): nothing recorded",
                     o_.argv[0]);
    }
    p.stream->finish(end);
  }
}

int Recorder::run() {
  launch();
  auto last_flush = std::chrono::steady_clock::now();
  for (;;) {
    std::erase_if(conns_, [](const auto& c) { return c->fd.get() < 0; });
    reap(false);
    if (exited_ && conns_.empty()) {
      on_accept();  // one that connected just before the end
      if (conns_.empty()) break;
    }
    std::vector<pollfd> fds;
    std::vector<Connection*> polled;
    fds.push_back({signals_.fd.get(), POLLIN, 0});
    fds.push_back({listener_.fd.get(), POLLIN, 0});
    for (const auto& c : conns_) {
      if (c->greeted && !c->active) continue;  // its turn has not come: its bytes wait in the socket
      fds.push_back({c->fd.get(), POLLIN, 0});
      polled.push_back(c.get());
    }
    const auto since = std::chrono::steady_clock::now() - last_flush;
    const int wait_ms = std::max<int>(
        0, kFlushMs - static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count()));
    if (poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) fail_system("poll");
    if (fds[0].revents) on_signals();
    if (fds[1].revents) on_accept();
    for (size_t i = 2; i < fds.size(); ++i)
      if (fds[i].revents && polled[i - 2]->fd.get() >= 0) on_readable(*polled[i - 2]);
    if (std::chrono::steady_clock::now() - last_flush >= std::chrono::milliseconds(kFlushMs)) {
      for (auto& [pid, p] : procs_) p.stream->flush();
      finish_gone_children();
      last_flush = std::chrono::steady_clock::now();
    }
  }
  finish_all();
  for (const auto& [pid, p] : procs_) {
    const RecordCounts& k = p.stream->counts();
    const uint64_t unknown = p.stream->blocks().unknown_frees + p.stream->blocks().unknown_reallocs;
    spdlog::info("{}: {} calls recorded ({} events, {} threads{}{})", p.stream->path(), k.calls, p.stream->records(),
                 k.threads, k.images > 1 ? fmt::format(", {} images", k.images) : "",
                 unknown ? fmt::format(", {} frees of blocks allocated before recording", unknown)
                                 : "");
  }
  if (WIFSIGNALED(status_)) {
    const int sig = WTERMSIG(status_);
    spdlog::warn("{} was killed by {}{}", o_.argv[0], signal_name(sig), WCOREDUMP(status_) ? " (core dumped)" : "");
    return 128 + sig;
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : kExitFailure;
}

bool executable_file(const std::string& path, int* why) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *why = errno;
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    *why = EISDIR;
    return false;
  }
  if (!S_ISREG(st.st_mode) || access(path.c_str(), X_OK) != 0) {
    *why = EACCES;
    return false;
  }
  return true;
}

}  // namespace

std::string find_program(const std::string& name) {
  if (name.empty()) throw Error("record: the program name is empty", kExitCommandNotFound);
  int why = 0;
  if (name.find('/') != std::string::npos) {
    if (executable_file(name, &why)) return name;
    throw Error(fmt::format("{}: cannot execute: {}", name, std::strerror(why)),
                why == ENOENT || why == ENOTDIR ? kExitCommandNotFound : kExitCannotExecute);
  }
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  int seen = 0;  // the first reason a match could not be run
  for (size_t at = 0; at <= dirs.size();) {
    size_t end = std::min(dirs.find(':', at), dirs.size());
    std::string dir = dirs.substr(at, end - at);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (executable_file(candidate, &why)) return candidate;
    if (why != ENOENT && why != ENOTDIR && !seen) seen = why;
    at = end + 1;
  }
  if (seen) throw Error(fmt::format("{}: cannot execute: {}", name, std::strerror(seen)), kExitCannotExecute);
  throw Error(fmt::format("{}: command not found", name), kExitCommandNotFound);
}

std::string find_preload_library() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(fmt::format("record: cannot find the running heaplay: {}", ec.message()), kExitFailure);
  std::filesystem::path dir = self.parent_path();
  for (const std::filesystem::path& p : {dir / kLibraryName, dir / HEAPLAY_PRELOAD_RELDIR / kLibraryName}) {
    if (std::filesystem::is_regular_file(p, ec)) return std::filesystem::weakly_canonical(p, ec).string();
  }
  throw Error(fmt::format("record: the recorder library {} is neither beside {} nor in {}", kLibraryName,
                          self.string(), (dir / HEAPLAY_PRELOAD_RELDIR).lexically_normal().string()),
              kExitFailure);
}

int record_program(const RecordOptions& o) {
  if (o.argv.empty())
    throw Error("record: no program given: heaplay record [-o OUT.heaplay] -- PROGRAM ARGS...", kExitBadInput);
  if (!o.output.empty()) {
    std::string_view out = o.output;
    if (out == "-") throw Error("record: -o - is not possible: a recording is a file", kExitBadInput);
    if (out.ends_with(".trace") || out.ends_with(".trace.zst") || out.ends_with(".trace.gz"))
      throw Error(fmt::format("{}: record writes native traces (.heaplay); convert afterwards "
                              "(heaplay convert OUT.heaplay {})",
                              o.output, o.output),
                  kExitBadInput);
  }
  std::string exe = find_program(o.argv[0]);
  std::string library = o.preload.empty() ? find_preload_library() : o.preload;
  Recorder recorder(o, std::move(exe), std::move(library));
  return recorder.run();
}

}  // namespace heaplay
