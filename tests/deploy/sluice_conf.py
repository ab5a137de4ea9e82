"""A `sluice run` configuration for tests that need the real process but no namespace: vdev
ports (net_pcap in, net_null out, or net_null both ways), no hugepages, no PCI, two lcores on
CPU 0 with idle back-off, an audit file (and other sinks) and a one-file policy in DIR."""
import os

CONF = """eal:
  huge_pages: false
  memory_mb: 512
  pci: false
  file_prefix: {prefix}
  args: ["--log-level=*:warning"]
ports:
  - name: inside
    device: "{inside}"
  - name: outside
    device: "net_null1,no-rx=1"
mode: inline
pairs:
  - inside: inside
    outside: outside
lcores:
  management: 0
  workers: [1]
  cpus: {{0: 0, 1: 0}}
  idle_backoff: {{enabled: true}}
mempool:
  mbufs: 8191
  cache: 64
checksum: auto
{policy}audit:
  sinks:
    - {{type: file, path: {dir}/audit.jsonl}}
{extra_sinks}stats:
  telemetry: {telemetry}
{api}"""

POLICY = """policy:
  rules:
    - name: blocklist
      kind: {kind}
      files: [{list}]
      action: block
"""


def write_config(d, prefix, capture=None, telemetry=True, kind="domains", blocklist=True,
                 extra_sinks="", api_socket=None):
    """Writes DIR/sluice.yaml (and, with BLOCKLIST, DIR/blocklist.txt and a policy blocking what
    it lists); returns the config path. EXTRA_SINKS: YAML list items after the file sink.
    API_SOCKET: the API on that unix socket."""
    api = "api:\n  unix_socket:\n    path: %s\n" % api_socket if api_socket else ""
    policy = ""
    if blocklist:
        lst = os.path.join(d, "blocklist.txt")
        with open(lst, "w") as f:
            f.write("blocked.example\n")
        policy = POLICY.format(kind=kind, list=lst)
    inside = "net_pcap0,rx_pcap=%s" % capture if capture else "net_null0,no-rx=1"
    path = os.path.join(d, "sluice.yaml")
    with open(path, "w") as f:
        f.write(CONF.format(prefix=prefix, inside=inside, policy=policy, dir=d,
                            extra_sinks=extra_sinks, telemetry="true" if telemetry else "false",
                            api=api))
    return path
