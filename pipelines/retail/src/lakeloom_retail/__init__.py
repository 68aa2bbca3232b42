"""The retail demo pipeline package: deterministic raw data to bronze, silver and gold Delta tables."""
