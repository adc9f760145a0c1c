-- Per-token API rate limits by plan (requests per minute; `RateLimit-*` headers on every
-- authenticated answer, 429 past it).
ALTER TABLE plans ADD COLUMN api_requests_per_minute INTEGER NOT NULL DEFAULT 60
    CHECK (api_requests_per_minute >= 1);
UPDATE plans SET api_requests_per_minute = 60 WHERE code = 'starter';
UPDATE plans SET api_requests_per_minute = 300 WHERE code = 'pro';
UPDATE plans SET api_requests_per_minute = 1200 WHERE code = 'enterprise';
