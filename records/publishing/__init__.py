"""The web's way into the queue: a verified webhook queued once (publisher.py), with the
requests that arrive together sent together in one round trip (group_commit.py)."""
