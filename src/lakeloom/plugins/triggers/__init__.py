"""Built-in trigger kinds, one plugin module each (registered through DEFAULT_PLUGINS)."""
