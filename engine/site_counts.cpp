// site_counts.cpp: counting a records per site tag (site_counts.hpp).
#include "engine/site_counts.hpp"

#include <algorithm>

namespace heaplay {

void SiteCounter::events(std::span<const Event> batch) {
  for (const Event& e : batch) {
    if (e.kind != EventKind::Alloc || e.str.value == 0) continue;
    if (e.str.value >= counts_.size()) counts_.resize(std::max<size_t>(e.str.value + 1, counts_.size() * 2), 0);
    ++counts_[e.str.value];
  }
}

void SiteCounter::end(const TraceInfo& info, const ReadSummary& summary) {
  (void)info;
  (void)summary;
  tags_.clear();
  for (uint32_t id = 1; id < counts_.size(); ++id)
    if (counts_[id]) tags_.emplace_back(std::string(strings_->at(StringId{id})), counts_[id]);
}

std::vector<std::string> SiteCounter::top(uint32_t n) const {
  std::vector<const std::pair<std::string, uint64_t>*> order;
  for (const auto& t : tags_) order.push_back(&t);
  const size_t k = std::min<size_t>(n, order.size());
  auto before = [](const auto* a, const auto* b) { return a->second != b->second ? a->second > b->second : a->first < b->first; };
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), before);
  std::vector<std::string> out;
  for (size_t i = 0; i < k; ++i) out.push_back(order[i]->first);
  return out;
}

uint64_t SiteCounter::count(std::string_view tag) const {
  for (const auto& [name, n] : tags_)
    if (name == tag) return n;
  return 0;
}

std::vector<std::string> top_sites(const std::string& path, const ReadOptions& options, uint32_t n) {
  SiteCounter counter;
  open_trace(path, options)->read(counter);
  return counter.top(n);
}

}  // namespace heaplay
