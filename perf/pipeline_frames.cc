#include "perf/pipeline_frames.h"

#include <cstdio>

#include "tests/dataplane/core/client_hello_builder.h"
#include "tests/dataplane/core/packet_builder.h"

namespace sluice::perf {
namespace {

using test::TcpSpec;

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
constexpr size_t kHeaders = 14 + 20 + 20;  // Ethernet, IPv4, TCP without options

uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

struct FlowAddr {
  std::string client_ip;
  std::string server_ip;
  uint16_t client_port;
  uint32_t client_isn;
  uint32_t server_isn;
};

FlowAddr flow_addr(uint32_t flow) {
  const uint32_t c = flow + 1;
  char client[32], server[32];
  std::snprintf(client, sizeof client, "10.%u.%u.%u", (c >> 16) & 255, (c >> 8) & 255, c & 255);
  std::snprintf(server, sizeof server, "198.18.%u.%u", (flow / 250) % 250, 1 + flow % 250);
  return FlowAddr{client, server, static_cast<uint16_t>(1024 + mix32(flow) % 60000),
                  mix32(flow * 2 + 1), mix32(flow * 2 + 2)};
}

TcpSpec spec_for(const FlowAddr& a, bool from_client) {
  TcpSpec s;
  if (from_client) {
    s.frame.src_ip = a.client_ip;
    s.frame.dst_ip = a.server_ip;
    s.src_port = a.client_port;
    s.dst_port = 443;
  } else {
    s.frame.src_ip = a.server_ip;
    s.frame.dst_ip = a.client_ip;
    s.src_port = 443;
    s.dst_port = a.client_port;
    std::swap(s.frame.src_mac, s.frame.dst_mac);
  }
  return s;
}

// Pads a frame shorter than `size` with Ethernet padding to exactly `size` bytes.
Frame build(TcpSpec s, size_t size) {
  const size_t natural = kHeaders + (s.options.mss ? 4 : 0) + s.payload.size();
  if (natural < size) s.frame.ethernet_padding = size - natural;
  return test::build_tcp_frame(s);
}

// One TLS record of type `type` whose frame (no TCP options) is `frame_size` bytes.
Bytes record(uint8_t type, size_t frame_size, uint32_t salt) {
  const size_t body = frame_size - kHeaders - 5;
  Bytes r = {type, 0x03, 0x03, static_cast<uint8_t>(body >> 8), static_cast<uint8_t>(body)};
  r.reserve(frame_size - kHeaders);
  for (size_t i = 0; i < body; ++i) r.push_back(static_cast<uint8_t>(mix32(salt + i)));
  return r;
}

// The four handshake frames; returns the client's and server's next sequence numbers.
std::vector<Frame> handshake(const FlowAddr& a, const std::string& name, uint32_t& client_next,
                             uint32_t& server_next) {
  std::vector<Frame> out;
  TcpSpec syn = spec_for(a, true);
  syn.flags = kSyn;
  syn.seq = a.client_isn;
  syn.ack = 0;
  syn.options.mss = 1460;
  out.push_back(build(syn, 64));
  TcpSpec synack = spec_for(a, false);
  synack.flags = kSyn | kAck;
  synack.seq = a.server_isn;
  synack.ack = a.client_isn + 1;
  synack.options.mss = 1460;
  out.push_back(build(synack, 64));
  TcpSpec ack = spec_for(a, true);
  ack.flags = kAck;
  ack.seq = a.client_isn + 1;
  ack.ack = a.server_isn + 1;
  out.push_back(build(ack, 64));
  HelloSpec hello;
  hello.sni = name;
  hello.alpn = {"h2", "http/1.1"};
  hello.pad_message_to = 590 - kHeaders - 5;  // a 590-byte frame
  TcpSpec ch = spec_for(a, true);
  ch.flags = kPsh | kAck;
  ch.seq = a.client_isn + 1;
  ch.ack = a.server_isn + 1;
  ch.payload = build_client_hello_records(hello);
  out.push_back(build(ch, 590));
  client_next = a.client_isn + 1 + static_cast<uint32_t>(ch.payload.size());
  server_next = a.server_isn + 1;
  return out;
}

}  // namespace

std::string list_name(uint32_t list, uint32_t i) {
  static const char* const kTlds[] = {"com", "net", "org", "io", "de", "example"};
  char buf[64];
  const uint32_t h = mix32(i * 2654435761U + list * 40503U);
  std::snprintf(buf, sizeof buf, "l%u-%07x%u.%s", list, h & 0xfffffff, i, kTlds[h % 6]);
  return buf;
}

std::string domains_list_text(uint32_t list, uint32_t count) {
  std::string text;
  text.reserve(size_t{count} * 28);
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t kind = i % 10;  // 0-3 exact, 4-8 `.name`, 9 `*.name`
    if (kind >= 9) text += "*.";
    else if (kind >= 4) text += '.';
    text += list_name(list, i);
    text += '\n';
  }
  return text;
}

std::string flow_server_name(uint32_t list, uint32_t list_size, uint32_t flow) {
  if (flow % 2 == 1) return "miss-" + list_name(list + 1000, flow) ;
  const uint32_t i = mix32(flow) % list_size;
  return (i % 10 == 9 ? "www." : "") + list_name(list, i);
}

std::vector<Frame> new_flow_frames(uint32_t flow, const std::string& server_name) {
  const FlowAddr a = flow_addr(flow);
  uint32_t client_next = 0, server_next = 0;
  std::vector<Frame> out = handshake(a, server_name, client_next, server_next);
  TcpSpec rst = spec_for(a, true);
  rst.flags = kRst | kAck;
  rst.seq = client_next;
  rst.ack = server_next;
  out.push_back(build(rst, 64));
  return out;
}

std::vector<Frame> established_flow_frames(uint32_t flow, const std::string& server_name,
                                           uint32_t data) {
  const FlowAddr a = flow_addr(flow);
  uint32_t cseq = 0, sseq = 0;
  std::vector<Frame> out = handshake(a, server_name, cseq, sseq);
  // 7 x 64, 4 x 590, 1 x 1514 per 12 frames; the server speaks first (acknowledging the hello).
  static const char kPattern[] = "SACAACACAACA";
  for (uint32_t d = 0; d < data; ++d) {
    const char k = kPattern[d % 12];
    if (k == 'S') {
      TcpSpec s = spec_for(a, false);
      s.flags = kAck | kPsh;
      s.seq = sseq;
      s.ack = cseq;
      s.payload = record(0x17, 1514, flow * 131 + d);
      sseq += static_cast<uint32_t>(s.payload.size());
      out.push_back(build(s, 1514));
    } else if (k == 'C') {
      TcpSpec s = spec_for(a, true);
      s.flags = kAck | kPsh;
      s.seq = cseq;
      s.ack = sseq;
      s.payload = record(0x17, 590, flow * 137 + d);
      cseq += static_cast<uint32_t>(s.payload.size());
      out.push_back(build(s, 590));
    } else {
      TcpSpec s = spec_for(a, true);
      s.flags = kAck;
      s.seq = cseq;
      s.ack = sseq;
      out.push_back(build(s, 64));
    }
  }
  (void)kFin;
  return out;
}

}  // namespace sluice::perf
