"""lakeloom.runtime."""
