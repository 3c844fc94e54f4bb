"""Who calls and what they may do: logins, tokens, keys, users, tenants and subscriptions."""
