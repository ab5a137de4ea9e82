// Inputs of the pipeline benchmark (perf/run-pipeline-bench.sh): TLS flows as complete Ethernet
// frames, and the synthetic name lists their server names are matched against.
//
// Frame sizes follow a simple IMIX: 64 bytes (pure ACKs, padded), 590 bytes (the ClientHello
// and client data) and 1514 bytes (server data), in the classic 7:4:1 proportion for the
// established part of a flow. Checksums are correct (frames come from the tested builder in
// tests/dataplane/core/packet_builder).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::perf {

using Frame = std::vector<uint8_t>;

// Name `i` of the synthetic list `list` (distinct lists share no name), ~20 bytes.
std::string list_name(uint32_t list, uint32_t i);

// The text of a domains list of `count` names of list `list`: 40% exact `name`, 50% `.name`,
// 10% `*.name`, one a line.
std::string domains_list_text(uint32_t list, uint32_t count);

// The server name flow `flow` asks for: every other flow a name of the list (a hit; for a
// `*.name` entry a subdomain of it), the others a name in no list (a miss).
std::string flow_server_name(uint32_t list, uint32_t list_size, uint32_t flow);

// A new TLS flow in five frames: SYN (64 bytes), SYN-ACK (64), ACK (64), ClientHello in one
// segment (590), and the client's in-window RST (64), which ends the flow. Flow `flow` has its
// own client address and port; the same `flow` always gives the same bytes.
std::vector<Frame> new_flow_frames(uint32_t flow, const std::string& server_name);

// An established TLS flow: the four handshake frames of new_flow_frames, then `data` frames in
// the 7:4:1 mix of 64-byte client ACKs, 590-byte client records and 1514-byte server records,
// with consistent sequence and acknowledgement numbers; no FIN (the flow stays established).
std::vector<Frame> established_flow_frames(uint32_t flow, const std::string& server_name,
                                           uint32_t data);

}  // namespace sluice::perf
