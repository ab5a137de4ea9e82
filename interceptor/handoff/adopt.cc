#include "interceptor/handoff/adopt.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "control/unique_fd.h"

namespace sluice::handoff {
namespace {

// From linux/tcp.h (glibc's netinet/tcp.h has the option numbers but not every constant).
constexpr int kRecvQueue = 1;  // TCP_RECV_QUEUE
constexpr int kSendQueue = 2;  // TCP_SEND_QUEUE
constexpr int kRepairOff = 0;  // TCP_REPAIR_OFF: leaves repair and probes the peer's window
constexpr uint32_t kOptMss = 2, kOptWindow = 3, kOptSackPerm = 4, kOptTimestamp = 8;
constexpr uint16_t kDefaultMss = 536;  // RFC 9293 3.7.1, when the SYN carried none

struct RepairOpt {
  uint32_t code;
  uint32_t value;
};
struct RepairWindow {  // struct tcp_repair_window
  uint32_t snd_wl1;
  uint32_t snd_wnd;
  uint32_t max_window;
  uint32_t rcv_wnd;
  uint32_t rcv_wup;
};

socklen_t to_sockaddr(const Address& a, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof(out));
  if (a.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&out);
    s->sin_family = AF_INET;
    s->sin_port = htons(a.port);
    std::memcpy(&s->sin_addr, a.bytes.data() + 12, 4);
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&out);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(a.port);
  std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::string describe(const Address& a) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (a.is_v4()) {
    inet_ntop(AF_INET, a.bytes.data() + 12, text, sizeof(text));
    return absl::StrCat(text, ":", a.port);
  }
  inet_ntop(AF_INET6, a.bytes.data(), text, sizeof(text));
  return absl::StrCat("[", text, "]:", a.port);
}

template <typename T>
absl::Status set(int fd, int level, int name, const T& value, const char* what,
                 const Handoff& h) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) == 0) return absl::OkStatus();
  const int e = errno;
  // ErrnoToStatus appends ": " and the errno's text.
  return absl::ErrnoToStatus(e, absl::StrCat("adopting ", describe(h.client), " -> ",
                                             describe(h.server), ": ", what));
}

absl::Status step_error(const char* what, const Handoff& h) {
  const int e = errno;
  // ErrnoToStatus appends ": " and the errno's text.
  return absl::ErrnoToStatus(e, absl::StrCat("adopting ", describe(h.client), " -> ",
                                             describe(h.server), ": ", what));
}

}  // namespace

absl::StatusOr<int> adopt(const Handoff& h) {
  if (h.client.is_v4() != h.server.is_v4())
    return absl::InvalidArgumentError("adopt: client and server of different address families");
  const bool v4 = h.server.is_v4();
  UniqueFd s(socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return step_error("socket()", h);
  const int fd = s.get();
  const int one = 1;

  // 1. Deaf until whole: once connect() hashes the socket, incoming segments find it. A
  // retransmitted ClientHello let in before step 5 would be queued ahead of ours (the client's
  // hello twice, and TLS fails); dropped by the filter, it is resent and, once the hello is
  // queued, is an old duplicate the kernel acknowledges. A socket filter, unlike a firewall
  // rule, sees every segment the socket would (the backlog too) and needs no privilege.
  sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
  const sock_fprog deaf{1, &drop_all};
  absl::Status st = set(fd, SOL_SOCKET, SO_ATTACH_FILTER, deaf, "SO_ATTACH_FILTER", h);
  if (!st.ok()) return st;

  // Transparent, repair, bind to the server's address.
  st = v4 ? set(fd, SOL_IP, IP_TRANSPARENT, one, "IP_TRANSPARENT", h)
          : set(fd, SOL_IPV6, IPV6_TRANSPARENT, one, "IPV6_TRANSPARENT", h);
  if (!st.ok()) return st;
  if (st = set(fd, SOL_TCP, TCP_REPAIR, one, "TCP_REPAIR on", h); !st.ok()) return st;
  sockaddr_storage server, client;
  const socklen_t server_len = to_sockaddr(h.server, server);
  const socklen_t client_len = to_sockaddr(h.client, client);
  if (bind(fd, reinterpret_cast<sockaddr*>(&server), server_len) != 0)
    return step_error("bind() to the server's address", h);
  // The segment size is fixed when connect() syncs it; TCP_REPAIR_OPTIONS' MSS alone would
  // leave the default 536 in force.
  const int mss = h.client_mss != 0 ? h.client_mss : kDefaultMss;
  const int maxseg = std::clamp(mss, 88, 32767);  // what TCP_MAXSEG accepts (loopback: 65483)
  if (st = set(fd, SOL_TCP, TCP_MAXSEG, maxseg, "TCP_MAXSEG", h); !st.ok()) return st;

  // 2. Both sequence numbers, then connect (repair mode sends nothing).
  if (st = set(fd, SOL_TCP, TCP_REPAIR_QUEUE, kSendQueue, "TCP_REPAIR_QUEUE send", h); !st.ok())
    return st;
  if (st = set(fd, SOL_TCP, TCP_QUEUE_SEQ, h.server_isn + 1, "TCP_QUEUE_SEQ send", h); !st.ok())
    return st;
  if (st = set(fd, SOL_TCP, TCP_REPAIR_QUEUE, kRecvQueue, "TCP_REPAIR_QUEUE receive", h); !st.ok())
    return st;
  if (st = set(fd, SOL_TCP, TCP_QUEUE_SEQ, h.client_isn + 1, "TCP_QUEUE_SEQ receive", h); !st.ok())
    return st;
  if (connect(fd, reinterpret_cast<sockaddr*>(&client), client_len) != 0)
    return step_error("connect() to the client", h);

  // 3. What the SYNs negotiated.
  RepairOpt opts[4];
  int n = 0;
  opts[n++] = {kOptMss, static_cast<uint32_t>(mss)};
  if (h.client_wscale >= 0 && h.server_wscale >= 0)
    opts[n++] = {kOptWindow, static_cast<uint32_t>(h.client_wscale) |
                                 (static_cast<uint32_t>(h.server_wscale) << 16)};
  if (h.sack_permitted) opts[n++] = {kOptSackPerm, 0};
  if (h.timestamps) opts[n++] = {kOptTimestamp, 0};
  if (setsockopt(fd, SOL_TCP, TCP_REPAIR_OPTIONS, opts, static_cast<socklen_t>(n * sizeof(RepairOpt))) != 0)
    return step_error("TCP_REPAIR_OPTIONS", h);
  if (h.timestamps) {
    if (st = set(fd, SOL_TCP, TCP_TIMESTAMP, h.server_tsval + 1, "TCP_TIMESTAMP", h); !st.ok())
      return st;
  }

  // 4. Windows: what the client accepts, what we (the server) offered.
  RepairWindow w;
  w.snd_wl1 = h.client_isn + 1;
  w.snd_wnd = h.client_window;
  w.max_window = h.client_window;
  w.rcv_wnd = h.server_window;
  w.rcv_wup = h.client_isn + 1;
  if (st = set(fd, SOL_TCP, TCP_REPAIR_WINDOW, w, "TCP_REPAIR_WINDOW", h); !st.ok()) return st;

  // 5. The ClientHello as received data, then out of repair, then listening again.
  if (!h.hello.empty()) {
    size_t done = 0;
    while (done < h.hello.size()) {
      const ssize_t sent = send(fd, h.hello.data() + done, h.hello.size() - done, 0);
      if (sent <= 0) return step_error("queueing the ClientHello", h);
      done += static_cast<size_t>(sent);
    }
  }
  if (st = set(fd, SOL_TCP, TCP_REPAIR, kRepairOff, "TCP_REPAIR off", h); !st.ok()) return st;
  if (st = set(fd, SOL_SOCKET, SO_DETACH_FILTER, 0, "SO_DETACH_FILTER", h); !st.ok()) return st;
  return s.release();
}

}  // namespace sluice::handoff
