"""Transport edges: the gRPC server."""
