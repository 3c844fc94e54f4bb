"""Groups and communities of a session's WhatsApp number, read and changed through its live connection."""
