// cpp_churn.cpp: an allocation-heavy C++ program for the `heaplay record`
// overhead figures in docs/performance.md (tests/bench/record_overhead.sh):
// std::map nodes, std::string buffers and std::vector growth, as a service
// that parses, indexes and drops records does. Per round: 20000 records,
// each a string key (on the heap: longer than the small-string buffer), a
// map node and a vector of 8 strings grown one by one, with the temporaries
// that building them makes; then every other entry of the map is erased.
//
// Usage: cpp_churn [ROUNDS]   (default 20)
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const long rounds = argc > 1 ? std::atol(argv[1]) : 20;
  std::map<std::string, std::vector<std::string>> index;
  size_t total = 0;
  for (long r = 0; r < rounds; ++r) {
    for (int i = 0; i < 20000; ++i) {
      std::string key = "customer-record-" + std::to_string(r) + "-" + std::to_string(i);
      std::vector<std::string> fields;
      for (int f = 0; f < 8; ++f) fields.push_back("field-value-number-" + std::to_string(f * i));
      total += fields.back().size();
      index.emplace(std::move(key), std::move(fields));
    }
    bool drop = false;
    for (auto it = index.begin(); it != index.end(); drop = !drop) it = drop ? index.erase(it) : std::next(it);
  }
  std::printf("cpp_churn: %zu entries, %zu bytes of fields\n", index.size(), total);
  return 0;
}
