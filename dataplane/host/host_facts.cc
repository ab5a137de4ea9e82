#include "dataplane/host/host_facts.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

// The whole file, or nullopt when it does not exist or cannot be read (sysfs attributes that a
// kernel does not have are simply absent).
std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trimmed(const std::string& s) {
  return std::string(absl::StripAsciiWhitespace(s));
}

absl::Status bad_file(const fs::path& path, const absl::Status& why) {
  return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", why.message()));
}

// A CPU list file that may be absent (then the empty set).
absl::StatusOr<CpuSet> read_cpu_list(const fs::path& path) {
  std::optional<std::string> text = read_text(path);
  if (!text) return CpuSet{};
  absl::StatusOr<CpuSet> cpus = parse_cpu_list(*text);
  if (!cpus.ok()) return bad_file(path, cpus.status());
  return cpus;
}

uint64_t read_number(const fs::path& path, uint64_t fallback) {
  std::optional<std::string> text = read_text(path);
  uint64_t v;
  if (text && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v)) return v;
  return fallback;
}

// "hugepages-2048kB" -> 2 MiB; 0 if the name is not of that form.
uint64_t hugepage_dir_bytes(const std::string& name) {
  absl::string_view n = name;
  uint64_t kb;
  if (!absl::ConsumePrefix(&n, "hugepages-") || !absl::ConsumeSuffix(&n, "kB") ||
      !absl::SimpleAtoi(n, &kb))
    return 0;
  return kb * 1024;
}

void read_hugepage_dir(const fs::path& dir, int node, std::vector<HugepagePool>& out) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const uint64_t bytes = hugepage_dir_bytes(e.path().filename().string());
    if (bytes == 0) continue;
    out.push_back({bytes, node, read_number(e.path() / "nr_hugepages", 0),
                   read_number(e.path() / "free_hugepages", 0)});
  }
}

// nodeN directories under /sys/devices/system/node, sorted by N.
std::vector<std::pair<int, fs::path>> numa_nodes(const fs::path& root) {
  std::vector<std::pair<int, fs::path>> nodes;
  std::error_code ec;
  for (const fs::directory_entry& e :
       fs::directory_iterator(root / "sys/devices/system/node", ec)) {
    const std::string filename = e.path().filename().string();  // outlives the view below
    absl::string_view name = filename;
    int n;
    if (absl::ConsumePrefix(&name, "node") && absl::SimpleAtoi(name, &n))
      nodes.emplace_back(n, e.path());
  }
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

// Handler names per IRQ number from /proc/interrupts (the last column), for the report.
std::map<uint32_t, std::string> irq_actions(const fs::path& root) {
  std::map<uint32_t, std::string> out;
  std::optional<std::string> text = read_text(root / "proc/interrupts");
  if (!text) return out;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    const size_t colon = line.find(':');
    uint32_t irq;
    if (colon == absl::string_view::npos || !absl::SimpleAtoi(line.substr(0, colon), &irq))
      continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipEmpty());
    if (!fields.empty()) out[irq] = std::string(fields.back());
  }
  return out;
}

absl::Status read_irqs(const fs::path& root, HostFacts& facts) {
  const std::map<uint32_t, std::string> actions = irq_actions(root);
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(root / "proc/irq", ec)) {
    uint32_t irq;
    if (!absl::SimpleAtoi(e.path().filename().native(), &irq)) continue;
    std::optional<std::string> text = read_text(e.path() / "smp_affinity_list");
    if (!text) continue;
    absl::StatusOr<CpuSet> cpus = parse_cpu_list(*text);
    if (!cpus.ok()) return bad_file(e.path() / "smp_affinity_list", cpus.status());
    auto a = actions.find(irq);
    facts.irqs.push_back({irq, *std::move(cpus), a == actions.end() ? "" : a->second});
  }
  std::sort(facts.irqs.begin(), facts.irqs.end(),
            [](const IrqAffinity& a, const IrqAffinity& b) { return a.irq < b.irq; });
  if (std::optional<std::string> mask = read_text(root / "proc/irq/default_smp_affinity")) {
    absl::StatusOr<CpuSet> cpus = parse_cpu_mask(*mask);
    if (!cpus.ok()) return bad_file(root / "proc/irq/default_smp_affinity", cpus.status());
    facts.default_irq_affinity = *std::move(cpus);
  }
  return absl::OkStatus();
}

void read_cpuinfo(const fs::path& root, HostFacts& facts) {
  std::optional<std::string> text = read_text(root / "proc/cpuinfo");
  if (!text) return;
  bool have_flags = false;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (key == "flags" && !have_flags) {
      for (absl::string_view f : absl::StrSplit(value, ' ', absl::SkipEmpty()))
        facts.cpu_flags.emplace_back(f);
      have_flags = true;
    } else if (key == "model name" && facts.cpu_model.empty()) {
      facts.cpu_model = std::string(value);
    }
  }
}

PciDeviceFacts read_pci_device(const fs::path& root, const std::string& address) {
  PciDeviceFacts d;
  d.address = address;
  const fs::path dir = root / "sys/bus/pci/devices" / address;
  std::error_code ec;
  d.present = fs::exists(dir, ec);
  if (!d.present) return d;
  // Links are read, not followed: a fake tree may hold them dangling.
  fs::path link = fs::read_symlink(dir / "driver", ec);
  if (!ec) d.driver = link.filename().string();
  link = fs::read_symlink(dir / "iommu_group", ec);
  if (!ec) d.iommu_group = link.filename().string();
  int node;
  std::optional<std::string> text = read_text(dir / "numa_node");
  if (text && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &node)) d.numa_node = node;
  return d;
}

// "pagesize=1024M" among a hugetlbfs mount's options (the kernel writes K, M or G); 0: none.
uint64_t mount_page_bytes(absl::string_view options) {
  for (absl::string_view o : absl::StrSplit(options, ',')) {
    if (!absl::ConsumePrefix(&o, "pagesize=") || o.empty()) continue;
    const char unit = absl::ascii_toupper(o.back());
    const int shift = unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : 0;
    if (shift != 0) o.remove_suffix(1);
    uint64_t n;
    if (absl::SimpleAtoi(o, &n)) return n << shift;
  }
  return 0;
}

void read_mounts_and_memory(const fs::path& root, HostFacts& facts) {
  if (std::optional<std::string> text = read_text(root / "proc/meminfo")) {
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      uint64_t kb;
      if (f.size() < 2 || !absl::SimpleAtoi(f[1], &kb)) continue;
      if (f[0] == "MemTotal:") facts.mem_total_bytes = kb * 1024;
      if (f[0] == "MemAvailable:") facts.mem_available_bytes = kb * 1024;
      if (f[0] == "Hugepagesize:") facts.default_hugepage_bytes = kb * 1024;
    }
  }
  if (std::optional<std::string> text = read_text(root / "proc/mounts")) {
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 3 || f[2] != "hugetlbfs") continue;
      // Without pagesize= a hugetlbfs serves the default size.
      const uint64_t page = f.size() >= 4 ? mount_page_bytes(f[3]) : 0;
      facts.hugetlbfs_mounts.push_back(
          {std::string(f[1]), page != 0 ? page : facts.default_hugepage_bytes});
    }
  }
}

}  // namespace

bool HostFacts::has_cpu_flag(const std::string& flag) const {
  return std::find(cpu_flags.begin(), cpu_flags.end(), flag) != cpu_flags.end();
}

int HostFacts::node_of_cpu(uint32_t cpu) const {
  auto it = cpu_node.find(cpu);
  return it == cpu_node.end() ? -1 : it->second;
}

std::optional<std::string> HostFacts::kernel_param(std::string_view name) const {
  std::optional<std::string> value;
  for (absl::string_view arg : absl::StrSplit(kernel_cmdline, ' ', absl::SkipEmpty())) {
    if (arg == "--") break;
    const size_t eq = arg.find('=');
    if (arg.substr(0, eq) != av(name)) continue;
    value = eq == absl::string_view::npos ? "" : std::string(arg.substr(eq + 1));
  }
  return value;
}

absl::StatusOr<HostFacts> read_host_facts(const std::string& root_dir,
                                          const std::vector<std::string>& pci_addresses) {
  const fs::path root(root_dir.empty() ? "/" : root_dir);
  std::error_code ec;
  if (!fs::is_directory(root / "sys", ec) || !fs::is_directory(root / "proc", ec))
    return absl::NotFoundError(absl::StrCat(root.string(),
                                            ": no sys/ and proc/ here to read the host from"));
  HostFacts facts;
  facts.root = root.string();
  const fs::path cpu = root / "sys/devices/system/cpu";
  absl::StatusOr<CpuSet> set = read_cpu_list(cpu / "online");
  if (!set.ok()) return set.status();
  facts.online_cpus = *std::move(set);
  if (facts.online_cpus.empty())
    return absl::NotFoundError(absl::StrCat((cpu / "online").string(), ": missing or empty"));
  set = read_cpu_list(cpu / "isolated");
  if (!set.ok()) return set.status();
  facts.isolated_cpus = *std::move(set);
  // nohz_full: absent when the kernel was built without full dynticks (CONFIG_NO_HZ_FULL), and
  // "(null)" when it was but booted without nohz_full=.
  if (std::optional<std::string> nohz = read_text(cpu / "nohz_full")) {
    facts.nohz_full_supported = true;
    if (trimmed(*nohz) != "(null)") {
      set = read_cpu_list(cpu / "nohz_full");
      if (!set.ok()) return set.status();
      facts.nohz_full_cpus = *std::move(set);
    }
  }
  if (std::optional<std::string> line = read_text(root / "proc/cmdline"))
    facts.kernel_cmdline = trimmed(*line);
  if (std::optional<std::string> text = read_text(root / "etc/group")) {
    facts.groups.emplace();
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      const absl::string_view name = line.substr(0, line.find(':'));
      if (!name.empty() && name.front() != '#') facts.groups->emplace(name);
    }
  }

  const std::vector<std::pair<int, fs::path>> nodes = numa_nodes(root);
  for (const auto& [n, dir] : nodes) {
    set = read_cpu_list(dir / "cpulist");
    if (!set.ok()) return set.status();
    for (uint32_t c : *set) facts.cpu_node[c] = n;
    read_hugepage_dir(dir / "hugepages", n, facts.hugepages);
  }
  if (facts.hugepages.empty()) read_hugepage_dir(root / "sys/kernel/mm/hugepages", -1, facts.hugepages);

  if (absl::Status s = read_irqs(root, facts); !s.ok()) return s;
  for (const std::string& a : pci_addresses) facts.pci[a] = read_pci_device(root, a);
  facts.vfio_pci_loaded = fs::exists(root / "sys/bus/pci/drivers/vfio-pci", ec);
  facts.iommu_groups_present = !fs::is_empty(root / "sys/kernel/iommu_groups", ec) && !ec;
  read_cpuinfo(root, facts);
  read_mounts_and_memory(root, facts);
  const fs::path clock = root / "sys/devices/system/clocksource/clocksource0";
  if (std::optional<std::string> t = read_text(clock / "current_clocksource"))
    facts.clocksource = trimmed(*t);
  if (std::optional<std::string> t = read_text(clock / "available_clocksource"))
    for (absl::string_view s : absl::StrSplit(*t, absl::ByAnyChar(" \n"), absl::SkipEmpty()))
      facts.available_clocksources.emplace_back(s);
  if (std::optional<std::string> t = read_text(root / "sys/kernel/mm/transparent_hugepage/enabled")) {
    const size_t open = t->find('['), close = t->find(']');
    if (open != std::string::npos && close > open)
      facts.thp_mode = t->substr(open + 1, close - open - 1);
  }
  return facts;
}

}  // namespace sluice
