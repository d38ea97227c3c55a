-- The statements of one refresh rotation (flows/refresh.ts through store/refresh-tokens.ts and
-- store/sessions.ts), in one transaction, on a random pre-inserted session (pgbench-seed.sql).
-- What pgbench leaves out: the HTTP request, SHA-256 of the token, sealing the successor and
-- signing the RS256 access token.
\set i random(1, 10000)
BEGIN;
SELECT id, session_id, used_at, successor_sealed FROM refresh_tokens WHERE token_hash = sha256(('pgbench-' || :i)::bytea) FOR UPDATE;
SELECT * FROM sessions WHERE id = ('00000000-0000-4000-9000-' || lpad(to_hex(:i), 12, '0'))::uuid;
SELECT * FROM users WHERE id = ('00000000-0000-4000-8000-' || lpad(to_hex(:i), 12, '0'))::uuid;
UPDATE refresh_tokens SET used_at = now(), successor_sealed = 'v1.pgbench.placeholder-of-the-length-of-a-sealed-successor-token-aes-256-gcm-iv-and-tag-base64url-encoded' WHERE id = ('00000000-0000-4000-a000-' || lpad(to_hex(:i), 12, '0'))::uuid;
INSERT INTO refresh_tokens (id, session_id, token_hash, created_at) VALUES (gen_random_uuid(), ('00000000-0000-4000-9000-' || lpad(to_hex(:i), 12, '0'))::uuid, sha256(gen_random_uuid()::text::bytea), now());
UPDATE sessions SET last_used_at = now(), idle_expires_at = now() + interval '7 days' WHERE id = ('00000000-0000-4000-9000-' || lpad(to_hex(:i), 12, '0'))::uuid;
END;
