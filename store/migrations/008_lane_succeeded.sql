-- What succeeded last in each lane (not an operation): read at start for
-- every lane at once.
CREATE INDEX deploys_lane_succeeded ON deploys (app, env, id) WHERE state = 'succeeded' AND op = '';
