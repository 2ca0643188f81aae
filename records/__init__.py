"""The Redis-backed records, in one place: the publisher's queue script, the journal, the
ledger of actions, dead letters, metrics, replication waits, the Redis client builder and the
release check of Redis."""
