-- A database in use: :rows users, each with one live session and its refresh token (full run only).
insert into users (id, email, email_normalized, name, password_hash, roles, created_at, updated_at)
select md5('user-' || i)::uuid, 'user-' || i || '@example.com', 'user-' || i || '@example.com', null,
       '$argon2id$v=19$m=19456,t=2,p=1$placeholder', '{user}', now(), now()
from generate_series(1, :rows) as i;

insert into sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at, user_agent, ip, authenticated_at)
select md5('session-' || i)::uuid, md5('user-' || i)::uuid, now(), now(), now() + interval '7 days',
       now() + interval '30 days', 'Mozilla/5.0', '127.0.0.1', now()
from generate_series(1, :rows) as i;

insert into refresh_tokens (id, session_id, token_hash, created_at)
select md5('token-' || i)::uuid, md5('session-' || i)::uuid, sha256(('token-' || i)::bytea), now()
from generate_series(1, :rows) as i;

-- vacuumed, analyzed and checkpointed now, while nothing is measured: left to autovacuum and the
-- checkpointer, that work on three million new rows would run during the measurements after it
vacuum (analyze) users;
vacuum (analyze) sessions;
vacuum (analyze) refresh_tokens;
checkpoint;
