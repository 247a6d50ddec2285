-- an api.times counter: one hot row, every client on it
UPDATE scenario_counters SET used = used + 1 WHERE name = 'x' AND used < times RETURNING used;
