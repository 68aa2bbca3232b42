"""lakeloom.plugins."""
