"""Live: the flow table at its limit. With the smallest flow capacity the configuration allows
(1024 flows per worker, 2048 in all), thousands of idle TCP connections held open plus a burst
of TLS connections overflow it: sluice keeps running, counts evictions (telemetry
/sluice/stats: flows_evicted, flow_table_full), and traffic still flows."""

import unittest

import livelab as L

CAPACITY = 1024  # per worker: the configuration's minimum
HELD = 2600      # idle connections, more than both workers' tables hold


def setUpModule():
    L.lab_up_for_module()


def tearDownModule():
    L.lab_down_quietly()


class FlowTableLimit(L.LiveTestCase):
    def test_overflow_evicts_and_traffic_flows(self):
        self.start_sluice(flows_capacity=CAPACITY, first_flight_buffers=256)
        held = L.Holder("hold-tcp", str(HELD), L.SERVER_IP, "80", timeout=180)
        self.addCleanup(held.close)
        self.assert_alive()
        self.assertEqual(held.failed, 0, "opening the idle connections through sluice")

        run, counts = L.h2load("https://load.test/hello", 1500, rate=30, rate_period="100ms")
        self.assert_alive()
        stats = self.sluice.telemetry("/sluice/stats")
        evicted = L.counter_total(stats, "flows_evicted")
        full = L.counter_total(stats, "flow_table_full")
        self.assertIsNotNone(evicted, f"/sluice/stats has no flows_evicted: {stats}")
        self.assertGreater((evicted or 0) + (full or 0), 0, f"nothing evicted at the limit: {stats}")

        # Traffic still flows: the burst completed, and a new download arrives intact.
        self.assertEqual(counts.get("succeeded"), 1500, f"{counts}\n{L.describe(run)}")
        self.assert_big_download("https://allowed.test/big.bin", "a download with the flow table full")
        self.assert_reset(L.curl("https://blocked.test/hello"), "blocked.test with the flow table full")

        held.close()
        audit = self.stop_sluice()
        evictions = [c for c in audit.closes if c.get("close_reason") == "evicted"]
        self.assertGreater(len(evictions), 0, f"no close record with close_reason evicted\n{audit.summary()}")
        print(f"\nflows_evicted={evicted} flow_table_full={full} evicted close records={len(evictions)}")


if __name__ == "__main__":
    unittest.main()
