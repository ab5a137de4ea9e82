// pipeline_capture: the input of the pipeline benchmark's floor and `sluice run` rows.
//
//   pipeline_capture OUT.pcap [--flows N] [--data M] [--list-size K] [--names-out FILE]
//
// N established TLS flows (perf/pipeline_frames.h: handshake, a 590-byte ClientHello, then M
// data frames in the 7:4:1 mix of 64/590/1514 bytes, no FIN), interleaved round-robin (frame j
// of every flow before frame j+1 of any). Server names: every other flow a name of list 1 of
// K names, the others a miss. --names-out writes that K-name domains list (the policy).
#include <pcap/pcap.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "perf/pipeline_frames.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pipeline_capture OUT.pcap [--flows N] [--data M] "
                         "[--list-size K] [--names-out FILE]\n");
    return 2;
  }
  const std::string out = argv[1];
  uint32_t flows = 256, data = 124, list_size = 1'000'000;
  std::string names_out;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--flows") flows = std::strtoul(argv[i + 1], nullptr, 10);
    else if (k == "--data") data = std::strtoul(argv[i + 1], nullptr, 10);
    else if (k == "--list-size") list_size = std::strtoul(argv[i + 1], nullptr, 10);
    else if (k == "--names-out") names_out = argv[i + 1];
    else {
      std::fprintf(stderr, "pipeline_capture: unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  std::vector<std::vector<sluice::perf::Frame>> all;
  all.reserve(flows);
  for (uint32_t f = 0; f < flows; ++f)
    all.push_back(sluice::perf::established_flow_frames(
        f, sluice::perf::flow_server_name(1, list_size, f), data));
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* dumper = pcap_dump_open(dead, out.c_str());
  if (dumper == nullptr) {
    std::fprintf(stderr, "pipeline_capture: %s\n", pcap_geterr(dead));
    return 1;
  }
  uint64_t packets = 0, bytes = 0, by_size[3] = {};
  uint64_t usec = 1'700'000'000ULL * 1'000'000ULL;
  for (size_t j = 0; j < all[0].size(); ++j) {
    for (uint32_t f = 0; f < flows; ++f) {
      const auto& frame = all[f][j];
      pcap_pkthdr h{};
      h.ts.tv_sec = static_cast<time_t>(usec / 1'000'000);
      h.ts.tv_usec = static_cast<suseconds_t>(usec % 1'000'000);
      ++usec;
      h.caplen = h.len = static_cast<uint32_t>(frame.size());
      pcap_dump(reinterpret_cast<u_char*>(dumper), &h, frame.data());
      ++packets;
      bytes += frame.size();
      by_size[frame.size() <= 64 ? 0 : frame.size() <= 590 ? 1 : 2]++;
    }
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
  if (!names_out.empty()) {
    std::ofstream(names_out) << sluice::perf::domains_list_text(1, list_size);
  }
  std::printf("pipeline_capture: %llu packets, %llu bytes, %u flows x (4 handshake + %u data); "
              "frames 64/590/1514: %llu/%llu/%llu; mean %.0f bytes\n",
              (unsigned long long)packets, (unsigned long long)bytes, flows, data,
              (unsigned long long)by_size[0], (unsigned long long)by_size[1],
              (unsigned long long)by_size[2], double(bytes) / double(packets));
  return 0;
}
