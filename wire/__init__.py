"""Pure wire formats shared by the reference device and the fixtures (no I/O)."""
