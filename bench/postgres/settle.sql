-- settle: the first attempt's result on an existing delivery (prefilled ids 1..:rows): the
-- delivery acknowledged, the attempt as a row, the payment completed; one transaction.
\set id random(1, :rows)
BEGIN;
UPDATE deliveries
   SET state = 'acknowledged', started = started + 1, next_attempt_at = NULL,
       claimed_until = NULL, claimed_by = NULL
 WHERE id = :id
RETURNING payment_id, started \gset
INSERT INTO attempts (delivery_id, n, status_code, duration_ms) VALUES (:id, :started, 200, 1.5);
UPDATE payments SET status = 'confirmed', confirmed_at = now() WHERE payment_id = :payment_id;
COMMIT;
