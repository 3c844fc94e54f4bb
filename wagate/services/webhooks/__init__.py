"""Webhooks: endpoints, fan-out, delivery, body formats, records, the SSRF guard and secrets at rest."""
