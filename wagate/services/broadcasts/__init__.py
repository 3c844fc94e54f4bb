"""Broadcasts: campaigns, their recipients and their progress."""
