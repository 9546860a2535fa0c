// synth_graph.cpp: `heaplay synth graph`, an ORM-like object graph at the
// object level, heavy in reference cycles.
//
// What it models: a CPython 3.11 program on an ORM (SQLAlchemy-style unit of
// work). A Session loads a batch of entities from query rows (tuples of fresh
// column values, dropped once the entity has taken its attributes) and keeps
// them in its identity dict; every entity points back at its session
// (entity._sa_session). A User owns an `orders` list whose Orders point back at
// their user (parent <-> child); an Order's `items` list and an Item's
// `orders` list reference each other (many-to-many through lists). Items point
// at Products from a long-lived, bounded, process-wide identity map (a dict,
// second-chance LRU eviction). The unit of work then mutates: renames some
// users (the old str dies), adds orders, removes some from their user's list.
// Finally the session is dropped: the graph is held together by its
// back-references, so refcounting frees almost nothing and the whole batch is
// left for the cyclic collector. Read-only sessions (kReadOnlyPerMille) load
// users without relationships or back-references and free them by counting.
//
// Why: it is the collector's workload: large, interlinked cyclic garbage of
// instances, dicts and lists, arriving in bursts, among long-lived objects
// the cyclic GC must traverse (the identity map). Knobs are the constants
// below; docs/synth.md has the record mix and the cycles left per 1M records.
#include <vector>

#include "traces/synth.hpp"
#include "traces/synth_common.hpp"

namespace heaplay {

namespace {

using namespace synth;

constexpr uint32_t kProductCapacity = 2048;  // products the long-lived identity map keeps
constexpr uint32_t kDistinctProducts = 8192; // product ids items refer to (skewed)
constexpr uint32_t kMaxUsers = 24;           // users a session loads: 2 .. this
constexpr uint32_t kMaxOrders = 4;           // orders a user has: 0 .. this
constexpr uint32_t kMaxItems = 12;           // items a session loads: 2 .. this
constexpr uint32_t kReadOnlyPerMille = 300;  // sessions that only read users (no cycles)
constexpr uint32_t kCollectEvery = 200;      // sessions between explicit gc.collect() (g 2)

class GraphSource final : public SynthSource {
 public:
  GraphSource(uint64_t events, uint64_t seed) : SynthSource("graph", events, seed) {
    py_ = std::make_unique<PyTypes>(strings_);
    session_ = strings_.intern("Session");
    user_ = strings_.intern("User");
    order_ = strings_.intern("Order");
    item_ = strings_.intern("Item");
    product_ = strings_.intern("Product");
    label_ = strings_.intern("session");
  }

 private:
  void generate(PyHeap& h) const override {
    Run run{*this, h, Rng(seed_)};
    run.go();
  }

  struct User {
    uint32_t obj, name, orders;
    std::vector<uint32_t> order_list;  // in list order
  };

  struct Run {
    const GraphSource& self;
    PyHeap& h;
    Rng rng;
    ClockCache products{kProductCapacity, kDistinctProducts};
    std::vector<User> users{};    // the session's, reused (capacity bounded by kMaxUsers)
    std::vector<uint32_t> items{};  // the session's Items
    std::vector<uint32_t> item_orders{};
    uint64_t now = 1'000'000'000;

    void go() {
      products.create(h);
      for (uint64_t n = 0; !h.done(); ++n) {
        h.mark(self.label_);
        now += 500'000 + rng.below(5'000'000);
        h.time(now);
        if (n % kCollectEvery == kCollectEvery - 1) h.collect(2);
        session(rng.chance(kReadOnlyPerMille));
      }
    }

    std::vector<uint32_t> row_values{};  // the last row's column values

    uint32_t product() {
      uint32_t id = rng.below(rng.below(kDistinctProducts) + 1);
      uint32_t p = products.find(id);
      if (p != kNone) return p;
      p = entity_from_columns(self.product_, 3, 3);
      products.insert(h, id, p);
      h.decref(p);  // the identity map holds it
      return p;
    }

    // An entity loaded from a query row: a tuple of fresh column values (an
    // int id, then strs and floats); the entity links them and the row dies.
    // *name: its first str column.
    uint32_t entity_from_columns(StringId cls, uint32_t columns, uint32_t attrs, uint32_t* name = nullptr) {
      row_values.clear();
      uint32_t t = h.new_tuple(columns);
      for (uint32_t i = 0; i < columns; ++i) {
        uint32_t v = i == 0 ? h.new_int() : i % 2 ? h.new_str(rng.range(4, 40)) : h.new_float();
        h.adopt(t, v);
        row_values.push_back(v);
      }
      uint32_t e = h.new_instance(cls, attrs);
      for (uint32_t v : row_values) h.link(e, v);
      if (name) *name = columns > 1 ? row_values[1] : kNone;
      h.decref(t);  // the row dies; its values live on in the entity
      return e;
    }

    void session(bool read_only) {
      uint32_t s = h.new_instance(self.session_, 3);
      uint32_t identity = h.new_dict();
      h.adopt(s, identity);
      auto track = [&](uint32_t e) {  // session.identity[(cls, id)] = e; e._sa_session = s
        uint32_t key = h.new_tuple(2);
        h.adopt(key, h.new_int());
        h.dict_insert(identity, key, e, false);
        h.decref(key);
        if (!read_only) h.link(e, s);
      };

      users.resize(rng.range(2, kMaxUsers));
      for (User& u : users) {
        u.obj = entity_from_columns(self.user_, 4, 5, &u.name);
        u.order_list.clear();
        u.orders = kNone;
        track(u.obj);
      }
      if (!read_only) {
        items.resize(rng.range(2, kMaxItems));
        item_orders.resize(items.size());
        for (size_t i = 0; i < items.size(); ++i) {
          uint32_t it = items[i] = entity_from_columns(self.item_, 3, 4);
          h.link(it, product());  // item.product
          item_orders[i] = h.new_list();  // item.orders
          h.adopt(it, item_orders[i]);
          track(it);
        }
        for (User& u : users) {
          u.orders = h.new_list();
          h.adopt(u.obj, u.orders);
          for (uint32_t k = rng.below(kMaxOrders + 1); k > 0; --k) add_order(u, track);
        }
        // The unit of work: renames, new orders, orders removed from their user.
        for (User& u : users) {
          uint32_t what = rng.below(10);
          if (what < 3 && u.name != kNone) {
            h.unlink(u.obj, u.name);  // user.name = new: the old str dies
            u.name = h.new_str(rng.range(4, 40));
            h.adopt(u.obj, u.name);
          } else if (what < 5) {
            add_order(u, track);
          } else if (what < 6 && !u.order_list.empty()) {
            h.list_pop(u.orders, u.order_list.back());  // still held by its items and the session
            u.order_list.pop_back();
          }
        }
      }
      // The session goes out of scope: everything loaded stays in cycles,
      // but for read-only sessions, whose graph counting frees.
      for (User& u : users) h.decref(u.obj);
      if (!read_only)
        for (uint32_t it : items) h.decref(it);
      h.decref(s);
    }

    // order = Order(user=u, items=[...]): parent <-> child and many-to-many links.
    template <class Track>
    void add_order(User& u, Track& track) {
      uint32_t o = entity_from_columns(self.order_, 3, 5);
      h.link(o, u.obj);  // order.user
      h.incref(o);
      h.list_append(u.orders, o);  // user.orders.append(order)
      u.order_list.push_back(o);
      uint32_t lines = h.new_list();  // order.items
      h.adopt(o, lines);
      for (uint32_t k = rng.range(1, 3); k > 0; --k) {
        uint32_t i = rng.below(static_cast<uint32_t>(items.size()));
        h.incref(items[i]);
        h.list_append(lines, items[i]);
        h.incref(o);
        h.list_append(item_orders[i], o);  // item.orders.append(order)
      }
      track(o);
      h.decref(o);
    }
  };

  StringId session_, user_, order_, item_, product_, label_;
};

}  // namespace

std::unique_ptr<TraceReader> make_graph_source(uint64_t events, uint64_t seed) {
  return std::make_unique<GraphSource>(events, seed);
}

}  // namespace heaplay
