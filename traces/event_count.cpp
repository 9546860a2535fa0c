// event_count.cpp: a complete native trace's event count from its end block (trace_io.hpp).
#include <cstdio>
#include <cstring>
#include <memory>

#include "traces/byte_source.hpp"
#include "traces/formats.hpp"
#include "traces/native_format.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

namespace {
uint32_t le32(const unsigned char* p) { return p[0] | p[1] << 8 | p[2] << 16 | uint32_t{p[3]} << 24; }
}  // namespace

std::optional<uint64_t> recorded_event_count(const std::string& path) {
  using namespace native;
  if (!is_regular_file(path)) return std::nullopt;  // opening a pipe would take its first bytes
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) return std::nullopt;
  char magic[kMagicBytes];
  if (std::fread(magic, 1, sizeof magic, f.get()) != sizeof magic || std::memcmp(magic, kNativeMagic, sizeof magic) != 0)
    return std::nullopt;
  // The end block: a 20-byte header ('Z', payload 8 bytes) and the u64 total, last in the file.
  constexpr long kEnd = static_cast<long>(kBlockHeaderBytes + 8);
  unsigned char b[kEnd];
  if (std::fseek(f.get(), -kEnd, SEEK_END) != 0 || std::fread(b, 1, sizeof b, f.get()) != sizeof b) return std::nullopt;
  if (b[0] != static_cast<unsigned char>(BlockType::End) || le32(b + 4) != 8) return std::nullopt;
  if (le32(b + 16) != crc32_of(b, 16)) return std::nullopt;
  uint64_t total = 0;
  for (int i = 0; i < 8; ++i) total |= uint64_t{b[kBlockHeaderBytes + i]} << (8 * i);
  return total;
}

}  // namespace heaplay
