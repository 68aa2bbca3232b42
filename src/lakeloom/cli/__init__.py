"""lakeloom.cli."""
