// atomic_file.hpp: outputs appear whole or not at all.
//
// Writes go to a temporary file beside the destination (same directory, so
// rename is atomic); commit() flushes, fsyncs and renames it over the
// destination. Destroyed without commit(), the temporary file is removed and
// the destination is untouched. The path "-" is standard output, written as
// it comes (a pipe cannot be renamed into place).
//
// InPlace is the one exception, for recordings (`heaplay record`): the file
// is created at its destination and grows there, so a recorder that is
// killed still leaves what it wrote (the native format is readable up to its
// last complete frame); commit() fsyncs, and nothing is removed on failure.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace heaplay {

class AtomicFile {
 public:
  enum Mode { Atomic, InPlace };
  explicit AtomicFile(std::string path, Mode mode = Atomic);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  uint64_t bytes_written() const { return written_; }
  const std::string& path() const { return path_; }
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
  bool in_place_ = false;
};

// Throws Error when out and in name the same file (so an input is never
// overwritten); in "-" is standard input, out "-" standard output.
void refuse_same_file(const std::string& in, const std::string& out);

}  // namespace heaplay
