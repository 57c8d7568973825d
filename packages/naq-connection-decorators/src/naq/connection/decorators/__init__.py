"""naq.connection.decorators: inject connections, monitor calls, retry transient failures."""
