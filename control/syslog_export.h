// Audit records to a syslog receiver over TCP (RFC 5424 messages, RFC 6587 octet counting), for
// the management loop: nothing here blocks. The socket is non-blocking, the connect is
// non-blocking to a numeric address (no DNS), and pump() does whatever can be done now and
// returns.
//
// Between the audit drain and the socket sits a bounded buffer of framed messages. When it is
// full a new record is refused and counted (`dropped`): the oldest undelivered records are kept,
// and the receiver sees the refusal as a gap in sequenceId.
//
// Delivery is at-least-once for every record that fit in the buffer. Plain TCP syslog has no
// application acknowledgement: bytes the receiver's kernel acknowledged may still be lost if the
// receiving process dies before reading or writing them. So a record stays in the buffer after
// its TCP acknowledgement (learnt from SIOCOUTQ) for `resend_window`; when the connection breaks,
// every record still held — not yet sent, sent but unacknowledged, or acknowledged less than
// `resend_window` before the break was noticed — is sent again, first, on the next connection.
// The receiver de-duplicates by (HOSTNAME, PROCID, sequenceId). The guarantee holds when the
// receiver writes a record within `resend_window` of receiving it; a receiver that is killed
// resets the connection at once, so the break is noticed at the next pump. Under buffer
// pressure, acknowledged records are released before the window ends (counted as `released_early`)
// rather than refusing new ones.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "control/socket_address.h"
#include "control/syslog_message.h"
#include "dataplane/core/audit_event.h"

namespace sluice {

// A numeric receiver address: "192.0.2.10:514", "[2001:db8::10]:6514". Host names are refused:
// resolving one would block the management loop.
struct SyslogAddress : SocketAddress {
  std::string text;  // as written, for messages and counters
};
absl::StatusOr<SyslogAddress> parse_syslog_address(std::string_view text);

// The clock pump() and finish() expect (CLOCK_MONOTONIC, in ns): back-off and the resend window
// must not jump with the wall clock.
uint64_t monotonic_now_ns();

struct SyslogExportOptions {
  SyslogAddress address;
  uint8_t facility = 16;                     // local0
  std::string hostname;                      // empty: gethostname() (or "-" if not valid)
  uint64_t buffer_bytes = 64ull << 20;       // framed messages held: unsent, unacked, in window
  uint64_t backoff_min_ns = 100'000'000;     // first reconnect delay; doubles per failure
  uint64_t backoff_max_ns = 30'000'000'000;  // ... up to this
  uint64_t resend_window_ns = 2'000'000'000;  // acknowledged records kept this long
  uint64_t connect_timeout_ns = 5'000'000'000;  // a connect not finished by then is a failure
};

// Counters and gauges, readable from any thread (telemetry) while the exporter runs.
struct SyslogExportStats {
  uint64_t queued = 0;           // records accepted into the buffer
  uint64_t dropped = 0;          // records refused: the buffer was full
  uint64_t acknowledged = 0;     // records the receiver's TCP acknowledged (each resend too)
  uint64_t resent = 0;           // records sent again on a new connection
  uint64_t released_early = 0;   // acknowledged records released before resend_window (pressure)
  uint64_t connects = 0;         // connections established
  uint64_t connect_failures = 0;  // attempts refused, timed out or failed
  uint64_t disconnects = 0;      // established connections lost
  uint64_t buffered_records = 0;  // held now
  uint64_t buffered_bytes = 0;
  uint64_t unacknowledged_records = 0;  // held and not yet acknowledged on this connection
  bool connected = false;
};

class SyslogExport {
 public:
  static absl::StatusOr<std::unique_ptr<SyslogExport>> create(const SyslogExportOptions& options);
  ~SyslogExport();
  SyslogExport(const SyslogExport&) = delete;
  SyslogExport& operator=(const SyslogExport&) = delete;

  // Frames one event (its JSON record `json`, from append_event_record) into the buffer. Never
  // blocks; returns false when the buffer is full (counted in `dropped`).
  bool enqueue(const AuditEvent& event, std::string_view json);

  // Connects, writes, learns acknowledgements and releases what is delivered, as far as it can
  // without waiting. `now_ns` is a monotonic clock.
  void pump(uint64_t now_ns);

  // For shutdown: pumps until every held record is acknowledged or `deadline_ns` (monotonic)
  // passes, waiting in poll() on the socket. Returns the records not acknowledged.
  uint64_t finish(uint64_t deadline_ns);

  SyslogExportStats stats() const;
  const std::string& address() const { return options_.address.text; }
  // Why the last connection attempt failed or the last connection was lost (management thread).
  const std::string& last_error() const { return last_error_; }

 private:
  // One framed message in the buffer. Records are contiguous in `bytes_`, in sequence order.
  struct Held {
    uint32_t length;
    uint64_t acked_ns;  // 0: not acknowledged on the current connection
  };

  explicit SyslogExport(const SyslogExportOptions& options);
  void start_connect(uint64_t now_ns);
  void check_connect(uint64_t now_ns);
  bool peer_closed();
  bool write_some();  // false: the connection broke
  void learn_acks(uint64_t now_ns);
  void release(uint64_t now_ns);
  void release_front();
  void fail(uint64_t now_ns, bool was_connected);
  void publish_gauges();

  SyslogExportOptions options_;
  SyslogHeader header_;
  uint32_t next_sequence_ = 1;
  std::string scratch_;

  // The buffer: logical byte positions grow forever; bytes_[0] is at base_pos_.
  std::string bytes_;
  uint64_t base_pos_ = 0;
  uint64_t head_pos_ = 0;  // start of held_.front()
  std::deque<Held> held_;
  size_t acked_count_ = 0;   // held_[0 .. acked_count_) are acknowledged
  uint64_t acked_pos_ = 0;   // end of the acknowledged prefix
  uint64_t send_pos_ = 0;    // next byte to write on this connection

  int fd_ = -1;
  bool connecting_ = false;
  uint64_t connect_started_ns_ = 0;
  uint64_t next_attempt_ns_ = 0;
  uint64_t backoff_ns_ = 0;
  std::string last_error_;

  // Written by the management thread only; relaxed atomics so telemetry can read them.
  struct Counters {
    std::atomic<uint64_t> queued{0}, dropped{0}, acknowledged{0}, resent{0}, released_early{0},
        connects{0}, connect_failures{0}, disconnects{0}, buffered_records{0}, buffered_bytes{0},
        unacknowledged_records{0};
    std::atomic<bool> connected{false};
  } counters_;
};

}  // namespace sluice
