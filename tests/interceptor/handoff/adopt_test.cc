// adopt() on a real connection: a loopback client connects and sends its first bytes; the
// accepting socket is frozen with TCP_REPAIR, its state read out (what the dataplane learns
// from the wire) and closed silently (what resetting the server leg amounts to); adopt() then
// rebuilds the connection from that state alone, and the client, which noticed nothing, talks
// to the adopted socket. Needs CAP_NET_ADMIN (TCP_REPAIR): skipped otherwise.
#include "interceptor/handoff/adopt.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace sluice::handoff {
namespace {

struct RepairWindow {
  uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
};

Address loopback(uint16_t port) {
  Address a;
  a.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  a.port = port;
  return a;
}

uint16_t port_of(int fd, bool peer) {
  sockaddr_in a{};
  socklen_t n = sizeof(a);
  if (peer) {
    getpeername(fd, reinterpret_cast<sockaddr*>(&a), &n);
  } else {
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  }
  return ntohs(a.sin_port);
}

std::string read_some(int fd, size_t want) {
  std::string out;
  char buf[4096];
  while (out.size() < want) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class AdoptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "TCP_REPAIR needs CAP_NET_ADMIN (run as root)";
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(listen(listener_, 8), 0);
    a.sin_port = htons(port_of(listener_, false));
    client_ = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(client_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    accepted_ = accept(listener_, nullptr, nullptr);
    ASSERT_GE(accepted_, 0);
  }
  void TearDown() override {
    for (int fd : {listener_, client_, accepted_, adopted_})
      if (fd >= 0) close(fd);
  }

  // Freezes the accepted socket and reads out what the dataplane would have seen on the wire:
  // ISNs, options, windows, the server's TSval and the client's unread first bytes. Then closes
  // it in repair mode, which sends nothing.
  Handoff freeze_accepted(std::vector<uint8_t>& hello) {
    Handoff h;
    const int one = 1;
    EXPECT_EQ(setsockopt(accepted_, SOL_TCP, TCP_REPAIR, &one, sizeof(one)), 0) << strerror(errno);
    int queue = TCP_RECV_QUEUE;
    setsockopt(accepted_, SOL_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue));
    uint32_t rcv_nxt = 0, write_seq = 0;
    socklen_t n = sizeof(rcv_nxt);
    getsockopt(accepted_, SOL_TCP, TCP_QUEUE_SEQ, &rcv_nxt, &n);
    hello.resize(65536);
    const ssize_t got = recv(accepted_, hello.data(), hello.size(), MSG_PEEK | MSG_DONTWAIT);
    hello.resize(got > 0 ? static_cast<size_t>(got) : 0);
    queue = TCP_SEND_QUEUE;
    setsockopt(accepted_, SOL_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue));
    n = sizeof(write_seq);
    getsockopt(accepted_, SOL_TCP, TCP_QUEUE_SEQ, &write_seq, &n);
    RepairWindow w{};
    n = sizeof(w);
    EXPECT_EQ(getsockopt(accepted_, SOL_TCP, TCP_REPAIR_WINDOW, &w, &n), 0) << strerror(errno);
    tcp_info info{};
    n = sizeof(info);
    getsockopt(accepted_, SOL_TCP, TCP_INFO, &info, &n);
    uint32_t ts = 0;
    n = sizeof(ts);
    getsockopt(accepted_, SOL_TCP, TCP_TIMESTAMP, &ts, &n);
    int mss = 0;
    n = sizeof(mss);
    getsockopt(accepted_, SOL_TCP, TCP_MAXSEG, &mss, &n);

    h.client = loopback(port_of(accepted_, true));
    h.server = loopback(port_of(accepted_, false));
    h.client_isn = rcv_nxt - static_cast<uint32_t>(hello.size()) - 1;
    h.server_isn = write_seq - 1;
    h.client_mss = static_cast<uint16_t>(mss);
    h.sack_permitted = info.tcpi_options & TCPI_OPT_SACK;
    h.timestamps = info.tcpi_options & TCPI_OPT_TIMESTAMPS;
    if (info.tcpi_options & TCPI_OPT_WSCALE) {
      h.client_wscale = static_cast<int8_t>(info.tcpi_snd_wscale);
      h.server_wscale = static_cast<int8_t>(info.tcpi_rcv_wscale);
    }
    h.server_tsval = ts;  // the clock keeps going: anything not older than what was sent
    h.client_window = w.snd_wnd;
    h.server_window = w.rcv_wnd;
    h.hello = hello;
    close(accepted_);  // in repair mode: nothing is sent, the client does not notice
    accepted_ = -1;
    return h;
  }

  int listener_ = -1;
  int client_ = -1;
  int accepted_ = -1;
  int adopted_ = -1;
};

TEST_F(AdoptTest, TheClientTalksToTheAdoptedSocketWithoutNoticing) {
  const std::string hello = "ClientHello stand-in: the first flight";
  ASSERT_EQ(send(client_, hello.data(), hello.size(), 0), static_cast<ssize_t>(hello.size()));
  usleep(20'000);  // into the accepted socket's receive queue
  std::vector<uint8_t> held;
  const Handoff h = freeze_accepted(held);
  ASSERT_EQ(std::string(held.begin(), held.end()), hello);

  absl::StatusOr<int> fd = adopt(h);
  ASSERT_TRUE(fd.ok()) << fd.status();
  adopted_ = *fd;
  EXPECT_TRUE(fcntl(adopted_, F_GETFL) & O_NONBLOCK) << "handed over non-blocking";
  EXPECT_EQ(port_of(adopted_, false), h.server.port) << "its local address is the server's";
  EXPECT_EQ(read_some(adopted_, hello.size()), hello) << "the first flight is queued as received";

  // Both directions work, several times over (sequence numbers, windows, timestamps hold).
  for (int round = 0; round < 3; ++round) {
    const std::string answer = "answer " + std::to_string(round) + std::string(3000, 'x');
    ASSERT_EQ(send(adopted_, answer.data(), answer.size(), 0), static_cast<ssize_t>(answer.size()));
    EXPECT_EQ(read_some(client_, answer.size()), answer);
    const std::string more = "more " + std::to_string(round);
    ASSERT_EQ(send(client_, more.data(), more.size(), 0), static_cast<ssize_t>(more.size()));
    EXPECT_EQ(read_some(adopted_, more.size()), more);
  }
  // A clean close: the client sees end of stream, not a reset.
  shutdown(adopted_, SHUT_WR);
  char c;
  EXPECT_EQ(recv(client_, &c, 1, 0), 0) << strerror(errno);
}

TEST_F(AdoptTest, AdoptingTwiceTowardTheSameServerBinds) {
  // The brief's warning: SO_REUSEADDR after TCP_REPAIR would make the second bind fail.
  std::vector<uint8_t> held;
  const Handoff first = freeze_accepted(held);
  absl::StatusOr<int> a = adopt(first);
  ASSERT_TRUE(a.ok()) << a.status();
  adopted_ = *a;
  // A second client to the same listener, adopted beside the first.
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  s.sin_port = htons(first.server.port);
  const int client2 = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(client2, reinterpret_cast<sockaddr*>(&s), sizeof(s)), 0);
  accepted_ = accept(listener_, nullptr, nullptr);
  const Handoff second = freeze_accepted(held);
  absl::StatusOr<int> b = adopt(second);
  EXPECT_TRUE(b.ok()) << b.status();
  if (b.ok()) close(*b);
  close(client2);
}

TEST_F(AdoptTest, ARefusedStepIsNamed) {
  std::vector<uint8_t> held;
  const Handoff h = freeze_accepted(held);
  absl::StatusOr<int> fd = adopt(h);
  ASSERT_TRUE(fd.ok()) << fd.status();
  adopted_ = *fd;
  // The same connection twice: its 4-tuple is taken, so connect() is refused, and said so.
  absl::StatusOr<int> again = adopt(h);
  ASSERT_FALSE(again.ok());
  const std::string m(again.status().message());
  EXPECT_EQ(m.rfind("adopting 127.0.0.1:" + std::to_string(h.client.port) + " -> 127.0.0.1:" +
                        std::to_string(h.server.port) + ": connect() to the client: ",
                    0),
            0u)
      << m;
}

}  // namespace
}  // namespace sluice::handoff
