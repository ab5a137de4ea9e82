#!/usr/bin/env python3
"""`sluice check-host` and `sluice plan-host` on THIS machine (a VM without NICs or hugepages
here), with the 2x10 GbE example configuration: every gap it prints must be true of the machine,
as read independently by this script from /sys and /proc, and it must exit 1. Nothing here
assumes what the machine has (its clock source, CPU count, nodes, memory): each verdict is
compared with what the kernel says now. Then the same commands against the fake appliance tree
(tests/data/host/ready) must give the kernel command line the example configuration's comments
promise.

Usage: check_host_here_test.py SLUICE SOURCE_DIR
"""
import glob
import grp
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outcome import check, finish  # noqa: E402


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def cpu_list(text):
    cpus = set()
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        cpus.update(range(int(a), int(b or a) + 1))
    return cpus


def parse_size(text):
    """ "4.0 GiB", "512.0 MiB", "0 KiB" as check-host prints them, in bytes (to its rounding)."""
    n, unit = text.split()
    return int(float(n) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit])


def size_text(n):
    """Bytes as dpdk-hugepages.py takes them: "4G", "282M"."""
    return "%dG" % (n >> 30) if n % (1 << 30) == 0 else "%dM" % -(-n // (1 << 20))


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


def main():
    sluice, src = sys.argv[1], sys.argv[2]
    config = os.path.join(src, "deploy/config/sluice-2x10g.yaml")
    r = run(sluice, "check-host", "--config", config)
    out = r.stdout
    print(out)
    check(r.returncode == 1, "exit %d, expected 1 (gaps)\n%s" % (r.returncode, r.stderr))

    # CPUs: the example wants CPUs 1-3 (management 1, workers 2 and 3).
    online = cpu_list(read("/sys/devices/system/cpu/online"))
    missing = sorted(set(range(1, 4)) - online)
    for cpu in missing:
        check("GAP   cpus: %s: lcore %d runs on CPU %d, which this host (/) does not have online"
              % (config, cpu, cpu) in out, "no gap for missing CPU %d" % cpu)
    if not missing:
        isolated = cpu_list(read("/sys/devices/system/cpu/isolated"))
        check(("GAP   isolation" in out) == (not {1, 2, 3} <= isolated),
              "isolation verdict disagrees with /sys (isolated: %s)" % sorted(isolated))

    # Lcores on CPUs the machine lacks: isolation, the kernel line and IRQs are not judged.
    if missing:
        for name in ("isolation", "cmdline", "irqs"):
            check(re.search(r"^\S+ +%s:" % name, out, re.M) is None,
                  "%s judged for a layout this host cannot hold" % name)
    else:
        kernel_args = read("/proc/cmdline").split(" -- ")[0]  # what follows is init's
        params = {a.split("=", 1)[0] for a in kernel_args.split()}
        for name in ("isolcpus", "nohz_full", "irqaffinity"):
            check(("booted without `%s=`" % name in out) == (name not in params),
                  "%s= on /proc/cmdline: %s, reported missing: %s"
                  % (name, name in params, "booted without `%s=`" % name in out))

    # Hugepages: free bytes as the kernel counts them; what the finding says is needed is what
    # each of its fixes reserves, and at least what --socket-mem asks for.
    free = sum(int(read(d + "/free_hugepages", "0")) * int(re.search(r"(\d+)kB", d).group(1)) * 1024
               for d in glob.glob("/sys/kernel/mm/hugepages/hugepages-*"))
    reserved = sum(int(read(d + "/nr_hugepages", "0"))
                   for d in glob.glob("/sys/kernel/mm/hugepages/hugepages-*"))
    nodes = len(glob.glob("/sys/devices/system/node/node[0-9]*")) or 1
    flags = next((l.split(":", 1)[1].split() for l in read("/proc/cpuinfo").splitlines()
                  if l.startswith("flags")), [])
    page, page_name = (1 << 30, "1G") if "pdpe1gb" in flags else (2 << 20, "2M")
    socket_mem = sum(int(mb) << 20 for arg in re.findall(r'^\s*args:.*--socket-mem=([\d,]+)', read(config), re.M)
                     for mb in arg.split(","))
    m = re.search(r"^(GAP|ok)   hugepages: (?:needs (\S+ \S+) of hugepages in all|.* free, "
                  r"(\S+ \S+) needed) \((\d+) x (\w+) pages", out, re.M)
    check(m is not None, "no hugepage verdict")
    if m:
        pages, needed = int(m.group(4)), parse_size(m.group(2) or m.group(3))
        check(m.group(5) == page_name, "page size %s, the CPU allows %s" % (m.group(5), page_name))
        check(needed == pages * page, "needs %d bytes but %d pages of %s" % (needed, pages, page_name))
        check(needed >= socket_mem, "needs %d bytes, --socket-mem asks %d" % (needed, socket_mem))
        check((m.group(1) == "GAP") == (free < needed),
              "hugepage verdict %s with %d bytes free, %d needed" % (m.group(1), free, needed))
    gap = re.search(r"^GAP   hugepages: needs .*\n      fix: (.*)$", out, re.M)
    if m and gap:
        fix = gap.group(1)
        boot = re.search(r"hugepages=(\d+)`", fix)
        conf = re.search(r"NR_%s_PAGES=\"?([\d ]+)\"?`" % page_name, fix)
        check(boot and int(boot.group(1)) >= pages, "boot line reserves fewer pages: %s" % fix)
        if nodes == 1:
            check(boot and int(boot.group(1)) == pages, "boot line disagrees: %s" % fix)
            check("--setup %s`" % size_text(pages * page) in fix, "--setup disagrees: %s" % fix)
        check(conf and sum(map(int, conf.group(1).split())) == pages,
              "dpdk.conf line disagrees: %s" % fix)
        check(("(no hugepages are reserved)" in out) == (reserved == 0),
              "reserved verdict wrong (%d reserved)" % reserved)
        if free == 0:
            check(", 0 KiB free of" in out, "free not reported as 0 KiB")
    asked = max((len(a.split(",")) for a in re.findall(r'^\s*args:.*--socket-mem=([\d,]+)', read(config), re.M)),
                default=0)
    check(("but this host has %d NUMA node(s)" % nodes in out) == (nodes < asked),
          "the example's --socket-mem for %d node(s) on %d node(s)" % (asked, nodes))
    mounted = "hugetlbfs" in read("/proc/mounts")
    check(("no hugetlbfs is mounted" in out) == (not mounted), "hugetlbfs mount verdict wrong")

    # NICs: every PCI address of the example that is not on this machine is named.
    for addr in re.findall(r'device: "([0-9a-f:.]+)"', read(config)):
        present = os.path.exists("/sys/bus/pci/devices/" + addr)
        said = "no PCI device %s on this host" % addr in out
        check(said != present, "NIC %s: present=%s, reported missing=%s" % (addr, present, said))

    # Clock source as the kernel has it.
    clock = read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    if clock == "tsc":
        check("ok    clock: clock source tsc" in out, "tsc not reported as fine")
    else:
        check("GAP   clock: the kernel's clock source is %s, not tsc" % clock in out,
              "clock source %s not reported" % clock)

    invariant = "constant_tsc" in flags and "nonstop_tsc" in flags
    check(("GAP   clock: the CPU's TSC is not invariant" in out) == (not invariant),
          "TSC invariance verdict wrong (invariant: %s)" % invariant)

    # CPU features Hyperscan uses.
    check((re.search(r"^ok    cpu: Hyperscan can use: ssse3", out, re.M) is not None)
          == ("ssse3" in flags), "SSSE3 verdict wrong")
    check(("GAP   cpu: the CPU has no SSSE3" in out) == ("ssse3" not in flags), "no-SSSE3 gap wrong")
    if "ssse3" in flags:
        check("hs_valid_platform() refuses" not in out, "hs_valid_platform wrongly refused")
    check(("running under a hypervisor" in out) == ("hypervisor" in flags), "hypervisor note")

    # Ordinary memory against MemAvailable, where the rounding cannot blur the verdict.
    available = int(re.search(r"^MemAvailable:\s+(\d+) kB", read("/proc/meminfo"), re.M)
                    .group(1)) * 1024
    ram = re.search(r"^  ordinary memory: (\S+ \S+)$", out, re.M)
    check(ram is not None, "no ordinary memory figure")
    if ram and abs(parse_size(ram.group(1)) - available) > 256 << 20:
        short = parse_size(ram.group(1)) > available
        check(("GAP   memory:" in out) == short and ("ok    memory:" in out) != short,
              "memory verdict wrong: %s needed, %d available" % (ram.group(1), available))
    for address in re.findall(r'type: syslog.*\n\s+address: "([^"]+)"', read(config)):
        check("syslog sink %s: up to 2 x buffer_size" % address in out, "syslog buffer term")
    check(("API list upload: api.max_list_body" in out)
          == (re.search(r"^api:", read(config), re.M) is not None), "list upload term")

    # Transparent huge pages, as the kernel has them (the flow tables ask for them).
    thp = re.search(r"\[(\w+)\]", read("/sys/kernel/mm/transparent_hugepage/enabled"))
    thp_on = thp is not None and thp.group(1) in ("always", "madvise")
    check(("ok    thp:" in out) == thp_on and ("GAP   thp:" in out) != thp_on,
          "THP verdict wrong (mode %s)" % (thp.group(1) if thp else "none"))

    # The API socket's group, as this machine's group database has it.
    group = re.search(r"^\s+group:\s+(\S+)", read(config), re.M)
    if group:
        try:
            grp.getgrnam(group.group(1))
            exists = True
        except KeyError:
            exists = False
        check(("ok    api: group '%s'" % group.group(1) in out) == exists and
              ("GAP   api: group '%s'" % group.group(1) in out) != exists,
              "API group %s: exists=%s, verdict wrong" % (group.group(1), exists))

    # No NIC here: nothing for vfio or NUMA placement to judge.
    if not any(os.path.exists("/sys/bus/pci/devices/" + a)
               for a in re.findall(r'device: "([0-9a-f:.]+)"', read(config))):
        check(re.search(r"^\S+ +vfio:", out, re.M) is None, "vfio judged without a NIC")
    if nodes == 1:
        check("note  numa: one NUMA node" in out, "one-node NUMA note")

    # The lists the example names are installed on an appliance, not here (unless they are).
    gap = re.search(r"^GAP   policy: policy lists that cannot be read: (.*) \(", out, re.M)
    named = gap.group(1).split(", ") if gap else []
    for lst in re.findall(r"files: \[([^\]]+)\]", read(config)):
        for path in (p.strip() for p in lst.split(",")):
            check((path in named) != os.path.exists(path),
                  "policy list %s: exists=%s, reported=%s" % (path, os.path.exists(path),
                                                             path in named))
    check("sizing (deploy/README.md" in out and "mbufs per packet pool:" in out,
          "no sizing figures")
    # The count printed is the count of gaps printed, whatever this machine lacks today.
    gaps = len(re.findall(r"^GAP ", out, re.M))
    check(gaps > 0 and "%d gap%s to close before" % (gaps, "" if gaps == 1 else "s") in out,
          "the gap count line disagrees with the %d gaps printed" % gaps)

    # plan-host cannot plan a layout this host cannot hold, and says why.
    r = run(sluice, "plan-host", "--config", config)
    if missing:
        check(r.returncode == 2 and "lcore %d runs on CPU %d" % (missing[0], missing[0]) in r.stderr,
              "plan-host here: exit %d, %s" % (r.returncode, r.stderr))

    # On the fake appliance prepared as deploy/ says (8 CPUs, 2 nodes, 1G pages, the card on
    # node 0) the example gives the line its comments promise and the figures it sets.
    ready = os.path.join(src, "tests/data/host/ready")
    r = run(sluice, "plan-host", "--config", config, "--root", ready)
    print(r.stdout)
    check(r.returncode == 0, "plan-host on the fake tree: exit %d %s" % (r.returncode, r.stderr))
    check("isolcpus=managed_irq,domain,1-3 nohz_full=2,3 rcu_nocbs=2,3 irqaffinity=0,4-7 "
          "default_hugepagesz=1G hugepagesz=1G" in r.stdout, "kernel line for the example")
    check("pci 0000:3b:00.0 vfio-pci" in r.stdout and "pci 0000:3b:00.1 vfio-pci" in r.stdout,
          "/etc/dpdk/interfaces lines")
    m = re.search(r"mbufs per packet pool: (\d+) needed \((\d+) as 2\^n-1\), (\d+) configured", r.stdout)
    check(m is not None and int(m.group(3)) >= int(m.group(2)) >= int(m.group(1)),
          "mbuf figures: the example sets at least what it needs")
    # And on that box the shipped example has no gap but the policy lists, which are installed
    # on an appliance and not here: the example fits the box deploy/ prepares.
    r = run(sluice, "check-host", "--config", config, "--root", ready)
    gaps = re.findall(r"^GAP   (\w+):", r.stdout, re.M)
    check(set(gaps) <= {"policy"}, "the example on the prepared tree: gaps %s\n%s" % (gaps, r.stdout))
    # So does it with interception turned on as deploy/README says (the TAP and `intercept:`
    # uncommented): one more port, which its mbufs must already cover.
    text = re.sub(r"\n  # - name: tap\n  #   device: ([^\n]+)\n", r"\n  - name: tap\n    device: \1\n",
                  read(config))
    text = re.sub(r"\n# intercept:\n#   port: tap\n#   address: (\S+)\n",
                  r"\nintercept:\n  port: tap\n  address: \1\n", text)
    check("\nintercept:\n" in text and "    device: \"net_tap0" in text, "could not turn interception on")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        r = run(sluice, "check-host", "--config", f.name, "--root", ready)
    gaps = re.findall(r"^GAP   (\w+):", r.stdout, re.M)
    check(set(gaps) <= {"policy"}, "the example with interception on: gaps %s\n%s" % (gaps, r.stdout))

    # A test layout (vdevs, lcores sharing CPU 0): notes, not gaps, for what it chose.
    r = run(sluice, "check-host", "--config",
            os.path.join(src, "deploy/config/sluice-test-namespaces.yaml"))
    check("note  nic: port" in r.stdout and "is a vdev" in r.stdout, "vdev note")
    check("note  hugepages: eal.huge_pages is false" in r.stdout, "no-hugepages note")
    check("GAP   cpus" not in r.stdout, "the namespace layout is not a CPU gap")
    check("GAP   mbufs" not in r.stdout, "the namespace example's mempool is short:\n" + r.stdout)

    # What cannot be read is refused with exit 2 and says why.
    r = run(sluice, "check-host", "--config", os.path.join(src, "no-such.yaml"))
    check(r.returncode == 2 and "no-such.yaml: cannot open" in r.stderr, "missing config: %s" % r.stderr)
    r = run(sluice, "check-host", "--config", config, "--root", os.path.join(src, "deploy"))
    check(r.returncode == 2 and "no sys/ and proc/" in r.stderr, "bad root: %s" % r.stderr)

    finish()


if __name__ == "__main__":
    main()
