"""The ticket's domain: states, moves, deadlines and permissions (pure; no I/O)."""
