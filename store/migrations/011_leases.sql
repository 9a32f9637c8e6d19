-- Several servers on one store: the server that runs a deploy, and when
-- its hold on it ends unless renewed (fixed-width text: compared in SQL).
ALTER TABLE deploys ADD COLUMN server TEXT NOT NULL DEFAULT '';
ALTER TABLE deploys ADD COLUMN lease_until TEXT;
