#!/usr/bin/env python3
"""Writes the fake sysfs/procfs trees that tests/dataplane/host/*_test.cc read (run from this
directory; the trees are kept in git, this remakes them after a change).

ready/: an 8-CPU, 2-node appliance prepared as `sluice plan-host` says for appliance.yaml
        (workers on CPUs 2-3, management on 1): isolated, tickless, IRQs on 0 and 4-7, 1G
        hugepages on both nodes (mounted with their size), both ports on vfio-pci on node 0,
        IOMMU on, TSC clock; /proc/cmdline holds the plan's line.
fresh/: the same box straight after a Debian install: nothing isolated, IRQs everywhere, no
        hugepages, one port on its kernel driver (i40e), the other unbound and on node 1, no
        vfio-pci, no IOMMU groups, hpet clock, a TSC without nonstop_tsc, no sluice-admin group,
        transparent huge pages off.
"""
import os
import shutil

FLAGS = ("fpu tsc msr pae cx8 apic sep cmov pat clflush mmx fxsr sse sse2 ht syscall nx "
         "pdpe1gb rdtscp lm constant_tsc nonstop_tsc pni pclmulqdq ssse3 fma cx16 sse4_1 "
         "sse4_2 popcnt aes avx f16c rdrand avx2 bmi1 bmi2 avx512f avx512bw")


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


def link(root, path, target):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def tree(root, ready):
    shutil.rmtree(root, ignore_errors=True)
    cpu = "sys/devices/system/cpu/"
    write(root, cpu + "online", "0-7\n")
    write(root, cpu + "isolated", "1-3\n" if ready else "\n")
    # A kernel with CONFIG_NO_HZ_FULL (Debian's) says "(null)" until booted with nohz_full=.
    write(root, cpu + "nohz_full", "2-3\n" if ready else "(null)\n")
    write(root, "sys/kernel/mm/transparent_hugepage/enabled",
          "always [madvise] never\n" if ready else "always madvise [never]\n")
    # The API socket's group (api.unix_socket.group) exists once the package is installed.
    write(root, "etc/group", "root:x:0:\nadm:x:4:\n" + ("sluice-admin:x:998:\n" if ready else ""))
    write(root, "proc/cmdline",
          "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet" +
          (" isolcpus=managed_irq,domain,1-3 nohz_full=2-3 rcu_nocbs=2-3 irqaffinity=0,4-7"
           " default_hugepagesz=1G hugepagesz=1G hugepages=4 intel_iommu=on iommu=pt\n"
           if ready else "\n"))
    for node, cpus in ((0, "0-3"), (1, "4-7")):
        base = "sys/devices/system/node/node%d/" % node
        write(root, base + "cpulist", cpus + "\n")
        for size, nr in (("1048576kB", 2 if ready else 0), ("2048kB", 0)):
            write(root, base + "hugepages/hugepages-%s/nr_hugepages" % size, "%d\n" % nr)
            write(root, base + "hugepages/hugepages-%s/free_hugepages" % size, "%d\n" % nr)
    irqs = {0: ("0", "timer"), 24: ("0" if ready else "0-7", "ahci"),
            30: ("4-7" if ready else "0-7", "i40e-eno1-TxRx-0"),
            31: ("0" if ready else "2", "nvme0q1")}
    lines = ["           CPU0       CPU1"]
    for irq, (cpus, action) in irqs.items():
        write(root, "proc/irq/%d/smp_affinity_list" % irq, cpus + "\n")
        lines.append("%4d:         10          0  IR-PCI-MSI 1-edge      %s" % (irq, action))
    write(root, "proc/interrupts", "\n".join(lines) + "\n")
    write(root, "proc/irq/default_smp_affinity", "f1\n" if ready else "ff\n")
    pci = "sys/bus/pci/devices/"
    for addr, node, driver in (("0000:3b:00.0", 0, "vfio-pci" if ready else "i40e"),
                               ("0000:3b:00.1", 0 if ready else 1, "vfio-pci" if ready else None)):
        write(root, pci + addr + "/numa_node", "%d\n" % node)
        if driver:
            link(root, pci + addr + "/driver", "../../../../bus/pci/drivers/" + driver)
        if ready:
            link(root, pci + addr + "/iommu_group", "../../../../kernel/iommu_groups/40")
    if ready:
        write(root, "sys/bus/pci/drivers/vfio-pci/new_id", "")
        write(root, "sys/kernel/iommu_groups/40/type", "DMA\n")
    write(root, "sys/bus/pci/drivers/i40e/new_id", "")
    flags = FLAGS if ready else FLAGS.replace(" nonstop_tsc", "")
    write(root, "proc/cpuinfo", "".join(
        "processor\t: %d\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Silver "
        "4314 CPU @ 2.40GHz\nflags\t\t: %s\n\n" % (i, flags) for i in range(8)))
    clock = "sys/devices/system/clocksource/clocksource0/"
    write(root, clock + "current_clocksource", "tsc\n" if ready else "hpet\n")
    write(root, clock + "available_clocksource", "tsc hpet acpi_pm \n")
    write(root, "proc/mounts", "sysfs /sys sysfs rw 0 0\nproc /proc proc rw 0 0\n" +
          ("hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=1024M 0 0\n" if ready else ""))
    # Hugepagesize is the default size: default_hugepagesz=1G on the ready box's command line.
    write(root, "proc/meminfo", "MemTotal:       65536000 kB\nMemFree:        60000000 kB\n"
          "MemAvailable:   62000000 kB\nHugepagesize:   %s kB\n"
          % ("1048576" if ready else "2048"))


if __name__ == "__main__":
    tree("ready", True)
    tree("fresh", False)
