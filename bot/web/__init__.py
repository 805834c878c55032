"""OnAir's HTTP server: /healthz for probes, /metrics for Prometheus, /api/v1/ for agents."""
