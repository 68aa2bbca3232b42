"""lakeloom.catalog."""
