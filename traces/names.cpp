// names.cpp: printable names of the event model's enums, and Metadata.
#include "traces/consumer.hpp"
#include "traces/event.hpp"

namespace heaplay {

std::string_view kind_name(EventKind k) {
  switch (k) {
    case EventKind::Alloc: return "a";
    case EventKind::Free: return "f";
    case EventKind::Realloc: return "r";
    case EventKind::Object: return "o";
    case EventKind::Incref: return "+";
    case EventKind::Decref: return "-";
    case EventKind::Link: return "l";
    case EventKind::Unlink: return "u";
    case EventKind::Collect: return "g";
    case EventKind::Time: return "t";
    case EventKind::Mark: return "m";
    case EventKind::Death: return "death";
    case EventKind::Thread: return "T";
  }
  return "?";
}

std::string_view domain_name(Domain d) {
  switch (d) {
    case Domain::None: return "-";
    case Domain::Raw: return "raw";
    case Domain::Mem: return "mem";
    case Domain::Obj: return "obj";
  }
  return "?";
}

std::string_view format_name(TraceFormat f) {
  switch (f) {
    case TraceFormat::Text: return "text";
    case TraceFormat::Native: return "native";
    case TraceFormat::Heaptrack: return "heaptrack";
    case TraceFormat::Mtrace: return "mtrace";
  }
  return "?";
}

std::string_view anomaly_name(Anomaly a) {
  switch (a) {
    case Anomaly::None: return "none";
    case Anomaly::UnknownId: return "unknown_id";
    case Anomaly::DoubleFree: return "double_free";
    case Anomaly::LiveId: return "live_id";
    case Anomaly::NotABlock: return "not_a_block";
    case Anomaly::NotAnObject: return "not_an_object";
    case Anomaly::NoSuchEdge: return "no_such_reference";
    case Anomaly::TimeBackwards: return "time_backwards";
    case Anomaly::BadGeneration: return "bad_generation";
    case Anomaly::Overflow: return "overflow";
    case Anomaly::TooManySlots: return "too_many_live_ids";
    case Anomaly::Malformed: return "malformed";
  }
  return "?";
}

uint64_t Anomalies::total() const {
  uint64_t t = 0;
  for (uint64_t c : counts) t += c;
  return t;
}

void Metadata::set(std::string key, std::string value) {
  for (auto& kv : items_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

const std::string* Metadata::get(std::string_view key) const {
  for (const auto& kv : items_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

}  // namespace heaplay
