"""WhatsApp sessions seen from the web side: lifecycle, connecting, drivers, the device registry."""
