"""What the deployment tests share: every failed check is collected (a test reports all it
found, not the first), then one verdict line in the form the ctest logs are read for."""
import sys

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def finish():
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        print("0 passed, 1 failed")
        sys.exit(1)
    print("1 passed, 0 failed")
