"""Code shared by every bookings service: settings, JSON logging, gRPC helpers, events."""
