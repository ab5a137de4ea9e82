// The syslog exporter against a real rsyslogd (Debian's `rsyslog`, started by each test on a
// free loopback port in its own directory): format and framing as rsyslog parses them, and no
// record that fit in the buffer lost when rsyslogd is killed (SIGKILL) and restarted mid-stream.
// Plus a plain TCP peer that never reads, for the full buffer.
#include "control/syslog_export.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "control/audit_json.h"

extern char** environ;

namespace sluice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string find_rsyslogd() {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/local/sbin"}) {
    const std::string path = std::string(dir) + "/rsyslogd";
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// What rsyslog parsed out of one message (mmpstrucdata turns the structured data into
// properties), one line per message.
struct Received {
  std::string hostname, app_name, procid, msgid, pri, timestamp, sequence_id, sni, msg;
};

// rsyslogd -n with imtcp on 127.0.0.1, writing every parsed message to a file.
class Rsyslog {
 public:
  explicit Rsyslog(const fs::path& dir) : dir_(dir) {}
  ~Rsyslog() {
    if (pid_ > 0) kill_now();
  }

  // First start: port 0 lets rsyslog pick one and write it to a file; restarts reuse it.
  void start() {
    const std::string binary = find_rsyslogd();
    ASSERT_FALSE(binary.empty()) << "rsyslogd not found: install Debian's rsyslog "
                                    "(scripts/install-deps.sh)";
    fs::remove(dir_ / "port");
    std::ofstream conf(dir_ / "rsyslog.conf");
    conf << "global(workDirectory=\"" << dir_.string() << "\")\n"
         << "module(load=\"imtcp\")\n"
         << "module(load=\"mmpstrucdata\")\n"
         << "template(name=\"parsed\" type=\"string\" string=\"%hostname%\\t%app-name%\\t"
            "%procid%\\t%msgid%\\t%pri%\\t%timereported:::date-rfc3339%\\t"
            "%$!rfc5424-sd!meta!sequenceid%\\t%$!rfc5424-sd!sluice@32473!sni%\\t%msg%\\n\")\n"
         << "ruleset(name=\"in\") {\n"
         << "  action(type=\"mmpstrucdata\")\n"
         << "  action(type=\"omfile\" file=\"" << (dir_ / "received.log").string()
         << "\" template=\"parsed\")\n"
         << "}\n"
         << "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" << port_
         << "\" listenPortFileName=\"" << (dir_ / "port").string() << "\" ruleset=\"in\")\n";
    conf.close();
    const std::string conf_path = (dir_ / "rsyslog.conf").string();
    const std::string pid_path = (dir_ / "rsyslogd.pid").string();
    const std::string log_path = (dir_ / "rsyslogd.out").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args = {binary, "-n", "-f", conf_path, "-i", pid_path};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ASSERT_EQ(rc, 0) << std::strerror(rc);
    // rsyslog writes the port file when it picked the port (port 0); a restart on a known port
    // is listening once the kernel lists the socket as LISTEN.
    if (port_ != 0) {
      for (int i = 0; i < 1000 && !listening(port_); ++i) std::this_thread::sleep_for(10ms);
      ASSERT_TRUE(listening(port_)) << "rsyslogd did not listen again: " << read_file(log_path);
      return;
    }
    uint32_t port = 0;  // the file may exist a moment before it holds the number
    for (int i = 0; i < 1000 && !absl::SimpleAtoi(absl::StripAsciiWhitespace(
                                                      read_file(dir_ / "port")),
                                                  &port);
         ++i)
      std::this_thread::sleep_for(10ms);
    ASSERT_GT(port, 0u) << "rsyslogd did not start listening: " << read_file(log_path);
    port_ = static_cast<uint16_t>(port);
  }

  void kill_now() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // Stops reading (the kernel still acknowledges into the socket's receive buffer).
  void pause() {
    ::kill(pid_, SIGSTOP);
    int status = 0;
    ASSERT_EQ(waitpid(pid_, &status, WUNTRACED), pid_);
    ASSERT_TRUE(WIFSTOPPED(status));
  }

  uint16_t port() const { return port_; }

  // /proc/net/tcp has a LISTEN (state 0A) socket on 127.0.0.1:port.
  static bool listening(uint16_t port) {
    char local[32];
    std::snprintf(local, sizeof(local), "0100007F:%04X", port);
    std::istringstream lines(read_file("/proc/net/tcp"));
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string slot, address, remote, state;
      fields >> slot >> address >> remote >> state;
      if (address == local && state == "0A") return true;
    }
    return false;
  }

  std::vector<Received> received() const {
    std::vector<Received> out;
    for (absl::string_view line : absl::StrSplit(read_file(dir_ / "received.log"), '\n')) {
      if (line.empty()) continue;
      std::vector<std::string> f = absl::StrSplit(line, '\t');
      if (f.size() != 9) {
        ADD_FAILURE() << "unexpected line: " << line;
        continue;
      }
      out.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]});
    }
    return out;
  }

  std::set<uint32_t> sequence_ids() const {
    std::set<uint32_t> ids;
    for (const Received& r : received()) {
      uint32_t id = 0;
      if (absl::SimpleAtoi(r.sequence_id, &id)) ids.insert(id);
    }
    return ids;
  }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

class SyslogExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-syslog-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    rsyslog_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  SyslogExportOptions options_for(uint16_t port) {
    SyslogExportOptions o;
    absl::StatusOr<SyslogAddress> a = parse_syslog_address("127.0.0.1:" + std::to_string(port));
    EXPECT_TRUE(a.ok()) << a.status();
    o.address = *a;
    o.hostname = "sluice-test";
    o.facility = 16;
    o.backoff_min_ns = 20'000'000;
    o.backoff_max_ns = 200'000'000;
    return o;
  }

  // Event number `n`: flow_id n, a block verdict for odd n (severity warning), else a pass.
  static AuditEvent event(uint64_t n) {
    AuditEvent e;
    e.kind = n % 3 == 0 ? AuditKind::kClose : AuditKind::kVerdict;
    e.flow_id = n;
    e.event_ns = 1'795'790'955'000'000'000ull + n * 1000;
    e.start_ns = e.event_ns - 5'000'000;
    e.last_packet_ns = e.event_ns;
    e.transport = 6;
    e.first_flight = FirstFlightKind::kTls;
    e.verdict = n % 2 ? Verdict::kBlock : Verdict::kPass;
    const std::string rule = n % 2 ? "blocklist" : "default";
    std::memcpy(e.rule.data(), rule.data(), rule.size());
    const std::string sni = "host" + std::to_string(n) + ".example";
    std::memcpy(e.hello.sni.data(), sni.data(), sni.size());
    e.hello.sni_length = static_cast<uint8_t>(sni.size());
    return e;
  }
  static std::string json_of(uint64_t n) {
    std::string json;
    append_event_record(json, event(n));
    return json;
  }
  static bool enqueue(SyslogExport& x, uint64_t n) { return x.enqueue(event(n), json_of(n)); }

  // Pumps until `done` or `limit` passes, like the management loop (a pump per millisecond).
  template <typename Done>
  static bool pump_until(SyslogExport& x, Done done, std::chrono::milliseconds limit = 15s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      x.pump(monotonic_now_ns());
      if (done()) return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }

  // Waits until rsyslog wrote every id in [1, n].
  bool wait_for_all(uint32_t n, std::chrono::milliseconds limit = 15s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      const std::set<uint32_t> ids = rsyslog_->sequence_ids();
      if (ids.size() >= n && *ids.begin() == 1 && *ids.rbegin() == n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  static std::string missing_ids(const std::set<uint32_t>& ids, uint32_t n) {
    std::string out;
    size_t count = 0;
    for (uint32_t i = 1; i <= n; ++i) {
      if (ids.count(i)) continue;
      if (++count <= 20) out += std::to_string(i) + " ";
    }
    return std::to_string(count) + " missing: " + out;
  }

  fs::path dir_;
  std::unique_ptr<Rsyslog> rsyslog_;
};

TEST_F(SyslogExportTest, RsyslogParsesEveryMessageAsRfc5424) {
  rsyslog_ = std::make_unique<Rsyslog>(dir_);
  ASSERT_NO_FATAL_FAILURE(rsyslog_->start());
  absl::StatusOr<std::unique_ptr<SyslogExport>> x =
      SyslogExport::create(options_for(rsyslog_->port()));
  ASSERT_TRUE(x.ok()) << x.status();
  constexpr uint32_t kRecords = 50;
  for (uint32_t n = 1; n <= kRecords; ++n) ASSERT_TRUE(enqueue(**x, n));
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().unacknowledged_records == 0; }));
  ASSERT_TRUE(wait_for_all(kRecords)) << missing_ids(rsyslog_->sequence_ids(), kRecords);

  const std::vector<Received> got = rsyslog_->received();
  ASSERT_EQ(got.size(), kRecords);
  for (const Received& r : got) {
    uint32_t n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(r.sequence_id, &n)) << r.sequence_id;
    const AuditEvent e = event(n);
    EXPECT_EQ(r.hostname, "sluice-test");
    EXPECT_EQ(r.app_name, "sluice");
    EXPECT_EQ(r.procid, std::to_string(getpid()));
    EXPECT_EQ(r.msgid, e.kind == AuditKind::kVerdict ? "verdict" : "close");
    // local0 (16): warning (4) for a blocking verdict, info (6) otherwise.
    EXPECT_EQ(r.pri, std::to_string(16 * 8 + (e.kind == AuditKind::kVerdict &&
                                                      e.verdict == Verdict::kBlock
                                                  ? 4
                                                  : 6)));
    std::string ts;
    append_rfc3339_micros(ts, e.event_ns);
    EXPECT_EQ(r.timestamp, ts);
    EXPECT_EQ(r.sni, e.kind == AuditKind::kVerdict ? "host" + std::to_string(n) + ".example" : "");
    EXPECT_EQ(r.msg, json_of(n));
  }
  const SyslogExportStats s = (*x)->stats();
  EXPECT_EQ(s.queued, kRecords);
  EXPECT_EQ(s.acknowledged, kRecords);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.connects, 1u);
  EXPECT_TRUE(s.connected);
}

// The proof: rsyslogd killed with SIGKILL in the middle of a stream and restarted on the
// same port; every record that fit in the buffer arrives at least once.
TEST_F(SyslogExportTest, KillingAndRestartingRsyslogMidStreamLosesNothing) {
  rsyslog_ = std::make_unique<Rsyslog>(dir_);
  ASSERT_NO_FATAL_FAILURE(rsyslog_->start());
  absl::StatusOr<std::unique_ptr<SyslogExport>> x =
      SyslogExport::create(options_for(rsyslog_->port()));
  ASSERT_TRUE(x.ok()) << x.status();

  constexpr uint32_t kRecords = 12000;
  constexpr uint32_t kPerPump = 40;
  uint32_t n = 0;
  auto feed = [&](uint32_t until) {
    while (n < until) {
      for (uint32_t i = 0; i < kPerPump && n < until; ++i) ASSERT_TRUE(enqueue(**x, ++n));
      (*x)->pump(monotonic_now_ns());
      std::this_thread::sleep_for(1ms);
    }
  };
  ASSERT_NO_FATAL_FAILURE(feed(kRecords / 3));
  // Mid-stream: rsyslog has written some and is receiving more.
  ASSERT_TRUE(pump_until(**x, [&] { return !rsyslog_->sequence_ids().empty(); }));
  rsyslog_->kill_now();
  ASSERT_NO_FATAL_FAILURE(feed(kRecords / 2));  // while it is down
  ASSERT_NO_FATAL_FAILURE(rsyslog_->start());   // the same port
  ASSERT_NO_FATAL_FAILURE(feed(kRecords));
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().unacknowledged_records == 0; }));
  ASSERT_TRUE(wait_for_all(kRecords)) << missing_ids(rsyslog_->sequence_ids(), kRecords);

  const std::vector<Received> got = rsyslog_->received();
  std::map<uint32_t, int> copies;
  for (const Received& r : got) {
    uint32_t id = 0;
    ASSERT_TRUE(absl::SimpleAtoi(r.sequence_id, &id));
    ++copies[id];
    // A duplicate is the same message again, never a torn or different one.
    ASSERT_EQ(r.msg, json_of(id));
  }
  EXPECT_EQ(copies.size(), kRecords);
  const SyslogExportStats s = (*x)->stats();
  const size_t duplicates = got.size() - copies.size();
  std::printf("records %u, received %zu (duplicates %zu), resent %lu, disconnects %lu, "
              "connects %lu, failed connects %lu\n",
              kRecords, got.size(), duplicates, static_cast<unsigned long>(s.resent),
              static_cast<unsigned long>(s.disconnects), static_cast<unsigned long>(s.connects),
              static_cast<unsigned long>(s.connect_failures));
  RecordProperty("duplicates", static_cast<int>(duplicates));
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.queued, kRecords);
  EXPECT_GE(s.disconnects, 1u);
  EXPECT_GE(s.connects, 2u);
  EXPECT_GE(s.resent, 1u);
}

// Bytes rsyslog's kernel acknowledged but rsyslogd never read die with it. They are still held
// (resend window) and sent again to the restarted rsyslogd.
TEST_F(SyslogExportTest, AcknowledgedButUnreadRecordsAreResentAfterAKill) {
  rsyslog_ = std::make_unique<Rsyslog>(dir_);
  ASSERT_NO_FATAL_FAILURE(rsyslog_->start());
  SyslogExportOptions o = options_for(rsyslog_->port());
  o.resend_window_ns = 60'000'000'000;
  absl::StatusOr<std::unique_ptr<SyslogExport>> x = SyslogExport::create(o);
  ASSERT_TRUE(x.ok()) << x.status();
  for (uint32_t n = 1; n <= 10; ++n) ASSERT_TRUE(enqueue(**x, n));
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().unacknowledged_records == 0; }));
  ASSERT_TRUE(wait_for_all(10));

  ASSERT_NO_FATAL_FAILURE(rsyslog_->pause());
  for (uint32_t n = 11; n <= 40; ++n) ASSERT_TRUE(enqueue(**x, n));
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().unacknowledged_records == 0; }));
  EXPECT_EQ(rsyslog_->sequence_ids().size(), 10u);  // acknowledged, not read
  rsyslog_->kill_now();
  ASSERT_NO_FATAL_FAILURE(rsyslog_->start());
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().connects == 2; }));
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().unacknowledged_records == 0; }));
  EXPECT_TRUE(wait_for_all(40)) << missing_ids(rsyslog_->sequence_ids(), 40);
  EXPECT_EQ((*x)->stats().resent, 40u);  // everything in the window, the 10 read ones too
}

// Without the resend window the same records are lost: a TCP acknowledgement alone does not
// prove delivery. (This is why the window exists; the test above depends on it.)
TEST_F(SyslogExportTest, WithoutAResendWindowTcpAcknowledgedRecordsAreLost) {
  rsyslog_ = std::make_unique<Rsyslog>(dir_);
  ASSERT_NO_FATAL_FAILURE(rsyslog_->start());
  SyslogExportOptions o = options_for(rsyslog_->port());
  o.resend_window_ns = 0;
  absl::StatusOr<std::unique_ptr<SyslogExport>> x = SyslogExport::create(o);
  ASSERT_TRUE(x.ok()) << x.status();
  for (uint32_t n = 1; n <= 10; ++n) ASSERT_TRUE(enqueue(**x, n));
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().unacknowledged_records == 0; }));
  ASSERT_TRUE(wait_for_all(10));
  ASSERT_NO_FATAL_FAILURE(rsyslog_->pause());
  for (uint32_t n = 11; n <= 40; ++n) ASSERT_TRUE(enqueue(**x, n));
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().buffered_records == 0; }));
  rsyslog_->kill_now();
  ASSERT_NO_FATAL_FAILURE(rsyslog_->start());
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().connects == 2; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(rsyslog_->sequence_ids().size(), 10u);
  EXPECT_EQ((*x)->stats().resent, 0u);
}

// A TCP peer that accepts and never reads: pump() keeps returning (a blocking call would hang
// this test), the buffer fills, the overflow is refused and counted, and once the peer reads,
// it gets exactly the records that were accepted, framed by octet counting.
TEST_F(SyslogExportTest, FullBufferCountsOverflowAndNeverBlocks) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  SyslogExportOptions o = options_for(ntohs(addr.sin_port));
  o.buffer_bytes = 256 * 1024;
  absl::StatusOr<std::unique_ptr<SyslogExport>> x = SyslogExport::create(o);
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_TRUE(pump_until(**x, [&] { return (*x)->stats().connected; }));
  const int peer = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(peer, 0);

  constexpr uint32_t kOffered = 5000;  // several MB: more than buffer and socket buffers hold
  std::set<uint32_t> accepted;
  uint64_t slowest_pump_ns = 0;
  for (uint32_t n = 1; n <= kOffered; ++n) {
    if (enqueue(**x, n)) accepted.insert(n);
    const uint64_t before = monotonic_now_ns();
    (*x)->pump(before);
    slowest_pump_ns = std::max(slowest_pump_ns, monotonic_now_ns() - before);
  }
  const SyslogExportStats s = (*x)->stats();
  std::printf("accepted %zu of %u, slowest pump %.1f us\n", accepted.size(), kOffered,
              static_cast<double>(slowest_pump_ns) / 1000.0);
  EXPECT_GT(s.dropped, 0u);
  EXPECT_EQ(s.queued + s.dropped, kOffered);
  EXPECT_EQ(s.queued, accepted.size());
  EXPECT_LE(s.buffered_bytes, o.buffer_bytes);
  // Drop-newest: the accepted records are the oldest ones, plus any that fit as space freed.
  EXPECT_TRUE(accepted.count(1));

  // The peer reads now: every accepted record, in order, each frame "LEN SP MSG".
  std::string stream;
  std::vector<uint32_t> ids;
  const auto end = std::chrono::steady_clock::now() + 15s;
  while (ids.size() < accepted.size() && std::chrono::steady_clock::now() < end) {
    (*x)->pump(monotonic_now_ns());
    char buf[65536];
    const ssize_t r = ::recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) stream.append(buf, static_cast<size_t>(r));
    for (;;) {
      const size_t sp = stream.find(' ');
      if (sp == std::string::npos) break;
      size_t length = 0;
      ASSERT_TRUE(absl::SimpleAtoi(stream.substr(0, sp), &length)) << stream.substr(0, 40);
      if (stream.size() < sp + 1 + length) break;
      const std::string message = stream.substr(sp + 1, length);
      stream.erase(0, sp + 1 + length);
      const size_t at = message.find("[meta sequenceId=\"");
      ASSERT_NE(at, std::string::npos) << message;
      uint32_t id = 0;
      ASSERT_TRUE(absl::SimpleAtoi(
          message.substr(at + 18, message.find('"', at + 18) - (at + 18)), &id));
      ASSERT_EQ(message.substr(message.size() - json_of(id).size()), json_of(id));
      ids.push_back(id);
    }
    if (r <= 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(std::set<uint32_t>(ids.begin(), ids.end()), accepted);
  EXPECT_EQ(ids.size(), accepted.size());  // no reconnect: no duplicates
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  ::close(peer);
  ::close(listener);
}

// Nothing listening: each failure doubles the wait before the next attempt, up to the cap;
// records wait in the buffer.
TEST_F(SyslogExportTest, ReconnectsWithCappedExponentialBackoff) {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(s);  // a port nobody listens on: connects are refused

  SyslogExportOptions o = options_for(ntohs(addr.sin_port));
  o.backoff_min_ns = 100'000'000;
  o.backoff_max_ns = 400'000'000;
  absl::StatusOr<std::unique_ptr<SyslogExport>> x = SyslogExport::create(o);
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_TRUE(enqueue(**x, 1));
  // A simulated clock: `t` moves only when the test says; the refusal itself is real.
  uint64_t t = 1'000'000'000;
  auto fail_at = [&](uint64_t now) {
    const uint64_t before = (*x)->stats().connect_failures;
    for (int i = 0; i < 2000 && (*x)->stats().connect_failures == before; ++i) {
      (*x)->pump(now);
      std::this_thread::sleep_for(1ms);
    }
    return (*x)->stats().connect_failures == before + 1;
  };
  ASSERT_TRUE(fail_at(t));
  for (uint64_t wait : {100'000'000ull, 200'000'000ull, 400'000'000ull, 400'000'000ull}) {
    // Too early: no attempt (one started now would be refused within the 20 ms).
    const uint64_t failures = (*x)->stats().connect_failures;
    (*x)->pump(t + wait - 1);
    std::this_thread::sleep_for(20ms);
    (*x)->pump(t + wait - 1);
    EXPECT_EQ((*x)->stats().connect_failures, failures) << "attempted before " << wait << " ns";
    t += wait;
    ASSERT_TRUE(fail_at(t)) << "no attempt after " << wait << " ns";
  }
  EXPECT_EQ((*x)->stats().connect_failures, 5u);
  EXPECT_EQ((*x)->stats().buffered_records, 1u);
  EXPECT_FALSE((*x)->stats().connected);
}

TEST(SyslogAddressTest, NumericAddressesOnly) {
  absl::StatusOr<SyslogAddress> v4 = parse_syslog_address("192.0.2.10:514");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->storage.ss_family, AF_INET);
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&v4->storage)->sin_port), 514);
  absl::StatusOr<SyslogAddress> v6 = parse_syslog_address("[2001:db8::10]:6514");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->storage.ss_family, AF_INET6);
  EXPECT_EQ(v6->length, sizeof(sockaddr_in6));

  EXPECT_NE(parse_syslog_address("siem.example:514").status().message().find("numeric"),
            absl::string_view::npos);
  EXPECT_NE(parse_syslog_address("2001:db8::10:514").status().message().find("brackets"),
            absl::string_view::npos);
  EXPECT_NE(parse_syslog_address("192.0.2.10").status().message().find("port is missing"),
            absl::string_view::npos);
  EXPECT_NE(parse_syslog_address("192.0.2.10:0").status().message().find("1 to 65535"),
            absl::string_view::npos);
  EXPECT_NE(parse_syslog_address("192.0.2.10:70000").status().message().find("1 to 65535"),
            absl::string_view::npos);
  EXPECT_FALSE(parse_syslog_address("[2001:db8::10]").ok());
}

}  // namespace
}  // namespace sluice
