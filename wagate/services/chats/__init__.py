"""Chats: a session's conversations (newest activity, unread counts, archived/pinned/muted), their messages, the
chat state changed through WhatsApp, and the people behind them (contacts, profiles, blocks, LIDs)."""
