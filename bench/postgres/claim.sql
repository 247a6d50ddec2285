-- claim (the plan's outbox, lease in claimed_until): claim up to 100 due deliveries, then write
-- their results back in one statement (lease cleared, rescheduled within 1 s, so the backlog
-- stays due and leases held at any moment are only those in flight). Without the
-- claimed_until filter a claimed row is claimable again as soon as the claim commits
-- (the lease check's negative control in run.py shows it).
WITH due AS (
    SELECT id FROM deliveries
     WHERE state = 'pending' AND next_attempt_at <= now()
       AND (claimed_until IS NULL OR claimed_until < now())
     ORDER BY next_attempt_at
       FOR UPDATE SKIP LOCKED
     LIMIT 100
), claimed AS (
    UPDATE deliveries d SET claimed_until = now() + interval '30 s', claimed_by = :client_id
      FROM due WHERE d.id = due.id
    RETURNING d.id
)
SELECT coalesce(array_agg(id), '{}') AS ids FROM claimed \gset
UPDATE deliveries
   SET claimed_until = NULL, claimed_by = NULL, started = started + 1,
       next_attempt_at = now() + random() * interval '1 s'
 WHERE id = ANY (:ids::bigint[]) AND claimed_by = :client_id;
