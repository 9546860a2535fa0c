// error.hpp: heaplay's one error type.
//
// Libraries throw heaplay::Error; the CLI catches it once at the boundary and
// prints "heaplay: error: <message>" with the carried exit status. Input
// problems (bad trace, bad usage) exit 2, anything else 1.
#pragma once

#include <stdexcept>
#include <string>

namespace heaplay {

inline constexpr int kExitFailure = 1;   // an operation failed (I/O, a worker)
inline constexpr int kExitBadInput = 2;  // the input or the command line is wrong

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_status = kExitBadInput)
      : std::runtime_error(message), exit_status_(exit_status) {}
  int exit_status() const { return exit_status_; }

 private:
  int exit_status_;
};

}  // namespace heaplay
