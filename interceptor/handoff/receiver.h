// The interceptor's end of the handoff channel: a UDP socket in the appliance namespace that
// reads handoff messages from the dataplane (through the TAP), adopts each connection
// (adopt.h) and hands the socket to a callback; and a heartbeat back to the dataplane, which
// hands flows over only while heartbeats arrive (otherwise it applies policy.intercept_fallback).
//
// Thread-safety: one thread calls poll() / run(); stats() may be read from any thread.
// Heartbeats go out from poll(): an event loop that uses fd() must also call poll() at least
// every heartbeat_interval (a timer), or the dataplane stops handing flows over after
// intercept.handoff.liveness. run() on a thread of its own does both.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "interceptor/handoff/handoff_message.h"

namespace sluice::handoff {

struct ReceiverOptions {
  // Where the dataplane sends handoffs: the appliance address (intercept.address) and
  // intercept.handoff.port of sluice's configuration.
  std::string listen_address = "0.0.0.0";
  uint16_t port = 7301;
  // Where heartbeats go: intercept.handoff.source and the same port.
  std::string dataplane_address = "169.254.77.1";
  absl::Duration heartbeat_interval = absl::Milliseconds(250);
  int receive_buffer_bytes = 8 << 20;  // bursts of handoffs wait here, not on the wire
};

struct ReceiverStats {
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> adopted{0};
  std::atomic<uint64_t> malformed{0};      // refused by the codec (never adopted)
  std::atomic<uint64_t> adopt_failed{0};   // the kernel refused a step (see the error callback)
  std::atomic<uint64_t> heartbeats_sent{0};
};

class HandoffReceiver {
 public:
  // fd: the adopted socket (connected, non-blocking, local address = the original server,
  // ClientHello in its receive queue); the callback owns it from then on. `h.hello` is valid
  // only during the call.
  using AdoptedFn = std::function<void(int fd, const Handoff& h)>;
  // Why a message was refused or an adoption failed (the flow is lost: the client times out).
  using ErrorFn = std::function<void(const absl::Status& error)>;

  static absl::StatusOr<std::unique_ptr<HandoffReceiver>> open(const ReceiverOptions& options);
  ~HandoffReceiver();
  HandoffReceiver(const HandoffReceiver&) = delete;
  HandoffReceiver& operator=(const HandoffReceiver&) = delete;

  // The UDP socket, for an event loop: readable means poll() has work.
  int fd() const { return fd_; }

  // Reads every datagram waiting (non-blocking), adopts each handoff and calls `adopted`;
  // sends a heartbeat when one is due. Returns how many connections it adopted.
  size_t poll(const AdoptedFn& adopted, const ErrorFn& error);

  // Calls poll() until `stop` is set, waiting in poll(2) for the socket at most one heartbeat
  // interval at a time.
  void run(const std::atomic<bool>& stop, const AdoptedFn& adopted, const ErrorFn& error);

  const ReceiverStats& stats() const { return stats_; }

 private:
  HandoffReceiver(int fd, const ReceiverOptions& options);
  void maybe_heartbeat();

  int fd_;
  ReceiverOptions options_;
  std::vector<uint8_t> buffer_;
  absl::Time next_heartbeat_ = absl::InfinitePast();
  ReceiverStats stats_;
};

}  // namespace sluice::handoff
