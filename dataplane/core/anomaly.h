// Per-flow anomalies: things a flow did that a well-behaved client does not, or that made the
// first flight impossible to judge with certainty. They appear by name in the audit record and
// later drive policy ("overlap_conflict -> block"). Declared once, here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

#define SLUICE_ANOMALIES(X)                                                                    \
  /* TCP first-flight reassembly */                                                            \
  X(kOverlapConflict, "overlap_conflict")         /* retransmitted bytes differ from seen */   \
  X(kBadChecksumIgnored, "bad_checksum_ignored")  /* segment with a bad checksum not used */   \
  X(kOutOfWindow, "out_of_window")                /* data outside the server's window */       \
  X(kSynPayload, "syn_payload")                   /* SYN carried data without Fast Open */     \
  X(kFirstFlightByteCap, "first_flight_byte_cap") /* cap hit before the hello completed */     \
  X(kFirstFlightTimeout, "first_flight_timeout")  /* time cap hit before it completed */       \
  X(kTinySegments, "tiny_segments")               /* first flight split into < 8 byte pieces */\
  X(kOutOfOrder, "out_of_order")                  /* first flight segments arrived reordered */\
  X(kMidstream, "midstream")                      /* no handshake seen for this flow */        \
  X(kIpFragmented, "ip_fragmented")               /* first flight arrived in IP fragments */   \
  X(kFragmentOverlap, "fragment_overlap")         /* overlapping IP fragments rejected */      \
  X(kTcpUrgent, "tcp_urgent")                     /* URG data in the first flight */           \
  X(kTtlDecoy, "ttl_decoy")                       /* segment with a lower TTL than its SYN */  \
  X(kSignatureDecoy, "tcp_signature_decoy")       /* MD5/TCP-AO option the SYN did not have */ \
  X(kBadAck, "bad_ack")                           /* acknowledges data never sent, or no ACK */\
  X(kPawsDecoy, "paws_decoy")                     /* timestamp older than one already seen */  \
  X(kIsnMismatch, "isn_mismatch")                 /* SYN-ACK acks another ISN than the SYN's */\
  X(kRstIgnored, "rst_ignored")                   /* RST outside the window: not a close */    \
  X(kUnseenAcked, "unseen_acked")                 /* server acked client bytes never seen */   \
  X(kBuffersExhausted, "buffers_exhausted")       /* no first-flight buffer was free */        \
  X(kTlsRecordVersion, "tls_record_version")      /* first record version outside 3.0-3.4 */  \
  /* TLS */                                                                                    \
  X(kTlsTruncated, "tls_truncated")               /* hello ended before its declared length */ \
  X(kTlsMalformed, "tls_malformed")               /* hello structure is invalid */             \
  X(kTlsRecordFragmented, "tls_record_fragmented")/* hello spans several TLS records */        \
  X(kSniInvalid, "sni_invalid")                   /* server name is not a valid host name */   \
  X(kSniMultiple, "sni_multiple")                 /* more than one host_name entry */          \
  X(kSniEmpty, "sni_empty")                       /* server_name extension without a name */   \
  X(kDuplicateExtension, "duplicate_extension")   /* an extension type appears twice */        \
  X(kSslv2Hello, "sslv2_hello")                   /* SSLv2-style compatible hello */           \
  X(kHelloAfterData, "trailing_data")             /* bytes after the hello in the flight */    \
  X(kTlsIgnoredRecords, "tls_ignored_records")   /* alerts/CCS before or inside the hello */  \
  /* QUIC */                                                                                   \
  X(kQuicUndecryptable, "quic_undecryptable")     /* an Initial failed to open or to parse */  \
  X(kQuicUnexpectedFrame, "quic_unexpected_frame")/* a frame type not allowed in an Initial */ \
  X(kQuicOtherConnection, "quic_other_connection")/* another connection's Initial mid-hello */

enum class Anomaly : uint8_t {
#define SLUICE_ANOMALY_ENUM(name, str) name,
  SLUICE_ANOMALIES(SLUICE_ANOMALY_ENUM)
#undef SLUICE_ANOMALY_ENUM
      kCount
};

std::string_view anomaly_name(Anomaly a);

// A small set of anomalies, carried per flow.
class AnomalySet {
 public:
  void add(Anomaly a) { bits_ |= bit(a); }
  void merge(AnomalySet other) { bits_ |= other.bits_; }
  bool has(Anomaly a) const { return (bits_ & bit(a)) != 0; }
  bool empty() const { return bits_ == 0; }
  uint64_t bits() const { return bits_; }
  // Calls fn(Anomaly) for each member, in declaration order.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (uint8_t i = 0; i < static_cast<uint8_t>(Anomaly::kCount); ++i)
      if (bits_ & (uint64_t{1} << i)) fn(static_cast<Anomaly>(i));
  }

 private:
  static constexpr uint64_t bit(Anomaly a) { return uint64_t{1} << static_cast<uint8_t>(a); }
  uint64_t bits_ = 0;
};
static_assert(static_cast<int>(Anomaly::kCount) <= 64, "AnomalySet holds 64 anomalies");

}  // namespace sluice
