"""Starting the scale-out stack (Redis, S3, HAProxy, replicas) on one machine; see README.md."""
