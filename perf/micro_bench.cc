// Micro-benchmarks of the first-flight core (no DPDK). Each figure is meant to be read beside
// the floor benchmarks of the same run (memchr/memcpy over the same bytes): the machine is
// shared and noisy, so ratios, not absolute times, are what carry from run to run.
//
//   ClientHelloParse/chromium      parse_client_hello on a real 1955-byte Chromium first flight
//                                  (records -> SNI, ALPN, versions, JA4); one hello per item
//   Floor{Memchr,Memcpy}/N         memchr for an absent byte / memcpy over the same N bytes
//   FlowInspector/two_segment_hello  one whole TCP flow through FlowInspector::on_frame: SYN,
//                                  SYN-ACK, ACK, the Chromium hello in two segments (judged),
//                                  server ACK, FIN, FIN, ACK, then the close (expire); one flow
//                                  per item, so ns/op is ns per hello
//   FlowInspector/construct        constructing (and destroying) replay's FlowInspector: flow
//                                  table, 4096 x 16 KB first-flight pool, IP reassembly table
//   StreamAssembler/two_segment    reset + add(segment 1) + add(segment 2) of the same hello
//   FlowTableLookupHit/1M          hash_flow_key + FlowTable::find for a present key, random
//                                  order over 1M flows in a table of 1M
//   ParseFrame/1514/csum:{1,0}     parse_frame (L2-L4) of a 1514-byte IPv4 TCP frame, with and
//                                  without checksum verification
//   InetChecksum/1480              checksum_add (dataplane/core/inet_checksum.h) over the TCP
//                                  segment of that frame
//   FloorChecksumNative/1480       reference: the same one's-complement sum over native-endian
//                                  32-bit words in four accumulators, byte-swapped once at the end
//                                  (RFC 1071 1.2(B)); checked equal to checksum_add
//   QuicInitial/read_and_parse     one ~1.2 KB QUIC v1 client Initial (a Chromium-sized hello
//                                  in CRYPTO frames, reversed, with PING/PADDING between, as
//                                  Chromium's chaos protection sends it) per item: header-
//                                  protection removal, AES-128-GCM open, frame walk, CRYPTO
//                                  reassembly, ClientHello parse; keys already derived (the
//                                  flow's first Initial derived them)
//   QuicInitial/first_packet       the same plus the key schedule (HKDF-SHA256 from the DCID),
//                                  as for a flow's first Initial
//   FloorAesGcmOpen/N              reference: EVP AES-128-GCM decrypt + tag check of the same
//                                  N ciphertext bytes with a ready context (AES-NI where present):
//                                  the cost no Initial reader can avoid
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "dataplane/core/flow_inspector.h"
#include "dataplane/core/flow_key.h"
#include "dataplane/core/flow_table.h"
#include "dataplane/core/inet_checksum.h"
#include "dataplane/core/packet.h"
#include "dataplane/core/quic_initial_reader.h"
#include "dataplane/core/stream_assembler.h"
#include "dataplane/core/tls_client_hello.h"
#include "tests/dataplane/core/packet_builder.h"
#include "tests/dataplane/core/quic_initial_builder.h"

#include <openssl/evp.h>

#ifndef SLUICE_HELLO_DIR
#error "SLUICE_HELLO_DIR must name tests/data/hellos"
#endif

namespace sluice {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes load_hello(const std::string& name) {
  const std::string path = std::string(SLUICE_HELLO_DIR) + "/" + name + ".bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "micro_bench: cannot read %s\n", path.c_str());
    std::exit(1);
  }
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const Bytes& chromium_hello() {
  static const Bytes hello = load_hello("chromium-tcp");
  return hello;
}

// ---------------------------------------------------------------------------------------------
// ClientHello parse and its floors.

void BM_ClientHelloParse(benchmark::State& state) {
  const Bytes& hello = chromium_hello();
  std::vector<uint8_t> scratch(16384);
  ClientHelloInfo info;
  if (parse_client_hello(hello, scratch, info) != HelloStatus::kComplete || info.sni_length == 0 ||
      info.ja4_view().empty()) {
    state.SkipWithError("the Chromium hello did not parse completely");
    return;
  }
  for (auto _ : state) {
    info = ClientHelloInfo{};  // as FlowInspector::try_judge does before every parse
    HelloStatus s = parse_client_hello(hello, scratch, info);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * hello.size()));
  state.SetLabel(std::string(info.sni_view()) + " " + std::string(info.ja4_view()));
}
BENCHMARK(BM_ClientHelloParse)->Name("ClientHelloParse/chromium");

// memchr for a byte that is not there: one read pass over the same bytes.
void BM_FloorMemchr(benchmark::State& state) {
  Bytes bytes = chromium_hello();
  bytes.resize(static_cast<size_t>(state.range(0)), 0x5a);
  std::replace(bytes.begin(), bytes.end(), uint8_t{0xff}, uint8_t{0xfe});
  for (auto _ : state) {
    benchmark::DoNotOptimize(bytes.data());
    const void* p = std::memchr(bytes.data(), 0xff, bytes.size());
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_FloorMemchr)->Name("FloorMemchr")->Arg(1955)->Arg(1514);

void BM_FloorMemcpy(benchmark::State& state) {
  Bytes bytes = chromium_hello();
  bytes.resize(static_cast<size_t>(state.range(0)), 0x5a);
  Bytes out(bytes.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(bytes.data());
    std::memcpy(out.data(), bytes.data(), bytes.size());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_FloorMemcpy)->Name("FloorMemcpy")->Arg(1955)->Arg(1514);

// ---------------------------------------------------------------------------------------------
// One flow with a two-segment hello through FlowInspector.

class CountingSink : public AuditSink {
 public:
  bool publish(const AuditEvent& event) override {
    last = event;  // a ring copies the event too
    ++events;
    if (event.kind == AuditKind::kVerdict) {
      ++verdicts;
      tls += event.first_flight == FirstFlightKind::kTls && event.hello.sni_length > 0;
    }
    return true;
  }
  AuditEvent last;
  uint64_t events = 0;
  uint64_t verdicts = 0;
  uint64_t tls = 0;
};

std::vector<Bytes> two_segment_flow(const Bytes& hello) {
  using test::TcpSpec;
  constexpr uint32_t kClientIsn = 1000;
  constexpr uint32_t kServerIsn = 500000;
  constexpr uint32_t kMss = 1448;
  TcpSpec c;
  c.frame.src_ip = "10.0.0.1";
  c.frame.dst_ip = "93.184.216.34";
  c.src_port = 40000;
  c.dst_port = 443;
  TcpSpec s = c;
  std::swap(s.frame.src_ip, s.frame.dst_ip);
  std::swap(s.frame.src_mac, s.frame.dst_mac);
  std::swap(s.src_port, s.dst_port);
  const auto hlen = static_cast<uint32_t>(hello.size());

  std::vector<Bytes> frames;
  auto add = [&](TcpSpec spec, uint8_t flags, uint32_t seq, uint32_t ack, Bytes payload,
                 bool handshake) {
    spec.flags = flags;
    spec.seq = seq;
    spec.ack = ack;
    spec.options.timestamps = std::make_pair(seq, ack);
    if (handshake) {
      spec.options.mss = 1460;
      spec.options.window_scale = 7;
      spec.options.sack_permitted = true;
      spec.window = 64240;
    } else {
      spec.window = 502;
    }
    spec.payload = std::move(payload);
    frames.push_back(test::build_tcp_frame(spec));
  };
  const Bytes first(hello.begin(), hello.begin() + kMss);
  const Bytes second(hello.begin() + kMss, hello.end());
  add(c, 0x02, kClientIsn, 0, {}, true);
  add(s, 0x12, kServerIsn, kClientIsn + 1, {}, true);
  add(c, 0x10, kClientIsn + 1, kServerIsn + 1, {}, false);
  add(c, 0x10, kClientIsn + 1, kServerIsn + 1, first, false);
  add(c, 0x18, kClientIsn + 1 + kMss, kServerIsn + 1, second, false);
  add(s, 0x10, kServerIsn + 1, kClientIsn + 1 + hlen, {}, false);
  add(c, 0x11, kClientIsn + 1 + hlen, kServerIsn + 1, {}, false);
  add(s, 0x11, kServerIsn + 1, kClientIsn + 2 + hlen, {}, false);
  add(c, 0x10, kClientIsn + 2 + hlen, kServerIsn + 2, {}, false);
  return frames;
}

void BM_FlowInspectorTwoSegmentHello(benchmark::State& state) {
  const std::vector<Bytes> frames = two_segment_flow(chromium_hello());
  CountingSink sink;
  InspectorConfig config;  // replay's defaults: 64k flows, 4096 first-flight buffers
  config.checksum_mode = ChecksumMode::kAuto;
  auto inspector = std::make_unique<FlowInspector>(config, sink);
  // Every iteration is the same 5-tuple: the flow of the previous one is closed by expire()
  // (FIN both ways, past the closing timeout) before the SYN comes again.
  const uint64_t step_ns = config.timeouts.closing_ns + 1'000'000'000ULL;
  uint64_t now = 1'700'000'000'000'000'000ULL;
  for (auto _ : state) {
    for (const Bytes& frame : frames) {
      now += 1000;
      inspector->on_frame(frame, now);
    }
    now += step_ns;
    inspector->expire(now);
  }
  const uint64_t flows = static_cast<uint64_t>(state.iterations());
  if (sink.verdicts != flows || sink.tls != flows || sink.events != 2 * flows ||
      inspector->active_flows() != 0) {
    state.SkipWithError("not every flow was judged TLS with an SNI and closed");
    return;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["pkts/s"] =
      benchmark::Counter(static_cast<double>(flows * frames.size()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FlowInspectorTwoSegmentHello)->Name("FlowInspector/two_segment_hello");

// What sluice replay pays before its first packet for the inspector: the flow table, the
// first-flight pool (4096 slots of 16 KB, replay's setting) and the IP reassembly table.
void BM_FlowInspectorConstruct(benchmark::State& state) {
  CountingSink sink;
  InspectorConfig config;
  config.first_flight_buffers = 4096;  // as sluice_main.cc sets for replay
  for (auto _ : state) {
    auto inspector = std::make_unique<FlowInspector>(config, sink);
    benchmark::DoNotOptimize(inspector.get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowInspectorConstruct)->Name("FlowInspector/construct")->Unit(benchmark::kMillisecond);

void BM_StreamAssemblerTwoSegment(benchmark::State& state) {
  const Bytes& hello = chromium_hello();
  constexpr uint32_t kCap = 16384;  // InspectorConfig::first_flight_byte_cap
  constexpr uint32_t kMss = 1448;
  std::vector<uint8_t> data(kCap);
  std::vector<uint64_t> seen((kCap + 63) / 64);
  const ByteSpan first(hello.data(), kMss);
  const ByteSpan second(hello.data() + kMss, hello.size() - kMss);
  StreamAssembler a;
  for (auto _ : state) {
    a.reset(1001, data, seen);
    auto r1 = a.add(1001, first);
    auto r2 = a.add(1001 + kMss, second);
    benchmark::DoNotOptimize(r1);
    benchmark::DoNotOptimize(r2);
  }
  if (a.contiguous_length() != hello.size()) state.SkipWithError("hello not reassembled");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * hello.size()));
}
BENCHMARK(BM_StreamAssemblerTwoSegment)->Name("StreamAssembler/two_segment");

// ---------------------------------------------------------------------------------------------
// Flow table lookup at 1M flows.

FlowKey make_key(uint32_t i) {
  uint8_t a[4] = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                  static_cast<uint8_t>(i)};
  uint8_t b[4] = {93, 184, static_cast<uint8_t>(i % 251), static_cast<uint8_t>(i % 241)};
  bool src_is_lo;
  return FlowKey::make({IpAddress::from_v4(a), static_cast<uint16_t>(32768 + i % 28000)},
                       {IpAddress::from_v4(b), 443}, 6, 0, src_is_lo);
}

void BM_FlowTableLookupHit(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  static std::unique_ptr<FlowTable> table;
  static std::vector<FlowKey> keys;
  static std::vector<uint32_t> order;
  if (!table || table->capacity() != n) {
    table = std::make_unique<FlowTable>(n);
    keys.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      keys[i] = make_key(i);
      table->insert(keys[i], hash_flow_key(keys[i]), 1);
    }
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(42));
  }
  size_t i = 0;
  uint64_t found = 0;
  for (auto _ : state) {
    const FlowKey& k = keys[order[i]];
    found += table->find(k, hash_flow_key(k)) != kNoFlow;
    if (++i == n) i = 0;
  }
  benchmark::DoNotOptimize(found);
  if (found != static_cast<uint64_t>(state.iterations())) state.SkipWithError("lookup missed");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowTableLookupHit)->Name("FlowTableLookupHit")->Arg(1 << 20);

// ---------------------------------------------------------------------------------------------
// L2-L4 parse of a full-sized frame.

void BM_ParseFrame(benchmark::State& state) {
  const bool verify = state.range(0) != 0;
  test::TcpSpec spec;
  spec.frame.src_ip = "93.184.216.34";
  spec.frame.dst_ip = "10.0.0.1";
  spec.src_port = 443;
  spec.dst_port = 40000;
  spec.options.timestamps = std::make_pair(1u, 2u);
  spec.payload.resize(1448);
  for (size_t i = 0; i < spec.payload.size(); ++i)
    spec.payload[i] = static_cast<uint8_t>(i * 131 + 7);
  const Bytes frame = test::build_tcp_frame(spec);
  ParseOptions options;
  options.verify_checksums = verify;
  ParsedPacket p;
  const ParseResult check = parse_frame(frame, options, p);
  if (check.status != ParseStatus::kOk ||
      (verify && p.l4_checksum != ChecksumState::kValid) || p.payload.size() != 1448) {
    state.SkipWithError("the frame did not parse");
    return;
  }
  for (auto _ : state) {
    ParsedPacket out;
    ParseResult r = parse_frame(frame, options, out);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
  state.SetLabel(std::to_string(frame.size()) + " B frame");
}
BENCHMARK(BM_ParseFrame)->Name("ParseFrame/1514")->ArgName("csum")->Arg(1)->Arg(0);

// ---------------------------------------------------------------------------------------------
// The Internet checksum over a full segment, and a reference implementation of the same sum.

Bytes segment_bytes(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 131 + 7);
  return b;
}

// One's-complement sum is byte-order independent (RFC 1071 1.2(B)): add native-endian 32-bit
// words into four independent 64-bit accumulators, fold, and swap the bytes once.
uint32_t checksum_native(uint32_t sum, ByteSpan bytes) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  for (; n >= 16; n -= 16, p += 16) {
    uint32_t w[4];
    std::memcpy(w, p, 16);
    a += w[0];
    b += w[1];
    c += w[2];
    d += w[3];
  }
  uint64_t acc = a + b + c + d;
  for (; n >= 2; n -= 2, p += 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
  }
  if (n == 1) acc += p[0];  // the low byte in memory order is the high byte on the wire
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  const auto swapped = static_cast<uint32_t>(((acc & 0xff) << 8) | (acc >> 8));
  return checksum_fold(sum + swapped);
}

void BM_InetChecksum(benchmark::State& state) {
  const Bytes seg = segment_bytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(seg.data());
    uint32_t sum = checksum_add(0x1234, seg);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * seg.size()));
}
BENCHMARK(BM_InetChecksum)->Name("InetChecksum")->Arg(1480);

void BM_FloorChecksumNative(benchmark::State& state) {
  const Bytes seg = segment_bytes(static_cast<size_t>(state.range(0)));
  for (size_t n : {0, 1, 2, 3, 7, 8, 9, 1479, 1480}) {
    const ByteSpan s(seg.data(), std::min(n, seg.size()));
    if (checksum_fold(checksum_add(0x1234, s)) != checksum_native(0x1234, s)) {
      state.SkipWithError("the reference checksum differs from checksum_add");
      return;
    }
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(seg.data());
    uint32_t sum = checksum_native(0x1234, seg);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * seg.size()));
}
BENCHMARK(BM_FloorChecksumNative)->Name("FloorChecksumNative")->Arg(1480);

// ---------------------------------------------------------------------------------------------
// QUIC Initial: decrypt + CRYPTO reassembly + ClientHello parse, against raw AES-GCM.

// A Chromium-sized hello in one Initial, its CRYPTO frames reversed with PING/PADDING between.
const Bytes& quic_initial() {
  static const Bytes packet = [] {
    const Bytes ch = test::quic_client_hello("www.example.com", {"h3"}, 1100);
    const std::vector<Bytes> frames = test::quic_crypto_frames(ch, 97);
    Bytes payload;
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      payload.insert(payload.end(), it->begin(), it->end());
      payload.push_back(0x01);  // PING
      payload.push_back(0x00);  // PADDING
    }
    test::QuicInitialSpec spec;
    spec.frames = payload;
    return test::build_quic_initial(spec);
  }();
  return packet;
}

void quic_bench(benchmark::State& state, bool derive) {
  const Bytes& packet = quic_initial();
  QuicInitialReader reader;
  std::vector<uint8_t> bytes(16384);
  std::vector<uint64_t> seen(256);
  StreamAssembler stream;
  QuicFlightState warm;
  ClientHelloInfo info;
  stream.reset(0, bytes, seen);
  if (reader.read(packet, warm, stream).initials != 1 ||
      parse_quic_client_hello(stream.contiguous(), info) != HelloStatus::kComplete) {
    state.SkipWithError("the QUIC Initial did not read completely");
    return;
  }
  for (auto _ : state) {
    QuicFlightState fresh;
    QuicFlightState& s = derive ? fresh : warm;
    stream.reset(0, bytes, seen);
    const QuicDatagramResult r = reader.read(packet, s, stream);
    info = ClientHelloInfo{};
    HelloStatus h = parse_quic_client_hello(stream.contiguous(), info);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(h);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * packet.size()));
  state.SetLabel(std::string(info.sni_view()) + " " + std::string(info.ja4_view()));
}
void BM_QuicInitialRead(benchmark::State& state) { quic_bench(state, false); }
void BM_QuicInitialFirstPacket(benchmark::State& state) { quic_bench(state, true); }
BENCHMARK(BM_QuicInitialRead)->Name("QuicInitial/read_and_parse");
BENCHMARK(BM_QuicInitialFirstPacket)->Name("QuicInitial/first_packet");

// Raw AES-128-GCM over N bytes with a ready context: seal once, then open per item.
void BM_FloorAesGcmOpen(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const uint8_t iv[12] = {9};
  const uint8_t aad[22] = {0xc3};
  Bytes plain(n, 0x5a), cipher(n), out(n);
  uint8_t tag[16];
  int len = 0;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, key, iv);
  EVP_EncryptUpdate(ctx, nullptr, &len, aad, sizeof(aad));
  EVP_EncryptUpdate(ctx, cipher.data(), &len, plain.data(), static_cast<int>(n));
  EVP_EncryptFinal_ex(ctx, cipher.data() + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
  EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr);
  for (auto _ : state) {
    int ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, key, iv);
    ok &= EVP_DecryptUpdate(ctx, nullptr, &len, aad, sizeof(aad));
    ok &= EVP_DecryptUpdate(ctx, out.data(), &len, cipher.data(), static_cast<int>(n));
    ok &= EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag);
    ok &= EVP_DecryptFinal_ex(ctx, out.data() + len, &len);
    if (ok != 1) state.SkipWithError("AES-GCM open failed");
    benchmark::DoNotOptimize(out.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_FloorAesGcmOpen)->Name("FloorAesGcmOpen")->Arg(1210);

}  // namespace
}  // namespace sluice

BENCHMARK_MAIN();
