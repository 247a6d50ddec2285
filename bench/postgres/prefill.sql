-- :rows payments, each with its delivery. Called with psql -v rows=N -v due=MODE:
--   due=none     every delivery pending, first attempt in the future (settle, create)
--   due=backlog  every delivery pending and due, next_attempt_at spread over the last 60 s (claim)
INSERT INTO payments (payment_id, tx_id, order_id, user_id, amount, callback_url, scenario, status)
SELECT 'pay_pre_' || i, 'pre_' || i, i, i % 1000, 1000 + i % 5000,
       'http://127.0.0.1:9000/webhooks', 'default', 'pending'
FROM generate_series(1, :rows) AS i;

INSERT INTO deliveries (id, delivery_id, payment_id, tx_id, event, scenario, callback_url, plan_id,
                        state, next_attempt_at)
SELECT i, 'dlv_pre_' || i, 'pay_pre_' || i, 'pre_' || i, 'payment.confirmed', 'default',
       'http://127.0.0.1:9000/webhooks', 1, 'pending',
       CASE WHEN :'due' = 'backlog' THEN now() - random() * interval '60 s'
            ELSE now() + interval '1 hour' END
FROM generate_series(1, :rows) AS i;
SELECT setval(pg_get_serial_sequence('deliveries', 'id'), :rows);

INSERT INTO scenario_counters (name, used, times) VALUES ('x', 0, 9000000000000000000);
VACUUM ANALYZE;
CHECKPOINT;
