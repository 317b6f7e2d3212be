"""Interpreters that run programs on many points at once (cache-sized chunks, threads)."""
