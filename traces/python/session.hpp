// session.hpp: heaplay-python's Python-side hooks and the end of a recording.
//
// After the interpreter is initialized, register_python_hooks() adds
//   - a gc.callbacks entry: each collection's start and stop become markers
//     (`m gc start gen=G`, `m gc stop gen=G collected=C uncollectable=U`), and
//     the frees in between are recorded `f ID gc` (PointerRecorder's gc window);
//   - os._exit wrapped so that it ends the recording first (it skips atexit);
//   - an atexit function, registered before the script runs, so it runs last
//     of all atexit functions, early in Py_FinalizeEx (after non-daemon
//     threads are joined, before modules are torn down): it stops recording
//     and, in the same locked step, captures CPython's own pymalloc
//     statistics; then writes the trace's last metadata and end block.
// finish_recording() does the same if that function never ran (the script
// unregistered it); the trace then covers finalization too, and the
// statistics are taken after it, so they still describe the trace's end.
#pragma once

#include <string>

#include "traces/pointer_recorder.hpp"

namespace heaplay::pyrecord {

struct Session {
  PointerRecorder* recorder = nullptr;
  std::string output;  // the trace's path, for messages
  bool quiet = false;  // no closing "wrote ..." line
};

// Installs the gc callback and the atexit function; false (with a message on
// stderr) when that fails. Needs an initialized interpreter and the GIL.
bool register_python_hooks(Session* session);

// Stops recording and writes the trace, unless that happened already.
void finish_recording();

// Whether writing the trace failed (message printed): the process should not exit 0.
bool recording_failed();

// The pymalloc section of a _PyObject_DebugMallocStats text: from "Small block
// threshold" through the first "Total" line; "" when there is none.
std::string pymalloc_section(const std::string& text);

}  // namespace heaplay::pyrecord
