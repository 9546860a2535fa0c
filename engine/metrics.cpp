// metrics.cpp: the timeline sampler.
#include "engine/metrics.hpp"

namespace heaplay {

void Sampler::add(const Sample& s) {
  if (rows_.size() == cap_) {
    // Full: keep the rows at multiples of twice the stride, then take this one if it is one.
    size_t kept = 0;
    for (const Sample& r : rows_)
      if (r.event % (2 * stride_) == 0) rows_[kept++] = r;
    rows_.resize(kept);
    stride_ *= 2;
  }
  if (s.event % stride_ == 0) rows_.push_back(s);
  next_ = (s.event / stride_ + 1) * stride_;
}

std::vector<Sample> Sampler::finish(const Sample& last) const {
  std::vector<Sample> out = rows_;
  if (out.empty() || out.back().event != last.event) out.push_back(last);
  return out;
}

}  // namespace heaplay
