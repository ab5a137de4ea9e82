// Writes a capture in which every connection plays one evasion trick on its ClientHello, and the
// rows `sluice replay` must produce for it (TSV: client_ip client_port server_ip server_port
// transport sni first_flight anomalies). Run by the replay.evasions test, so the tricks go
// through the real DPDK path (net_pcap, the worker loop), not only the core's unit tests.
//
// Usage: make_evasion_capture OUT.pcap OUT.expected.tsv
#include <pcap/pcap.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "dataplane/core/packet.h"
#include "tests/dataplane/core/client_hello_builder.h"
#include "tests/dataplane/core/packet_builder.h"

namespace {

using sluice::Bytes;
using sluice::test::TcpSpec;

constexpr uint32_t kClientIsn = 7000;
constexpr uint32_t kServerIsn = 500000;

struct Capture {
  std::vector<Bytes> frames;
};

// One connection between 10.20.0.2:port and 10.20.0.1:443, as frames.
class Connection {
 public:
  Connection(Capture& cap, uint16_t port, bool ipv6 = false) : cap_(cap) {
    c_.frame.ipv6 = s_.frame.ipv6 = ipv6;
    c_.frame.src_ip = s_.frame.dst_ip = ipv6 ? "2001:db8:20::2" : "10.20.0.2";
    c_.frame.dst_ip = s_.frame.src_ip = ipv6 ? "2001:db8:20::1" : "10.20.0.1";
    c_.src_port = s_.dst_port = port;
    c_.dst_port = s_.src_port = 443;
  }
  TcpSpec& client_spec() { return c_; }
  void set_vlans(std::vector<uint16_t> vlans) { c_.frame.vlans = s_.frame.vlans = std::move(vlans); }

  void handshake() {
    TcpSpec syn = c_;
    syn.seq = kClientIsn;
    syn.ack = 0;
    syn.flags = sluice::kTcpSyn;
    syn.options.mss = 1460;
    syn.options.window_scale = 7;
    emit(syn);
    TcpSpec synack = s_;
    synack.seq = kServerIsn;
    synack.ack = kClientIsn + 1;
    synack.flags = sluice::kTcpSyn | sluice::kTcpAck;
    synack.options.mss = 1460;
    synack.options.window_scale = 7;
    emit(synack);
    client(0, {}, sluice::kTcpAck);
  }
  TcpSpec client_segment(uint32_t offset, Bytes payload, uint8_t flags = 0x18) {
    TcpSpec t = c_;
    t.seq = kClientIsn + 1 + offset;
    t.ack = kServerIsn + 1;
    t.flags = flags;
    t.window = 502;
    t.payload = std::move(payload);
    return t;
  }
  void client(uint32_t offset, Bytes payload, uint8_t flags = 0x18) {
    emit(client_segment(offset, std::move(payload), flags));
  }
  void server_ack(uint32_t acked) {
    TcpSpec t = s_;
    t.seq = kServerIsn + 1;
    t.ack = kClientIsn + 1 + acked;
    t.flags = sluice::kTcpAck;
    t.window = 502;
    emit(t);
  }
  void close(uint32_t client_bytes) {
    client(client_bytes, {}, sluice::kTcpAck | sluice::kTcpFin);
    TcpSpec t = s_;
    t.seq = kServerIsn + 1;
    t.ack = kClientIsn + 2 + client_bytes;
    t.flags = sluice::kTcpAck | sluice::kTcpFin;
    emit(t);
  }
  void emit(const TcpSpec& t) { cap_.frames.push_back(sluice::test::build_tcp_frame(t)); }
  void emit_raw(Bytes frame) { cap_.frames.push_back(std::move(frame)); }

 private:
  Capture& cap_;
  TcpSpec c_;
  TcpSpec s_;
};

Bytes hello(const std::string& sni, size_t pad = 0) {
  sluice::HelloSpec spec;
  spec.sni = sni;
  spec.alpn = {"h2", "http/1.1"};
  spec.pad_message_to = pad;
  return sluice::build_client_hello_records(spec);
}

Bytes slice(const Bytes& b, size_t from, size_t len) {
  return Bytes(b.begin() + std::min(from, b.size()), b.begin() + std::min(b.size(), from + len));
}

struct Case {
  const char* name;
  uint16_t port;
  bool ipv6;
  const char* sni;           // expected
  const char* anomalies;     // expected to be among the record's anomalies ("-": none needed)
  std::function<void(Connection&)> play;
  std::vector<uint16_t> vlans = {};  // tags on every frame of the connection
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT.pcap OUT.expected.tsv\n", argv[0]);
    return 2;
  }
  const std::vector<Case> cases = {
      {"split at byte 1", 41001, false, "split1.example", "-",
       [](Connection& c) {
         Bytes h = hello("split1.example");
         c.client(0, slice(h, 0, 1));
         c.client(1, slice(h, 1, h.size()));
         c.server_ack(static_cast<uint32_t>(h.size()));
         c.close(static_cast<uint32_t>(h.size()));
       }},
      {"reversed 3-byte segments", 41002, false, "reversed.example", "out_of_order,tiny_segments",
       [](Connection& c) {
         Bytes h = hello("reversed.example");
         for (size_t pos = (h.size() - 1) / 3 * 3;; pos -= 3) {
           c.client(static_cast<uint32_t>(pos), slice(h, pos, 3));
           if (pos == 0) break;
         }
         c.close(static_cast<uint32_t>(h.size()));
       }},
      {"low-TTL fake first", 41003, false, "real-ttl.example", "ttl_decoy",
       [](Connection& c) {
         Bytes fake = hello("allowed.example");
         Bytes real = hello("real-ttl.example");
         TcpSpec f = c.client_segment(0, fake);
         f.frame.ttl = 2;
         c.emit(f);
         c.client(0, real);
         c.close(static_cast<uint32_t>(real.size()));
       }},
      {"bad-checksum fake first", 41004, false, "real-csum.example", "bad_checksum_ignored",
       [](Connection& c) {
         TcpSpec f = c.client_segment(0, hello("allowed.example"));
         f.frame.l4_checksum = sluice::test::L4Checksum::kCorrupt;
         c.emit(f);
         Bytes real = hello("real-csum.example");
         c.client(0, real);
         c.close(static_cast<uint32_t>(real.size()));
       }},
      {"SYN payload decoy", 41005, false, "real-syn.example", "syn_payload",
       [](Connection& c) {
         TcpSpec syn = c.client_spec();
         syn.seq = kClientIsn;
         syn.flags = sluice::kTcpSyn;
         syn.options.window_scale = 7;
         syn.payload = hello("allowed.example");
         c.emit(syn);
         c.handshake();
         Bytes real = hello("real-syn.example");
         c.client(0, real);
         c.close(static_cast<uint32_t>(real.size()));
       }},
      {"TLS records of 20 bytes", 41006, false, "records.example", "tls_record_fragmented",
       [](Connection& c) {
         sluice::HelloSpec spec;
         spec.sni = "records.example";
         Bytes h = sluice::build_client_hello_records(spec, 20);
         c.client(0, h);
         c.close(static_cast<uint32_t>(h.size()));
       }},
      {"IPv4 fragments, reversed", 41007, false, "frag4.example", "ip_fragmented",
       [](Connection& c) {
         TcpSpec seg = c.client_segment(0, hello("frag4.example"));
         seg.frame.dont_fragment = false;
         auto frags = sluice::test::fragment_ipv4(seg.frame, sluice::test::kProtoTcp,
                                                  sluice::test::build_tcp_segment(seg), 96);
         for (auto it = frags.rbegin(); it != frags.rend(); ++it) c.emit_raw(*it);
         c.close(static_cast<uint32_t>(seg.payload.size()));
       }},
      {"IPv6 with extension headers and fragments", 41008, true, "frag6.example", "ip_fragmented",
       [](Connection& c) {
         c.client_spec().frame.ipv6_ext = {{0, Bytes(6, 0)}, {60, Bytes(14, 0)}};
         TcpSpec seg = c.client_segment(0, hello("frag6.example"));
         auto frags = sluice::test::fragment_ipv6(seg.frame, sluice::test::kProtoTcp,
                                                  sluice::test::build_tcp_segment(seg), 128);
         for (auto& f : frags) c.emit_raw(f);
         c.close(static_cast<uint32_t>(seg.payload.size()));
       }},
      {"QinQ, mixed-case name with trailing dot", 41009, false, "www.qinq.example", "-",
       [](Connection& c) {
         Bytes h = hello("WWW.QinQ.Example.");
         c.client(0, h);
         c.close(static_cast<uint32_t>(h.size()));
       },
       {100, 200}},
      {"hello over 10 KB", 41010, false, "big.example", "-",
       [](Connection& c) {
         Bytes h = hello("big.example", 11000);
         for (size_t pos = 0; pos < h.size(); pos += 1448)
           c.client(static_cast<uint32_t>(pos), slice(h, pos, 1448));
         c.close(static_cast<uint32_t>(h.size()));
       }},
      {"conflicting retransmission", 41011, false, "first.example", "overlap_conflict",
       [](Connection& c) {
         Bytes a = hello("first.example");
         Bytes b = hello("other.example");
         c.client(0, slice(a, 0, a.size() - 30));
         c.client(0, b);
         c.close(static_cast<uint32_t>(a.size()));
       }},
  };

  // Connections one after another, as a capture would show them; microsecond timestamps.
  Capture cap;
  std::ofstream tsv(argv[2]);
  tsv << "client_ip\tclient_port\tserver_ip\tserver_port\ttransport\tsni\tfirst_flight\tanomalies\n";
  for (const Case& k : cases) {
    Connection conn(cap, k.port, k.ipv6);
    conn.set_vlans(k.vlans);
    conn.handshake();
    k.play(conn);
    tsv << (k.ipv6 ? "2001:db8:20::2" : "10.20.0.2") << '\t' << k.port << '\t'
        << (k.ipv6 ? "2001:db8:20::1" : "10.20.0.1") << "\t443\ttcp\t" << k.sni << "\ttls\t"
        << k.anomalies << '\n';
  }

  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* dumper = pcap_dump_open(dead, argv[1]);
  if (dumper == nullptr) {
    std::fprintf(stderr, "cannot write %s: %s\n", argv[1], pcap_geterr(dead));
    return 1;
  }
  long usec = 0;
  for (const Bytes& f : cap.frames) {
    pcap_pkthdr h{};
    h.ts.tv_sec = 1'795'000'000 + usec / 1'000'000;
    h.ts.tv_usec = usec % 1'000'000;
    h.caplen = h.len = static_cast<bpf_u_int32>(f.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, f.data());
    usec += 250;
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
  std::printf("%zu frames, %zu connections\n", cap.frames.size(), cases.size());
  return 0;
}
