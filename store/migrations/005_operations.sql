-- App operations (scale, restart, stop, start) go through the queue as
-- deploys with an op; they never count as what runs in an environment.
ALTER TABLE deploys ADD COLUMN op TEXT NOT NULL DEFAULT '';
ALTER TABLE deploys ADD COLUMN instances INTEGER NOT NULL DEFAULT 0;
