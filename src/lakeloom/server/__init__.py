"""lakeloom.server."""
