-- Rows for pgbench's rotation transaction (pgbench-refresh.sql): session i of user i with token i,
-- ids derived from i so the script can name them. Run once on the Tessera schema; :rows is replaced.
insert into users (id, email, email_normalized, name, password_hash, roles, created_at, updated_at)
select ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       'pgbench-' || i || '@example.com', 'pgbench-' || i || '@example.com', null, 'bench-no-login',
       '{user}', now(), now()
from generate_series(1, :rows) as i;

insert into sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at, user_agent, ip, authenticated_at)
select ('00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0'))::uuid,
       ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       now(), now(), now() + interval '7 days', now() + interval '30 days', 'pgbench', '127.0.0.1', now()
from generate_series(1, :rows) as i;

insert into refresh_tokens (id, session_id, token_hash, created_at)
select ('00000000-0000-4000-a000-' || lpad(to_hex(i), 12, '0'))::uuid,
       ('00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0'))::uuid,
       sha256(('pgbench-' || i)::bytea), now()
from generate_series(1, :rows) as i;

analyze users;
analyze sessions;
analyze refresh_tokens;
