"""Storage: partition logs on disk (Rust core) and the pure-Python reference log."""
