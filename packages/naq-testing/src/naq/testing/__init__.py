"""naq.testing: pytest toolkit for code that uses NATS."""
