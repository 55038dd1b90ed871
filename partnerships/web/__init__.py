"""The engine's web process: the pages behind the signing links people get by email."""
