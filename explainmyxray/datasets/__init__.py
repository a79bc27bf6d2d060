"""Public data sets the project reads (never copies): readers and their label mappings."""
