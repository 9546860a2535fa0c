// atomic_file.cpp: see atomic_file.hpp.
#include "traces/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

AtomicFile::AtomicFile(std::string path, Mode mode) : path_(std::move(path)), in_place_(mode == InPlace) {
  if (path_ == "-") {  // standard output: streamed, nothing to rename
    fd_ = STDOUT_FILENO;
    return;
  }
  if (in_place_) {
    fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0)
      throw Error(fmt::format("{}: cannot create output: {}", path_, std::strerror(errno)), kExitFailure);
    return;
  }
  tmp_ = path_ + ".tmp-XXXXXX";
  fd_ = mkstemp(tmp_.data());
  if (fd_ < 0)
    throw Error(fmt::format("{}: cannot create output: {}", path_, std::strerror(errno)), kExitFailure);
  // mkstemp makes 0600 files; outputs should look like any other file.
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd_, 0666 & ~mask);
}

AtomicFile::~AtomicFile() {
  if (path_ == "-") return;
  if (in_place_) {
    if (fd_ >= 0) close(fd_);
    return;
  }
  if (!committed_) {
    if (fd_ >= 0) close(fd_);
    unlink(tmp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("{}: write failed: {}", path_, std::strerror(errno)), kExitFailure);
    }
    p += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (path_ == "-") {
    committed_ = true;
    return;
  }
  if (fsync(fd_) != 0 && errno != EINVAL)
    throw Error(fmt::format("{}: fsync failed: {}", path_, std::strerror(errno)), kExitFailure);
  if (close(fd_) != 0)
    throw Error(fmt::format("{}: close failed: {}", path_, std::strerror(errno)), kExitFailure);
  fd_ = -1;
  if (in_place_) {
    committed_ = true;
    return;
  }
  if (rename(tmp_.c_str(), path_.c_str()) != 0)
    throw Error(fmt::format("{}: cannot rename output into place: {}", path_, std::strerror(errno)),
                kExitFailure);
  committed_ = true;
}

void refuse_same_file(const std::string& in, const std::string& out) {
  struct stat a {}, b {};
  // "-": standard input, which may be redirected from the output's file.
  const int got = in == "-" ? fstat(STDIN_FILENO, &a) : stat(in.c_str(), &a);
  if (got == 0 && out != "-" && stat(out.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
      a.st_ino == b.st_ino)
    throw Error(fmt::format("{}: output would overwrite the input", out));
}

}  // namespace heaplay
