// workers.cpp: forked workers (workers.hpp).
#include "cli/workers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "reports/progress.hpp"
#include "traces/error.hpp"

namespace heaplay::cli {

namespace {

constexpr size_t kMaxReplyBytes = size_t{1} << 30;  // a reply past this is a failure, not an allocation

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void write_stderr(const std::string& s) { write_all(2, s.data(), s.size()); }

// The child: run the task, reply, exit. Never returns.
[[noreturn]] void child(size_t i, const std::string& name, int reply_fd, int err_fd,
                        const std::function<std::string(size_t, std::atomic<uint64_t>*)>& task,
                        std::atomic<uint64_t>* counter) {
  ::dup2(err_fd, 2);
  ::close(err_fd);
  int status = 0;
  try {
    std::string reply = task(i, counter);
    const char* kill_name = std::getenv("HEAPLAY_TEST_KILL_WORKER");  // test-only (workers.hpp)
    if (kill_name && name == kill_name) {
      write_all(reply_fd, reply.data(), reply.size() / 2);
      ::raise(SIGKILL);
    }
    if (!write_all(reply_fd, reply.data(), reply.size())) status = kExitFailure;
  } catch (const Error& e) {
    write_stderr(fmt::format("heaplay: error: {}\n", e.what()));
    status = e.exit_status();
  } catch (const std::bad_alloc&) {
    write_stderr("heaplay: error: out of memory\n");
    status = kExitFailure;
  } catch (const std::exception& e) {
    write_stderr(fmt::format("heaplay: error: {}\n", e.what()));
    status = kExitFailure;
  }
  std::fflush(stderr);
  ::_exit(status);
}

struct Running {
  size_t index = 0;
  pid_t pid = -1;
  int fds[2] = {-1, -1};  // reply, stderr
  std::string data[2];
  bool too_big = false;
};

// Why a child that ended with `status` failed, from its status and stderr.
std::string failure(int status, const std::string& log) {
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    return abbrev ? fmt::format("killed by SIG{}", abbrev) : fmt::format("killed by signal {}", WTERMSIG(status));
  }
  // The child's own error line, the last one.
  constexpr std::string_view kPrefix = "heaplay: error: ";
  size_t at = log.rfind(kPrefix);
  if (at != std::string::npos && (at == 0 || log[at - 1] == '\n')) {
    size_t end = log.find('\n', at);
    return log.substr(at + kPrefix.size(), end == std::string::npos ? std::string::npos : end - at - kPrefix.size());
  }
  return fmt::format("exited with status {}", WIFEXITED(status) ? WEXITSTATUS(status) : status);
}

// The bar over all tasks: their counters summed, the stacks finished after it.
class Bar {
 public:
  Bar(const ProgressOptions& o, size_t tasks, const std::atomic<uint64_t>* counters)
      : o_(o), tasks_(tasks), counters_(counters), bar_(o.show) {}
  void draw(size_t finished) {
    if (!o_.show) return;
    double done = 0;
    for (size_t i = 0; i < tasks_; ++i) done += static_cast<double>(counters_[i].load(std::memory_order_relaxed));
    std::optional<double> total;
    if (o_.task_total) total = static_cast<double>(*o_.task_total) * static_cast<double>(tasks_);
    bar_.draw(done, total, fmt::format(" ({}/{} stacks done)", finished, tasks_));
  }
  void clear() { bar_.clear(); }

 private:
  ProgressOptions o_;
  size_t tasks_;
  const std::atomic<uint64_t>* counters_;
  ProgressBar bar_;
};

}  // namespace

std::vector<WorkerOutcome> run_workers(const std::vector<std::string>& names, unsigned jobs,
                                       const std::function<std::string(size_t, std::atomic<uint64_t>*)>& task,
                                       const ProgressOptions& progress) {
  const size_t n = names.size();
  std::vector<WorkerOutcome> out(n);
  if (n == 0) return out;
  if (jobs == 0) jobs = 1;
  // One counter per task in memory the children share with this process.
  size_t map_bytes = n * sizeof(std::atomic<uint64_t>);
  void* map = ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) throw Error(fmt::format("cannot map the progress counters: {}", std::strerror(errno)), kExitFailure);
  auto* counters = static_cast<std::atomic<uint64_t>*>(map);
  for (size_t i = 0; i < n; ++i) new (&counters[i]) std::atomic<uint64_t>(0);
  std::fflush(stdout);
  std::fflush(stderr);

  std::vector<Running> running;
  size_t next = 0, finished = 0;
  Bar bar(progress, n, counters);
  auto start = [&](size_t i) {
    int reply[2], err[2];
    if (::pipe2(reply, O_CLOEXEC) != 0) throw Error(fmt::format("pipe: {}", std::strerror(errno)), kExitFailure);
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(reply[0]);
      ::close(reply[1]);
      throw Error(fmt::format("pipe: {}", std::strerror(errno)), kExitFailure);
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      for (int fd : {reply[0], reply[1], err[0], err[1]}) ::close(fd);
      throw Error(fmt::format("fork: {}", std::strerror(errno)), kExitFailure);
    }
    if (pid == 0) {
      ::close(reply[0]);
      ::close(err[0]);
      for (const Running& r : running)
        for (int fd : r.fds)
          if (fd >= 0) ::close(fd);
      child(i, names[i], reply[1], err[1], task, &counters[i]);
    }
    ::close(reply[1]);
    ::close(err[1]);
    Running r;
    r.index = i;
    r.pid = pid;
    r.fds[0] = reply[0];
    r.fds[1] = err[0];
    running.push_back(std::move(r));
  };

  while (next < n || !running.empty()) {
    while (running.size() < jobs && next < n) start(next++);
    std::vector<pollfd> pfds;
    std::vector<std::pair<size_t, int>> which;  // (running index, fd slot)
    for (size_t k = 0; k < running.size(); ++k)
      for (int s = 0; s < 2; ++s)
        if (running[k].fds[s] >= 0) {
          pfds.push_back({running[k].fds[s], POLLIN, 0});
          which.emplace_back(k, s);
        }
    if (!pfds.empty()) {
      int ready = ::poll(pfds.data(), pfds.size(), progress.show ? 200 : -1);
      if (ready < 0 && errno != EINTR) throw Error(fmt::format("poll: {}", std::strerror(errno)), kExitFailure);
      for (size_t p = 0; ready > 0 && p < pfds.size(); ++p) {
        if (!pfds[p].revents) continue;
        Running& r = running[which[p].first];
        int s = which[p].second;
        char buf[65536];
        ssize_t got = ::read(r.fds[s], buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
          ::close(r.fds[s]);
          r.fds[s] = -1;
        } else if (r.data[s].size() + static_cast<size_t>(got) > kMaxReplyBytes) {
          r.too_big = true;  // keep reading so the child can finish; drop the bytes
        } else {
          r.data[s].append(buf, static_cast<size_t>(got));
        }
      }
    }
    // Children whose pipes are both closed: wait for them.
    for (size_t k = 0; k < running.size();) {
      Running& r = running[k];
      if (r.fds[0] >= 0 || r.fds[1] >= 0) {
        ++k;
        continue;
      }
      int status = 0;
      while (::waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
      }
      WorkerOutcome& o = out[r.index];
      o.log = std::move(r.data[1]);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !r.too_big) {
        o.ok = true;
        o.reply = std::move(r.data[0]);
      } else {
        o.error = r.too_big ? "its reply passed 1 GiB" : failure(status, o.log);
        o.exit_status = WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : kExitFailure;
      }
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
      ++finished;
    }
    bar.draw(finished);
  }
  bar.clear();
  ::munmap(map, map_bytes);
  return out;
}

}  // namespace heaplay::cli
