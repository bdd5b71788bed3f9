"""Offline market sandbox: a seeded synthetic market and the emulators (Yahoo, exchange sites) serving it on loopback."""
