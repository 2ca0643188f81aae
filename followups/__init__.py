"""What a Telnyx event calls for: the follow-up actions (default policy, rules file) and the
announcements. Pure: no Celery, no Redis; tested without either."""
