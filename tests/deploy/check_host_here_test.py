#!/usr/bin/env python3
"""`sluice check-host` and `sluice plan-host` on THIS machine (a VM without NICs or hugepages
here), with the 2x10 GbE example configuration: every gap it prints must be true of the machine,
as read independently by this script from /sys and /proc, and it must exit 1. Then the same
commands against the fake appliance tree (tests/data/host/ready) must give the kernel command
line the example configuration's comments promise.

Usage: check_host_here_test.py SLUICE SOURCE_DIR
"""
import glob
import os
import re
import subprocess
import sys

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


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


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


def main():
    sluice, src = sys.argv[1], sys.argv[2]
    config = os.path.join(src, "deploy/config/sluice-2x10g.yaml")
    r = run(sluice, "check-host", "--config", config)
    out = r.stdout
    print(out)
    check(r.returncode == 1, "exit %d, expected 1 (gaps)\n%s" % (r.returncode, r.stderr))

    # CPUs: the example wants CPUs 1-5.
    online = cpu_list(read("/sys/devices/system/cpu/online"))
    missing = sorted(set(range(1, 6)) - online)
    for cpu in missing:
        check("GAP   cpus: %s: lcore %d runs on CPU %d, which this host (/) does not have online"
              % (config, cpu, cpu) in out, "no gap for missing CPU %d" % cpu)
    if not missing:
        isolated = cpu_list(read("/sys/devices/system/cpu/isolated"))
        check(("GAP   isolation" in out) == (not {1, 2, 3, 4, 5} <= isolated),
              "isolation verdict disagrees with /sys (isolated: %s)" % sorted(isolated))

    # Hugepages: free bytes as the kernel counts them.
    free = sum(int(read(d + "/free_hugepages", "0")) * int(re.search(r"(\d+)kB", d).group(1)) * 1024
               for d in glob.glob("/sys/kernel/mm/hugepages/hugepages-*"))
    reserved = sum(int(read(d + "/nr_hugepages", "0"))
                   for d in glob.glob("/sys/kernel/mm/hugepages/hugepages-*"))
    m = re.search(r"^GAP   hugepages: needs (\S+ \S+) of hugepages .*?; (\S+ \S+) free", out, re.M)
    if free < 2 << 30:  # the example needs well over 2 GiB: 4 ports, 65535 mbufs, 4 workers
        check(m is not None, "no hugepage gap although only %d bytes are free" % free)
        if reserved == 0:
            check("(no hugepages are reserved)" in out, "does not say none are reserved")
        if m and free == 0:
            check(m.group(2) == "0 KiB", "free reported as %s, the kernel says 0" % m.group(2))
    nodes = len(glob.glob("/sys/devices/system/node/node[0-9]*")) or 1
    check(("but this host has %d NUMA node(s)" % nodes in out) == (nodes < 2),
          "the example's --socket-mem=2048,2048 on %d node(s)" % nodes)
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

    # CPU features Hyperscan uses.
    flags = next((l.split(":", 1)[1].split() for l in read("/proc/cpuinfo").splitlines()
                  if l.startswith("flags")), [])
    if "ssse3" in flags:
        check(re.search(r"^ok    cpu: Hyperscan can use: ssse3", out, re.M) is not None,
              "SSSE3 present but not reported")
        check("hs_valid_platform() refuses" not in out, "hs_valid_platform wrongly refused")
    check(("running under a hypervisor" in out) == ("hypervisor" in flags), "hypervisor note")

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

    # plan-host cannot plan a layout this host cannot hold, and says why.
    r = run(sluice, "plan-host", "--config", config)
    if missing:
        check(r.returncode == 2 and "lcore %d runs on CPU %d" % (missing[0], missing[0]) in r.stderr,
              "plan-host here: exit %d, %s" % (r.returncode, r.stderr))

    # On the fake appliance (8 CPUs, 2 nodes, 1G pages) the example gives the line its
    # comments promise, and 2x10g's four ports and workers need these figures.
    r = run(sluice, "plan-host", "--config", config, "--root",
            os.path.join(src, "tests/data/host/ready"))
    print(r.stdout)
    check(r.returncode == 0, "plan-host on the fake tree: exit %d %s" % (r.returncode, r.stderr))
    check("isolcpus=managed_irq,domain,1-5 nohz_full=2-5 rcu_nocbs=2-5 irqaffinity=0,6,7 "
          "default_hugepagesz=1G hugepagesz=1G" in r.stdout, "kernel line for the example")
    check("pci 0000:3b:00.0 vfio-pci" in r.stdout, "/etc/dpdk/interfaces lines")
    check(re.search(r"mbufs per packet pool: \d+ needed \(\d+ as 2\^n-1\), 131071 configured",
                    r.stdout) is not None, "mbuf figures")

    # A test layout (vdevs, lcores sharing CPU 0): notes, not gaps, for what it chose.
    r = run(sluice, "check-host", "--config",
            os.path.join(src, "deploy/config/sluice-test-namespaces.yaml"))
    check("note  nic: port" in r.stdout and "is a vdev" in r.stdout, "vdev note")
    check("note  hugepages: eal.huge_pages is false" in r.stdout, "no-hugepages note")
    check("GAP   cpus" not in r.stdout, "the namespace layout is not a CPU gap")

    # What cannot be read is refused with exit 2 and says why.
    r = run(sluice, "check-host", "--config", os.path.join(src, "no-such.yaml"))
    check(r.returncode == 2 and "no-such.yaml: cannot open" in r.stderr, "missing config: %s" % r.stderr)
    r = run(sluice, "check-host", "--config", config, "--root", os.path.join(src, "deploy"))
    check(r.returncode == 2 and "no sys/ and proc/" in r.stderr, "bad root: %s" % r.stderr)

    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        print("0 passed, 1 failed")
        sys.exit(1)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
