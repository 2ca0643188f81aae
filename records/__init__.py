"""The Redis-backed records, in one place. Every change that must be atomic is a Lua script in
records/lua/, run by name through records/scripts.py.

- the conference lanes: lane_store.py (the store), lane_answers.py (what its scripts answer);
  the protocol is docs/lanes.md;
- the fleet's pace and circuit for Telnyx's limits: fleet.py;
- the ledger of actions (claims and done records): ledger.py;
- the journal of queued task messages, and their sweep: journal.py;
- Celery task messages written without Celery: messages.py;
- the web's way into the queue: publishing/ (the publisher, and its group commit);
- dead letters: deadletters.py; metrics counted in Redis: metrics.py;
- replica waits (REDIS_MIN_REPLICAS): replication.py; the Redis client builder (TLS,
  Sentinel): redis_client.py; Redis's replies as text: replies.py;
- the release check of Redis: preflight.py.
"""
