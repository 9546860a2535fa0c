// trace_metadata.cpp: a trace's metadata as it stands at its end (trace_io.hpp),
// and the decoding of native metadata payloads that the reader shares.
//
// Why a separate walk: a recorder learns some metadata only at the end (the
// Python recorder's arena alignments and pymalloc statistics) and writes it in
// a metadata block after the last frame, but a replay must choose its
// parameters before its first event. In a native file every block header
// says how long its payload is, so the metadata blocks are found by hopping
// from header to header: one 20-byte read per frame of 65,536 events, no
// decompression.
#include <cstdio>
#include <memory>

#include "traces/byte_source.hpp"
#include "traces/formats.hpp"
#include "traces/native_format.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

namespace native {

bool decode_metadata(const uint8_t* payload, size_t length, uint32_t count, Metadata& out) {
  VarintReader r(payload, payload + length);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t *key = nullptr, *value = nullptr;
    const uint64_t klen = r.get();
    if (!r.bytes(klen, &key)) return false;
    const uint64_t vlen = r.get();
    if (!r.bytes(vlen, &value)) return false;
    out.set(std::string(reinterpret_cast<const char*>(key), klen),
            std::string(reinterpret_cast<const char*>(value), vlen));
    if (out.items().size() > kMaxMetadataEntries) return false;
  }
  return r.ok() && r.at_end();
}

}  // namespace native

namespace {

uint32_t le32(const unsigned char* p) { return p[0] | p[1] << 8 | p[2] << 16 | uint32_t{p[3]} << 24; }

}  // namespace

Metadata trace_metadata(const std::string& path) {
  using namespace native;
  // A pipe would lose what this pass reads (and the replay after it the rest).
  require_rereadable(path, "its metadata is read before its events");
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) return leading_metadata(path);  // the reader names the problem
  unsigned char magic[kMagicBytes] = {};
  if (!is_native_magic(magic, std::fread(magic, 1, sizeof magic, f.get()))) return leading_metadata(path);
  Metadata out;
  std::vector<uint8_t> payload;
  // Blocks from the header on; a damaged or cut block ends the walk (reading
  // the trace reports it), so does the end block.
  for (uint64_t at = kFirstBlockOffset;;) {
    unsigned char h[kBlockHeaderBytes];
    if (std::fseek(f.get(), static_cast<long>(at), SEEK_SET) != 0 || std::fread(h, 1, sizeof h, f.get()) != sizeof h)
      break;
    if (le32(h + 16) != crc32_of(h, 16)) break;
    const auto type = static_cast<BlockType>(h[0]);
    const uint32_t length = le32(h + 4), count = le32(h + 8);
    if (type == BlockType::End || length > kMaxPayloadBytes) break;
    if (type == BlockType::Header || type == BlockType::Metadata) {
      payload.resize(length);
      if (std::fread(payload.data(), 1, length, f.get()) != length || le32(h + 12) != crc32_of(payload.data(), length))
        break;
      if (!decode_metadata(payload.data(), length, count, out)) break;
    }
    at += kBlockHeaderBytes + length;
  }
  return out;
}

}  // namespace heaplay
