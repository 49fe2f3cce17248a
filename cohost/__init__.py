"""cohost: the digital twin of a Twitch streamer that co-hosts their stream."""

__version__ = "0.1.0"
