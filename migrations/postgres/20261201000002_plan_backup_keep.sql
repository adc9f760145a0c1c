-- Backup retention beyond the plan's days (backup context's pruning): the newest backup of
-- each of the most recent `keep_daily` days, `keep_weekly` ISO weeks and `keep_monthly` months
-- that have one is kept too. And when a backup's snapshots left its repository.
ALTER TABLE plans ADD COLUMN keep_daily INTEGER NOT NULL DEFAULT 7 CHECK (keep_daily >= 0);
ALTER TABLE plans ADD COLUMN keep_weekly INTEGER NOT NULL DEFAULT 0 CHECK (keep_weekly >= 0);
ALTER TABLE plans ADD COLUMN keep_monthly INTEGER NOT NULL DEFAULT 0 CHECK (keep_monthly >= 0);
UPDATE plans SET keep_daily = 7, keep_weekly = 0, keep_monthly = 0 WHERE code = 'starter';
UPDATE plans SET keep_daily = 14, keep_weekly = 4, keep_monthly = 3 WHERE code = 'pro';
UPDATE plans SET keep_daily = 30, keep_weekly = 12, keep_monthly = 12 WHERE code = 'enterprise';
ALTER TABLE backups ADD COLUMN forgotten_at timestamptz;
