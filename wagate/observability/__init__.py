"""Prometheus metrics of every process (web, bridge, worker), aggregated by the web's `/metrics`."""
