"""naq.connection.utils: connection metrics, monitoring, health checks and the naq-connection CLI."""
