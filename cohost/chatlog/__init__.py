"""Streaming readers for logged chat."""
