"""Built-in plugins. Each module is one plugin, registered exactly like an external one."""
