"""Talking to models: one client for any OpenAI-compatible endpoint, a cache, a price table."""
