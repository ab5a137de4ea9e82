// gen_capture: writes a deterministic capture of mixed TLS flows for the replay benchmark.
//
//   gen_capture OUTPUT.pcap [--packets N] [--seed S] [--concurrent K]
//
// Every flow is a plausible TCP conversation between one of a few thousand clients and a server
// chosen by its (Zipf-like) domain: SYN, SYN-ACK, ACK, the ClientHello, the server's response in
// full-sized segments with the client's stretch ACKs, one client request, then FIN/ACK both ways
// (a few flows end with an RST). ClientHellos vary in size and segmentation:
//   45% Chromium-like, ~1.9 KB with GREASE, sent as two segments (MSS + rest);
//   40% curl-like, 517 bytes in one segment;
//   10% a ~700 B hello cut into many small segments (16-120 bytes);
//    5% TLS 1.2-only, ~250 B, no ALPN.
// 10% of flows are IPv6. Checksums are correct (frames come from the tested packet builder);
// timestamps are microseconds and strictly increasing. Servers answer with a TLS 1.3
// ServerHello, ChangeCipherSpec and application data records; clients follow with
// ChangeCipherSpec, Finished and one request, all as real records (random contents). Flows are interleaved: K of them are open
// at once and each packet comes from a randomly chosen one. Output is pcap (DLT_EN10MB, usec).
#include <pcap/pcap.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/dataplane/core/client_hello_builder.h"
#include "tests/dataplane/core/packet_builder.h"

namespace {

using sluice::test::TcpSpec;
using Bytes = std::vector<uint8_t>;

// splitmix64: small, fast, and the same sequence on every machine.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
  uint32_t range(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }

 private:
  uint64_t s_;
};

constexpr uint32_t kDomains = 20000;
constexpr uint32_t kClientsV4 = 4000;
constexpr uint32_t kClientsV6 = 500;

const char* const kSyllables[] = {
    "ka", "lo", "mi", "ne", "ro", "ta", "vi", "zu", "bel", "cor", "dan", "fer", "gal", "hon",
    "jet", "kin", "lum", "mar", "nor", "pix", "quo", "ral", "sol", "tur", "ulm", "ven", "wex",
    "yar", "zen", "cloud", "data", "shop", "news", "play", "mail", "stream", "pay", "map",
    "photo", "game"};
const char* const kSubdomains[] = {"www", "api", "cdn", "static", "img", "m", "login", "edge",
                                   "assets", "app", "", "", ""};
const char* const kTlds[] = {"com", "com", "com", "net", "org", "io", "de", "fr", "co.uk",
                             "cloud", "dev", "nl", "jp"};

template <typename T, size_t N>
constexpr size_t count_of(const T (&)[N]) { return N; }

// The name of domain `index`: a pure function of the index, so popular domains repeat.
std::string domain_name(uint32_t index) {
  Rng r(0xd0a1'0000ULL + index);
  std::string name;
  const char* sub = kSubdomains[r.below(count_of(kSubdomains))];
  if (*sub) {
    name += sub;
    name += '.';
  }
  const uint32_t syllables = r.range(2, 3);
  for (uint32_t i = 0; i < syllables; ++i) name += kSyllables[r.below(count_of(kSyllables))];
  if (r.below(4) == 0) name += std::to_string(r.below(100));
  name += '.';
  name += kTlds[r.below(count_of(kTlds))];
  return name;
}

std::string server_ip(uint32_t domain, bool v6) {
  Rng r(0x5e4e'0000ULL + domain);
  char buf[64];
  if (v6) {
    std::snprintf(buf, sizeof buf, "2001:db8:5:%x::%x", r.below(0x10000), r.range(1, 0xfffe));
  } else {
    static const int kFirst[] = {23, 34, 52, 104, 142, 151, 172, 185};
    std::snprintf(buf, sizeof buf, "%d.%u.%u.%u", kFirst[r.below(8)], r.below(256), r.below(256),
                  r.range(1, 254));
  }
  return buf;
}

std::string client_ip(uint32_t client, bool v6) {
  char buf[64];
  if (v6) {
    std::snprintf(buf, sizeof buf, "2001:db8:c:%x::%x", client >> 8, (client & 0xff) + 1);
  } else {
    std::snprintf(buf, sizeof buf, "10.%u.%u.%u", 20 + client / 250 / 250, client / 250 % 250,
                  client % 250 + 1);
  }
  return buf;
}

enum class HelloKind : uint8_t { kChromium, kCurl, kSmallSegments, kTls12 };

Bytes make_hello(HelloKind kind, const std::string& sni, Rng& rng) {
  sluice::HelloSpec spec;
  spec.sni = sni;
  for (auto& b : spec.random) b = static_cast<uint8_t>(rng.next());
  for (auto& b : spec.session_id) b = static_cast<uint8_t>(rng.next());
  switch (kind) {
    case HelloKind::kChromium:
      spec.grease = true;
      spec.alpn = {"h2", "http/1.1"};
      spec.ciphers = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
                      0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
      spec.extra_extensions = {{0x001b, {0x02, 0x00, 0x02}},           // compress_certificate
                               {0x4469, {0x00, 0x03, 0x02, 'h', '2'}},  // application_settings
                               {0x0012, {}}};                          // SCT
      spec.pad_message_to = 1850 + rng.below(100);
      break;
    case HelloKind::kCurl:
      spec.alpn = {"h2", "http/1.1"};
      spec.pad_message_to = 512;
      break;
    case HelloKind::kSmallSegments:
      spec.alpn = {"h2"};
      spec.pad_message_to = 650 + rng.below(100);
      break;
    case HelloKind::kTls12:
      spec.supported_versions = {};
      spec.session_id = {};
      spec.ciphers = {0xc02f, 0xc030, 0xc02b, 0xc02c, 0x009e, 0x009f, 0xc013, 0xc014, 0x002f,
                      0x0035, 0x000a};
      break;
  }
  return sluice::build_client_hello_records(spec);
}

// One packet of a flow, planned when the flow starts and built when it is emitted.
struct Step {
  bool from_client = true;
  uint8_t flags = 0x10;
  bool handshake_options = false;  // SYN / SYN-ACK options
  uint32_t seq_off = 0;            // relative to the sender's ISN
  uint32_t ack_off = 0;            // relative to the peer's ISN (ignored without ACK)
  uint32_t length = 0;
  uint32_t data_at = 0;  // offset in the flow's client bytes, or in the shared server bytes
};

struct FlowPlan {
  TcpSpec client;  // frame from client to server; server frames swap it
  TcpSpec server;
  uint32_t client_isn = 0;
  uint32_t server_isn = 0;
  uint32_t ts_client = 0;
  uint32_t ts_server = 0;
  Bytes client_bytes;
  std::vector<Step> steps;
  size_t next = 0;
};

struct Stats {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t large = 0;  // frames of at least 1400 bytes
  uint64_t flows = 0;
  uint64_t flows_v6 = 0;
  uint64_t by_kind[4] = {};
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {
    // What every server sends: a TLS 1.3 ServerHello, ChangeCipherSpec, then application data
    // records (the encrypted rest of the handshake first), so a DPI engine sees a well-formed
    // TLS 1.3 conversation, as on the wire.
    Bytes sh = {0x03, 0x03};  // legacy_version
    for (int i = 0; i < 32; ++i) sh.push_back(static_cast<uint8_t>(rng_.next()));
    sh.push_back(32);
    for (int i = 0; i < 32; ++i) sh.push_back(static_cast<uint8_t>(rng_.next()));
    const uint8_t tail[] = {0x13, 0x01, 0x00, 0x00, 46,                 // suite, compression, ext len
                            0x00, 0x2b, 0x00, 0x02, 0x03, 0x04,         // supported_versions: 1.3
                            0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20};  // key_share x25519
    sh.insert(sh.end(), std::begin(tail), std::end(tail));
    for (int i = 0; i < 32; ++i) sh.push_back(static_cast<uint8_t>(rng_.next()));
    Bytes msg = {0x02, 0x00, static_cast<uint8_t>(sh.size() >> 8), static_cast<uint8_t>(sh.size())};
    msg.insert(msg.end(), sh.begin(), sh.end());
    append_record(server_bytes_, 0x16, msg);
    append_record(server_bytes_, 0x14, {0x01});
    append_random_record(server_bytes_, 4100);  // EncryptedExtensions .. Finished
    while (server_bytes_.size() < (1u << 17)) append_random_record(server_bytes_, 16401);
    client_ports_.resize(kClientsV4 + kClientsV6);
    for (auto& p : client_ports_) p = static_cast<uint16_t>(rng_.range(32768, 60999));
  }

  FlowPlan new_flow(Stats& stats) {
    FlowPlan f;
    const bool v6 = rng_.below(10) == 0;
    // Zipf-like popularity: a few domains take most flows.
    const auto domain = static_cast<uint32_t>(kDomains * std::pow(rng_.unit(), 3.0));
    const uint32_t client = v6 ? kClientsV4 + rng_.below(kClientsV6) : rng_.below(kClientsV4);
    uint16_t& port = client_ports_[client];
    port = static_cast<uint16_t>(port + rng_.range(1, 7));
    if (port > 60999 || port < 32768) port = static_cast<uint16_t>(32768 + (port % 64));

    const uint32_t k = rng_.below(100);
    const HelloKind kind = k < 45   ? HelloKind::kChromium
                           : k < 85 ? HelloKind::kCurl
                           : k < 95 ? HelloKind::kSmallSegments
                                    : HelloKind::kTls12;
    ++stats.flows;
    stats.flows_v6 += v6;
    ++stats.by_kind[static_cast<int>(kind)];

    auto& c = f.client;
    c.frame.ipv6 = v6;
    c.frame.src_ip = client_ip(client, v6);
    c.frame.dst_ip = server_ip(domain, v6);
    c.frame.src_mac = {0x02, 0x10, static_cast<uint8_t>(client >> 16),
                       static_cast<uint8_t>(client >> 8), static_cast<uint8_t>(client), 0x01};
    c.frame.dst_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0xfe};
    c.src_port = port;
    c.dst_port = rng_.below(30) == 0 ? 8443 : 443;
    auto& s = f.server;
    s.frame = c.frame;
    std::swap(s.frame.src_ip, s.frame.dst_ip);
    std::swap(s.frame.src_mac, s.frame.dst_mac);
    s.src_port = c.dst_port;
    s.dst_port = c.src_port;
    f.client_isn = static_cast<uint32_t>(rng_.next());
    f.server_isn = static_cast<uint32_t>(rng_.next());
    f.ts_client = static_cast<uint32_t>(rng_.next());
    f.ts_server = static_cast<uint32_t>(rng_.next());

    const Bytes hello = make_hello(kind, domain_name(domain), rng_);
    const uint32_t mss = v6 ? 1428 : 1448;  // MSS minus the 12-byte timestamp option
    // Later, after the server's first flight: ChangeCipherSpec, Finished and the request.
    f.client_bytes = hello;
    append_record(f.client_bytes, 0x14, {0x01});
    append_random_record(f.client_bytes, 53);
    append_random_record(f.client_bytes, rng_.range(60, 540));
    const auto request = static_cast<uint32_t>(f.client_bytes.size() - hello.size());

    auto& st = f.steps;
    uint32_t cseq = 1;  // relative; the SYN takes sequence number 0
    uint32_t sseq = 1;
    st.push_back({true, 0x02, true, 0, 0, 0, 0});
    st.push_back({false, 0x12, true, 0, 1, 0, 0});
    st.push_back({true, 0x10, false, 1, 1, 0, 0});
    // The ClientHello.
    std::vector<uint32_t> cuts;
    const auto hello_len = static_cast<uint32_t>(hello.size());
    if (kind == HelloKind::kSmallSegments) {
      for (uint32_t at = 0; at < hello_len;) {
        const uint32_t n = std::min(hello_len - at, rng_.range(16, 120));
        cuts.push_back(n);
        at += n;
      }
    } else {
      for (uint32_t at = 0; at < hello_len;) {
        const uint32_t n = std::min(hello_len - at, mss);
        cuts.push_back(n);
        at += n;
      }
    }
    for (size_t i = 0; i < cuts.size(); ++i) {
      const uint8_t flags = i + 1 == cuts.size() ? 0x18 : 0x10;
      st.push_back({true, flags, false, cseq, sseq, cuts[i], cseq - 1});
      cseq += cuts[i];
    }
    if (rng_.below(2) == 0) st.push_back({false, 0x10, false, sseq, cseq, 0, 0});  // pure ACK
    // The server's response: full segments, the client's stretch ACKs every few of them, and the
    // client's request after the server's first flight.
    const uint32_t segments = rng_.below(8) == 0 ? rng_.range(2, 10) : rng_.range(16, 64);
    const uint32_t ack_every = rng_.range(3, 6);
    const uint32_t first_flight_segments = std::min<uint32_t>(segments, rng_.range(2, 4));
    uint32_t unacked = 0;
    for (uint32_t i = 0; i < segments; ++i) {
      const bool last = i + 1 == segments;
      const uint32_t len = last ? rng_.range(200, mss) : mss;
      const uint8_t flags = (last || i + 1 == first_flight_segments) ? 0x18 : 0x10;
      st.push_back({false, flags, false, sseq, cseq, len, sseq - 1});
      sseq += len;
      if (++unacked >= ack_every || last) {
        st.push_back({true, 0x10, false, cseq, sseq, 0, 0});
        unacked = 0;
      }
      if (i + 1 == first_flight_segments) {
        st.push_back({true, 0x18, false, cseq, sseq, request, hello_len});
        cseq += request;
      }
    }
    if (rng_.below(33) == 0) {
      st.push_back({true, 0x14, false, cseq, sseq, 0, 0});  // RST|ACK
    } else {
      st.push_back({true, 0x11, false, cseq, sseq, 0, 0});
      st.push_back({false, 0x11, false, sseq, cseq + 1, 0, 0});
      st.push_back({true, 0x10, false, cseq + 1, sseq + 1, 0, 0});
    }
    return f;
  }

  Bytes build(FlowPlan& f, const Step& step, uint32_t now_us) {
    TcpSpec& spec = step.from_client ? f.client : f.server;
    const bool v6 = spec.frame.ipv6;
    spec.flags = step.flags;
    spec.seq = (step.from_client ? f.client_isn : f.server_isn) + step.seq_off;
    spec.ack = (step.flags & 0x10) ? (step.from_client ? f.server_isn : f.client_isn) + step.ack_off
                                   : 0;
    spec.frame.ipv4_id = static_cast<uint16_t>(rng_.next());
    uint32_t& ts = step.from_client ? f.ts_client : f.ts_server;
    const uint32_t peer_ts = step.from_client ? f.ts_server : f.ts_client;
    ts += 1 + now_us % 2;  // TSval ticks: roughly a millisecond clock
    spec.options = {};
    spec.options.timestamps = std::make_pair(ts, (step.flags == 0x02) ? 0u : peer_ts);
    if (step.handshake_options) {
      spec.options.mss = v6 ? 1440 : 1460;
      spec.options.sack_permitted = true;
      spec.options.window_scale = 7;
      spec.window = step.from_client ? 64240 : 65160;
    } else {
      spec.window = step.from_client ? 502 : 509;
    }
    const uint8_t* src = step.from_client ? f.client_bytes.data() : server_bytes_.data();
    spec.payload.assign(src + step.data_at, src + step.data_at + step.length);
    return sluice::test::build_tcp_frame(spec);
  }

  Rng& rng() { return rng_; }

  static void append_record(Bytes& out, uint8_t type, const Bytes& body) {
    out.insert(out.end(), {type, 0x03, 0x03, static_cast<uint8_t>(body.size() >> 8),
                           static_cast<uint8_t>(body.size())});
    out.insert(out.end(), body.begin(), body.end());
  }
  void append_random_record(Bytes& out, size_t length) {
    Bytes body(length);
    for (auto& b : body) b = static_cast<uint8_t>(rng_.next());
    append_record(out, 0x17, body);
  }

 private:
  Rng rng_;
  Bytes server_bytes_;
  std::vector<uint16_t> client_ports_;
};

int usage() {
  std::fprintf(stderr,
               "usage: gen_capture OUTPUT.pcap [--packets N] [--seed S] [--concurrent K]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string out = argv[1];
  uint64_t target = 1'200'000;
  uint64_t seed = 1;
  size_t concurrent = 256;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const char* v = argv[++i];
    if (a == "--packets") {
      target = std::strtoull(v, nullptr, 10);
    } else if (a == "--seed") {
      seed = std::strtoull(v, nullptr, 10);
    } else if (a == "--concurrent") {
      concurrent = std::max<size_t>(1, std::strtoull(v, nullptr, 10));
    } else {
      return usage();
    }
  }
  const auto started = std::chrono::steady_clock::now();

  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* dumper = pcap_dump_open(dead, out.c_str());
  if (dumper == nullptr) {
    std::fprintf(stderr, "gen_capture: %s\n", pcap_geterr(dead));
    return 1;
  }

  Generator gen(seed);
  Stats stats;
  std::vector<FlowPlan> active;
  uint64_t planned = 0;
  auto start_flow = [&] {
    active.push_back(gen.new_flow(stats));
    planned += active.back().steps.size();
  };
  while (active.size() < concurrent && planned < target) start_flow();

  uint64_t now_us = 1'700'000'000ULL * 1'000'000ULL;
  while (!active.empty()) {
    const size_t pick = gen.rng().below(static_cast<uint32_t>(active.size()));
    FlowPlan& f = active[pick];
    now_us += gen.rng().range(1, 6);
    const Bytes frame = gen.build(f, f.steps[f.next++], static_cast<uint32_t>(now_us));
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(now_us / 1'000'000);
    h.ts.tv_usec = static_cast<suseconds_t>(now_us % 1'000'000);
    h.caplen = h.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, frame.data());
    ++stats.packets;
    stats.bytes += frame.size();
    stats.large += frame.size() >= 1400;
    if (f.next == f.steps.size()) {
      if (planned < target) {
        active[pick] = gen.new_flow(stats);
        planned += active[pick].steps.size();
      } else {
        active[pick] = std::move(active.back());
        active.pop_back();
      }
    }
  }
  pcap_dump_close(dumper);
  pcap_close(dead);

  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr,
               "gen_capture: %s: %llu packets, %llu flows (%llu IPv6; hellos: %llu chromium-like "
               "2-segment, %llu curl-like, %llu small-segment, %llu tls1.2), %.1f MB, mean frame "
               "%.0f B, %.1f%% of frames >= 1400 B, %.1f s\n",
               out.c_str(), static_cast<unsigned long long>(stats.packets),
               static_cast<unsigned long long>(stats.flows),
               static_cast<unsigned long long>(stats.flows_v6),
               static_cast<unsigned long long>(stats.by_kind[0]),
               static_cast<unsigned long long>(stats.by_kind[1]),
               static_cast<unsigned long long>(stats.by_kind[2]),
               static_cast<unsigned long long>(stats.by_kind[3]), stats.bytes / 1e6,
               static_cast<double>(stats.bytes) / stats.packets, 100.0 * stats.large / stats.packets,
               secs);
  return 0;
}
