"""Use cases: each handler opens a unit of work, loads, applies the domain, commits."""
