// synth_service.cpp: `heaplay synth service`, a request/response web service
// at the object level (o + - l u, with the raw blocks CPython's containers own).
//
// What it models: a CPython 3.11 web handler (think a small Flask/Django view
// serving JSON). Each request parses into a short-lived graph: a Request
// instance holding the path, a header dict (interned header names mapping to
// fresh str values), a query dict, and a JSON body, a list of item dicts
// ({"id": int, "name": str, "price": float, "qty": int}). The handler computes
// float temporaries per item, looks up a parsed object in a bounded module-level
// cache (a dict, second-chance LRU eviction), builds a Response instance (body
// str, header dict, the encoded bytes), and drops everything: reference counting
// frees the whole graph in one cascade. A few requests (kCyclePerMille) attach a
// Node child whose .parent points back at the request (request -> children list
// -> node -> request): that whole graph is left to the cyclic collector, as
// the classic leak through back-references does in real services.
//
// Why: it is the mix the object layers see most in practice: many short-lived
// small dicts, strs and floats (free lists, pymalloc pools), a long-lived cache
// churning slowly (fragmentation), and a steady trickle of cyclic garbage for
// the collector replay. Knobs are the constants below; docs/synth.md has the
// record mix and the live set they give.
#include "traces/synth.hpp"
#include "traces/synth_common.hpp"

namespace heaplay {

namespace {

using namespace synth;

constexpr uint32_t kCacheCapacity = 1024;  // parsed objects the cache keeps
constexpr uint32_t kDistinctKeys = 4096;   // distinct cache keys requests ask for (skewed)
constexpr uint32_t kCyclePerMille = 30;    // requests that leave a request <-> node cycle
constexpr uint32_t kHeaderNames = 24;      // interned header names (long-lived strs)
constexpr uint32_t kFieldNames = 8;        // interned JSON field names
constexpr uint32_t kMarkEvery = 100;       // requests between `m request` markers
constexpr uint32_t kCollectEvery = 5000;   // requests between explicit gc.collect() (g 2)

class ServiceSource final : public SynthSource {
 public:
  ServiceSource(uint64_t events, uint64_t seed) : SynthSource("service", events, seed) {
    py_ = std::make_unique<PyTypes>(strings_);
    request_ = strings_.intern("Request");
    response_ = strings_.intern("Response");
    record_ = strings_.intern("Record");
    node_ = strings_.intern("Node");
    startup_ = strings_.intern("startup");
    label_ = strings_.intern("request");
  }

 private:
  void generate(PyHeap& h) const override {
    Run run{*this, h, Rng(seed_)};
    run.go();
  }

  struct Run {
    const ServiceSource& self;
    PyHeap& h;
    Rng rng;
    ClockCache cache{kCacheCapacity, kDistinctKeys};
    std::array<uint32_t, kHeaderNames> names{};
    std::array<uint32_t, kFieldNames> fields{};
    uint64_t now = 1'000'000'000;

    void go() {
      h.time(now);
      h.mark(self.startup_);
      for (uint32_t& s : names) s = h.new_str(rng.range(4, 24));
      for (uint32_t& s : fields) s = h.new_str(rng.range(2, 8));
      cache.create(h);
      for (uint64_t req = 0; !h.done(); ++req) {
        if (req % kMarkEvery == 0) h.mark(self.label_);
        if (req % kCollectEvery == kCollectEvery - 1) h.collect(2);
        now += 20'000 + rng.below(400'000);  // 20 .. 420 us a request
        h.time(now);
        request();
      }
    }

    // A dict of n entries from interned keys (starting at a random one) to fresh strs.
    uint32_t str_dict(const uint32_t* keys, uint32_t nkeys, uint32_t n, uint32_t min_len, uint32_t max_len) {
      uint32_t d = h.new_dict();
      uint32_t first = rng.below(nkeys);
      for (uint32_t i = 0; i < n; ++i) {
        uint32_t v = h.new_str(rng.range(min_len, max_len));
        h.dict_insert(d, keys[(first + i) % nkeys], v);
        h.decref(v);
      }
      return d;
    }

    // One JSON object of the body: {"id": int, "name": str, "price": float, "qty": int}.
    uint32_t item() {
      uint32_t d = h.new_dict();
      uint32_t values[4] = {h.new_int(), h.new_str(rng.range(3, 40)), h.new_float(), h.new_int()};
      for (uint32_t i = 0; i < 4; ++i) {
        h.dict_insert(d, fields[i], values[i]);
        h.decref(values[i]);
      }
      return d;
    }

    // The cached object for a key: a Record(name, id, score, (lo, hi)).
    uint32_t record() {
      uint32_t r = h.new_instance(self.record_, 4);
      h.adopt(r, h.new_str(rng.range(8, 32)));
      h.adopt(r, h.new_int());
      h.adopt(r, h.new_float());
      uint32_t pair = h.new_tuple(2);
      h.adopt(pair, h.new_int());
      h.adopt(pair, h.new_int());
      h.adopt(r, pair);
      return r;
    }

    void request() {
      uint32_t req = h.new_instance(self.request_, 6);
      h.link(req, names[rng.below(4)]);  // .method: an interned str
      h.adopt(req, h.new_str(rng.range(8, 60)));  // .path
      h.adopt(req, str_dict(names.data(), kHeaderNames, rng.range(4, 12), 3, 60));  // .headers
      uint32_t nquery = rng.below(4);
      if (nquery) {
        // Query keys are fresh strs too: parse_qs makes them.
        uint32_t q = h.new_dict();
        for (uint32_t i = 0; i < nquery; ++i) {
          uint32_t k = h.new_str(rng.range(1, 12)), v = h.new_str(rng.range(1, 30));
          h.dict_insert(q, k, v);
          h.decref(k);
          h.decref(v);
        }
        h.adopt(req, q);
      }
      uint32_t body = h.new_list();
      uint32_t nitems = rng.range(1, 12);
      for (uint32_t i = 0; i < nitems; ++i) h.list_append(body, item());
      h.adopt(req, body);

      // price * qty per item, summed: float temporaries that die at once.
      for (uint32_t i = 0; i < nitems; ++i) {
        uint32_t f = h.new_float();
        h.decref(f);
      }
      uint32_t total = h.new_float();

      // The cache: skewed keys (small ids far likelier), a miss parses and caches.
      uint32_t id = rng.below(rng.below(kDistinctKeys) + 1);
      uint32_t cached = cache.find(id);
      if (cached == kNone) {
        cached = record();
        cache.insert(h, id, cached);
        h.link(req, cached);
        h.decref(cached);
      } else {
        h.link(req, cached);
      }

      uint32_t resp = h.new_instance(self.response_, 3);
      uint32_t len = rng.range(100, 2000);
      h.adopt(resp, h.new_str(len));                          // .body
      h.adopt(resp, str_dict(names.data(), kHeaderNames, 3, 8, 40));  // .headers
      h.adopt(resp, total);                                   // .total
      uint32_t wire = h.new_bytes(len);                       // body.encode(), sent, dropped
      h.decref(wire);

      if (rng.chance(kCyclePerMille)) {
        uint32_t node = h.new_instance(self.node_, 2);
        h.link(node, req);  // node.parent = request
        uint32_t children = h.new_list();
        h.list_append(children, node);
        h.adopt(req, children);
      }
      h.link(req, resp);  // request.response
      h.decref(resp);
      h.decref(req);      // the handler returns: the graph dies, unless in a cycle
    }
  };

  StringId request_, response_, record_, node_, startup_, label_;
};

}  // namespace

std::unique_ptr<TraceReader> make_service_source(uint64_t events, uint64_t seed) {
  return std::make_unique<ServiceSource>(events, seed);
}

}  // namespace heaplay
