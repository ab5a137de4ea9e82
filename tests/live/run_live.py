"""Runs one live test module: run_live.py SLUICE_BINARY SOURCE_DIR MODULE [unittest args...]

Exit 0 passed, 1 failed, 77 skipped (ctest's SKIP_RETURN_CODE): not root, or, for modules that
need it, a sluice without the `run` command (SLUICE_LIVE_REQUIRE_RUN=1 runs them anyway, to see
them fail cleanly). Modules other than test_lab start `sluice run` in the namespace lab.
"""

import os
import sys
import unittest
from pathlib import Path

SKIP = 77
NEEDS_NO_SLUICE = {"test_lab"}


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    sluice, src, module = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ["SLUICE_BIN"] = str(Path(sluice).resolve())
    os.environ["SLUICE_SRC"] = str(Path(src).resolve())
    sys.dont_write_bytecode = True  # nothing written into the source tree
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    if os.geteuid() != 0:
        print(f"SKIP {module}: the live tests need root (network namespaces)", file=sys.stderr)
        return SKIP
    import livelab

    if module not in NEEDS_NO_SLUICE and not livelab.sluice_has_run_command():
        msg = f"{sluice} has no `run` command (not among the subcommands of `sluice --help`)"
        if os.environ.get("SLUICE_LIVE_REQUIRE_RUN") != "1":
            print(f"SKIP {module}: {msg}", file=sys.stderr)
            return SKIP
        print(f"warning: {msg}; running anyway (SLUICE_LIVE_REQUIRE_RUN=1)", file=sys.stderr)
    names = [f"{module}.{name}" for name in sys.argv[4:]] or [module]
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{module}: {passed} passed, {failed} failed, {len(result.skipped)} skipped")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
