"""pytest plugin (entry point ``naq_testing``)."""
