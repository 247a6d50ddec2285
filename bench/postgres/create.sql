-- create: a payment and its first delivery in one transaction (Store.atomic()), idempotent on
-- payment_id. The delivery is inserted already leased to this process, attempt 1 numbered:
-- the inline first attempt stays in the process that created the payment.
\set n random(1, 9000000000000000000)
\set amount random(100, 100000)
BEGIN;
INSERT INTO payments (payment_id, tx_id, order_id, user_id, amount, callback_url, scenario, status)
VALUES ('pay_b' || :client_id || '_' || :n, 'b' || :client_id || '_' || :n, :n, :client_id, :amount,
        'http://127.0.0.1:9000/webhooks', 'default', 'pending')
ON CONFLICT (payment_id) DO NOTHING
RETURNING seq;
INSERT INTO deliveries (delivery_id, payment_id, tx_id, event, scenario, callback_url, plan_id, state,
                        next_attempt_at, claimed_until, claimed_by, started)
VALUES ('dlv_b' || :client_id || '_' || :n, 'pay_b' || :client_id || '_' || :n, 'b' || :client_id || '_' || :n,
        'payment.confirmed', 'default', 'http://127.0.0.1:9000/webhooks', 1, 'pending',
        now(), now() + interval '30 s', :client_id, 1)
ON CONFLICT (delivery_id) DO NOTHING;
COMMIT;
