"""lakeloom.scheduler."""
