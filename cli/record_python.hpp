// record_python.hpp: `heaplay record --python`, handed to the heaplay-python launcher.
#pragma once

#include "cli/options.hpp"

namespace heaplay::cli {

// Execs heaplay-python (beside this executable) with -o and the script;
// returns only by throwing Error (the launcher is missing or cannot run).
int run_record_python(const Options& options);

}  // namespace heaplay::cli
