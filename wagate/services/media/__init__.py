"""Media the gateway keeps (uploads for sending, received media, broadcast attachments) in a local or S3 store."""
