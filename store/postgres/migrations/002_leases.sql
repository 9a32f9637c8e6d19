-- Several servers on one database: the server that runs a deploy, and
-- when its hold on it ends unless renewed.
ALTER TABLE deploys
	ADD COLUMN server         text NOT NULL DEFAULT '',
	ADD COLUMN lease_until    timestamptz,
	ADD COLUMN lease_until_ns smallint NOT NULL DEFAULT 0;
-- A server's running deploys, renewed every third of a lease.
CREATE INDEX deploys_server_running ON deploys (server) WHERE state = 'running';
