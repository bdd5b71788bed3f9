"""Telegram alerts: rules and their evaluation, the durable outbox, delivery, the command listener (SPEC §6)."""
