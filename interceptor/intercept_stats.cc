#include "interceptor/intercept_stats.h"

#include "control/json_writer.h"

namespace sluice::intercept {

std::string InterceptStats::to_json() const {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
#define SLUICE_JSON_STAT(name, help) w.field(#name, static_cast<uint64_t>(name.load(std::memory_order_relaxed)));
  SLUICE_INTERCEPT_STATS(SLUICE_JSON_STAT)
#undef SLUICE_JSON_STAT
  w.end_object();
  return out;
}

std::string InterceptStats::to_text() const {
  std::string out;
#define SLUICE_TEXT_STAT(name, help)                                                           \
  out += #name;                                                                                \
  out += ' ';                                                                                  \
  out += std::to_string(name.load(std::memory_order_relaxed));                                 \
  out += "  # ";                                                                               \
  out += help;                                                                                 \
  out += '\n';
  SLUICE_INTERCEPT_STATS(SLUICE_TEXT_STAT)
#undef SLUICE_TEXT_STAT
  return out;
}

}  // namespace sluice::intercept
