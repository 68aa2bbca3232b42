"""lakeloom.engine."""
