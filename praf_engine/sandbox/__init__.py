"""Offline market sandbox: loopback servers emulating everything the engine talks to."""
