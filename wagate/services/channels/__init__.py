"""What a session publishes and follows beyond its chats: channels (newsletters) and statuses (stories)."""
