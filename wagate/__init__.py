"""WA-Gate: a self-hosted WhatsApp gateway."""

__version__ = "0.1.0"
