// session.cpp: the gc callback, the atexit function and the end of a recording (session.hpp).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "traces/python/session.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "traces/python/hooks.hpp"
#include "traces/error.hpp"

// Exported by libpython (PyAPI_FUNC) but declared only in its internal
// headers: what sys._debugmallocstats() prints first, written to any FILE.
extern "C" int _PyObject_DebugMallocStats(FILE* out);

namespace heaplay::pyrecord {

namespace {

Session* g_session = nullptr;
pid_t g_pid = 0;
bool g_finished = false;
bool g_failed = false;

uint64_t address(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// gc.callbacks entry: callback(phase, info). METH_FASTCALL, so the call makes
// no argument tuple. It allocates nothing through Python itself (PyDict_Next,
// PyLong_AsLong); the objects invoke_gc_callback made for the call (the phase
// string, the info dict, its keys object, keys and values) are freed after the
// start callback returns, inside the window, and so are exempt from the gc flag.
PyObject* on_gc(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyDict_Check(args[1])) Py_RETURN_NONE;
  const bool start = PyUnicode_CompareWithASCIIString(args[0], "start") == 0;
  long generation = -1, collected = -1, uncollectable = -1;
  std::vector<uint64_t> exempt = {address(args[0]), address(args[1])};
  auto* dict = reinterpret_cast<PyDictObject*>(args[1]);
  exempt.push_back(address(dict->ma_keys));
  if (dict->ma_values) exempt.push_back(address(dict->ma_values));
  Py_ssize_t pos = 0;
  PyObject *key, *value;
  while (PyDict_Next(args[1], &pos, &key, &value)) {
    exempt.push_back(address(key));
    exempt.push_back(address(value));
    if (!PyUnicode_Check(key) || !PyLong_Check(value)) continue;
    const long n = PyLong_AsLong(value);
    if (n == -1 && PyErr_Occurred()) PyErr_Clear();
    if (PyUnicode_CompareWithASCIIString(key, "generation") == 0) generation = n;
    else if (PyUnicode_CompareWithASCIIString(key, "collected") == 0) collected = n;
    else if (PyUnicode_CompareWithASCIIString(key, "uncollectable") == 0) uncollectable = n;
  }
  with_recorder([&](PointerRecorder& r) {
    if (start) {
      r.mark(fmt::format("gc start gen={}", generation));
      r.open_gc_window(exempt);
    } else {
      r.close_gc_window();
      r.mark(fmt::format("gc stop gen={} collected={} uncollectable={}", generation, collected, uncollectable));
    }
  });
  Py_RETURN_NONE;
}

PyObject* at_exit(PyObject*, PyObject*) {
  finish_recording();
  Py_RETURN_NONE;
}

// os._exit(status), wrapped: the recording ends first (in the recorded
// process only; forked children call it too), then the real one runs (self).
PyObject* os_exit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  finish_recording();
  return PyObject_Vectorcall(self, args, static_cast<size_t>(nargs), nullptr);
}

PyMethodDef g_gc_def = {"_heaplay_gc_callback", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(on_gc)),
                        METH_FASTCALL, "heaplay: marks collections in the recording"};
PyMethodDef g_exit_def = {"_heaplay_finish", at_exit, METH_NOARGS, "heaplay: ends the recording"};
PyMethodDef g_os_exit_def = {"_exit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(os_exit)),
                             METH_FASTCALL,
                             "Exit to the system with the given status (heaplay: the recording ends first)."};

// CPython's statistics text, written to memory (open_memstream uses the C
// heap, which no hook sees).
std::string capture_pymalloc_stats() {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  if (!f) return {};
  _PyObject_DebugMallocStats(f);
  std::fclose(f);
  std::string text(buf, len);
  std::free(buf);
  return pymalloc_section(text);
}

std::string join(const std::vector<uint32_t>& v) {
  std::string out;
  for (uint32_t x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

void report_failure(const std::string& why) {
  std::fprintf(stderr, "heaplay: error: %s: the recording failed: %s\n", g_session->output.c_str(), why.c_str());
  g_failed = true;
  // The recorder's output never appears: destroying it removes the temporary file.
  delete g_session->recorder;
  g_session->recorder = nullptr;
}

}  // namespace

std::string pymalloc_section(const std::string& text) {
  const size_t begin = text.find("Small block threshold");
  if (begin == std::string::npos) return {};
  size_t at = begin;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    end = end == std::string::npos ? text.size() : end + 1;
    if (text.compare(at, 5, "Total") == 0) return text.substr(begin, end - begin);
    at = end;
  }
  return {};
}

bool register_python_hooks(Session* session) {
  g_session = session;
  g_pid = getpid();
  bool ok = false;
  PyObject* gc = PyImport_ImportModule("gc");
  PyObject* callbacks = gc ? PyObject_GetAttrString(gc, "callbacks") : nullptr;
  PyObject* on_gc_fn = PyCFunction_NewEx(&g_gc_def, nullptr, nullptr);
  PyObject* atexit = PyImport_ImportModule("atexit");
  PyObject* at_exit_fn = PyCFunction_NewEx(&g_exit_def, nullptr, nullptr);
  PyObject* os = PyImport_ImportModule("os");
  PyObject* real_exit = os ? PyObject_GetAttrString(os, "_exit") : nullptr;
  PyObject* os_exit_fn = real_exit ? PyCFunction_NewEx(&g_os_exit_def, real_exit, nullptr) : nullptr;
  if (callbacks && on_gc_fn && atexit && at_exit_fn && os_exit_fn && PyList_Check(callbacks) &&
      PyList_Append(callbacks, on_gc_fn) == 0 && PyObject_SetAttrString(os, "_exit", os_exit_fn) == 0) {
    PyObject* r = PyObject_CallMethod(atexit, "register", "O", at_exit_fn);
    ok = r != nullptr;
    Py_XDECREF(r);
  }
  if (!ok) {
    std::fprintf(stderr, "heaplay: error: cannot install the gc and atexit hooks in the interpreter\n");
    if (PyErr_Occurred()) PyErr_Print();
  }
  Py_XDECREF(os_exit_fn);
  Py_XDECREF(real_exit);
  Py_XDECREF(os);
  Py_XDECREF(at_exit_fn);
  Py_XDECREF(atexit);
  Py_XDECREF(on_gc_fn);
  Py_XDECREF(callbacks);
  Py_XDECREF(gc);
  return ok;
}

void finish_recording() {
  if (!g_session || g_finished || getpid() != g_pid) return;
  g_finished = true;
  std::string stats;
  const bool stopped = stop_recording([&] { stats = capture_pymalloc_stats(); });
  const std::string error = hook_error();
  if (!stopped || !error.empty()) {
    report_failure(error.empty() ? "recording had stopped" : error);
    return;
  }
  PointerRecorder& rec = *g_session->recorder;
  const HookCounts hc = hook_counts();
  const PointerRecorder::Counts& c = rec.counts();
  try {
    if (!stats.empty()) rec.set_metadata("pymalloc.stats", stats);
    const std::vector<uint32_t> excess = arena_excess();
    if (!excess.empty()) rec.set_metadata("pymalloc.arena_excess", join(excess));
    rec.set_metadata("pymalloc.arenas_allocated", std::to_string(hc.arenas_allocated));
    rec.set_metadata("pymalloc.arenas_freed", std::to_string(hc.arenas_freed));
    rec.set_metadata("record.raw_calls", std::to_string(hc.calls[0]));
    rec.set_metadata("record.mem_calls", std::to_string(hc.calls[1]));
    rec.set_metadata("record.obj_calls", std::to_string(hc.calls[2]));
    rec.set_metadata("record.pymalloc_raw_calls", std::to_string(hc.pymalloc_raw));
    rec.set_metadata("record.unknown_frees", std::to_string(c.unknown_frees));
    rec.set_metadata("record.unknown_reallocs", std::to_string(c.unknown_reallocs));
    rec.set_metadata("record.reused_addresses", std::to_string(c.reused_addresses));
    rec.set_metadata("record.gc_frees", std::to_string(c.gc_frees));
    rec.set_metadata("record.stopped", Py_IsInitialized() ? "at exit, before finalization" : "after finalization");
    rec.finish();
  } catch (const std::exception& e) {
    report_failure(e.what());
    return;
  }
  if (!g_session->quiet)
    std::fprintf(stderr, "heaplay: info: %s: recorded %llu records%s\n", g_session->output.c_str(),
                 static_cast<unsigned long long>(c.records),
                 stats.empty() ? " (no pymalloc statistics: pymalloc is not in use)" : "");
}

bool recording_failed() { return g_failed; }

}  // namespace heaplay::pyrecord
