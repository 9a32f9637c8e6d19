-- A deploy whose checks watch it after its runner succeeded (verifying)
-- holds its lane as a running one does.
DROP INDEX deploys_one_running;
CREATE UNIQUE INDEX deploys_one_running ON deploys (app, env) WHERE state IN ('running', 'verifying');
