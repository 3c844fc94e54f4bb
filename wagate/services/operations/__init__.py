"""Running the gateway: audit trail, backups, health, metrics and rate limits."""
