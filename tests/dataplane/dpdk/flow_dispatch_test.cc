#include "dataplane/dpdk/flow_dispatch.h"

#include <gtest/gtest.h>
#include <rte_thash.h>

#include <random>
#include <string>
#include <vector>

namespace sluice {
namespace {

// Toeplitz over the IPv4 5-tuple, as a NIC computes RSS, with DPDK's software implementation.
uint32_t toeplitz_v4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                     const std::array<uint8_t, kSymmetricRssKeyLength>& key) {
  rte_ipv4_tuple t{};
  t.src_addr = src;
  t.dst_addr = dst;
  t.sport = sport;
  t.dport = dport;
  return rte_softrss(reinterpret_cast<uint32_t*>(&t), RTE_THASH_V4_L4_LEN, key.data());
}

TEST(FlowDispatchTest, SymmetricKeyGivesBothDirectionsTheSameRssHash) {
  std::mt19937 rng(3);
  const auto& key = symmetric_rss_key();
  for (int i = 0; i < 10000; ++i) {
    const uint32_t a = rng(), b = rng();
    const uint16_t p = static_cast<uint16_t>(rng()), q = static_cast<uint16_t>(rng());
    ASSERT_EQ(toeplitz_v4(a, b, p, q, key), toeplitz_v4(b, a, q, p, key));
  }
}

TEST(FlowDispatchTest, AnOrdinaryKeyIsNotSymmetric) {
  // Shows the test can fail: the default-style random key breaks the property.
  std::array<uint8_t, kSymmetricRssKeyLength> key{};
  std::mt19937 rng(5);
  for (auto& b : key) b = static_cast<uint8_t>(rng());
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const uint32_t a = rng(), b = rng();
    differ += toeplitz_v4(a, b, 1234, 443, key) != toeplitz_v4(b, a, 443, 1234, key);
  }
  EXPECT_GT(differ, 90);
}

TEST(FlowDispatchTest, SoftwareDispatchSendsBothDirectionsToOneWorkerAndSpreads) {
  std::mt19937 rng(9);
  std::vector<int> per_worker(4);
  for (int i = 0; i < 40000; ++i) {
    uint8_t a[4], b[4];
    for (auto& x : a) x = static_cast<uint8_t>(rng());
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    const Endpoint c{IpAddress::from_v4(a), static_cast<uint16_t>(rng())};
    const Endpoint s{IpAddress::from_v4(b), 443};
    bool lo;
    const uint16_t w1 = dispatch_worker(FlowKey::make(c, s, 6, 0, lo), 4);
    const uint16_t w2 = dispatch_worker(FlowKey::make(s, c, 6, 0, lo), 4);
    ASSERT_EQ(w1, w2);
    ++per_worker[w1];
  }
  for (int n : per_worker) EXPECT_NEAR(n, 10000, 600);
}

// --- dispatch_worker_for_frame: the software path, straight from the frame bytes ---------------
//
// Frames are written byte by byte here (this binary has no frame builder): Ethernet, up to two
// VLAN tags, then an IPv4 or IPv6 header and whatever follows it. Only the bytes the dispatcher
// reads need to be right; the rest is filler.

using Frame = std::vector<uint8_t>;

struct FrameShape {
  bool ipv6 = false;
  std::vector<uint16_t> vlans;  // outer first
};

void put16(Frame& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}

// Ethernet header and tags; ends with the IP ethertype.
Frame ethernet(const FrameShape& shape) {
  Frame f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  for (size_t i = 0; i < shape.vlans.size(); ++i) {
    put16(f, shape.vlans.size() == 2 && i == 0 ? 0x88a8 : 0x8100);
    put16(f, static_cast<uint16_t>(0x2000 | shape.vlans[i]));  // PCP 1 must not matter
  }
  put16(f, shape.ipv6 ? 0x86dd : 0x0800);
  return f;
}

// A TCP segment header with ports and 20 bytes of payload.
void tcp(Frame& f, uint16_t sport, uint16_t dport) {
  put16(f, sport);
  put16(f, dport);
  for (int i = 0; i < 16; ++i) f.push_back(i == 8 ? 0x50 : 0);
  for (int i = 0; i < 20; ++i) f.push_back(0xaa);
}

// An IPv4 header from a to b; `frag_offset` in 8-byte units, `more` the MF flag.
void ipv4(Frame& f, const uint8_t* a, const uint8_t* b, uint16_t frag_offset = 0,
          bool more = false) {
  f.insert(f.end(), {0x45, 0, 0, 60, 0x12, 0x34});
  put16(f, static_cast<uint16_t>((more ? 0x2000 : 0) | frag_offset));
  f.insert(f.end(), {64, 6, 0, 0});
  f.insert(f.end(), a, a + 4);
  f.insert(f.end(), b, b + 4);
}

// An IPv6 header from a to b; with `fragment`, a fragment header follows (next header 44).
void ipv6(Frame& f, const uint8_t* a, const uint8_t* b, bool fragment = false,
          uint16_t frag_offset = 0, bool more = false) {
  f.insert(f.end(), {0x60, 0, 0, 0, 0, 40, static_cast<uint8_t>(fragment ? 44 : 6), 64});
  f.insert(f.end(), a, a + 16);
  f.insert(f.end(), b, b + 16);
  if (fragment) {
    f.insert(f.end(), {6, 0});
    put16(f, static_cast<uint16_t>(frag_offset << 3 | (more ? 1 : 0)));
    f.insert(f.end(), {0, 0, 0x56, 0x78});
  }
}

// A TCP frame from (a, sport) to (b, dport); addresses are 4 or 16 bytes as the shape says.
Frame tcp_frame(const FrameShape& shape, const uint8_t* a, const uint8_t* b, uint16_t sport,
                uint16_t dport) {
  Frame f = ethernet(shape);
  if (shape.ipv6) {
    ipv6(f, a, b);
  } else {
    ipv4(f, a, b);
  }
  tcp(f, sport, dport);
  return f;
}

uint16_t owner(const Frame& f, uint16_t workers, uint16_t self = 0) {
  return dispatch_worker_for_frame(ByteSpan(f.data(), f.size()), workers, self);
}

struct Addresses {
  uint8_t a[16];
  uint8_t b[16];
};

Addresses random_pair(std::mt19937& rng) {
  Addresses p;
  for (auto& x : p.a) x = static_cast<uint8_t>(rng());
  for (auto& x : p.b) x = static_cast<uint8_t>(rng());
  return p;
}

std::vector<FrameShape> every_shape() {
  std::vector<FrameShape> shapes;
  for (bool v6 : {false, true})
    for (const std::vector<uint16_t>& tags :
         {std::vector<uint16_t>{}, std::vector<uint16_t>{100}, std::vector<uint16_t>{300, 42}})
      shapes.push_back(FrameShape{v6, tags});
  return shapes;
}

std::string describe(const FrameShape& s, uint16_t workers) {
  return std::string(s.ipv6 ? "IPv6" : "IPv4") + " with " + std::to_string(s.vlans.size()) +
         " tag(s), " + std::to_string(workers) + " workers";
}

TEST(FrameDispatchTest, BothDirectionsOfAFlowGoToOneWorker) {
  std::mt19937 rng(17);
  for (const FrameShape& shape : every_shape()) {
    for (uint16_t workers : {2, 3, 8}) {
      SCOPED_TRACE(describe(shape, workers));
      for (int i = 0; i < 2000; ++i) {
        const Addresses p = random_pair(rng);
        const auto sport = static_cast<uint16_t>(rng()), dport = static_cast<uint16_t>(rng());
        const Frame out = tcp_frame(shape, p.a, p.b, sport, dport);
        const Frame back = tcp_frame(shape, p.b, p.a, dport, sport);
        // `self` differs between the calls: an answer that fell back to it would show.
        const uint16_t w = owner(out, workers, 0);
        ASSERT_LT(w, workers);
        ASSERT_EQ(owner(back, workers, static_cast<uint16_t>(workers - 1)), w) << "pair " << i;
        // Other ports of the same address pair: the same worker (ports are not hashed).
        ASSERT_EQ(owner(tcp_frame(shape, p.b, p.a, 443, 55555), workers, 1), w);
      }
    }
  }
}

TEST(FrameDispatchTest, FragmentsMeetTheirFlow) {
  std::mt19937 rng(23);
  for (const FrameShape& shape : every_shape()) {
    for (uint16_t workers : {2, 3, 8}) {
      SCOPED_TRACE(describe(shape, workers));
      for (int i = 0; i < 500; ++i) {
        const Addresses p = random_pair(rng);
        const uint16_t w = owner(tcp_frame(shape, p.a, p.b, 40000, 443), workers);
        // The first fragment carries the ports; the later ones do not (payload bytes only).
        Frame first = ethernet(shape), later = ethernet(shape), reply = ethernet(shape);
        if (shape.ipv6) {
          ipv6(first, p.a, p.b, true, 0, true);
          ipv6(later, p.a, p.b, true, 5, false);
          ipv6(reply, p.b, p.a, true, 5, true);
        } else {
          ipv4(first, p.a, p.b, 0, true);
          ipv4(later, p.a, p.b, 5, false);
          ipv4(reply, p.b, p.a, 5, true);
        }
        tcp(first, 40000, 443);
        for (Frame* f : {&later, &reply})
          for (int k = 0; k < 40; ++k) f->push_back(static_cast<uint8_t>(k));
        ASSERT_EQ(owner(first, workers, 1), w);
        ASSERT_EQ(owner(later, workers, 1), w) << "a later fragment, no ports";
        ASSERT_EQ(owner(reply, workers, 1), w) << "a fragment of the other direction";
      }
    }
  }
}

TEST(FrameDispatchTest, NonIpFramesStayWithTheReceiver) {
  for (const std::vector<uint16_t>& tags :
       {std::vector<uint16_t>{}, std::vector<uint16_t>{7}, std::vector<uint16_t>{8, 9}}) {
    for (uint16_t ethertype : {0x0806 /*ARP*/, 0x88cc /*LLDP*/, 0x8847 /*MPLS*/, 0x0000}) {
      Frame f = ethernet(FrameShape{false, tags});
      f[f.size() - 2] = static_cast<uint8_t>(ethertype >> 8);
      f[f.size() - 1] = static_cast<uint8_t>(ethertype);
      f.resize(f.size() + 64, 0x11);
      for (uint16_t workers : {2, 3, 8})
        for (uint16_t self = 0; self < workers; ++self)
          EXPECT_EQ(owner(f, workers, self), self)
              << "ethertype " << ethertype << ", " << tags.size() << " tags";
    }
  }
  // A third tag is not followed: what is behind it is not taken for IP.
  Frame three = ethernet(FrameShape{false, {1, 2}});
  three.insert(three.end() - 2, {0x81, 0x00, 0x00, 0x03});
  three.resize(three.size() + 64, 0x45);
  for (uint16_t self = 0; self < 3; ++self) EXPECT_EQ(owner(three, 3, self), self);
}

TEST(FrameDispatchTest, TruncatedFramesStayWithTheReceiver) {
  std::mt19937 rng(29);
  for (const FrameShape& shape : every_shape()) {
    const Addresses p = random_pair(rng);
    const Frame full = tcp_frame(shape, p.a, p.b, 40000, 443);
    // Everything up to the end of the IP addresses is needed.
    const size_t needed = 14 + 4 * shape.vlans.size() + (shape.ipv6 ? 40 : 20);
    for (uint16_t workers : {2, 3, 8}) {
      SCOPED_TRACE(describe(shape, workers));
      const uint16_t w = owner(full, workers);
      for (size_t len = 0; len < needed; ++len)
        for (uint16_t self = 0; self < workers; ++self)
          ASSERT_EQ(dispatch_worker_for_frame(ByteSpan(full.data(), len), workers, self), self)
              << "cut to " << len << " bytes";
      for (size_t len = needed; len <= full.size(); ++len)
        ASSERT_EQ(dispatch_worker_for_frame(ByteSpan(full.data(), len), workers,
                                            static_cast<uint16_t>(workers - 1 - w % workers)),
                  w)
            << "cut to " << len << " bytes: the addresses are all there";
    }
  }
  EXPECT_EQ(dispatch_worker_for_frame(ByteSpan(), 4, 3), 3);
}

TEST(FrameDispatchTest, ManyAddressPairsUseEveryWorker) {
  std::mt19937 rng(31);
  for (const FrameShape& shape : every_shape()) {
    for (uint16_t workers : {2, 3, 8}) {
      SCOPED_TRACE(describe(shape, workers));
      std::vector<int> per_worker(workers);
      const int pairs = 1000 * workers;
      for (int i = 0; i < pairs; ++i) {
        const Addresses p = random_pair(rng);
        ++per_worker[owner(tcp_frame(shape, p.a, p.b, 40000, 443), workers)];
      }
      for (uint16_t w = 0; w < workers; ++w) {
        EXPECT_GT(per_worker[w], 0) << "worker " << w << " never chosen";
        EXPECT_NEAR(per_worker[w], 1000, 150) << "worker " << w;
      }
    }
  }
}

}  // namespace
}  // namespace sluice
