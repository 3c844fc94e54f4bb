"""The bridge: the process of one shard that holds its sessions' WhatsApp connections and sends their messages."""
