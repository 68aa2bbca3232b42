"""lakeloom.store."""
