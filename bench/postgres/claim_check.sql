-- lease check, not timed: claim.sql with each claim and release logged (clock_timestamp()).
-- run.py then looks for a delivery claimed again before its previous claim was released, and runs
-- this script once more without its lease-filter line as the negative control (the query as first
-- planned), where it expects double claims.
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
), logged AS (
    INSERT INTO claim_log (delivery_id, claimer, claimed_at)
    SELECT id, :client_id, clock_timestamp() FROM claimed
    RETURNING delivery_id
)
SELECT coalesce(array_agg(delivery_id), '{}') AS ids FROM logged \gset
WITH released AS (
    UPDATE deliveries
       SET claimed_until = NULL, claimed_by = NULL, started = started + 1,
           next_attempt_at = now() + random() * interval '1 s'
     WHERE id = ANY (:ids::bigint[]) AND claimed_by = :client_id
    RETURNING id
)
UPDATE claim_log l SET released_at = clock_timestamp()
  FROM released r
 WHERE l.delivery_id = r.id AND l.claimer = :client_id AND l.released_at IS NULL;
