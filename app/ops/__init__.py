"""Running the process: ``/metrics``, the log thread, and the open-file ceiling."""
