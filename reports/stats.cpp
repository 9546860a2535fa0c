// stats.cpp: the StatsConsumer (see stats.hpp; definitions in docs/metrics.md).
//
// Invariants kept by events() for a valid stream:
//   live_bytes_ <= allocated_total_ (every live byte was requested once), so
//   checking allocated_total_ for overflow covers every other byte figure:
//   live, peak, per-type and per-domain bytes and bucket bytes are all
//   bounded by it. Counts grow by one per event and cannot overflow.
//   records_ is the index of the record being handled plus one; a Death event
//   belongs to the record just counted (records_ - 1).
#include "reports/stats.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

namespace {

// A domain as an index; masking keeps a corrupt value in bounds (valid
// events only ever carry the four domains).
inline size_t domain_index(Domain d) { return static_cast<size_t>(d) & (kDomains - 1); }

[[noreturn, gnu::cold, gnu::noinline]] void inconsistent(const char* what) {
  throw Error(std::string("stats: inconsistent event stream: ") + what);
}

}  // namespace

void StatsConsumer::overflow(uint64_t record) const {
  throw Error(fmt::format("{}: record {}: the total of bytes allocated would pass 2^64 (stats cannot count it)", path_,
                          record));
}

void StatsConsumer::begin(const TraceInfo& info) {
  path_ = info.path;
  format_ = std::string(format_name(info.format));
  strings_ = info.strings;
}

uint64_t* StatsConsumer::grow_births(uint32_t slot) {
  birth_.resize(std::max(size_t{slot} + 1, 2 * birth_.size()));
  return birth_.data();
}

StatsConsumer::Acc* StatsConsumer::grow_types(uint32_t type) {
  size_t want = std::max(size_t{type} + 1, strings_ ? strings_->size() : 0);
  types_.resize(std::max(want, 2 * types_.size()));
  return types_.data();
}

// The hot loop: a switch on the kind and a few counter updates per event.
// Running figures live in locals for the whole batch: they are uint64_t, like
// the Acc and Bucket counters stored through references, so as members the
// compiler would have to reload and store them around every such store. They
// go back into the members at the end of the batch (after an exception the
// consumer is unusable anyway). Cold paths (growing the per-slot and per-type
// arrays, errors) are out of line.
//
// Measured alternatives (reports/stats_bench.cpp, CPython-like random mix):
// the switch mispredicts on a random kind sequence (~2.5 ns/event of the
// total), but fully branch-free versions, where the kind only selects by
// masks which figures move, were slower (11-12 ns/event against 9): every
// event then pays for every figure, and unconditional read-modify-writes of
// the same few counters (domains, buckets, peaks) chain consecutive events
// through store-to-load forwarding. Branches inside a case that would
// mispredict (object or not, death or not) are written as arithmetic.
void StatsConsumer::events(std::span<const Event> batch) {
  uint64_t records = records_, total = allocated_total_, temporary = temporary_, gc_frees = gc_frees_;
  uint64_t live_bytes = live_bytes_, live_blocks = live_blocks_, live_objects = live_objects_;
  uint64_t peak_bytes = peak_bytes_, peak_blocks = peak_blocks_, peak_objects = peak_objects_;
  uint32_t just_allocated = just_allocated_;
  uint64_t* birth = birth_.data();
  size_t birth_size = birth_.size();
  Acc* types = types_.data();
  size_t types_size = types_.size();

  for (const Event& e : batch) {
    ++kind_counts_[static_cast<size_t>(e.kind) & 15];
    const uint64_t size = e.size;
    const uint32_t slot = e.slot.value;
    const uint32_t type = e.str.value;
    switch (e.kind) {
      case EventKind::Alloc:
      case EventKind::Object: {
        ++records;
        if (__builtin_add_overflow(total, size, &total)) overflow(records);
        live_bytes += size;  // <= total, cannot overflow
        peak_bytes = std::max(peak_bytes, live_bytes);
        peak_blocks = std::max(peak_blocks, ++live_blocks);
        live_objects += e.kind == EventKind::Object;  // no branch: it would mispredict
        peak_objects = std::max(peak_objects, live_objects);
        Bucket& b = size_hist_[log2_bucket(size)];
        ++b.count;
        b.bytes += size;
        if (slot >= birth_size) [[unlikely]] {
          birth = grow_births(slot);
          birth_size = birth_.size();
        }
        birth[slot] = records - 1;
        just_allocated = slot;
        if (type >= types_size) [[unlikely]] {
          types = grow_types(type);
          types_size = types_.size();
        }
        add_alloc(types[type], size);
        add_alloc(domains_[domain_index(e.domain)], size);
        break;
      }
      case EventKind::Free:
      case EventKind::Death: {
        records += e.kind == EventKind::Free;
        gc_frees += (e.kind == EventKind::Free) & e.flags & kFlagGc;
        if (live_bytes < size || live_blocks == 0 || slot >= birth_size || type >= types_size) [[unlikely]]
          inconsistent("a release of a block that is not live");
        live_bytes -= size;
        --live_blocks;
        const bool death = e.kind == EventKind::Death;
        if (live_objects < death) [[unlikely]] inconsistent("a death with no object live");
        live_objects -= death;
        // Lifetime in records; a Death belongs to the record that caused it.
        Bucket& b = life_hist_[log2_bucket(records - 1 - birth[slot])];
        ++b.count;
        b.bytes += size;
        temporary += just_allocated == slot;
        just_allocated = kNoSlot;
        add_free(types[type], size);
        add_free(domains_[domain_index(e.domain)], size);
        break;
      }
      case EventKind::Realloc: {
        // Frees the old size and allocates the new one; the block keeps its
        // identity (slot, birth, type, domain), so no lifetime ends here.
        ++records;
        const uint64_t old = e.old_size;
        if (__builtin_add_overflow(total, size, &total)) overflow(records);
        if (live_bytes < old || slot >= birth_size || type >= types_size) [[unlikely]]
          inconsistent("a realloc of a block that is not live");
        live_bytes = live_bytes - old + size;
        peak_bytes = std::max(peak_bytes, live_bytes);
        Bucket& b = size_hist_[log2_bucket(size)];
        ++b.count;
        b.bytes += size;
        temporary += just_allocated == slot;
        just_allocated = slot;
        add_realloc(types[type], old, size);
        add_realloc(domains_[domain_index(e.domain)], old, size);
        break;
      }
      case EventKind::Time:
        ++records;
        if (!first_time_) first_time_ = size;
        last_time_ = size;
        break;
      case EventKind::Thread:
        ++records;
        threads_.insert(size);
        break;
      default:  // +, -, l, u, g, m: counted above, nothing else to do
        ++records;
        break;
    }
  }

  records_ = records;
  allocated_total_ = total;
  temporary_ = temporary;
  gc_frees_ = gc_frees;
  live_bytes_ = live_bytes;
  live_blocks_ = live_blocks;
  live_objects_ = live_objects;
  peak_bytes_ = peak_bytes;
  peak_blocks_ = peak_blocks;
  peak_objects_ = peak_objects;
  just_allocated_ = just_allocated;
}

void StatsConsumer::end(const TraceInfo& info, const ReadSummary& summary) {
  metadata_ = info.metadata.items();
  // The reader, and its string table, may be gone by the time finish() runs.
  type_names_.clear();
  for (uint32_t id = 0; strings_ && id < types_.size() && id < strings_->size(); ++id)
    type_names_.emplace_back(strings_->at(StringId{id}));
  strings_ = nullptr;
  truncated_ = summary.truncated;
  anomalies_ = summary.anomalies;
#if HEAPLAY_CHECKS
  // Readers count records and deaths themselves; both counts must agree.
  if (records_ != summary.events || kind_counts_[static_cast<size_t>(EventKind::Death)] != summary.deaths)
    throw std::logic_error("StatsConsumer: event counts disagree with the reader's summary");
#endif
}

TraceStats StatsConsumer::finish() const {
  const auto count = [&](EventKind k) { return kind_counts_[static_cast<size_t>(k)]; };
  TraceStats s;
  s.trace = path_;
  s.format = format_.empty() ? std::string(format_name(TraceFormat::Text)) : format_;

  s.events = records_;
  s.reallocs = count(EventKind::Realloc);
  s.objects = count(EventKind::Object);
  s.deaths = count(EventKind::Death);
  s.allocs = count(EventKind::Alloc) + s.objects + s.reallocs;
  s.frees = count(EventKind::Free) + s.deaths + s.reallocs;
  s.gc_frees = gc_frees_;
  s.incref = count(EventKind::Incref);
  s.decref = count(EventKind::Decref);
  s.links = count(EventKind::Link);
  s.unlinks = count(EventKind::Unlink);
  s.collections = count(EventKind::Collect);
  s.markers = count(EventKind::Mark);
  s.threads = threads_.size();

  s.peak_live_bytes = peak_bytes_;
  s.peak_live_blocks = peak_blocks_;
  s.peak_live_objects = peak_objects_;
  s.final_live_bytes = live_bytes_;
  s.final_live_blocks = live_blocks_;
  s.final_live_objects = live_objects_;
  s.allocated_bytes_total = allocated_total_;
  s.temporary = temporary_;
  // heaptrack defines this figure for its own files, and heaplay reports it
  // as heaptrack_print does; the reader counts it by heaptrack's rule
  // (docs/metrics.md, "Temporary allocations").
  if (format_ == format_name(TraceFormat::Heaptrack))
    for (const auto& [key, value] : metadata_)
      if (key == "heaptrack.temporary") s.temporary = std::stoull(value);

  s.truncated = truncated_;
  s.anomalies = anomalies_.total();
  for (int k = 1; k < kAnomalyKinds; ++k)  // skip None
    s.anomaly_counts.emplace_back(std::string(anomaly_name(static_cast<Anomaly>(k))), anomalies_.counts[k]);
  s.first_time_ns = first_time_;
  s.last_time_ns = last_time_;

  const auto histogram = [](const std::array<Bucket, kLog2Buckets>& h) {
    std::vector<HistogramBucket> out;
    for (int k = 0; k < kLog2Buckets; ++k)
      if (h[k].count) out.push_back({log2_bucket_min(k), log2_bucket_max(k), h[k].count, h[k].bytes});
    return out;
  };
  s.size_histogram = histogram(size_hist_);
  s.lifetime_histogram = histogram(life_hist_);
  s.never_freed = live_blocks_;

  // Types: names resolved now (or at end(), when the table was last alive),
  // since the table grew while reading.
  struct Ranked {
    TypeStats row;
    uint32_t id;
  };
  std::vector<Ranked> ranked;
  for (uint32_t id = 0; id < types_.size(); ++id) {
    const Acc& a = types_[id];
    if (!a.allocs && !a.frees) continue;  // ids of labels, or types not seen
    std::string name;
    if (id == 0) name = "-";
    else if (id < type_names_.size()) name = type_names_[id];
    else if (strings_ && id < strings_->size()) name = std::string(strings_->at(StringId{id}));
    else name.append("#").append(std::to_string(id));  // no table given (hand-built streams)
    ranked.push_back({TypeStats{std::move(name), a.allocs, a.bytes, a.frees, a.allocs - a.frees,
                                a.live_bytes, a.peak_live_bytes},
                      id});
  }
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& x, const Ranked& y) {
    if (x.row.allocs != y.row.allocs) return x.row.allocs > y.row.allocs;
    if (x.row.type != y.row.type) return x.row.type < y.row.type;
    return x.id < y.id;  // "-" may also be a real type's name
  });
  for (Ranked& r : ranked) s.types.push_back(std::move(r.row));

  for (int d = 0; d < kDomains; ++d) {
    const Acc& a = domains_[d];
    s.domains.push_back(DomainStats{std::string(domain_name(static_cast<Domain>(d))), a.allocs, a.bytes,
                                    a.frees, a.allocs - a.frees, a.live_bytes, a.peak_live_bytes});
  }
  s.metadata = metadata_;
  return s;
}

}  // namespace heaplay
