"""OnAir's HTTP server: /healthz for probes, /metrics for Prometheus, /api/v1/ for agents.

The server (aiohttp.web, about 1.6 MiB of memory) is imported only when HTTP_PORT is set."""


class HttpPortUnavailable(Exception):
    """HTTP_PORT can't be bound on HTTP_HOST (in use, or a privileged port)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(host, port, reason)
        self.host, self.port, self.reason = host, port, reason
