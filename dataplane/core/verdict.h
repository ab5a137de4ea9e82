// What is done with a flow. One enum for the whole program: the policy decides it, the worker
// carries it out, the audit record names it.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice {

enum class Verdict : uint8_t { kPass, kIntercept, kBlock };
std::string_view verdict_name(Verdict v);
// The inverse of verdict_name(); false for anything else.
bool parse_verdict(std::string_view name, Verdict& out);

}  // namespace sluice
