"""Sending: queued rows, drafts, intake, outbox, media, phone numbers and contacts."""
