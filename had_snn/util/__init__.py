"""Small shared helpers with no heavy imports: atomic file and figure writes (usable from the Lava venv)."""
