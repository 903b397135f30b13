"""Booking rules, free of I/O."""
