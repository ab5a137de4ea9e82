#!/usr/bin/env python3
"""The install path a manager would use: `cmake --install` into a DESTDIR must put binaries,
systemd units, the configuration, the lists and logrotate in their FHS places, with units that
name the installed binaries and that systemd-analyze accepts; then CPack must build a .deb whose
contents (`dpkg-deb -c`), dependencies and conffiles are right.

Usage: install_test.py BUILD_DIR SOURCE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outcome import check, finish  # noqa: E402

def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


EXPECTED = [
    "usr/bin/sluice", "usr/bin/sluicectl",
    "usr/lib/systemd/system/sluice.service",
    "usr/lib/systemd/system/sluice-intercept.service",
    "usr/lib/systemd/system/sluice-appliance-netns.service",
    "etc/sluice/sluice.yaml", "etc/sluice/appliance-netns.env", "etc/sluice/intercept.yaml",
    "etc/sluice/lists/blocklist.txt", "etc/sluice/lists/local-blocks.txt",
    "etc/sluice/lists/ads.hosts", "etc/sluice/lists/proxies.patterns",
    "etc/sluice/lists/social.txt", "etc/sluice/lists/doh-ips.txt",
    "etc/logrotate.d/sluice",
    "usr/lib/sysusers.d/sluice.conf",
    "usr/share/sluice/never-intercept.list",
    "usr/share/doc/sluice/README.md", "usr/share/doc/sluice/deploy/README.md",
    "usr/share/doc/sluice/examples/REFERENCE.md",
    "usr/share/doc/sluice/examples/sluice-2x10g.yaml",
    "usr/share/doc/sluice/examples/sluice-test-namespaces.yaml",
    "usr/share/doc/sluice/examples/sluice-intercept.yaml",
    "usr/share/doc/sluice/examples/lists/intercept.txt",
    "usr/share/sluice/README.md",
]


def main():
    build, src = sys.argv[1], sys.argv[2]
    root = tempfile.mkdtemp(prefix="sluice-install-")
    try:
        r = run(["cmake", "--install", build, "--prefix", "/usr"],
                env=dict(os.environ, DESTDIR=root))
        check(r.returncode == 0, "cmake --install: %s%s" % (r.stdout, r.stderr))
        for path in EXPECTED:
            check(os.path.isfile(os.path.join(root, path)), "missing " + path)
        for d in ("var/log/sluice", "var/lib/sluice"):
            check(os.path.isdir(os.path.join(root, d)), "missing directory " + d)
        check(os.access(os.path.join(root, "usr/bin/sluice"), os.X_OK), "sluice not executable")
        intercept_built = os.path.exists(os.path.join(build, "interceptor", "sluice-intercept"))
        check(os.path.exists(os.path.join(root, "usr/bin/sluice-intercept")) == intercept_built,
              "sluice-intercept installed iff it was built")
        script = os.path.exists(os.path.join(src, "deploy/appliance/sluice-appliance-netns.sh"))
        check(os.path.exists(os.path.join(root, "usr/libexec/sluice/sluice-appliance-netns.sh"))
              == script, "the namespace script installed iff it is in the tree")

        # The installed binary runs and the installed configuration is one it accepts (its
        # lists are under /etc/sluice of the target, so a missing-list gap is fine: exit 1).
        r = run([os.path.join(root, "usr/bin/sluice"), "--version"])
        check(r.returncode == 0 and r.stdout.startswith("sluice "), "--version: " + r.stdout)
        r = run([os.path.join(root, "usr/bin/sluice"), "check-host", "--config",
                 os.path.join(root, "etc/sluice/sluice.yaml")])
        check(r.returncode in (0, 1), "installed sluice.yaml refused: " + r.stderr)
        with open(os.path.join(root, "usr/lib/systemd/system/sluice.service")) as f:
            unit = f.read()
        check("ExecStart=/usr/bin/sluice run --config /etc/sluice/sluice.yaml" in unit,
              "unit ExecStart")
        check(re.search(r"^Type=notify$", unit, re.M) is not None, "Type=notify")
        # A reload reopens the audit files, then waits for the policy's outcome (and fails with
        # a refused one) through the shipped API socket.
        reloads = re.findall(r"^ExecReload=(.*)$", unit, re.M)
        check(reloads == ["/bin/kill -USR1 $MAINPID", "/usr/bin/sluicectl --timeout 280 policy reload"],
              "ExecReload: %r" % reloads)
        with open(os.path.join(root, "etc/sluice/sluice.yaml")) as f:
            check(re.search(r"^\s+path: /run/sluice/api\.sock\b", f.read(), re.M) is not None,
                  "the shipped sluice.yaml's API socket is the one sluicectl reloads through")

        # systemd's own checker, on the installed units (binaries looked up in the DESTDIR).
        if shutil.which("systemd-analyze"):
            units = [os.path.join(root, "usr/lib/systemd/system", u) for u in
                     ("sluice.service", "sluice-intercept.service",
                      "sluice-appliance-netns.service")]
            r = run(["systemd-analyze", "verify"] + units)
            # Only complaints about our units count (not about the host's other units), and not
            # the binaries, which are in the DESTDIR rather than where the units name them.
            bad = [l for l in (r.stdout + r.stderr).splitlines()
                   if "sluice" in l and "is not executable" not in l
                   and "No such file" not in l]
            check(not bad, "systemd-analyze verify:\n" + "\n".join(bad))
        if shutil.which("logrotate"):
            conf = os.path.join(root, "etc/logrotate.d/sluice")
            r = run(["logrotate", "-d", "-s", os.path.join(root, "state"), conf])
            check(r.returncode == 0 and "error" not in r.stderr.lower(),
                  "logrotate -d: %s%s" % (r.stdout, r.stderr))

        # The .deb.
        out = os.path.join(root, "deb")
        r = run(["cpack", "-G", "DEB", "--config", os.path.join(build, "CPackConfig.cmake"),
                 "-B", out])
        debs = [f for f in os.listdir(out) if f.endswith(".deb")] if os.path.isdir(out) else []
        check(r.returncode == 0 and len(debs) == 1, "cpack: %s%s" % (r.stdout, r.stderr))
        if debs:
            deb = os.path.join(out, debs[0])
            listing = run(["dpkg-deb", "-c", deb]).stdout
            print(listing)
            for path in EXPECTED:
                check(re.search(r" \./%s$" % re.escape(path), listing, re.M) is not None,
                      "the .deb lacks " + path)
            depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
            for dep in ("dpdk", "librte-mempool-ring23", "libhyperscan5", "libsystemd0", "libssl3"):
                check(dep in depends, "Depends lacks %s: %s" % (dep, depends))
            unpacked = os.path.join(root, "unpacked")
            run(["dpkg-deb", "-x", deb, unpacked])
            with open(os.path.join(unpacked, "usr/lib/systemd/system/sluice.service")) as f:
                check("ExecStart=/usr/bin/sluice run" in f.read(), "the .deb's unit ExecStart")
            ctl = os.path.join(root, "control")
            run(["dpkg-deb", "-e", deb, ctl])
            with open(os.path.join(ctl, "conffiles")) as f:
                conffiles = f.read().split()
            for c in ("/etc/sluice/sluice.yaml", "/etc/logrotate.d/sluice",
                      "/etc/sluice/lists/blocklist.txt", "/etc/sluice/intercept.yaml",
                      "/etc/sluice/appliance-netns.env"):
                check(c in conffiles, "not a conffile: " + c)
            # The API socket's group exists before the first start: the postinst makes it
            # from the sysusers.d file, and the installed configuration names that group.
            postinst = os.path.join(ctl, "postinst")
            check(os.access(postinst, os.X_OK), "the .deb has no executable postinst")
            if os.path.exists(postinst):
                with open(postinst) as f:
                    text = f.read()
                check(re.search(r"^\s*systemd-sysusers .*sluice\.conf", text, re.M) is not None,
                      "the postinst does not run systemd-sysusers sluice.conf")
            with open(os.path.join(unpacked, "usr/lib/sysusers.d/sluice.conf")) as f:
                groups = re.findall(r"^g\s+(\S+)", f.read(), re.M)
            with open(os.path.join(unpacked, "etc/sluice/sluice.yaml")) as f:
                named = re.findall(r"^\s+group:\s+(\S+)", f.read(), re.M)
            check(all(g in groups for g in named), "groups named %s, made %s" % (named, groups))
            # A sysusers file systemd-sysusers accepts (into a scratch root, not this system).
            if shutil.which("systemd-sysusers"):
                r = run(["systemd-sysusers", "--root", unpacked,
                         os.path.join(unpacked, "usr/lib/sysusers.d/sluice.conf")])
                check(r.returncode == 0, "systemd-sysusers: %s%s" % (r.stdout, r.stderr))
            for d in ("./var/log/sluice/", "./var/lib/sluice/"):
                check(re.search(r" %s$" % re.escape(d), listing, re.M) is not None,
                      "the .deb lacks directory " + d)
            print("deb: %s\nDepends: %s" % (debs[0], depends))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
